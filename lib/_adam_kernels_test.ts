import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts"; // sets up the wasm backend and the package's kernels
import { Adam } from "./adam.ts";
import { adamStepInPlace, firstMomentBound, LAZY_MIN_ROWS } from "./_adam_kernels.ts";
import { fastKernelsActive } from "./_kernels.ts";
import { withOracle } from "../tests/_oracle.ts";
import type { TfVariable } from "./_types.ts";

function sameBits(actual: Float32Array, expected: Float32Array): boolean {
  if (actual.length !== expected.length) return false;
  for (let i = 0; i < actual.length; i++) if (!Object.is(actual[i], expected[i])) return false;
  return true;
}

/** A gradient that is zero outside `rows` (each row's values drawn from `seed`), in the shape of `w`. */
function rowGradient(
  w: tf.Tensor,
  rows: readonly number[],
  seed: number,
  scale: number,
): tf.Tensor {
  const width = w.shape[1]!;
  const g = new Float32Array(w.size);
  let state = seed;
  for (const r of rows) {
    for (let j = 0; j < width; j++) {
      state = (state * 1103515245 + 12345) % 2147483648;
      g[r * width + j] = (state / 2147483648 - 0.5) * scale;
    }
  }
  return tf.tensor(g, w.shape as [number, number]);
}

/**
 * Rows touched at a step: a few hot rows every step, a warm group in a
 * burst at the start and again after 1,400 idle steps (long enough for
 * their first moments to reach their denormal fixed points), the rest never.
 */
function touched(step: number, rows: number): number[] {
  const hot = [0, 1, 2, (step * 7) % 10];
  const warm = step < 40 || (step >= 1440 && step < 1450) || step === 2999
    ? Array.from({ length: 20 }, (_, i) => 10 + ((i * 13 + step) % 80))
    : [];
  return [...hot, ...warm].filter((r) => r < rows);
}

Deno.test("Adam in place: bit-identical to tfjs's operations over 300 steps, no tensor left behind", () => {
  // Sizes off and on the 4-lane tiles, a variable without gradients (zeros), gradients of wide range.
  const shapes = [[7, 5], [8], [1], [3, 4, 2], [50_003]];
  const run = (): Float32Array[] => {
    const variables = shapes.map((s, i) => {
      const init = tf.randomNormal(s, 0, 1, "float32", i + 1);
      const v = tf.variable(init);
      init.dispose();
      return v;
    });
    const adam = new Adam(variables, { learningRate: 3e-3 });
    for (let step = 0; step < 300; step++) {
      tf.tidy(() => {
        const grads = variables.map((v, i) =>
          i === 1 && step % 3 === 0 ? undefined : tf.mul(
            tf.randomNormal(v.shape, 0, 1, "float32", 1000 * step + i + 1),
            10 ** ((step % 7) - 3),
          )
        );
        adam.apply(grads);
      });
    }
    const out = variables.map((v) => v.dataSync() as Float32Array);
    adam.dispose();
    variables.forEach((v) => v.dispose());
    return out;
  };
  const before = tf.memory().numTensors;
  const ours = run();
  assert.equal(tf.memory().numTensors, before);
  const oracle = withOracle(run);
  ours.forEach((w, i) => assert.ok(sameBits(w, oracle[i]!), `variable ${i} differs`));
});

