// deno-lint-ignore-file no-console -- a command-line benchmark
/**
 * `deno task bench`: training throughput of the padded layout (one padded
 * row per masked position, as the notebooks build batches), the automatic
 * layouts with steps of one length (`planEvaluation`'s batches) and `train()`
 * itself (steps drawn across lengths, `planEpochs`), side by side in one run
 * on the same real data, with peak memory; the time of one full epoch of the
 * Instacart bidirectional EFA; and forward plus backward time and memory for
 * one sequence of length 100, 500 and 1,000.
 *
 *   deno task bench [--quick] [--epochs] [--generated] [--data-dir=DIR]
 *
 * `--quick` measures for a few seconds each and skips the per-model epoch
 * times (under two minutes); `--epochs` adds them back. `--generated` only
 * measures the padded and automatic layouts of the Instacart bidirectional
 * EFA on baskets drawn from a seed with Instacart's shape (63 items, 10 to
 * 24 per basket), so that it runs without the data sets.
 *
 * Then, for every paper configuration, a line `train CONFIG preds_per_s=N
 * peak_tensor_MB=M` (one `train()` epoch with the paper's batch size and
 * learning rate), and where a Python with PyTorch is found (`python3`,
 * `/usr/bin/python3` or `$EFA_PEER_PYTHON`), a line `peer CONFIG ours=N
 * torch=M ratio=R two_threads_ratio=S` from the PyTorch peer
 * (`peer_torch.py`) trained on the same epoch of steps, one thread; ours is
 * `train()` on one thread, and `two_threads` on two (`threads: 2`). `--peer-blas=DIR` (or `$EFA_PEER_BLAS`)
 * puts a BLAS folder first on the peer's library path, e.g. OpenBLAS's:
 * Debian's torch otherwise calls the reference BLAS. `--only=A,B` limits
 * the run to those configurations' train and peer lines; `--no-peer` skips it.
 *
 * The last line reads `speedup instacart_bidir=X.XX instacart_unidir=Y.YY movielens_exp2=Z.ZZ`.
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import {
  backendInfo,
  createEfa,
  disposeModel,
  efaConfig,
  type EfaConfigInput,
  type EfaModel,
  listExamples,
  SeedStream,
  type Sequences,
  train,
} from "../mod.ts";
import { Adam } from "../lib/adam.ts";
import { type BatchPlan, type LayoutChoice, planEvaluation } from "../lib/plan.ts";
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
import { batchLoss } from "../lib/train.ts";
import { subset } from "./_harness.ts";
import { FM_K } from "./tables.ts";
import { findPeerPython, type PeerResult, runPeer, writePeerExchange } from "./peer.ts";
import type { EfaConfig } from "../lib/model.ts";
import { planEpochs } from "../lib/plan.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    epochs: { type: "boolean", default: false },
    generated: { type: "boolean", default: false },
    "data-dir": { type: "string" },
    "peer-blas": { type: "string" },
    "no-peer": { type: "boolean", default: false },
    only: { type: "string" },
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
  layout: LayoutChoice,
  seconds: number,
  warmup: number,
): Promise<Measure> {
  const rng = new SeedStream(1);
  const optimizer = new Adam(Object.values(model.params), { learningRate: 1e-4 });
  const examples = rng.shuffle(listExamples(data));
  // Padded: consecutive slices of the shuffled examples (the notebooks' batches); auto: batches of one length.
  const plan: BatchPlan[] = layout === "auto"
    ? rng.shuffle(planEvaluation(model, data, { batchSize: BATCH }))
    : [];
  let cursor = 0;
  const step = (): number => {
    const start = (cursor * BATCH) % (examples.length - BATCH);
    const batch: BatchPlan = layout === "auto"
      ? plan[cursor % plan.length]!
      : { layout: "padded", length: 0, examples: examples.slice(start, start + BATCH) };
    cursor++;
    optimizer.step(() => batchLoss(model, data, batch));
    return batch.examples.length;
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

/**
 * Predictions per second of `train()` (the training plan, `planEpochs`):
 * one epoch on the first sequences, as many as take about `seconds` (sized
 * from shorter probe epochs, which also warm the kernels up).
 */
