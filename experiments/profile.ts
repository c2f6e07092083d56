// deno-lint-ignore-file no-console -- a command-line profiler
/**
 * `deno task profile`: where one training step of a paper configuration
 * spends its time, kernel by kernel, on the real data: milliseconds per step
 * and kernel calls per step (means over one epoch of steps, timed after
 * warm-up epochs), and the kernels that take the most time. A tool for working on the kernels (`lib/kernels/`);
 * throughput against the PyTorch peer is `deno task bench`.
 *
 *   deno task profile [--config=instacart_bidir] [--sequences=600] [--warmups=2] [--top=15] [--shapes]
 *
 * Configurations: synthetic (its bidirectional EFA), instacart_bidir, instacart_unidir, movielens_exp2,
 * movielens_exp2_bidir, temperature_4_layers, temperature_lag2. Steps are
 * `train()`'s (`planEpochs`, the paper's batch size and draw, Adam), on the
 * first `--sequences` fit sequences (days, for temperature), after `--warmups` epochs
 * of the same steps (the first epoch of a process runs slower: JIT, memory).
 * `--shapes` splits each kernel's time by its inputs' shapes (and a product's
 * transposes, `tA`/`tB`), to see which products of a step are slow.
 *
 * @module
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
  SeedStream,
  type Sequences,
} from "../mod.ts";
import { Adam } from "../lib/adam.ts";
import { planEpochs } from "../lib/plan.ts";
import { batchLoss } from "../lib/train.ts";
import { loadDataset, loadTemperature } from "../data/load.ts";
import {
  INSTACART_EFA,
  movielensExp2Efa,
  syntheticModels,
  TEMPERATURE_TRAINING,
  temperatureEfa,
} from "./paper_models.ts";
import { subset } from "./_harness.ts";

const { values: args } = parseArgs({
  options: {
    config: { type: "string", default: "instacart_bidir" },
    sequences: { type: "string", default: "600" },
    warmups: { type: "string", default: "2" },
    top: { type: "string", default: "15" },
    shapes: { type: "boolean", default: false },
  },
});
/** A configuration: the model and its data, the batch size and what a step draws, as the paper trains it. */
interface Profiled {
  readonly load: () => Promise<{ model: EfaModel; data: Sequences }>;
  readonly batchSize: number;
  readonly draw: "sequences" | "examples";
}
const fromDataset = (
  config: EfaConfigInput,
  name: "instacart" | "movielens_exp2" | "synthetic",
): Profiled => ({
  load: async () => ({
    model: createEfa(efaConfig(config), { seed: 1 }),
    data: (await loadDataset(name)).fit,
  }),
  batchSize: 256,
  draw: "sequences",
});
const temperature = (lag: 0 | 2): Profiled => ({
  load: async () => {
    const d = await loadTemperature(lag);
    const training = lag > 0 ? TEMPERATURE_TRAINING.lag : TEMPERATURE_TRAINING.noLag;
    return {
      model: temperatureEfa(4, lag, d.itemFeatures, training).create(1) as EfaModel,
      data: d.fit,
    };
  },
  batchSize: lag > 0 ? 128 : 10_000,
  draw: lag > 0 ? "examples" : "sequences",
});
const synthetic = syntheticModels().find((m) => m.name === "efa_bidirectional")!;
const CONFIGS: Record<string, Profiled> = {
  synthetic: {
    load: async () => ({
      model: synthetic.create(1) as EfaModel,
      data: (await loadDataset("synthetic")).fit,
    }),
    batchSize: 256,
    draw: "sequences",
  },
  instacart_bidir: fromDataset({ ...INSTACART_EFA, direction: "bidirectional" }, "instacart"),
  instacart_unidir: fromDataset({ ...INSTACART_EFA, direction: "unidirectional" }, "instacart"),
  movielens_exp2: fromDataset(
    { ...movielensExp2Efa("v1"), direction: "unidirectional" },
    "movielens_exp2",
  ),
  movielens_exp2_bidir: fromDataset(
    { ...movielensExp2Efa("v1"), direction: "bidirectional" },
    "movielens_exp2",
  ),
  temperature_4_layers: temperature(0),
  temperature_lag2: temperature(2),
};
const chosen = CONFIGS[args.config];
if (chosen === undefined) {
  throw new RangeError(
    `profile: expected --config to be one of ${
      Object.keys(CONFIGS).join(", ")
    }, got ${args.config}`,
  );
}
const count = (name: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`profile: expected --${name} to be a positive integer, got ${value}`);
  }
  return n;
};
const [sequences, warmups, top] = [
  count("sequences", args.sequences),
  count("warmups", args.warmups),
  count("top", args.top),
];
const loaded = await chosen.load();
const { model } = loaded;
const data = subset(loaded.data, sequences);
const adam = new Adam(Object.values(model.params), { learningRate: 1e-4 });
const plan = planEpochs(model, data, {
  batchSize: chosen.batchSize,
  rng: new SeedStream(1),
  draw: chosen.draw,
});
const chunks = [...plan.next().value].flatMap((step) => step.chunks);
// The optimiser's update timed on its own (it runs in place, outside tfjs's kernels).
let adamMs = 0;
const step = (i: number): void => {
  const { value, grads } = tf.variableGrads(
    () => batchLoss(model, data, chunks[i]!),
    Object.values(model.params),
  );
  value.dataSync();
  const start = performance.now();
  adam.apply(Object.values(model.params).map((v) => grads[v.name]));
  adamMs += performance.now() - start;
  tf.dispose([value, ...Object.values(grads)]);
};
/** A kernel call's inputs' shapes and transposes, e.g. `[128,132,32]x[32,32] tB`. */
function shapesOf(
  { inputs, attrs }: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap },
): string {
  const shapes = Object.values(inputs).map((t) => `[${t!.shape.join(",")}]`).join("x");
  const flags = [attrs?.transposeA ? "tA" : "", attrs?.transposeB ? "tB" : ""].filter(Boolean);
  return [shapes, ...flags].join(" ");
}
// Time every kernel of the backend where it runs: each registered kernel function wrapped in a clock.
let timing = false;
const byShape = args.shapes;
const stepKernels = new Map<string, { calls: number; ms: number }>();
for (const kernel of tf.getKernelsForBackend(tf.getBackend())) {
  const original = kernel.kernelFunc;
  tf.unregisterKernel(kernel.kernelName, kernel.backendName);
  tf.registerKernel({
    ...kernel,
    kernelFunc: (args) => {
      if (!timing) return original(args);
      const start = performance.now();
      const out = original(args);
      const key = byShape ? `${kernel.kernelName} ${shapesOf(args)}` : kernel.kernelName;
      const entry = stepKernels.get(key) ?? { calls: 0, ms: 0 };
      entry.calls++;
      entry.ms += performance.now() - start;
      stepKernels.set(key, entry);
      return out;
    },
  });
}
for (let i = 0; i < chunks.length * warmups; i++) step(i % chunks.length);
timing = true;
adamMs = 0;
const start = performance.now();
for (let i = 0; i < chunks.length; i++) step(i);
const stepMs = (performance.now() - start) / chunks.length;
timing = false;
adam.dispose();
disposeModel(model);
const perKernel = [...stepKernels].map(([name, k]) => ({
  name,
  ms: k.ms / chunks.length,
  calls: k.calls / chunks.length,
}));
const info = backendInfo();
console.log(
  `# deno task profile --config=${args.config}: ${info.backend} backend, package kernels ${
    info.fastKernels ? "on" : "off"
  }, ${sequences} sequences, ${chunks.length} batches (an epoch of steps, a batch per layout in each), timed after ${warmups} warm-up epochs`,
);
const kernelMs = perKernel.reduce((sum, k) => sum + k.ms, 0);
const calls = perKernel.reduce((sum, k) => sum + k.calls, 0);
console.log(
  `step_ms=${stepMs.toFixed(2)} kernel_ms=${kernelMs.toFixed(2)} kernel_calls=${
    calls.toFixed(0)
  } adam_ms=${
    (adamMs / chunks.length).toFixed(2)
  } (means per batch; batch minus kernel time is dispatch and JavaScript, Adam's update included)`,
);
for (const k of perKernel.toSorted((a, b) => b.ms - a.ms).slice(0, top)) {
  console.log(
    `  ${k.name.padEnd(byShape ? 60 : 28)} ${k.ms.toFixed(3).padStart(7)} ms ${
      k.calls.toFixed(1).padStart(6)
    } calls`,
  );
}
