// deno-lint-ignore-file no-console -- a command-line benchmark
/**
 * `deno task bench`: training throughput of the reference path (one padded
 * row per masked position, as the notebooks build batches), the fast path with
 * steps of one length (`planFastBatches`) and `train()` itself (steps drawn
 * across lengths, `planFastSteps`), side by side in one run on the same real
 * data, with peak memory; the time of
 * one full fast epoch of the Instacart bidirectional EFA; and forward plus
 * backward time and memory for one sequence of length 100, 500 and 1,000.
 *
 *   deno task bench [--quick] [--epochs] [--data-dir=DIR]
 *
 * `--quick` measures for a few seconds each and skips the per-model epoch
 * times (under two minutes); `--epochs` adds them back.
 *
 * The last line reads `speedup instacart_bidir=X.XX instacart_unidir=Y.YY movielens_exp2=Z.ZZ`.
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import {
  Adam,
  backendInfo,
  batchLoss,
  createEfa,
  disposeBatch,
  disposeModel,
  efaConfig,
  type EfaConfigInput,
  type EfaModel,
  fastBatchLoss,
  listExamples,
  makeBatch,
  planFastBatches,
  referenceBatchOptions,
  SeedStream,
  type Sequences,
  train,
} from "../mod.ts";
import { loadDataset, loadTemperature } from "../data/load.ts";
import type { PreparedDataset } from "../data/prepared.ts";
import {
  INSTACART_EFA,
  instacartModels,
  movielensExp1Models,
  movielensExp2Efa,
  movielensExp2Models,
  nearestCities,
  type PaperModel,
  syntheticModels,
  TEMPERATURE_TRAINING,
  temperatureEfa,
  temperatureFm,
} from "./paper_models.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    epochs: { type: "boolean", default: false },
    "data-dir": { type: "string" },
  },
});
const quick = args.quick;
const dataOptions = args["data-dir"] === undefined ? {} : { dataDir: args["data-dir"] };
const BATCH = 256;

interface Measure {
  readonly predictionsPerSecond: number;
  readonly steps: number;
  readonly peakTensorMB: number;
}

/** Runs training steps (Adam, batch 256) for about `seconds` after `warmup` steps. */
async function measure(
  model: EfaModel,
  data: Sequences,
  path: "fast" | "reference",
  seconds: number,
  warmup: number,
): Promise<Measure> {
  const rng = new SeedStream(1);
  const optimizer = new Adam(Object.values(model.params), { learningRate: 1e-4 });
  const examples = rng.shuffle(listExamples(data));
  const layout = referenceBatchOptions(model); // one row per example, padded to max_len, as the notebooks
  const fastPlan = path === "fast" ? planFastBatches(model, data, { batchSize: BATCH, rng }) : [];
  let cursor = 0;
  const step = (): number => {
    if (path === "fast") {
      const batch = fastPlan[cursor++ % fastPlan.length]!;
      optimizer.step(() => fastBatchLoss(model, data, batch));
      return batch.examples.length;
    }
    const start = (cursor++ * BATCH) % (examples.length - BATCH);
    const chunk = examples.slice(start, start + BATCH);
    const batch = makeBatch(data, chunk, layout);
    optimizer.step(() => batchLoss(model, batch));
    disposeBatch(batch);
    return chunk.length;
  };
  for (let i = 0; i < warmup; i++) step();
  const profile = await tf.profile(() => void step());
  let predictions = 0, steps = 0;
  const start = performance.now();
  while ((performance.now() - start) / 1000 < seconds) {
    predictions += step();
    steps++;
  }
  const elapsed = (performance.now() - start) / 1000;
  optimizer.dispose();
  return {
    predictionsPerSecond: predictions / elapsed,
    steps,
    peakTensorMB: profile.peakBytes / 2 ** 20,
  };
}

/** The first `n` sequences. */
function prefix(data: Sequences, n: number): Sequences {
  return {
    items: data.items.slice(0, n),
    ...(data.values === undefined ? {} : { values: data.values.slice(0, n) }),
    ...(data.lags === undefined ? {} : { lags: data.lags.slice(0, n) }),
    ...(data.targets === undefined ? {} : { targets: data.targets.slice(0, n) }),
  };
}

