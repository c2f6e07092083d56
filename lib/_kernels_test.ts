import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendInfo } from "./backend.ts";
import { fastKernelsActive, setFastKernels } from "./_kernels.ts";
import { withOracle } from "../tests/_oracle.ts";
import { CONFIGS, randomData } from "../tests/_model_configs.ts";
import { clearLayoutCache } from "./_whole_sequences.ts";
import { Adam } from "./adam.ts";
import { createEfa, efaConfig } from "./model.ts";
import { disposeModel } from "./objective.ts";
import { planEpochs, planEvaluation } from "./plan.ts";
import { SeedStream } from "./random.ts";
import { batchLoss } from "./train.ts";

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

Deno.test("slice, split, concat, gather and transpose: the same tensors as tfjs's kernels, tfjs's errors", () => {
  const before = tf.memory().numTensors;
  const same = (f: () => tf.Tensor | tf.Tensor[], label: string): void => {
    tf.tidy(() => {
      const ours = [f()].flat(), theirs = [withOracle(f)].flat();
      assert.deepEqual(
        ours.map((t) => [t.shape, t.dtype, Array.from(t.dataSync())]),
        theirs.map((t) => [t.shape, t.dtype, Array.from(t.dataSync())]),
        label,
      );
    });
  };
  for (const dtype of ["float32", "int32"] as const) {
    tf.tidy(() => {
      const x4 = tf.cast(tf.randomUniform([3, 4, 5, 6], -9, 9, "float32", 1), dtype);
      const boxes: [number[], number[]][] = [
        [[0, 0, 0, 1], [3, 4, 5, 2]],
        [[1, 1, 1, 0], [2, 2, 2, 6]],
        [[0, 0, 0, 0], [-1, -1, -1, 3]],
        [[2, 3, 4, 5], [1, 1, 1, 1]],
      ];
      for (const [b, s] of boxes) same(() => tf.slice(x4, b, s), `slice ${b} ${s} ${dtype}`);
      const x3 = tf.reshape(x4, [12, 5, 6]);
      same(() => tf.slice(x3, [0, 1, 2], [12, 3, 3]), `slice rank 3 ${dtype}`);
      same(() => tf.split(x3, [2, 4], 2), `split last axis ${dtype}`);
      same(() => tf.split(x3, [1, 4], 1), `split middle axis ${dtype}`);
      same(() => tf.split(tf.reshape(x4, [60, 6]), [1, 2, 3], 1), `split rank 2 ${dtype}`);
      same(() => tf.slice(tf.reshape(x4, [-1]), [7], [50]), `slice rank 1 ${dtype}`);
      same(() => tf.slice(x3, [2, 0, 0], [3, 5, 6]), `contiguous slice ${dtype}`);
      const y3 = tf.cast(tf.randomUniform([12, 5, 2], -9, 9, "float32", 2), dtype);
      same(() => tf.concat([x3, y3, x3], 2), `concat last axis ${dtype}`);
      same(() => tf.concat([x3, x3], 1), `concat middle axis ${dtype}`);
      same(() => tf.concat([tf.reshape(x3, [-1]), tf.reshape(y3, [-1])]), `concat rank 1 ${dtype}`);
      const table = tf.cast(tf.randomUniform([7, 3], -5, 5, "float32", 3), dtype);
      same(() => tf.gather(table, tf.tensor1d([0, 6, 3, 3], "int32")), `gather rows ${dtype}`);
      same(
        () => tf.gather(table, tf.tensor2d([[0, 6], [3, 3]], [2, 2], "int32")),
        `ids [2, 2] ${dtype}`,
      );
      same(() => tf.gather(table, tf.tensor1d([2, 0], "int32"), 1), `gather axis 1 ${dtype}`);
      same(
        () => tf.gather(tf.reshape(x4, [3, 4, 30]), tf.tensor1d([2, 0], "int32")),
        `rank 3 ${dtype}`,
      );
      // Every permutation of ranks 1 to 4; sizes across the 8x8 tiles' edges.
      const permutations = (r: number): number[][] =>
        r === 0
          ? [[]]
          : permutations(r - 1).flatMap((p) =>
            Array.from({ length: r }, (_, i) => [...p.slice(0, i), r - 1, ...p.slice(i)])
          );
      for (const shape of [[19], [9, 17], [3, 8, 13], [2, 3, 9, 10]]) {
        const t = tf.cast(tf.randomUniform(shape, -9, 9, "float32", 4), dtype);
        for (const perm of permutations(shape.length)) {
          same(() => tf.transpose(t, perm), `transpose [${shape}] by [${perm}] ${dtype}`);
        }
      }
    });
  }
  assert.throws(
    () => tf.tidy(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([3], "int32"))),
    { message: "GatherV2: the index value 3 is not in [0, 2]" },
  );
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("clone shares the data: the same values, each freed on its own", () => {
  const bytes = tf.memory().numBytes;
  const x = tf.tensor2d([[1, 2], [3, 4]]);
  const y = tf.clone(x);
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4]);
  const z = tf.add(y, 1);
  assert.deepEqual(Array.from(z.dataSync()), [2, 3, 4, 5]);
  tf.dispose([y, z]);
  assert.equal(tf.memory().numBytes, bytes);
});

