// deno-lint-ignore-file no-console -- a command-line script: printing is its job
/**
 * Training throughput of one paper configuration on the reference path (one
 * padded row per masked position, as the authors' notebooks build batches):
 * the Instacart bidirectional categorical EFA, batch 256, on baskets with
 * Instacart's shape (63 items, 10 to 24 items per basket). The data are drawn
 * from a seed, not read from disk, so the bench runs anywhere.
 *
 *   deno task bench:step [--steps=40] [--warmup=5] [--backend=wasm|cpu]
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import {
  batchLoss,
  createEfa,
  disposeBatch,
  disposeModel,
  efaConfig,
  listExamples,
  makeBatch,
  SeedStream,
  type Sequences,
  useBackend,
} from "../mod.ts";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "40" },
    warmup: { type: "string", default: "5" },
    backend: { type: "string", default: "wasm" },
  },
});
const steps = Number(values.steps), warmup = Number(values.warmup);
if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(warmup) || warmup < 0) {
  throw new RangeError(
    `bench_step: expected --steps >= 1 and --warmup >= 0, got ${values.steps} and ${values.warmup}`,
  );
}
const backend = await useBackend(values.backend as "wasm" | "cpu");

const rng = new SeedStream(1);
const baskets: Sequences = {
  items: Array.from(
    { length: 2000 },
    () => Array.from({ length: 10 + rng.integer(15) }, () => 1 + rng.integer(63)),
  ),
};
const examples = rng.shuffle(listExamples(baskets));
const model = createEfa(efaConfig({ numItems: 63, maxLength: 24, direction: "bidirectional" }), {
  seed: 1,
});
const variables = Object.values(model.params);
const optimizer = tf.train.adam(1e-4, 0.9, 0.999, 1e-7);
const batchSize = 256;

function step(i: number): void {
  const chunk = examples.slice(
    (i * batchSize) % (examples.length - batchSize),
    ((i * batchSize) % (examples.length - batchSize)) + batchSize,
  );
  const batch = makeBatch(baskets, chunk);
  const loss = optimizer.minimize(() => batchLoss(model, batch), true, variables)!;
  loss.dataSync();
  loss.dispose();
  disposeBatch(batch);
}

for (let i = 0; i < warmup; i++) step(i);
const start = performance.now();
for (let i = 0; i < steps; i++) step(warmup + i);
const seconds = (performance.now() - start) / 1000;
const perStep = (1000 * seconds) / steps;
const predictionsPerSecond = (steps * batchSize) / seconds;
console.log(
  `bench:step instacart_bidir_efa reference path, ${backend.backend} backend, tfjs ${backend.tfjsVersion}: ` +
    `${perStep.toFixed(1)} ms/step, ${predictionsPerSecond.toFixed(0)} predictions/s ` +
    `(batch ${batchSize}, ${steps} steps after ${warmup} warm-up; one epoch of 206,450 predictions ≈ ${
      (206_450 / predictionsPerSecond).toFixed(0)
    } s)`,
);
optimizer.dispose();
disposeModel(model);