/**
 * Predictions per second of `train()` (the training plan, `planFastSteps`):
 * one epoch on the first sequences, as many as take about `seconds` (sized
 * from shorter probe epochs, which also warm the kernels up).
 */
async function measureTrain(
  config: EfaConfigInput,
  data: Sequences,
  seconds: number,
): Promise<number> {
  let n = Math.max(8, data.items.length >> 7);
  for (;;) {
    const model = createEfa(efaConfig(config), { seed: 1 });
    const part = prefix(data, n);
    const { history } = await train(model, part, {
      epochs: 1,
      batchSize: BATCH,
      learningRate: 1e-4,
      seed: 1,
    });
    disposeModel(model);
    const taken = history[0]!.seconds;
    if (taken >= seconds / 2 || n >= data.items.length) return listExamples(part).length / taken;
    n = Math.min(data.items.length, Math.ceil((n * seconds) / Math.max(taken, 0.05)));
  }
}

const INSTACART = INSTACART_EFA;
const MOVIELENS_EXP2 = movielensExp2Efa("v1");

const instacart = await loadDataset("instacart", dataOptions);
const movielens = await loadDataset("movielens_exp2", dataOptions);
const cases: [string, EfaConfigInput, Sequences][] = [
  ["instacart_bidir", { ...INSTACART, direction: "bidirectional" }, instacart.fit],
  ["instacart_unidir", { ...INSTACART, direction: "unidirectional" }, instacart.fit],
  ["movielens_exp2", { ...MOVIELENS_EXP2, direction: "unidirectional" }, movielens.fit],
  ["movielens_exp2_bidir", { ...MOVIELENS_EXP2, direction: "bidirectional" }, movielens.fit],
];
const seconds = quick ? 4 : 20;
const info = backendInfo();
console.log(
  "reference: one row per example padded to max_len, as the notebooks build batches; fast: lib/fast.ts",
);
console.log(
  `# deno task bench${
    quick ? " --quick" : ""
  }: ${info.backend} backend, tfjs ${info.tfjsVersion}, batch ${BATCH}, ~${seconds} s per measurement`,
);
console.log(
  "config                reference pred/s  fast pred/s   speedup  train() pred/s  speedup  peak tensor MB (ref / fast)",
);
const speedups: Record<string, number> = {};
const trainRates: Record<string, number> = {};
for (const [name, config, data] of cases) {
  const model = createEfa(efaConfig(config), { seed: 1 });
  const reference = await measure(model, data, "reference", seconds, 2);
  const fast = await measure(model, data, "fast", seconds, 5);
  const trained = await measureTrain(config, data, seconds);
  trainRates[name] = trained;
  speedups[name] = fast.predictionsPerSecond / reference.predictionsPerSecond;
  console.log(
    `${name.padEnd(21)} ${reference.predictionsPerSecond.toFixed(0).padStart(16)} ${
      fast.predictionsPerSecond.toFixed(0).padStart(12)
    } ${speedups[name]!.toFixed(2).padStart(8)} ${trained.toFixed(0).padStart(15)} ${
      (trained / reference.predictionsPerSecond).toFixed(2).padStart(8)
    }  ${reference.peakTensorMB.toFixed(1)} / ${fast.peakTensorMB.toFixed(1)}`,
  );
  disposeModel(model);
}

// One full epoch of the Instacart bidirectional EFA with train() (estimated from the rate above in --quick mode).
{
  const predictions = listExamples(instacart.fit).length;
  if (quick) {
    console.log(
      `epoch instacart_bidir train(): ~${
        (predictions / trainRates["instacart_bidir"]!).toFixed(1)
      } s estimated for ${predictions} predictions`,
    );
  } else {
    const model = createEfa(efaConfig({ ...INSTACART, direction: "bidirectional" }), { seed: 1 });
    const { history } = await train(model, instacart.fit, {
      epochs: 1,
      batchSize: BATCH,
      learningRate: 1e-4,
      seed: 2,
    });
    disposeModel(model);
    console.log(
      `epoch instacart_bidir train(): ${
        history[0]!.seconds.toFixed(1)
      } s measured for ${predictions} predictions`,
    );
  }
}

