/**
 * The fast path computes the reference model: on random small configurations
 * of every model family the paper uses, each fast batch's mean loss equals the
 * reference per-example batch's to 1e-5 (relative) and every gradient to 1e-4.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import { disposeBatch, listExamples, makeBatch, type Sequences } from "./data.ts";
import {
  clearFastCache,
  fastBatchLoss,
  fastMode,
  planFastBatches,
  planFastSteps,
  splitFastBatch,
} from "./fast.ts";
import { createEfa, disposeModel, efaConfig, type EfaConfigInput, type EfaModel } from "./model.ts";
import { batchLoss, referenceBatchOptions } from "./objective.ts";
import { SeedStream } from "./random.ts";

const CONFIGS: Record<string, EfaConfigInput> = {
  "categorical bidirectional (Instacart)": {
    numItems: 7,
    maxLength: 9,
    itemEmbedding: { kind: "table", dim: 8 },
    keyDim: 4,
  },
  "categorical bidirectional, one layer": {
    numItems: 7,
    maxLength: 9,
    itemEmbedding: { kind: "table", dim: 8 },
    keyDim: 4,
    layers: 1,
  },
  "categorical unidirectional causal (Instacart)": {
    numItems: 7,
    maxLength: 9,
    direction: "unidirectional",
    itemEmbedding: { kind: "table", dim: 8 },
    keyDim: 4,
    layers: 3,
  },
  "value bidirectional Gaussian (synthetic)": {
    numItems: 7,
    maxLength: 9,
    target: "value",
    family: { name: "gaussian" },
    unidirectionalMask: "prefix",
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 12, dim: 4, maskIndex: 9 },
    keyDim: 4,
    head: [6],
  },
  "value unidirectional prefix Poisson (MovieLens exp-2)": {
    numItems: 7,
    maxLength: 9,
    target: "value",
    family: { name: "poisson-shifted-count" },
    direction: "unidirectional",
    unidirectionalMask: "prefix",
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 12, dim: 4, maskIndex: 9 },
    keyDim: 4,
    head: [6],
  },
  "spatial with lags, LayerNorm and feed-forward (temperature)": {
    numItems: 7,
    maxLength: 14,
    target: "value",
    family: { name: "gaussian" },
    itemEmbedding: {
      kind: "mlp",
      features: [[0, 0], [1, 2], [2, 1], [0.5, 0.3], [3, 3], [1, 1], [2, 0.4], [0.2, 2.5]],
      hidden: 6,
      dim: 4,
    },
    valueEmbedding: { kind: "mlp", hidden: 6, dim: 4 },
    lagGroups: 2,
    lagDim: 3,
    tokenMixer: { hidden: 7, dim: 8 },
    positionEmbedding: false,
    layerNorm: true,
    feedForward: 9,
    layers: 3,
    keyDim: 4,
    head: [6, 3],
  },
  "joint bidirectional": {
    numItems: 7,
    maxLength: 9,
    target: "joint",
    family: { name: "poisson" },
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 12, dim: 4, maskIndex: 9 },
    keyDim: 4,
  },
  "joint unidirectional causal": {
    numItems: 7,
    maxLength: 9,
    target: "joint",
    family: { name: "poisson" },
    direction: "unidirectional",
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 12, dim: 4, maskIndex: 9 },
    keyDim: 4,
  },
};

function randomData(name: string, rng: SeedStream): Sequences {
  const spatial = name.startsWith("spatial");
  const count = 9;
  const items: number[][] = [],
    values: number[][] = [],
    lags: number[][] = [],
    targets: number[][] = [];
  for (let s = 0; s < count; s++) {
    if (spatial) {
      const day = [1, 2, 3, 4, 5, 6, 7];
      items.push([...day, ...day]);
      values.push(Array.from({ length: 14 }, () => 50 + 10 * rng.normal()));
      lags.push([...day.map(() => 0), ...day.map(() => 1)]);
      targets.push(day.map((_, i) => i));
    } else {
      const n = 3 + rng.integer(7); // lengths 3..9, several batches of each
      items.push(Array.from({ length: n }, () => 1 + rng.integer(7)));
      values.push(Array.from({ length: n }, () => 1 + rng.integer(3)));
      // Some sequences predict a subset of their positions (as per-example validation splits do), some a
      // single one: bidirectional batches then use both whole masked copies and single rows.
      const all = Array.from({ length: n }, (_, i) => i);
      targets.push(
        s % 3 === 0 ? all : s % 3 === 1 ? all.filter((i) => (i + s) % 3 !== 0) : [n - 1],
      );
    }
  }
  return { items, values, ...(spatial ? { lags } : {}), targets };
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

Deno.test("the fast path gives the reference losses and gradients for every model family", () => {
  for (const [name, overrides] of Object.entries(CONFIGS)) {
    const rng = new SeedStream(31);
    const model = createEfa(efaConfig(overrides), { seed: 17 });
    const data = randomData(name, rng);
    const unidirectional = model.config.direction === "unidirectional";
    // The training plan's batches: padded two-stream batches, equal-length rows and copies.
    const batches = planFastSteps(model, data, { batchSize: 6, rng }).flat();
    assert.equal(batches.reduce((n, b) => n + b.examples.length, 0), listExamples(data).length);
    const modes = new Set(batches.map((b) => b.mode));
    assert.deepEqual(
      [...modes].sort(),
      unidirectional
        ? [fastMode(model)]
        : name.startsWith("spatial")
        ? ["copies"]
        : ["copies", "rows"],
      name,
    );
    for (const batch of batches) {
      const fast = gradients(model, () => fastBatchLoss(model, data, batch));
      const reference = makeBatch(data, batch.examples, referenceBatchOptions(model));
      const ref = gradients(model, () => batchLoss(model, reference));
      disposeBatch(reference);
      const where = `${name}, ${
        fastMode(model)
      } batch of length ${batch.length} with ${batch.examples.length} examples`;
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

Deno.test("planFastBatches() covers every example once, in equal-length batches", () => {
  const rng = new SeedStream(2);
  for (const [name, overrides] of Object.entries(CONFIGS)) {
    const model = createEfa(efaConfig(overrides), { seed: 1 });
    const data = randomData(name, new SeedStream(5));
    const batches = planFastBatches(model, data, { batchSize: 5, rng });
    const seen = batches.flatMap((b) => b.examples.map((e) => e.join(":"))).sort();
    assert.deepEqual(seen, listExamples(data).map((e) => e.join(":")).sort());
    for (const b of batches) {
      for (const [s, pos] of b.examples) {
        const n = data.items[s]!.length;
        assert.equal(
          b.length,
          b.mode === "rows" && model.config.direction === "unidirectional" ? pos + 1 : n,
        );
      }
      if (b.mode === "rows") assert.ok(b.examples.length <= 5);
    }
    disposeModel(model);
  }
});

Deno.test("fastBatchLoss() leaks no tensors", () => {
  const model = createEfa(efaConfig(CONFIGS["joint unidirectional causal"]!), { seed: 1 });
  const data = randomData("joint", new SeedStream(3));
  const batches = planFastBatches(model, data, { batchSize: 8 });
  clearFastCache();
  const before = tf.memory().numTensors;
  for (const b of batches) fastBatchLoss(model, data, b).dispose();
  const withConstants = tf.memory().numTensors; // per-length mask constants, kept between batches on purpose
  for (const b of batches) fastBatchLoss(model, data, b).dispose();
  assert.equal(tf.memory().numTensors, withConstants);
  clearFastCache();
  assert.equal(tf.memory().numTensors, before);
  disposeModel(model);
});

Deno.test("splitFastBatch() chunks' weighted gradients sum to the whole batch's gradient", () => {
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
    const [batch] = planFastBatches(model, data, { batchSize: 1000 }); // one batch: 8 sequences of length 6
    const chunks = splitFastBatch(model, batch!, 400);
    assert.ok(chunks.length > 1, `${name}: expected several chunks`);
    assert.deepEqual(chunks.flatMap((c) => c.examples), batch!.examples);
    const whole = gradients(model, () => fastBatchLoss(model, data, batch!));
    const summed = new Map<string, Float32Array>();
    let loss = 0;
    for (const chunk of chunks) {
      const weight = chunk.examples.length / batch!.examples.length;
      const part = gradients(
        model,
        () => tf.mul(fastBatchLoss(model, data, chunk), weight) as tf.Scalar,
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

Deno.test("planFastSteps() draws every example once per epoch, steps mixing lengths", () => {
  for (const [name, overrides] of Object.entries(CONFIGS)) {
    const model = createEfa(efaConfig(overrides), { seed: 1 });
    const data = randomData(name, new SeedStream(5));
    const steps = planFastSteps(model, data, { batchSize: 6, rng: new SeedStream(9) });
    const seen = steps.flat().flatMap((b) => b.examples.map((e) => e.join(":"))).sort();
    assert.deepEqual(seen, listExamples(data).map((e) => e.join(":")).sort(), name);
    for (const step of steps) {
      const count = step.reduce((n, b) => n + b.examples.length, 0);
      const sequences = new Set(step.flatMap((b) => b.examples.map(([s]) => s)));
      assert.ok(count <= 6 || sequences.size === 1, `${name}: step of ${count} examples`);
      for (const b of step) {
        const lengths = b.examples.map(([s, pos]) =>
          b.mode === "rows" && model.config.direction === "unidirectional"
            ? pos + 1
            : data.items[s]!.length
        );
        // Two streams pad to the longest sequence; the other modes hold one length.
        if (b.mode === "streams") assert.equal(b.length, Math.max(...lengths));
        else {assert.ok(
            lengths.every((n) => n === b.length),
            `${name}: ${b.mode} batch mixes lengths`,
          );}
      }
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

Deno.test('planFastSteps() with draw "examples" draws single examples as rows, across sequences', () => {
  const name = "categorical bidirectional (Instacart)";
  const model = createEfa(efaConfig(CONFIGS[name]!), { seed: 1 });
  const data = randomData(name, new SeedStream(5));
  const bySequence = planFastSteps(model, data, { batchSize: 6, rng: new SeedStream(9) });
  const byExample = planFastSteps(model, data, {
    batchSize: 6,
    rng: new SeedStream(9),
    draw: "examples",
  });
  const seen = byExample.flat().flatMap((b) => b.examples.map((e) => e.join(":"))).sort();
  assert.deepEqual(seen, listExamples(data).map((e) => e.join(":")).sort());
  assert.ok(bySequence.flat().some((b) => b.mode === "copies"), "the default shares copies");
  assert.ok(byExample.flat().every((b) => b.mode === "rows"));
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
    () => planFastSteps(causal, data, { batchSize: 6, rng: new SeedStream(9), draw: "examples" }),
    (e: unknown) => e instanceof RangeError && /draw "examples".*two streams/.test(e.message),
  );
  disposeModel(causal);
});
