// deno-lint-ignore-file no-console -- a command-line benchmark
/**
 * `deno task bench:vs --old=DIR`: one `train()` epoch of the paper's EFAs
 * with this checkout's code and with another checkout's (for example
 * `git worktree add /tmp/old <commit>`), loaded into one process and run in
 * alternation on the same data and seeds, so that the two are timed side by
 * side under the same conditions: the eight paper configurations of
 * `deno task bench` (subsets of the larger data sets), the paper's batch size
 * and learning rate, this checkout on one thread and on two. Prints each
 * epoch's seconds, the median speedups and the training losses (equal when
 * the change kept the numbers).
 *
 *   deno task bench:vs --old=/tmp/old [--rounds=3] [--only=A,B] [--data-dir=DIR]
 *
 * Only the public API (`createEfa`, `efaConfig`, `train`, `disposeModel`)
 * of the other checkout is used, so any commit with it can be compared.
 */
import { parseArgs } from "node:util";
import { loadDataset, loadTemperature } from "../data/load.ts";
import type { Sequences } from "../mod.ts";
import * as current from "../mod.ts";
import { subset } from "./_harness.ts";
import {
  INSTACART_EFA,
  movielensExp2Efa,
  type PaperModel,
  syntheticModels,
  TEMPERATURE_TRAINING,
  temperatureEfa,
} from "./paper_models.ts";

const { values: args } = parseArgs({
  options: {
    old: { type: "string" },
    rounds: { type: "string", default: "3" },
    only: { type: "string" },
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
const exp1 = (await loadDataset("movielens_exp1", dataOptions)).fit;
const synthetic = (await loadDataset("synthetic")).fit;
const [temperature4, temperatureLag2] = [await loadTemperature(0), await loadTemperature(2)];
/** A paper model's full config (the old side's efaConfig() takes it as is). */
const configOf = (m: PaperModel): current.EfaConfigInput => {
  const model = m.create(1);
  current.disposeModel(model);
  return model.config as current.EfaConfig;
};
const paper = { batchSize: 256, learningRate: 1e-4 };
const cases: [string, current.EfaConfigInput, Sequences, typeof paper][] = [
  ["synthetic", configOf(syntheticModels()[2]!), subset(synthetic, 3000), paper],
  [
    "instacart_bidir",
    { ...INSTACART_EFA, direction: "bidirectional" },
    subset(instacart, 6000),
    paper,
  ],
  [
    "instacart_unidir",
    { ...INSTACART_EFA, direction: "unidirectional" },
    subset(instacart, 6000),
    paper,
  ],
  [
    "movielens_exp1",
    { numItems: 50, maxLength: 44, direction: "bidirectional" },
    subset(exp1, 600),
    paper,
  ],
  ["movielens_exp2", { ...movielensExp2Efa("v1"), direction: "unidirectional" }, movielens, paper],
  [
    "movielens_exp2_bidir",
    { ...movielensExp2Efa("v1"), direction: "bidirectional" },
    movielens,
    paper,
  ],
  [
    "temperature_4_layers",
    configOf(temperatureEfa(4, 0, temperature4.itemFeatures, TEMPERATURE_TRAINING.noLag)),
    temperature4.fit,
    { batchSize: 10_000, learningRate: 1e-3 },
  ],
  [
    "temperature_lag2",
    configOf(temperatureEfa(4, 2, temperatureLag2.itemFeatures, TEMPERATURE_TRAINING.lag)),
    subset(temperatureLag2.fit, 16),
    { batchSize: 128, learningRate: 1e-3 },
  ],
];
const only = args.only === undefined ? null : new Set(args.only.split(","));

/**
 * One epoch with one side's code: its seconds and training loss. The old
 * side runs on tfjs's own kernels: this checkout registered its kernels in
 * the tfjs that both sides share, and the old code had none.
 */
async function epoch(
  side: typeof current,
  config: current.EfaConfigInput,
  data: Sequences,
  training: typeof paper,
  threads: 1 | 2 = 1,
): Promise<[number, number]> {
  const fast = current.setFastKernels(side === current);
  const model = side.createEfa(side.efaConfig(config), { seed: 1 });
  try {
    const { history } = await side.train(model, data, {
      epochs: threads === 2 ? 2 : 1, // two threads: the second epoch (the worker warmed up)
      ...training,
      seed: 2,
      ...(threads === 2 ? { threads } : {}),
    });
    const last = history.at(-1)!;
    return [last.seconds, threads === 2 ? history[0]!.trainLoss : last.trainLoss];
  } finally {
    side.disposeModel(model); // before the other side creates its variables (tfjs names must differ)
    current.setFastKernels(fast);
  }
}

const median = (xs: number[]): number => xs.toSorted((a, b) => a - b)[xs.length >> 1]!;
console.log(
  `# deno task bench:vs: this checkout ("new", one and two threads) against ${oldRoot.pathname} ` +
    `("old", on tfjs's kernels), one train() epoch each, ${rounds} alternating rounds after one warm-up; ` +
    "speedup = old time / new time (medians)",
);
for (const [name, config, data, training] of cases) {
  if (only !== null && !only.has(name)) continue;
  await epoch(current, config, data, training);
  await epoch(other, config, data, training);
  const oldSeconds: number[] = [], newSeconds: number[] = [], twoSeconds: number[] = [];
  let oldLoss = NaN, newLoss = NaN, twoLoss = NaN;
  for (let r = 0; r < rounds; r++) {
    const [so, lo] = await epoch(other, config, data, training);
    const [sn, ln] = await epoch(current, config, data, training);
    const [s2, l2] = await epoch(current, config, data, training, 2);
    oldSeconds.push(so);
    newSeconds.push(sn);
    twoSeconds.push(s2);
    [oldLoss, newLoss, twoLoss] = [lo, ln, l2];
  }
  const sameLoss = oldLoss === newLoss && newLoss === twoLoss;
  console.log(
    `${name.padEnd(21)} old ${oldSeconds.map((s) => s.toFixed(2)).join(" ")} s | new ${
      newSeconds.map((s) => s.toFixed(2)).join(" ")
    } s | two threads ${twoSeconds.map((s) => s.toFixed(2)).join(" ")} s | speedup ${
      (median(oldSeconds) / median(newSeconds)).toFixed(2)
    } (two threads ${(median(oldSeconds) / median(twoSeconds)).toFixed(2)}) | loss ${
      sameLoss ? `equal (${newLoss})` : `old ${oldLoss}, new ${newLoss}, two threads ${twoLoss}`
    }`,
  );
}
