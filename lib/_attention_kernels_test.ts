import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendInfo } from "./backend.ts";
import { withOracle } from "../tests/_oracle.ts";
import { STREAMS_KERNEL, streamsAttentionForward } from "./_attention_kernels.ts";
import {
  clearLayoutCache,
  copiesAttentionOps,
  streamsAttentionOps,
  targetAttentionOps,
} from "./_whole_sequences.ts";
import { copiesAttention, streamsAttention, targetAttention } from "./_fused_ops.ts";
import type { TfTensor } from "./_types.ts";
import { attend, batchAsHeads, headsAsBatch } from "./model.ts";
import type { Tensor } from "./shapes.ts";

/**
 * An op's value and the gradients of `sum(op(inputs) * R)` (R fixed, random)
 * with respect to every input, as arrays.
 */
function valueAndGrads(
  op: (...xs: TfTensor[]) => TfTensor,
  inputs: TfTensor[],
  seed: number,
): Float32Array[] {
  return tf.tidy(() => {
    const value = op(...inputs);
    const r = tf.randomNormal(value.shape, 0, 1, "float32", seed);
    const grads = tf.grads((...xs: TfTensor[]) => tf.sum(tf.mul(op(...xs), r)))(inputs);
    return [value, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

/** The largest difference relative to the largest magnitude, over each pair of arrays. */
function worstRelative(ours: Float32Array[], oracle: Float32Array[]): number {
  let worst = 0;
  ours.forEach((a, t) => {
    const b = oracle[t]!;
    assert.equal(a.length, b.length);
    let scale = 1e-30, diff = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(b[i]!));
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    }
    worst = Math.max(worst, diff / scale);
  });
  return worst;
}

const SHAPES = [
  { H: 1, K: 4, lengths: [1, 1] },
  { H: 2, K: 8, lengths: [5, 2, 5, 1] },
  { H: 3, K: 4, lengths: [9, 4, 7] },
];

const uniform = (shape: number[], seed: number): TfTensor =>
  tf.randomUniform(shape, -1.5, 1.5, "float32", seed);

/**
 * The packed copies and target ops computed by the tfjs operations one
 * sequence at a time (the rectangular oracle, S = 1), laid out as the fused
 * ones lay out packed sequences.
 */
function packedOracles(
  lengths: readonly number[],
  attrs: { heads: number; keyDim: number; scale: number },
): {
  copies: (p: TfTensor, pm: TfTensor) => TfTensor;
  target: (q: TfTensor, k: TfTensor, v: TfTensor) => TfTensor;
  streams: (
    p: TfTensor,
    context: TfTensor | null,
    offsets: { keyOffset: number; valueOffset: number },
  ) => TfTensor;
  selfAttention: (p: TfTensor) => TfTensor;
} {
  const { heads: H, keyDim: K } = attrs;
  const HK = H * K;
  const copies = (p: TfTensor, pm: TfTensor): TfTensor => {
    let o = 0;
    return tf.concat(lengths.map((n) => {
      const one = (x: TfTensor): TfTensor =>
        tf.reshape(tf.slice(x, [o, 0], [n, 3 * HK]), [1, n, 3 * HK]);
      const out = copiesAttentionOps(one(p), one(pm), attrs); // [1, H, n, n, K]
      o += n;
      return tf.reshape(tf.transpose(out, [0, 2, 3, 1, 4]), [n * n, HK]);
    }));
  };
  const target = (q: TfTensor, k: TfTensor, v: TfTensor): TfTensor => {
    let o = 0, c = 0;
    return tf.concat(lengths.map((n) => {
      const qs = tf.reshape(tf.slice(q, [o, 0], [n, HK]), [1, n, HK]);
      const kv = (x: TfTensor): TfTensor =>
        tf.reshape(tf.slice(x, [c, 0], [n * n, HK]), [1, n, n, HK]);
      const out = targetAttentionOps(qs, kv(k), kv(v), attrs); // [1, n, HK]
      o += n;
      c += n * n;
      return tf.reshape(out, [n, HK]);
    }));
  };
  const streams = (
    p: TfTensor,
    context: TfTensor | null,
    offsets: { keyOffset: number; valueOffset: number },
  ): TfTensor => {
    let o = 0;
    return tf.concat(lengths.map((n) => {
      const one = (x: TfTensor): TfTensor =>
        tf.reshape(tf.slice(x, [o, 0], [n, x.shape[1]!]), [1, n, x.shape[1]!]);
      const out = streamsAttentionOps(one(p), context === null ? null : one(context), {
        ...attrs,
        ...offsets,
      }); // [1, n, HK]
      o += n;
      return tf.reshape(out, [n, HK]);
    }));
  };
  const selfAttention = (p: TfTensor): TfTensor => {
    let o = 0;
    return tf.concat(lengths.map((n) => {
      const [q, k, v] = tf.split(tf.reshape(tf.slice(p, [o, 0], [n, 3 * HK]), [1, n, 3 * HK]), 3, 2)
        .map((x) => headsAsBatch(x, H)); // [H, n, K]
      const { output } = attend(
        q as Tensor<"batch query key_dim">,
        k as Tensor<"batch key key_dim">,
        v as Tensor<"batch key value_dim">,
      ); // [H, n, K]
      o += n;
      return tf.reshape(batchAsHeads(output, H), [n, HK]);
    }));
  };
  return { copies, target, streams, selfAttention };
}

Deno.test("fused attention kernels: values and gradients within float32 rounding of the tfjs operations, no tensor left behind", () => {
  assert.equal(backendInfo().fastKernels, true);
  const before = tf.memory().numTensors;
  for (const { H, K, lengths } of SHAPES) {
    const HK = H * K;
    const attrs = { heads: H, keyDim: K, scale: 1 / Math.sqrt(K) };
    const T = lengths.reduce((a, m) => a + m, 0), C = lengths.reduce((a, m) => a + m * m, 0);
    const oracles = packedOracles(lengths, attrs);
    const cases: [
      string,
      (...xs: TfTensor[]) => TfTensor,
      (...xs: TfTensor[]) => TfTensor,
      number[][],
    ][] = [
      [
        `packed copies of lengths ${lengths}`,
        (p, pm) => copiesAttention(p!, pm!, { ...attrs, lengths }),
        (p, pm) => oracles.copies(p!, pm!),
        [[T, 3 * HK], [T, 3 * HK]],
      ],
      [
        `packed target of lengths ${lengths}`,
        (q, k, v) =>
          targetAttention(q!, k!, v!, {
            ...attrs,
            lengths: lengths.flatMap((n) => new Array<number>(n).fill(n)),
          }),
        (q, k, v) => oracles.target(q!, k!, v!),
        [[T, HK], [C, HK], [C, HK]],
      ],
      ...([[null, 0, 0], [3 * HK, HK, 2 * HK], [2 * HK, 0, HK]] as const).map(
        ([P, keyOffset, valueOffset]): (typeof cases)[number] => {
          const offsets = { keyOffset, valueOffset };
          return [
            P === null
              ? `packed content stream of lengths ${lengths}`
              : `packed query stream on a [${
                P === 3 * HK ? "q|k|v" : "k|v"
              }] context of lengths ${lengths}`,
            (p, c) =>
              streamsAttention(p!, P === null ? null : c!, {
                ...attrs,
                ...offsets,
                lengths,
                causal: true,
              }),
            (p, c) => oracles.streams(p!, P === null ? null : c!, offsets),
            P === null ? [[T, 3 * HK]] : [[T, 3 * HK], [T, P]],
          ];
        },
      ),
      [
        `packed self-attention (not causal) of lengths ${lengths}`,
        (p) =>
          streamsAttention(p!, null, {
            ...attrs,
            keyOffset: 0,
            valueOffset: 0,
            lengths,
            causal: false,
          }),
        (p) => oracles.selfAttention(p!),
        [[T, 3 * HK]],
      ],
    ];
    for (const [name, fused, oracle, shapes] of cases) {
      const inputs = shapes.map((shape, i) => uniform(shape, 10 * T + i));
      const ours = valueAndGrads(fused, inputs, 99);
      const theirs = withOracle(() => valueAndGrads(oracle, inputs, 99));
      const worst = worstRelative(ours, theirs);
      assert.ok(worst <= 2e-6, `${name} [H=${H}, K=${K}]: differs by ${worst}`);
      tf.dispose(inputs);
    }
  }
  clearLayoutCache();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("fused attention kernels: the streams kernel names what it expected for bad shapes", () => {
  const attrs = {
    heads: 2,
    keyDim: 6,
    scale: 1,
    keyOffset: 0,
    valueOffset: 12,
    lengths: [3],
    causal: true,
  };
  tf.tidy(() => {
    assert.throws(
      () => streamsAttentionForward(tf.zeros([3, 36]), tf.zeros([3, 24]), attrs),
      (e: Error) =>
        e instanceof TypeError && e.message.startsWith(STREAMS_KERNEL) &&
        e.message.includes("a multiple of 4"),
    );
    const good = { ...attrs, keyDim: 4, valueOffset: 8 };
    assert.throws(
      () => streamsAttentionForward(tf.zeros([3, 24]), tf.zeros([4, 16]), good),
      (e: Error) => e instanceof TypeError && e.message.includes("got [3,24] and [4,16]"),
    );
    assert.throws(
      () => streamsAttentionForward(tf.zeros([3, 24]), tf.zeros([3, 12]), good),
      (e: Error) => e instanceof TypeError && e.message.includes("values at 8"),
    );
    assert.throws(
      () => streamsAttentionForward(tf.zeros([3, 24]), null, { ...good, lengths: [2, 0] }),
      (e: Error) => e instanceof RangeError && e.message.includes("lengths >= 1, got 0"),
    );
  });
});
