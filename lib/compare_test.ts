import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import { compare, pairedBootstrap } from "./compare.ts";
import { baselineScores } from "./baselines.ts";
import { SeedStream } from "./random.ts";
import type { Observation } from "./api.ts";

Deno.test("pairedBootstrap: a constant gap between two models has a zero-width paired interval", () => {
  // Model A's sequence losses vary a lot; model B loses exactly 1 more per prediction.
  const counts = [1, 2, 3, 4, 5, 6];
  const a = [0.5, 9, 1, 20, 2, 30];
  const b = a.map((x, s) => x + counts[s]!);
  const [first, second] = pairedBootstrap([a, b], counts, { samples: 500, level: 0.9, seed: 3 });
  const total = counts.reduce((x, y) => x + y, 0);
  assert.equal(first!.loss, a.reduce((x, y) => x + y, 0) / total);
  assert.equal(first!.difference, 0);
  assert.ok(first!.low < first!.loss && first!.loss < first!.high, JSON.stringify(first));
  // Each loss alone is uncertain, the difference is not.
  assert.ok(second!.high - second!.low > 1, JSON.stringify(second));
  assert.ok(Math.abs(second!.difference - 1) < 1e-12);
  assert.ok(
    Math.abs(second!.differenceLow - 1) < 1e-12 && Math.abs(second!.differenceHigh - 1) < 1e-12,
  );
  // Seeded: the same draws again.
  assert.deepEqual(pairedBootstrap([a, b], counts, { samples: 500, level: 0.9, seed: 3 }), [
    first,
    second,
  ]);
});

/** Smooth daily series: the neighbours carry the signal. */
function dailyRows(sequences: number, length: number): Observation[] {
  const rng = new SeedStream(11);
  return Array.from({ length: sequences }, (_, s) => {
    const phase = rng.random() * 6;
    return Array.from({ length }, (_, j) => ({
      sequence: `s${s}`,
      position: j,
      item: j % 2 === 0 ? "even" : "odd",
      value: 10 * Math.sin(phase + j / 2) + rng.normal(),
    }));
  }).flat();
}

Deno.test("compare(): EFA configurations and the baselines on one split, best first, no leaks", async () => {
  const rows = dailyRows(30, 8);
  const seen: string[] = [];
  const result = await compare(rows, {
    "1 layer": { layers: 1, epochs: 3 },
    "2 layers": { epochs: 3 },
  }, { samples: 200, seed: 5, onModel: (name) => seen.push(name) });
  assert.deepEqual(seen, ["1 layer", "2 layers", "FM"]);
  assert.equal(result.metric, "squared error");
  assert.equal(result.sequences, 6);
  assert.equal(result.predictions, 48);
  assert.deepEqual(
    result.models.map((m) => m.name).sort(),
    ["1 layer", "2 layers", "FM", "item mean", "mean", "neighbours' mean", "sequence mean"],
  );
  for (let i = 1; i < result.models.length; i++) {
    assert.ok(result.models[i - 1]!.loss <= result.models[i]!.loss);
  }
  assert.equal(result.models[0]!.difference, 0);
  for (const m of result.models) {
    assert.ok(m.low <= m.loss && m.loss <= m.high, JSON.stringify(m));
    assert.ok(m.differenceLow <= m.difference && m.difference <= m.differenceHigh);
    assert.equal(m.kind !== "baseline", m.seconds !== undefined);
    assert.equal(m.kind, m.name === "FM" ? "fm" : m.name.includes("layer") ? "efa" : "baseline");
  }
  // The baselines' losses are baselineScores' on the same split (seeded shuffle of the sequence ids).
  const keys = new SeedStream(5).shuffle([...new Set(rows.map((r) => String(r.sequence)))]);
  const asSequences = (ks: string[]) => {
    const groups = ks.map((k) => rows.filter((r) => r.sequence === k));
    return {
      items: groups.map((g) => g.map((r) => (r.item === "even" ? 1 : 2))),
      values: groups.map((g) => g.map((r) => r.value!)),
    };
  };
  const direct = baselineScores(asSequences(keys.slice(6)), asSequences(keys.slice(0, 6)), {
    target: "gaussian",
    numItems: 2,
  });
  for (const b of direct) {
    const compared = result.models.find((m) => m.name === b.name)!;
    assert.ok(
      Math.abs(compared.loss - b.loss) < 1e-9 * b.loss,
      `${b.name}: ${compared.loss} vs ${b.loss}`,
    );
  }
  // Seeded: the same comparison again, and nothing left behind (the first fit of a process
  // creates a few tensors the backend keeps).
  const before = tf.memory().numTensors;
  const again = await compare(rows, {
    "1 layer": { layers: 1, epochs: 3 },
    "2 layers": { epochs: 3 },
  }, { samples: 200, seed: 5 });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(
    again.models.map((m) => [m.name, m.loss, m.low, m.high]),
    result.models.map((m) => [m.name, m.loss, m.low, m.high]),
  );
});

