import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts"; // sets up the wasm backend and the package's kernels
import { fusedLayerNorm } from "./_fused_ops.ts";
import { layerNorm } from "./_ops.ts";
import { layerNormForward } from "./_layer_norm_kernels.ts";

/** The largest difference relative to the largest magnitude of `expected`. */
function relative(actual: tf.Tensor, expected: tf.Tensor): number {
  const a = actual.dataSync(), e = expected.dataSync();
  let worst = 0, scale = 0;
  for (let i = 0; i < e.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - e[i]!));
    scale = Math.max(scale, Math.abs(e[i]!));
  }
  return worst / scale;
}

Deno.test("fused LayerNorm: values and gradients of x, gamma and beta within float32 rounding of tfjs's operations, no tensor left behind", () => {
  const before = tf.memory().numTensors;
  for (const [shape, eps] of [[[7, 32], 1e-6], [[3, 5, 8], 1e-3], [[2, 4], 0]] as const) {
    tf.tidy(() => {
      const W = shape.at(-1)!;
      const x = tf.add(tf.mul(tf.randomNormal([...shape], 0, 1, "float32", 1), 3), 5);
      const gamma = tf.variable(tf.randomNormal([W], 1, 0.3, "float32", 2));
      const beta = tf.variable(tf.randomNormal([W], 0, 0.3, "float32", 3));
      const dy = tf.randomNormal([...shape], 0, 1, "float32", 4);
      const params = { "n.gamma": gamma, "n.beta": beta };
      const run = (f: (x: tf.Tensor) => tf.Tensor) => {
        const g = tf.grads((x, gm, bt) => {
          params["n.gamma"] = gm as tf.Variable;
          params["n.beta"] = bt as tf.Variable;
          return tf.sum(tf.mul(f(x), dy));
        });
        return [f(x), ...g([x, gamma, beta])];
      };
      const ours = run((x) => fusedLayerNorm(x, params["n.gamma"], params["n.beta"], eps));
      const oracle = run((x) => layerNorm(params, "n", x, eps));
      ["y", "dx", "dgamma", "dbeta"].forEach((name, i) => {
        const r = relative(ours[i]!, oracle[i]!);
        assert.ok(r < 2e-6, `${shape} ${name}: relative difference ${r}`);
      });
      gamma.dispose();
      beta.dispose();
    });
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("fused LayerNorm kernel: rows of a multiple of 4 floats, else a TypeError naming what came", () => {
  tf.tidy(() => {
    assert.throws(
      () => layerNormForward(tf.ones([2, 6]), tf.ones([6]), tf.zeros([6]), 1e-6),
      /EfaLayerNorm: expected float32 rows of a multiple of 4 values, got float32 \[2,6\]/,
    );
  });
});