async function measureTrain(
  config: EfaConfigInput,
  data: Sequences,
  seconds: number,
  training: { batchSize: number; learningRate: number } = { batchSize: BATCH, learningRate: 1e-4 },
): Promise<{ predictionsPerSecond: number; part: Sequences }> {
  let n = Math.max(8, data.items.length >> 7);
  for (;;) {
    const part = subset(data, n);
    const predictionsPerSecond = await epochRate(config, part, training, 1);
    const taken = listExamples(part).length / predictionsPerSecond;
    if (taken >= seconds / 2 || n >= data.items.length) return { predictionsPerSecond, part };
    n = Math.min(data.items.length, Math.ceil((n * seconds) / Math.max(taken, 0.05)));
  }
}

/** Predictions per second of one `train()` epoch (two threads: the second of two epochs, the worker warmed up). */
async function epochRate(
  config: EfaConfigInput,
  data: Sequences,
  training: { batchSize: number; learningRate: number },
  threads: 1 | 2,
): Promise<number> {
  const model = createEfa(efaConfig(config), { seed: 1 });
  const { history } = await train(model, data, {
    epochs: threads,
    ...training,
    seed: 1,
    threads,
  });
  disposeModel(model);
  return listExamples(data).length / history.at(-1)!.seconds;
}

const median = (xs: number[]): number => xs.toSorted((a, b) => a - b)[xs.length >> 1]!;

/** Peak tensor memory (MB) of the first step of `train()`'s first epoch, profiled. */
async function firstStepPeakMB(
  config: EfaConfig,
  data: Sequences,
  training: { batchSize: number; learningRate: number },
): Promise<number> {
  const model = createEfa(config, { seed: 1 });
  const optimizer = new Adam(Object.values(model.params), training);
  const epoch = planEpochs(model, data, { batchSize: training.batchSize, rng: new SeedStream(1) })
    .next().value;
  const profile = await tf.profile(() => {
    for (const chunk of epoch[0]!.chunks) optimizer.step(() => batchLoss(model, data, chunk));
  });
  optimizer.dispose();
  disposeModel(model);
  return profile.peakBytes / 2 ** 20;
}

const INSTACART = INSTACART_EFA;
const only = args.only === undefined ? null : new Set(args.only.split(","));
const PEER_ROUNDS = quick ? 3 : 5;
const MOVIELENS_EXP2 = movielensExp2Efa("v1");

const seconds = quick ? 4 : 20;
const info = backendInfo();

if (args.generated) {
  // Baskets with Instacart's shape, drawn from a seed: runs without the data sets.
  const rng = new SeedStream(1);
  const baskets: Sequences = {
    items: Array.from(
      { length: 2000 },
      () => Array.from({ length: 10 + rng.integer(15) }, () => 1 + rng.integer(63)),
    ),
  };
  const model = createEfa(efaConfig({ ...INSTACART_EFA, direction: "bidirectional" }), { seed: 1 });
  const padded = await measure(model, baskets, "padded", seconds, 2);
  const auto = await measure(model, baskets, "auto", seconds, 5);
  console.log(
    `# deno task bench --generated: ${info.backend} backend, tfjs ${info.tfjsVersion}, batch ${BATCH}, ` +
      `Instacart-shaped baskets drawn from seed 1\n` +
      `instacart_bidir padded ${padded.predictionsPerSecond.toFixed(0)} pred/s (${
        ((1000 * BATCH) / padded.predictionsPerSecond).toFixed(1)
      } ms/step), auto ${auto.predictionsPerSecond.toFixed(0)} pred/s, speedup ${
        (auto.predictionsPerSecond / padded.predictionsPerSecond).toFixed(2)
      }`,
  );
  disposeModel(model);
  Deno.exit(0);
}

const instacart = await loadDataset("instacart", dataOptions);
const movielens = await loadDataset("movielens_exp2", dataOptions);

