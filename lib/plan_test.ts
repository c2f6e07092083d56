/**
 * Every layout computes the padded layout's model: on random small
 * configurations of every model family the paper uses, each planned batch's
 * mean loss (rows, masked copies, two streams) equals the padded batch's of
 * the same examples to 1e-5 (relative) and every gradient to 1e-4.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import { CONFIGS, randomData } from "../tests/_model_configs.ts";
import { clearLayoutCache } from "./_whole_sequences.ts";
import { disposeBatch, listExamples, type Sequences } from "./data.ts";
import { createEfa, efaConfig, type EfaModel } from "./model.ts";
import { disposeModel, meanLoss, type Model } from "./objective.ts";
import {
  chunked,
  makeBatch,
  paddedLayout,
  planEpochs,
  planEvaluation,
  type TrainingPlanOptions,
  type TrainingStep,
} from "./plan.ts";
import { SeedStream } from "./random.ts";
import { batchLoss } from "./train.ts";

/** One epoch of training steps. */
function epoch(
  model: Model,
  data: Sequences,
  options: TrainingPlanOptions,
): TrainingStep[] {
  return planEpochs(model, data, options).next().value;
}

function gradients(
  model: EfaModel,
  loss: () => tf.Scalar,
): { value: number; grads: Map<string, Float32Array> } {
  const { value, grads } = tf.variableGrads(loss, Object.values(model.params));
  const out = new Map<string, Float32Array>();
  for (const [name, p] of Object.entries(model.params)) {
    const g = grads[p.name];
    out.set(
      name,
      g === undefined ? new Float32Array(p.size) : (g.dataSync() as Float32Array).slice(),
    );
  }
  const v = value.dataSync()[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return { value: v, grads: out };
}

Deno.test("every layout gives the padded layout's losses and gradients for every model family", () => {
  for (const [name, overrides] of Object.entries(CONFIGS)) {
    const rng = new SeedStream(31);
    const model = createEfa(efaConfig(overrides), { seed: 17 });
    const data = randomData(name, rng);
    const unidirectional = model.config.direction === "unidirectional";
    // The training plan's batches: padded two-stream batches, equal-length rows and copies.
    const batches = epoch(model, data, { batchSize: 6, rng }).flatMap((s) => s.chunks);
    assert.equal(batches.reduce((n, b) => n + b.examples.length, 0), listExamples(data).length);
    const layouts = new Set(batches.map((b) => b.layout));
    assert.deepEqual(
      [...layouts].sort(),
      unidirectional
        ? [model.config.unidirectionalMask === "causal" ? "streams" : "rows"]
        : name.startsWith("spatial")
        ? ["copies"]
        : ["copies", "rows"],
      name,
    );
    for (const batch of batches) {
      const fast = gradients(model, () => batchLoss(model, data, batch));
      const padded = makeBatch(data, batch.examples, paddedLayout(model));
      const ref = gradients(model, () => meanLoss(model, padded));
      disposeBatch(padded);
      const where =
        `${name}, ${batch.layout} batch of length ${batch.length} with ${batch.examples.length} examples`;
      assert.ok(
        Math.abs(fast.value - ref.value) <= 1e-5 * Math.abs(ref.value),
        `${where}: loss ${fast.value} vs ${ref.value}`,
      );
      for (const [param, g] of ref.grads) {
        const f = fast.grads.get(param)!;
        const scale = Math.max(1, ...Array.from(g, Math.abs));
        const diff = Math.max(0, ...Array.from(g, (v, i) => Math.abs(v - f[i]!)));
        assert.ok(diff <= 1e-4 * scale, `${where}: gradient of ${param} differs by ${diff}`);
      }
    }
    disposeModel(model);
  }
});

Deno.test("planEvaluation() covers every example once: rows and whole sequences packed", () => {
  for (const [name, overrides] of Object.entries(CONFIGS)) {
    const model = createEfa(efaConfig(overrides), { seed: 1 });
    const data = randomData(name, new SeedStream(5));
    const batches = planEvaluation(model, data, { batchSize: 5 });
    const seen = batches.flatMap((b) => b.examples.map((e) => e.join(":"))).sort();
    assert.deepEqual(seen, listExamples(data).map((e) => e.join(":")).sort());
    for (const b of batches) {
      const lengths = b.examples.map(([s]) => data.items[s]!.length);
      if (b.layout === "rows") {
        const rowLengths = b.examples.map(([, pos], e) =>
          model.config.direction === "unidirectional" ? pos + 1 : lengths[e]!
        );
        assert.equal(b.length, Math.max(...rowLengths));
        assert.ok(b.examples.length <= 5);
      } else {
        // Whole sequences of any lengths: the batch's length is its longest; a batch over 5 examples is one sequence.
        assert.equal(b.length, Math.max(...lengths));
        const sequences = new Set(b.examples.map(([s]) => s)).size;
        assert.ok(
          b.examples.length <= 5 || sequences === 1,
          `${name}: a batch of ${b.examples.length}`,
        );
      }
    }
    disposeModel(model);
  }
});

Deno.test("meanLoss() leaks no tensors in any layout", () => {
  const model = createEfa(efaConfig(CONFIGS["joint unidirectional causal"]!), { seed: 1 });
  const data = randomData("joint", new SeedStream(3));
  const batches = [
    ...planEvaluation(model, data, { batchSize: 8 }),
    ...planEvaluation(model, data, { batchSize: 8, layout: "padded" }),
  ];
  clearLayoutCache();
  const before = tf.memory().numTensors;
  for (const b of batches) batchLoss(model, data, b).dispose();
  const withConstants = tf.memory().numTensors; // per-length mask constants, kept between batches on purpose
  for (const b of batches) batchLoss(model, data, b).dispose();
  assert.equal(tf.memory().numTensors, withConstants);
  clearLayoutCache();
  assert.equal(tf.memory().numTensors, before);
  disposeModel(model);
});

Deno.test("chunked() chunks' weighted gradients sum to the whole batch's gradient", () => {
  for (
    const name of [
      "categorical bidirectional (Instacart)",
      "categorical unidirectional causal (Instacart)",
    ]
  ) {
    const model = createEfa(efaConfig(CONFIGS[name]!), { seed: 3 });
    const rng = new SeedStream(8);
    const data: Sequences = {
      items: Array.from({ length: 8 }, () => Array.from({ length: 6 }, () => 1 + rng.integer(7))),
    };
    const [batch] = planEvaluation(model, data, { batchSize: 1000 }); // one batch: 8 sequences of length 6
    const chunks = chunked(model, data, batch!, 400);
    assert.ok(chunks.length > 1, `${name}: expected several chunks`);
    assert.deepEqual(chunks.flatMap((c) => c.examples), batch!.examples);
    const whole = gradients(model, () => batchLoss(model, data, batch!));
    const summed = new Map<string, Float32Array>();
    let loss = 0;
    for (const chunk of chunks) {
      const weight = chunk.examples.length / batch!.examples.length;
      const part = gradients(
        model,
        () => tf.mul(batchLoss(model, data, chunk), weight) as tf.Scalar,
      );
      loss += part.value;
      for (const [p, g] of part.grads) {
        const acc = summed.get(p) ?? new Float32Array(g.length);
        g.forEach((v, i) => (acc[i]! += v));
        summed.set(p, acc);
      }
    }
    assert.ok(
      Math.abs(loss - whole.value) <= 1e-5 * Math.abs(whole.value),
      `${name}: ${loss} vs ${whole.value}`,
    );
    for (const [p, g] of whole.grads) {
      const diff = Math.max(0, ...Array.from(g, (v, i) => Math.abs(v - summed.get(p)![i]!)));
      assert.ok(
        diff <= 1e-5 * Math.max(1, ...Array.from(g, Math.abs)),
        `${name}: gradient of ${p} differs by ${diff}`,
      );
    }
    disposeModel(model);
  }
});

Deno.test("planEpochs() draws every example once per epoch, steps mixing lengths", () => {
  for (const [name, overrides] of Object.entries(CONFIGS)) {
    const model = createEfa(efaConfig(overrides), { seed: 1 });
    const data = randomData(name, new SeedStream(5));
    const steps = epoch(model, data, { batchSize: 6, rng: new SeedStream(9) }).map((s) => s.chunks);
    const seen = steps.flat().flatMap((b) => b.examples.map((e) => e.join(":"))).sort();
    assert.deepEqual(seen, listExamples(data).map((e) => e.join(":")).sort(), name);
    for (const step of steps) {
      const count = step.reduce((n, b) => n + b.examples.length, 0);
      const sequences = new Set(step.flatMap((b) => b.examples.map(([s]) => s)));
      assert.ok(count <= 6 || sequences.size === 1, `${name}: step of ${count} examples`);
      for (const b of step) {
        const lengths = b.examples.map(([s, pos]) =>
          b.layout === "rows" && model.config.direction === "unidirectional"
            ? pos + 1
            : data.items[s]!.length
        );
        // Every layout packs rows or sequences of any lengths; a batch's length is its longest.
        assert.equal(b.length, Math.max(...lengths), `${name}: ${b.layout} batch length`);
      }
      // One batch per layout in a step (none here is big enough to need memory chunks).
      assert.equal(new Set(step.map((b) => b.layout)).size, step.length, `${name}: a layout twice`);
    }
    // Steps mix lengths (what makes them train like the notebooks' shuffled batches); the
    // spatial data have one length.
    assert.ok(
      name.startsWith("spatial") ||
        steps.some((step) =>
          new Set(step.flatMap((b) => b.examples.map(([s]) => data.items[s]!.length))).size > 1
        ),
      `${name}: no step mixes lengths`,
    );
    disposeModel(model);
  }
});

Deno.test('planEpochs() with draw "examples" draws single examples as rows, across sequences', () => {
  const name = "categorical bidirectional (Instacart)";
  const model = createEfa(efaConfig(CONFIGS[name]!), { seed: 1 });
  const data = randomData(name, new SeedStream(5));
  const bySequence = epoch(model, data, { batchSize: 6, rng: new SeedStream(9) }).map((s) =>
    s.chunks
  );
  const byExample = epoch(model, data, {
    batchSize: 6,
    rng: new SeedStream(9),
    draw: "examples",
  }).map((s) => s.chunks);
  const seen = byExample.flat().flatMap((b) => b.examples.map((e) => e.join(":"))).sort();
  assert.deepEqual(seen, listExamples(data).map((e) => e.join(":")).sort());
  assert.ok(bySequence.flat().some((b) => b.layout === "copies"), "the default shares copies");
  assert.ok(byExample.flat().every((b) => b.layout === "rows"));
  for (const step of byExample) {
    assert.ok(step.reduce((n, b) => n + b.examples.length, 0) <= 6);
  }
  // Steps of whole sequences hold one or two sequences; steps of examples, more.
  const sequencesPerStep = (steps: typeof byExample) =>
    Math.max(...steps.map((step) => new Set(step.flatMap((b) => b.examples.map(([s]) => s))).size));
  assert.ok(sequencesPerStep(byExample) > sequencesPerStep(bySequence));
  disposeModel(model);
  const causal = createEfa(efaConfig(CONFIGS["categorical unidirectional causal (Instacart)"]!), {
    seed: 1,
  });
  assert.throws(
    () => epoch(causal, data, { batchSize: 6, rng: new SeedStream(9), draw: "examples" }),
    {
      name: "RangeError",
      message:
        'train(): expected draw "sequences" for a unidirectional "causal" model (it trains ' +
        'whole sequences as two streams), got "examples"; draw "examples" needs a bidirectional or "prefix" model',
    },
  );
  disposeModel(causal);
});
