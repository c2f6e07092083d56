import assert from "node:assert/strict";
import * as mod from "../mod.ts";

// Each addition is a decision: 80 until the own-data baselines (baselineScores and its two types,
// the held-out report and the value scale of fit()); 85 with the training checkpoint; 88 with
// compare() and its three types; 94 with ranking (rankItems, topK, their three types and
// fit()'s PredictOptions); 95 with the learning-rate schedule's type (PlateauSchedule).
const MAX_PUBLIC_SYMBOLS = 95;

/** The names mod.ts exports, types included, read from its `export { ... }` lists. */
async function exportedNames(): Promise<string[]> {
  const text = await Deno.readTextFile(new URL("../mod.ts", import.meta.url));
  const lists = [...text.matchAll(/^export \{([^}]*)\} from "([^"]+)";/gm)];
  return lists.flatMap(([, names]) =>
    names!.split(",").map((n) => n.trim().replace(/^type /, "")).filter((n) => n.length > 0)
  );
}

Deno.test(`mod.ts names its public API: no export *, at most ${MAX_PUBLIC_SYMBOLS} symbols, every value resolves`, async () => {
  const text = await Deno.readTextFile(new URL("../mod.ts", import.meta.url));
  assert.ok(!/export \*/.test(text), "mod.ts re-exports a whole file with export *");
  const names = await exportedNames();
  assert.equal(new Set(names).size, names.length, "a name is exported twice");
  assert.ok(
    names.length <= MAX_PUBLIC_SYMBOLS,
    `mod.ts exports ${names.length} symbols, more than ${MAX_PUBLIC_SYMBOLS}`,
  );
  const values = Object.keys(mod);
  for (const value of values) {
    assert.ok(names.includes(value), `${value} is exported but not listed`);
  }
  for (
    const name of ["createEfa", "efaForward", "attend", "train", "evaluate", "fit", "makeBatch"]
  ) {
    assert.ok(values.includes(name), `${name} is not exported`);
  }
});

Deno.test("mod.ts keeps the ops, the blocks of the forward pass and the planners private", async () => {
  const names = await exportedNames();
  for (
    const internal of [
      "linear",
      "dense",
      "softmaxOver",
      "embedTokens",
      "block",
      "encode",
      "planEpochs",
      "planEvaluation",
      "batchTensors",
    ]
  ) assert.ok(!names.includes(internal), `${internal} should stay private`);
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(
    config.exports["./plot"],
    "./lib/plot.ts",
    "the figures are the ./plot subpath export",
  );
  const text = await Deno.readTextFile(new URL("../mod.ts", import.meta.url));
  assert.ok(!text.includes("./lib/plot.ts"), "mod.ts should not pull in Observable Plot");
});
