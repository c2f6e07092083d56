import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendInfo } from "./backend.ts";
import { fastKernelsActive, setFastKernels } from "./_kernels.ts";

/** Runs `f` with tfjs's own kernels (the oracle), then restores the package's. */
function withOracle<T>(f: () => T): T {
  const before = setFastKernels(false);
  try {
    return f();
  } finally {
    setFastKernels(before);
  }
}

function sameBits(actual: Float32Array, expected: Float32Array): boolean {
  if (actual.length !== expected.length) return false;
  for (let i = 0; i < actual.length; i++) if (!Object.is(actual[i], expected[i])) return false;
  return true;
}

Deno.test("the package's kernels are registered on the wasm backend", () => {
  assert.equal(backendInfo().fastKernels, true);
  assert.equal(fastKernelsActive(), true);
  assert.equal(withOracle(() => fastKernelsActive()), false);
});

Deno.test("batched and transposed matMul: bit-identical to tfjs's kernel", () => {
  // Edges of the 4x8 tiles and of the 48-long summation blocks, broadcast batches, rank 2 to 4.
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [4, 8, 8],
    [5, 48, 9],
    [7, 49, 3],
    [13, 100, 17],
    [24, 16, 24],
    [2, 97, 1],
  ];
  let cases = 0;
  for (const [M, K, N] of sizes) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const a2 = transposeA ? [K, M] : [M, K], b2 = transposeB ? [N, K] : [K, N];
        const shapes: [number[], number[]][] = [
          [[3, ...a2], [3, ...b2]],
          [[1, ...a2], [4, ...b2]],
          [[4, ...a2], [1, ...b2]],
          [[2, 2, ...a2], [2, 2, ...b2]],
          [a2, b2],
        ];
        for (const [sa, sb] of shapes) {
          tf.tidy(() => {
            const a = tf.randomUniform(sa, -1, 1, "float32", cases);
            const b = tf.randomUniform(sb, -1, 1, "float32", cases + 1000);
            const ours = tf.matMul(a, b, transposeA, transposeB);
            const theirs = withOracle(() => tf.matMul(a, b, transposeA, transposeB));
            assert.deepEqual(ours.shape, theirs.shape);
            assert.ok(
              sameBits(ours.dataSync() as Float32Array, theirs.dataSync() as Float32Array),
              `matMul ${sa} x ${sb} (transposeA ${transposeA}, transposeB ${transposeB}) differs`,
            );
          });
          cases++;
        }
      }
    }
  }
  assert.equal(cases, 160);
});

Deno.test("matMul gradients: bit-identical to tfjs's kernels, no tensor left behind", () => {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const a = tf.randomUniform([6, 11, 50], -1, 1, "float32", 1);
    const b = tf.randomUniform([6, 9, 50], -1, 1, "float32", 2);
    const f = (x: tf.Tensor, y: tf.Tensor): tf.Scalar =>
      tf.sum(tf.square(tf.matMul(x, y, false, true)));
    const grads = tf.grads(f);
    const ours = grads([a, b]);
    const theirs = withOracle(() => grads([a, b]));
    for (let i = 0; i < 2; i++) {
      assert.ok(
        sameBits(ours[i]!.dataSync() as Float32Array, theirs[i]!.dataSync() as Float32Array),
      );
    }
  });
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("matMul keeps tfjs's errors for shapes that do not agree", () => {
  assert.throws(() => tf.matMul(tf.ones([2, 3, 4]), tf.ones([2, 5, 6])), /inner shapes/);
  assert.throws(() => setFastKernels("yes" as never), {
    name: "TypeError",
    message: "setFastKernels(): expected a boolean, got string",
  });
});