Deno.test("sum over leading and middle axes: bit-identical to tfjs's kernel, signed zeros too", () => {
  const before = tf.memory().numTensors;
  const axes = [0, 1, 2, [0, 1], [1, 2], [0, 1, 2], 3, [2, 3], [0, 2], -4];
  for (const dtype of ["float32", "int32"] as const) {
    tf.tidy(() => {
      const x = tf.cast(
        tf.mul(tf.randomNormal([5, 7, 6, 9], 0, 1, "float32", 1), dtype === "int32" ? 100 : 1),
        dtype,
      );
      const zeros = tf.neg(tf.zeros([3, 5])); // -0: 0 + -0 is +0 in both
      for (const axis of axes) {
        for (const keepDims of [false, true]) {
          const ours = tf.sum(x, axis, keepDims);
          const theirs = withOracle(() => tf.sum(x, axis, keepDims));
          assert.deepEqual(ours.shape, theirs.shape, `shape of sum over ${axis}`);
          const a = Array.from(ours.dataSync()), b = Array.from(theirs.dataSync());
          assert.ok(a.every((v, i) => Object.is(v, b[i])), `sum ${dtype} over ${axis}`);
        }
      }
      assert.ok(
        Object.is(tf.sum(zeros, 0).dataSync()[0], withOracle(() => tf.sum(zeros, 0)).dataSync()[0]),
      );
    });
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("training with the package's kernels: within 1e-5 of tfjs's own after 100 steps, every model family", () => {
  const before = tf.memory().numTensors;
  for (const [name, overrides] of Object.entries(CONFIGS)) {
    const train = (): number[] => {
      const model = createEfa(efaConfig(overrides), { seed: 5 });
      const data = randomData(name, new SeedStream(7));
      const adam = new Adam(Object.values(model.params), { learningRate: 1e-3 });
      const epochs = planEpochs(model, data, { batchSize: 6, rng: new SeedStream(3) });
      const losses: number[] = [];
      while (losses.length < 100) {
        for (const step of epochs.next().value) {
          for (const chunk of step.chunks) {
            if (losses.length < 100) losses.push(adam.step(() => batchLoss(model, data, chunk)));
          }
        }
      }
      const final = planEvaluation(model, data, { batchSize: 64 })
        .map((b) => tf.tidy(() => batchLoss(model, data, b).dataSync()[0]! * b.examples.length));
      adam.dispose();
      disposeModel(model);
      return [...losses, final.reduce((a, b) => a + b, 0)];
    };
    const ours = train(), oracle = withOracle(train);
    const worst = Math.max(...ours.map((l, i) => Math.abs(l - oracle[i]!) / Math.abs(oracle[i]!)));
    assert.ok(worst <= 1e-5, `${name}: a loss differs by ${worst} (relative)`);
  }
  clearLayoutCache();
  assert.equal(tf.memory().numTensors, before);
});