// train CONFIG / peer CONFIG: every paper configuration, with the paper's batch size and learning rate.
{
  const [temperature4, temperatureLag2] = [await loadTemperature(0), await loadTemperature(2)];
  const exp1 = await loadDataset("movielens_exp1", dataOptions);
  const synthetic = await loadDataset("synthetic");
  const pick = (models: PaperModel[], name: string): PaperModel =>
    models.find((m) => m.name === name)!;
  const configOf = (m: PaperModel): EfaConfig => {
    const model = m.create(1);
    disposeModel(model);
    return model.config as EfaConfig;
  };
  const paper: [string, PaperModel, Sequences][] = [
    ["synthetic", pick(syntheticModels(), "efa_bidirectional"), synthetic.fit],
    ["instacart_bidir", pick(instacartModels(), "efa_bidirectional"), instacart.fit],
    ["instacart_unidir", pick(instacartModels(), "efa_unidirectional"), instacart.fit],
    ["movielens_exp1", pick(movielensExp1Models(), "efa_bidirectional"), exp1.fit],
    ["movielens_exp2", pick(movielensExp2Models("v1"), "efa_unidirectional"), movielens.fit],
    ["movielens_exp2_bidir", pick(movielensExp2Models("v1"), "efa_bidirectional"), movielens.fit],
    [
      "temperature_4_layers",
      temperatureEfa(4, 0, temperature4.itemFeatures, TEMPERATURE_TRAINING.noLag),
      temperature4.fit,
    ],
    [
      "temperature_lag2",
      temperatureEfa(4, 2, temperatureLag2.itemFeatures, TEMPERATURE_TRAINING.lag),
      temperatureLag2.fit,
    ],
  ];
  const python = args["no-peer"] ? null : await findPeerPython();
  const blas = args["peer-blas"] ?? Deno.env.get("EFA_PEER_BLAS");
  console.log(
    `# train(): one epoch, the paper's batch size and learning rate, ~${seconds} s each; ` +
      (python === null
        ? "peer: skipped (no python3 with torch)"
        : `peer: PyTorch (${python}) on the same steps, one thread, BLAS ${
          blas ?? "the system's"
        }`),
  );
  for (const [name, m, data] of paper) {
    if (only !== null && !only.has(name)) continue;
    const config = configOf(m);
    const training = { batchSize: m.training.batchSize, learningRate: m.training.learningRate };
    // Size the epoch (and warm up), then alternate ours on one and two threads with the peer.
    const { part } = await measureTrain(config, data, seconds, training);
    const peak = await firstStepPeakMB(config, part, training);
    const exchange = python === null
      ? null
      : await Deno.makeTempFile({ prefix: "efa-peer-", suffix: ".json" });
    const one: number[] = [], two: number[] = [], torch: number[] = [];
    let peer: PeerResult | null = null, failure: string | null = null;
    try {
      if (exchange !== null) {
        await writePeerExchange(exchange, name, config, part, {
          modelSeed: 1,
          seed: 1,
          ...training,
        });
      }
      for (let r = 0; r < PEER_ROUNDS; r++) {
        one.push(await epochRate(config, part, training, 1));
        two.push(await epochRate(config, part, training, 2));
        if (exchange !== null && failure === null) {
          try {
            peer = await runPeer(python!, exchange, blas);
            torch.push(peer.predictionsPerSecond);
          } catch (error) {
            failure = error instanceof Error ? error.message : String(error);
          }
        }
      }
    } finally {
      if (exchange !== null) await Deno.remove(exchange);
    }
    const [ours, ours2] = [median(one), median(two)];
    console.log(
      `train ${name} preds_per_s=${ours.toFixed(0)} two_threads=${ours2.toFixed(0)} ` +
        `peak_tensor_MB=${peak.toFixed(1)} (${part.items.length} sequences, ${
          listExamples(part).length
        } predictions, median of ${PEER_ROUNDS} epochs)`,
    );
    if (failure !== null) console.log(`peer ${name} failed: ${failure}`);
    else if (peer !== null) {
      const theirs = median(torch);
      console.log(
        `peer ${name} ours=${ours.toFixed(0)} torch=${theirs.toFixed(0)} ratio=${
          (ours / theirs).toFixed(2)
        } two_threads_ratio=${(ours2 / theirs).toFixed(2)} torch_peak_rss_MB=${
          peer.peakRssMB.toFixed(0)
        } check: loss rel ${peer.check.lossRelative.toExponential(1)}, grad max abs ${
          peer.check.gradMaxAbs.toExponential(1)
        } of ${
          peer.check.gradScale.toExponential(1)
        }; torch ${peer.torch}, ${peer.threads} thread, BLAS ${peer.blas.split(",")[0]}`,
      );
    }
  }
  if (only !== null) {
    if (args.epochs) await epochTimes();
    Deno.exit(0);
  }
}
const cases: [string, EfaConfigInput, Sequences][] = [
  ["instacart_bidir", { ...INSTACART, direction: "bidirectional" }, instacart.fit],
  ["instacart_unidir", { ...INSTACART, direction: "unidirectional" }, instacart.fit],
  ["movielens_exp2", { ...MOVIELENS_EXP2, direction: "unidirectional" }, movielens.fit],
  ["movielens_exp2_bidir", { ...MOVIELENS_EXP2, direction: "bidirectional" }, movielens.fit],
];
console.log(
  "padded: one row per example padded to max_len, as the notebooks build batches; auto: rows, copies or streams (lib/plan.ts)",
);
console.log(
  `# deno task bench${
    quick ? " --quick" : ""
  }: ${info.backend} backend, tfjs ${info.tfjsVersion}, batch ${BATCH}, ~${seconds} s per measurement`,
);
console.log(
  "config                   padded pred/s  auto pred/s   speedup  train() pred/s  speedup  peak tensor MB (padded / auto)",
);
const speedups: Record<string, number> = {};
const trainRates: Record<string, number> = {};
for (const [name, config, data] of cases) {
  const model = createEfa(efaConfig(config), { seed: 1 });
  const reference = await measure(model, data, "padded", seconds, 2);
  const fast = await measure(model, data, "auto", seconds, 5);
  const trained = (await measureTrain(config, data, seconds)).predictionsPerSecond;
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
  "scaling (one sequence, forward + backward, auto layout): length  unidir all targets ms / MB   bidir one target ms / MB",
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
    const [batch] = planEvaluation(model, data, { batchSize: n });
    const variables = Object.values(model.params);
    const run = (): void => {
      const { value, grads } = tf.variableGrads(
        () => batchLoss(model, data, batch!),
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

if (!quick || args.epochs) await epochTimes();

/**
 * One epoch (training plus the validation pass) of every paper model, with
 * the paper's batch size, and from them the training time of the paper's
 * protocol for every table with three seeds: each model's epoch time times
 * the epochs it runs (the paper's maximum without early stopping; with
 * early stopping, the mean epochs run in the committed full results, where
 * there are any).
 */
async function epochTimes(): Promise<void> {
  console.log(
    "epoch times (auto layout for EFA, padded for FM; training pass + validation pass):",
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
  let hours = 0, upperHours = 0;
  for (const [table, models, data] of tables) {
    const results = await committedEpochs(table.startsWith("temperature") ? "temperature" : table);
    for (const m of models) {
      const model = m.create(1);
      const { history } = await train(model, data.fit, {
        epochs: 1,
        batchSize: m.training.batchSize,
        learningRate: m.training.learningRate,
        validation: data.validation,
      });
      disposeModel(model);
      const seconds = history[0]!.seconds;
      const ran = results.get(m.name);
      const epochs = Number.isFinite(m.training.patience) && ran !== undefined
        ? ran
        : m.training.epochs;
      // The temperature FM is measured at k = 5 and stands for the table's 12 values of k.
      const copies = m.name.startsWith("fm_k") ? FM_K.length : 1;
      hours += (3 * copies * seconds * epochs) / 3600;
      upperHours += (3 * copies * seconds * m.training.epochs) / 3600;
      console.log(
        `  ${`${table}/${m.name}`.padEnd(44)} ${
          seconds.toFixed(1).padStart(7)
        } s  (batch ${m.training.batchSize}, ${
          listExamples(data.fit).length
        } predictions, paper max epochs ${m.training.epochs}${
          epochs === m.training.epochs ? "" : `, ${epochs.toFixed(0)} run in the committed results`
        })`,
      );
    }
  }
  console.log(
    `estimate paper_protocol_3_seeds_hours=${hours.toFixed(1)} (one process; ${
      (hours / 2).toFixed(1)
    } with two at a time; at every model's maximum epochs ${upperHours.toFixed(1)})`,
  );
}

/** The mean epochs run per model in a table's committed full results (empty when there are none). */
async function committedEpochs(table: string): Promise<Map<string, number>> {
  const path = new URL(`results/${table}.json`, import.meta.url);
  const text = await Deno.readTextFile(path).catch(() => null);
  const runs = new Map<string, number[]>();
  if (text === null) return new Map();
  const jobs = (JSON.parse(text) as { jobs?: Record<string, { epochs?: number }> }).jobs ?? {};
  for (const [key, job] of Object.entries(jobs)) {
    if (job.epochs === undefined) continue;
    const name = key.split("/")[0]!;
    runs.set(name, [...(runs.get(name) ?? []), job.epochs]);
  }
  return new Map([...runs].map(([name, e]) => [name, e.reduce((a, b) => a + b, 0) / e.length]));
}

console.log(
  `speedup instacart_bidir=${speedups["instacart_bidir"]!.toFixed(2)} instacart_unidir=${
    speedups["instacart_unidir"]!.toFixed(2)
  } movielens_exp2=${speedups["movielens_exp2"]!.toFixed(2)}`,
);