// Scaling: forward + backward for one sequence of length n.
console.log(
  "scaling (one sequence, forward + backward, fast path): length  unidir all targets ms / MB   bidir one target ms / MB",
);
for (const n of quick ? [100, 500] : [100, 500, 1000]) {
  const row: string[] = [];
  for (const direction of ["unidirectional", "bidirectional"] as const) {
    const model = createEfa(efaConfig({ ...INSTACART, maxLength: n, direction }), { seed: 1 });
    const rng = new SeedStream(n);
    const seq = Array.from({ length: n }, () => 1 + rng.integer(63));
    const data: Sequences = direction === "unidirectional"
      ? { items: [seq] }
      : { items: [seq], targets: [[n >> 1]] };
    const [batch] = planFastBatches(model, data, { batchSize: n });
    const variables = Object.values(model.params);
    const run = (): void => {
      const { value, grads } = tf.variableGrads(
        () => fastBatchLoss(model, data, batch!),
        variables,
      );
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    };
    run(); // warm-up
    const reps = n >= 1000 ? 2 : 3;
    const start = performance.now();
    for (let i = 0; i < reps; i++) run();
    const ms = (performance.now() - start) / reps;
    const profile = await tf.profile(run);
    row.push(`${ms.toFixed(0)} ms / ${(profile.peakBytes / 2 ** 20).toFixed(1)} MB`);
    disposeModel(model);
  }
  console.log(`  n=${String(n).padEnd(5)} ${row.join("   ")}`);
}

// One epoch (training plus the validation pass) of every paper model, with the paper's batch size.
if (!quick || args.epochs) {
  console.log(
    "epoch times (fast path for EFA, reference path for FM; training pass + validation pass):",
  );
  const tables: [string, PaperModel[], PreparedDataset][] = [
    ["synthetic", syntheticModels(), await loadDataset("synthetic")],
    ["instacart", instacartModels(), instacart],
    ["movielens_exp1", movielensExp1Models(), await loadDataset("movielens_exp1", dataOptions)],
    ["movielens_exp2_v1", movielensExp2Models("v1"), movielens],
    ["movielens_exp2_v2", movielensExp2Models("v2"), movielens],
  ];
  const temperature: [number, 0 | 1 | 2][] = [[1, 0], [2, 0], [4, 0], [4, 1], [4, 2]];
  for (const [layers, lag] of temperature) {
    const data = await loadTemperature(lag);
    const training = lag === 0 ? TEMPERATURE_TRAINING.noLag : TEMPERATURE_TRAINING.lag;
    const models = [temperatureEfa(layers, lag, data.itemFeatures, training)];
    if (layers === 1) {
      models.push(
        temperatureFm(5, nearestCities(data.itemFeatures, 5), TEMPERATURE_TRAINING.noLag),
      );
    }
    tables.push([data.name, models, data]);
  }
  for (const [table, models, data] of tables) {
    for (const m of models) {
      const model = m.create(1);
      const { history } = await train(model, data.fit, {
        epochs: 1,
        batchSize: m.training.batchSize,
        learningRate: m.training.learningRate,
        validation: data.validation,
      });
      console.log(
        `  ${`${table}/${m.name}`.padEnd(44)} ${
          history[0]!.seconds.toFixed(1).padStart(7)
        } s  (batch ${m.training.batchSize}, ${
          listExamples(data.fit).length
        } predictions, paper max epochs ${m.training.epochs})`,
      );
      disposeModel(model);
    }
  }
}

console.log(
  `speedup instacart_bidir=${speedups["instacart_bidir"]!.toFixed(2)} instacart_unidir=${
    speedups["instacart_unidir"]!.toFixed(2)
  } movielens_exp2=${speedups["movielens_exp2"]!.toFixed(2)}`,
);
