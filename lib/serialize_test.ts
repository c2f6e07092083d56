import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import { evaluate } from "./evaluate.ts";
import { createFm, fmConfig } from "./fm.ts";
import { createEfa, efaConfig } from "./model.ts";
import { disposeModel } from "./objective.ts";
import { loadModel, saveModel } from "./serialize.ts";
import { train } from "./train.ts";

const DATA = {
  items: [[1, 2, 3], [3, 1], [2, 2, 1, 3]],
  values: [[0.5, 2, -1], [0, 1], [2, 2.5, 0, 1]],
};

Deno.test("loadModel(saveModel(m)) evaluates to identical numbers", async () => {
  const config = efaConfig({
    numItems: 3,
    maxLength: 4,
    target: "value",
    family: { name: "gaussian" },
    direction: "unidirectional",
    unidirectionalMask: "prefix",
    valueEmbedding: { kind: "mlp", hidden: 8, dim: 4 },
    head: [4],
  });
  const model = createEfa(config, { seed: 3 });
  await train(model, DATA, { epochs: 3, learningRate: 0.01, seed: 1 });
  const text = saveModel(model);
  const copy = loadModel(text);
  assert.deepEqual(copy.config, model.config);
  assert.deepEqual(evaluate(copy, DATA), evaluate(model, DATA));
  const fm = createFm(fmConfig({ numItems: 3, target: "value", family: { name: "gaussian" } }), {
    seed: 2,
  });
  const fmCopy = loadModel(saveModel(fm));
  assert.deepEqual(evaluate(fmCopy, DATA), evaluate(fm, DATA));
  [model, copy, fm, fmCopy].forEach(disposeModel);
});

Deno.test("loadModel() refuses other versions, shapes and non-models with a clear error", () => {
  const model = createFm(fmConfig({ numItems: 3 }), { seed: 2 });
  const saved = JSON.parse(saveModel(model));
  assert.throws(() => loadModel(JSON.stringify({ ...saved, formatVersion: 2 })), {
    name: "TypeError",
    message:
      "loadModel(): expected model format version 1, got format version 2; save it again with a matching package version",
  });
  const wrongShape = structuredClone(saved);
  wrongShape.parameters.alpha.shape = [5, 32];
  const before = tf.memory().numTensors;
  assert.throws(() => loadModel(JSON.stringify(wrongShape)), {
    name: "TypeError",
    message: 'loadModel(): expected parameter "alpha" to have shape [4, 32], got [5, 32]',
  });
  assert.equal(tf.memory().numTensors, before); // nothing half-built is left behind
  const missing = structuredClone(saved);
  delete missing.parameters.alpha;
  assert.throws(() => loadModel(JSON.stringify(missing)), /lacks parameter "alpha"/);
  assert.throws(() => loadModel("{not json"), /invalid JSON/);
  assert.throws(() => loadModel(JSON.stringify({ hello: 1 })), /expected a saved EFA model/);
  disposeModel(model);
});