Deno.test("Adam on embedding tables skips idle rows: w, m and v bit-identical to the dense tensor operations over 3,000 steps (the rate lowered at 2,000), clones untouched", () => {
  assert.ok(fastKernelsActive(), "the package's kernels are on");
  const shapes: [number, number][] = [[LAZY_MIN_ROWS + 744, 13], [512, 32], [6, 5]];
  const run = () => {
    const variables = shapes.map((s, i) => {
      const init = tf.randomNormal(s, 0, 1, "float32", i + 1);
      const v = tf.variable(init);
      init.dispose();
      return v;
    });
    const adam = new Adam(variables, { learningRate: 1e-3 });
    const midState: Float32Array[] = [];
    let clone: tf.Tensor | undefined, cloneAt: Float32Array | undefined;
    for (let step = 0; step < 3000; step++) {
      if (step === 1000) {
        // A clone shares the data (best weights): the update must leave it as it was.
        clone = tf.clone(variables[0]!);
        cloneAt = clone.dataSync() as Float32Array;
      }
      if (step === 1500) {
        const state = adam.state(); // the deferred second moments caught up
        midState.push(state.m, state.v);
      }
      if (step === 2000) {
        adam.learningRate = 2.5e-4; // a schedule's decay: skipping stays exact at a lower rate
        assert.throws(
          () => adam.learningRate = 1e-3,
          (e) => e instanceof RangeError && /at most 0.00025, got 0.001/.test(e.message),
        );
      }
      tf.tidy(() => {
        const grads = variables.map((v, i) =>
          i === 2 ? tf.randomNormal(v.shape, 0, 1, "float32", step + 1) : rowGradient(
            v,
            touched(step, v.shape[0]!),
            1000 * step + i + 1,
            10 ** ((step % 5) - 2),
          )
        );
        adam.apply(grads);
      });
    }
    const cloneAfter = clone?.dataSync() as Float32Array;
    clone?.dispose();
    const state = adam.state();
    const weights = variables.map((v) => v.dataSync() as Float32Array);
    adam.dispose();
    variables.forEach((v) => v.dispose());
    return { weights, m: state.m, v: state.v, midState, cloneAt: cloneAt!, cloneAfter };
  };
  const before = tf.memory().numTensors;
  const ours = run();
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  const oracle = withOracle(run);
  ours.weights.forEach((w, i) =>
    assert.ok(sameBits(w, oracle.weights[i]!), `variable ${i} differs`)
  );
  assert.ok(sameBits(ours.m, oracle.m), "first moments differ");
  assert.ok(sameBits(ours.v, oracle.v), "second moments differ");
  assert.ok(sameBits(ours.midState[0]!, oracle.midState[0]!), "first moments at step 1,500 differ");
  assert.ok(
    sameBits(ours.midState[1]!, oracle.midState[1]!),
    "second moments at step 1,500 differ",
  );
  assert.ok(sameBits(ours.cloneAfter, ours.cloneAt), "the clone changed");
});

Deno.test("adamStepInPlace updates only a table's rows that are not idle", () => {
  const before = tf.memory().numTensors;
  const rows = LAZY_MIN_ROWS * 2, width = 8;
  // Each variable made from a tensor freed at once: one buffer each, as the in-place update needs.
  const variable = (make: () => tf.Tensor): TfVariable => tf.tidy(() => tf.variable(make()));
  const w = variable(() => tf.randomNormal([rows, width], 0, 1, "float32", 3));
  const m = variable(() => tf.zeros([rows * width]));
  const v = variable(() => tf.zeros([rows * width]));
  const variables = [w, m, v];
  tf.tidy(() => {
    const idle = tf.fill([rows], 0, "int32"); // a fresh optimiser: every row idle since step 0
    const constants = (t: number) => ({
      t,
      c1: 0.1,
      c2: 0.001,
      alpha: 1e-3 * Math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t),
      epsilon: 1e-7,
      mBound: firstMomentBound(1e-3, 0.9, 0.999),
    });
    const initial = w.dataSync().slice();
    const updated = adamStepInPlace(
      m,
      v,
      [rowGradient(w, [3, 7], 1, 1)],
      [w],
      [idle],
      constants(1),
    );
    assert.equal(updated, 2);
    const after = w.dataSync();
    for (let r = 0; r < rows; r++) {
      const changed = after.slice(r * width, (r + 1) * width).some((x, j) =>
        !Object.is(x, initial[r * width + j])
      );
      assert.equal(changed, r === 3 || r === 7, `row ${r}`);
    }
    // The two rows stay active while their first moments decay; a zero gradient then updates only them.
    assert.equal(adamStepInPlace(m, v, [tf.zerosLike(w)], [w], [idle], constants(2)), 2);
    const marks = idle.dataSync();
    assert.deepEqual([marks[3], marks[7], marks[0]], [-1, -1, 0]);
  });
  variables.forEach((x) => x.dispose());
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("firstMomentBound: m alpha rounds to zero below it for every step size", () => {
  const bound = firstMomentBound(1e-3, 0.9, 0.999);
  for (const t of [1, 2, 10, 100, 1000, 1e6]) {
    const alpha = Math.fround(1e-3 * Math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t));
    assert.equal(Math.fround(Math.fround(bound) * alpha), 0, `t = ${t}`);
  }
  assert.ok(bound > 100 * 2 ** -149, "the denormal fixed points of m (a few 2^-149) lie below it");
  assert.equal(firstMomentBound(Infinity, 0.9, 0.999), 0);
});