Deno.test("compare(): categorical items with the counting baselines, unidirectional", async () => {
  const rows = Array.from(
    { length: 24 },
    (_, s) =>
      Array.from({ length: 5 }, (_, j) => ({ sequence: s, item: ["a", "b", "c"][(s + j) % 3]! })),
  ).flat();
  const result = await compare(rows, { uni: { direction: "unidirectional", epochs: 2 } }, {
    samples: 50,
  });
  assert.equal(result.metric, "cross-entropy (nats)");
  assert.deepEqual(
    result.models.map((m) => m.name).sort(),
    ["FM", "co-occurrence", "frequency", "uni"],
  );
  const none = await compare(rows, { uni: { direction: "unidirectional", epochs: 2 } }, {
    samples: 50,
    fm: false,
    baselines: false,
  });
  assert.deepEqual(none.models.map((m) => m.name), ["uni"]);
});

Deno.test("compare(): the FM's squared error is in the data's units, whatever their offset and scale", async () => {
  const rows = dailyRows(30, 8);
  const options = { samples: 50, seed: 2, baselines: false } as const;
  const fmLoss = async (shift: number, scale: number) => {
    const moved = rows.map((r) => ({ ...r, value: shift + scale * r.value! }));
    const result = await compare(moved, { one: { layers: 1, epochs: 4 } }, options);
    return result.models.find((m) => m.kind === "fm")!.loss;
  };
  const base = await fmLoss(0, 1);
  assert.ok(Number.isFinite(base) && base > 0, `FM loss ${base}`);
  // fit() standardises, the FM sees the same standardised values: the loss scales with scale^2.
  const moved = await fmLoss(1000, 10);
  assert.ok(Math.abs(moved / (100 * base) - 1) < 1e-3, `${moved} against 100 x ${base}`);
});

Deno.test("compare(): rejects what it cannot compare, naming the argument", async () => {
  const rows = dailyRows(10, 4);
  await assert.rejects(() => compare(rows, {}), {
    name: "RangeError",
    message: "compare(): expected at least one configuration, got none",
  });
  await assert.rejects(
    () => compare(rows, { a: { family: "gaussian" }, b: { family: "poisson" } }),
    {
      name: "RangeError",
      message:
        "compare(): expected every configuration to model the same family, got gaussian, poisson",
    },
  );
  await assert.rejects(
    () => compare(rows, { a: { family: "joint-gaussian" } }),
    /joint families have two losses/,
  );
  await assert.rejects(
    () => compare(rows, { a: {} }, { testShare: 1 }),
    /expected testShare in \(0, 1\), got 1/,
  );
  await assert.rejects(() => compare(rows.slice(0, 12), { a: {} }), {
    name: "RangeError",
    message:
      "compare(): expected enough sequences for 1 held out and 2 to fit (at least 2 each), got 3",
  });
});
