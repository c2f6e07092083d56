import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import { listExamples, type Sequences } from "./data.ts";
import { attentionWeights, evaluate, predict } from "./evaluate.ts";
import { createFm, fmConfig } from "./fm.ts";
import { createEfa, efaConfig } from "./model.ts";
import { disposeModel, forward, lossTerms } from "./objective.ts";
import { makeBatch } from "./plan.ts";

const DATA: Sequences = {
  items: [[1, 2, 3], [3, 1], [2, 2, 1, 3]],
  values: [[1, 2, 3], [0, 1], [2, 2, 0, 1]],
};
const JOINT = efaConfig({
  numItems: 3,
  maxLength: 4,
  target: "joint",
  family: { name: "poisson" },
  itemEmbedding: { kind: "table", dim: 4 },
  valueEmbedding: { kind: "table", size: 5, dim: 4, maskIndex: 4 },
  keyDim: 2,
});

Deno.test("evaluate() averages the per-example losses, log-likelihoods and squared errors", () => {
  const model = createEfa(JOINT, { seed: 2 });
  const result = evaluate(model, DATA, { batchSize: 2 }); // several batches
  const batch = makeBatch(DATA, listExamples(DATA));
  const losses = lossTerms(model, forward(model, batch), batch.labels);
  const item = Array.from(losses.item!.dataSync()), value = Array.from(losses.value!.dataSync());
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.equal(result.count, 9);
  assert.ok(Math.abs(result.itemLoss! - mean(item)) < 1e-6);
  assert.ok(Math.abs(result.valueLoss! - mean(value)) < 1e-6);
  assert.ok(Math.abs(result.loss - (mean(item) + mean(value))) < 1e-6);
  const p = predict(model, DATA);
  const ys = DATA.values!.flatMap((v) => Array.from(v));
  const mse = mean(ys.map((y, i) => (p.valueMean![i]! - y) ** 2));
  assert.ok(Math.abs(result.mse! - mse) < 1e-5);
  // Full log-likelihood = -(item CE) + Poisson loglik, which includes -log y!.
  const logFactorial = mean(ys.map((y) => Math.log([1, 1, 2, 6][y]!)));
  assert.ok(Math.abs(result.logLikelihood - (-result.loss - logFactorial)) < 1e-5);
  tf.dispose([
    batch.items,
    batch.values!,
    batch.lengths,
    batch.target,
    losses.item!,
    losses.value!,
  ]);
  disposeModel(model);
});

Deno.test("predict() returns probabilities and means in example order", () => {
  const model = createEfa(JOINT, { seed: 2 });
  const p = predict(model, DATA, { batchSize: 4 });
  assert.deepEqual(p.examples, listExamples(DATA));
  assert.equal(p.itemProbabilities!.length, 9 * 3);
  for (let i = 0; i < 9; i++) {
    const row = p.itemProbabilities!.subarray(3 * i, 3 * i + 3);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assert.ok(Math.abs(Math.exp(p.valueEta![i]!) - p.valueMean![i]!) < 1e-4 * p.valueMean![i]!);
  }
  disposeModel(model);
});

Deno.test("attentionWeights() returns [layer][head][query][key] and refuses bad positions", () => {
  const model = createEfa(JOINT, { seed: 2 });
  const w = attentionWeights(model, DATA, 2, 1);
  assert.deepEqual([w.length, w[0]!.length, w[0]![0]!.length, w[0]![0]![0]!.length], [2, 2, 4, 4]);
  assert.throws(() => attentionWeights(model, DATA, 3, 0), {
    name: "RangeError",
    message: /sequence in 0..2, got 3/,
  });
  assert.throws(() => attentionWeights(model, DATA, 1, 2), {
    name: "RangeError",
    message: /position in 0..1, got 2/,
  });
  // One token: its own weight only (the layout is two wide; the padding column is not returned).
  const one = attentionWeights(model, { items: [[2]], values: [[1]] }, 0, 0);
  assert.deepEqual(
    one.map((layer) => layer.map((head) => head.map((row) => row.map((x) => Math.round(x))))),
    [[[[1]], [[1]]], [[[1]], [[1]]]],
  );
  const fm = createFm(fmConfig({ numItems: 3 }), { seed: 1 });
  assert.throws(() => attentionWeights(fm, DATA, 0, 0), TypeError);
  [model, fm].forEach(disposeModel);
});

Deno.test("evaluate() and predict() leak no tensors", () => {
  const model = createEfa(JOINT, { seed: 2 });
  const before = tf.memory().numTensors;
  evaluate(model, DATA, { batchSize: 2 });
  predict(model, DATA, { batchSize: 2 });
  attentionWeights(model, DATA, 0, 0);
  assert.equal(tf.memory().numTensors, before);
  disposeModel(model);
});

Deno.test("evaluate() and predict() give the same numbers on the fast and the reference path", () => {
  for (const direction of ["unidirectional", "bidirectional"] as const) {
    const model = createEfa(efaConfig({ ...JOINT, direction }), { seed: 5 });
    const fast = evaluate(model, DATA, { batchSize: 3 });
    const reference = evaluate(model, DATA, { layout: "padded", batchSize: 3 });
    for (const key of ["loss", "itemLoss", "valueLoss", "logLikelihood", "mse"] as const) {
      assert.ok(
        Math.abs(fast[key]! - reference[key]!) < 1e-5,
        `${direction} ${key}: ${fast[key]} vs ${reference[key]}`,
      );
    }
    const a = predict(model, DATA),
      b = predict(model, DATA, { layout: "padded" });
    assert.deepEqual(a.examples, b.examples);
    a.valueMean!.forEach((v, i) => assert.ok(Math.abs(v - b.valueMean![i]!) < 1e-5));
    a.itemProbabilities!.forEach((v, i) =>
      assert.ok(Math.abs(v - b.itemProbabilities![i]!) < 1e-6)
    );
    disposeModel(model);
  }
});
