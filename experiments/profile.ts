// deno-lint-ignore-file no-console -- a command-line profiler
/**
 * `deno task profile`: where one training step of a paper configuration
 * spends its time, kernel by kernel, on the real data: milliseconds per step
 * (median of the timed steps), kernel calls per step, and the kernels that
 * take the most time. A tool for working on the kernels (`lib/kernels/`);
 * throughput against the PyTorch peer is `deno task bench`.
 *
 *   deno task profile [--config=instacart_bidir] [--sequences=600] [--steps=7] [--top=15]
 *
 * Configurations: instacart_bidir, instacart_unidir, movielens_exp2,
 * movielens_exp2_bidir. Steps are `train()`'s (`planEpochs`, batch 256,
 * Adam), on the first `--sequences` fit sequences, after two warm-up steps.
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
  SeedStream,
} from "../mod.ts";
import { Adam } from "../lib/adam.ts";
import { planEpochs } from "../lib/plan.ts";
import { batchLoss } from "../lib/train.ts";
import { loadDataset } from "../data/load.ts";
import { INSTACART_EFA, movielensExp2Efa } from "./paper_models.ts";
import { subset } from "./_harness.ts";

const { values: args } = parseArgs({
  options: {
    config: { type: "string", default: "instacart_bidir" },
    sequences: { type: "string", default: "600" },
    steps: { type: "string", default: "7" },
    top: { type: "string", default: "15" },
  },
});
const CONFIGS: Record<string, [EfaConfigInput, "instacart" | "movielens_exp2"]> = {
  instacart_bidir: [{ ...INSTACART_EFA, direction: "bidirectional" }, "instacart"],
  instacart_unidir: [{ ...INSTACART_EFA, direction: "unidirectional" }, "instacart"],
  movielens_exp2: [{ ...movielensExp2Efa("v1"), direction: "unidirectional" }, "movielens_exp2"],
  movielens_exp2_bidir: [
    { ...movielensExp2Efa("v1"), direction: "bidirectional" },
    "movielens_exp2",
  ],
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
const [sequences, timed, top] = [
  count("sequences", args.sequences),
  count("steps", args.steps),
  count("top", args.top),
];
const [config, dataset] = chosen;
const data = subset((await loadDataset(dataset)).fit, sequences);
const model = createEfa(efaConfig(config), { seed: 1 });
const adam = new Adam(Object.values(model.params), { learningRate: 1e-4 });
const chunks = [...planEpochs(model, data, { batchSize: 256, rng: new SeedStream(1) }).next().value]
  .flatMap((step) => step.chunks);
if (chunks.length < timed + 2) {
  throw new RangeError(
    `profile: ${sequences} sequences give ${chunks.length} steps, fewer than --steps + 2 warm-up; give more --sequences`,
  );
}
const step = (i: number): void => {
  adam.step(() => batchLoss(model, data, chunks[i]!));
};
// Time every kernel of the backend where it runs: each registered kernel function wrapped in a clock.
let timing = false;
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
      const entry = stepKernels.get(kernel.kernelName) ?? { calls: 0, ms: 0 };
      entry.calls++;
      entry.ms += performance.now() - start;
      stepKernels.set(kernel.kernelName, entry);
      return out;
    },
  });
}
step(0);
step(1);
const steps: { ms: number; kernels: Map<string, { calls: number; ms: number }> }[] = [];
timing = true;
for (let i = 2; i < timed + 2; i++) {
  // The fastest of three runs of the step: the least disturbed by the rest of the machine.
  let best: (typeof steps)[number] | null = null;
  for (let run = 0; run < 3; run++) {
    stepKernels.clear();
    const start = performance.now();
    step(i);
    const ms = performance.now() - start;
    if (best === null || ms < best.ms) best = { ms, kernels: new Map(stepKernels) };
  }
  steps.push(best!);
}
adam.dispose();
disposeModel(model);
const median = (xs: number[]): number => xs.toSorted((a, b) => a - b)[xs.length >> 1]!;
const sumOf = (m: Map<string, { calls: number; ms: number }>, key: "calls" | "ms"): number =>
  [...m.values()].reduce((s, k) => s + k[key], 0);
const names = [...new Set(steps.flatMap((s) => [...s.kernels.keys()]))];
const perKernel = names.map((name) => ({
  name,
  ms: median(steps.map((s) => s.kernels.get(name)?.ms ?? 0)),
  calls: median(steps.map((s) => s.kernels.get(name)?.calls ?? 0)),
}));
const info = backendInfo();
console.log(
  `# deno task profile --config=${args.config}: ${info.backend} backend, package kernels ${
    info.fastKernels ? "on" : "off"
  }, ${sequences} sequences, ${timed} steps`,
);
console.log(
  `step_ms=${median(steps.map((s) => s.ms)).toFixed(1)} kernel_ms=${
    median(steps.map((s) => sumOf(s.kernels, "ms"))).toFixed(1)
  } kernel_calls=${
    median(steps.map((s) => sumOf(s.kernels, "calls")))
  } (medians over the steps; step minus kernel time is dispatch and JavaScript)`,
);
for (const k of perKernel.toSorted((a, b) => b.ms - a.ms).slice(0, top)) {
  console.log(
    `  ${k.name.padEnd(28)} ${k.ms.toFixed(2).padStart(7)} ms ${String(k.calls).padStart(5)} calls`,
  );
}
