// deno-lint-ignore-file no-console -- a command-line benchmark
/**
 * `deno task bench:vs --old=DIR`: one `train()` epoch of the paper's EFAs
 * with this checkout's code and with another checkout's (for example
 * `git worktree add /tmp/old <commit>`), loaded into one process and run in
 * alternation on the same data and seeds, so that the two are timed side by
 * side under the same conditions. Prints each epoch's seconds, the median
 * ratio and both training losses (equal when the change kept the numbers).
 *
 *   deno task bench:vs --old=/tmp/old [--rounds=3] [--data-dir=DIR]
 *
 * Only the public API (`createEfa`, `efaConfig`, `train`, `disposeModel`)
 * of the other checkout is used, so any commit with it can be compared.
 */
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.ts";
import type { Sequences } from "../mod.ts";
import * as current from "../mod.ts";
import { subset } from "./_harness.ts";
import { INSTACART_EFA, movielensExp2Efa } from "./paper_models.ts";

const { values: args } = parseArgs({
  options: {
    old: { type: "string" },
    rounds: { type: "string", default: "3" },
    "data-dir": { type: "string" },
  },
});
if (args.old === undefined) {
  console.error("bench:vs: --old=DIR is required (a checkout of the code to compare with)");
  Deno.exit(2);
}
const rounds = Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`bench:vs: expected --rounds to be a positive integer, got ${args.rounds}`);
  Deno.exit(2);
}
const oldRoot = new URL(`file://${await Deno.realPath(args.old)}/`);
const other = await import(new URL("mod.ts", oldRoot).href) as typeof current;
const dataOptions = args["data-dir"] === undefined ? {} : { dataDir: args["data-dir"] };

const instacart = (await loadDataset("instacart", dataOptions)).fit;
const movielens = (await loadDataset("movielens_exp2", dataOptions)).fit;
const cases: [string, current.EfaConfigInput, Sequences][] = [
  ["instacart_bidir", { ...INSTACART_EFA, direction: "bidirectional" }, subset(instacart, 6000)],
  ["instacart_unidir", { ...INSTACART_EFA, direction: "unidirectional" }, subset(instacart, 6000)],
  ["movielens_exp2", { ...movielensExp2Efa("v1"), direction: "unidirectional" }, movielens],
  ["movielens_exp2_bidir", { ...movielensExp2Efa("v1"), direction: "bidirectional" }, movielens],
];

/** One epoch with one side's code: its seconds and training loss. */
async function epoch(
  side: typeof current,
  config: current.EfaConfigInput,
  data: Sequences,
): Promise<[number, number]> {
  const model = side.createEfa(side.efaConfig(config), { seed: 1 });
  try {
    const { history } = await side.train(model, data, {
      epochs: 1,
      batchSize: 256,
      learningRate: 1e-4,
      seed: 2,
    });
    return [history[0]!.seconds, history[0]!.trainLoss];
  } finally {
    side.disposeModel(model); // before the other side creates its variables (tfjs names must differ)
  }
}

const median = (xs: number[]): number => xs.toSorted((a, b) => a - b)[xs.length >> 1]!;
console.log(
  `# deno task bench:vs: this checkout ("new") against ${oldRoot.pathname} ("old"), ` +
    `one train() epoch each, ${rounds} alternating rounds after one warm-up`,
);
for (const [name, config, data] of cases) {
  await epoch(current, config, data);
  await epoch(other, config, data);
  const oldSeconds: number[] = [], newSeconds: number[] = [];
  let oldLoss = NaN, newLoss = NaN;
  for (let r = 0; r < rounds; r++) {
    const [so, lo] = await epoch(other, config, data);
    const [sn, ln] = await epoch(current, config, data);
    oldSeconds.push(so);
    newSeconds.push(sn);
    [oldLoss, newLoss] = [lo, ln];
  }
  console.log(
    `${name.padEnd(21)} old ${oldSeconds.map((s) => s.toFixed(2)).join(" ")} s | new ${
      newSeconds.map((s) => s.toFixed(2)).join(" ")
    } s | new/old time ${(median(newSeconds) / median(oldSeconds)).toFixed(3)} | ` +
      `loss ${oldLoss === newLoss ? `equal (${newLoss})` : `old ${oldLoss}, new ${newLoss}`}`,
  );
}
