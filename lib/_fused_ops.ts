/**
 * The package's fused attention and LayerNorm kernels as differentiable ops
 * (a hand-written gradient each, `_attention_kernels.ts` and
 * `_layer_norm_kernels.ts` underneath), and {@link byLength},
 * which runs an op written for sequences of one length over packed
 * sequences of any lengths. The layouts that pack sequences use them: the
 * copies and streams (`_whole_sequences.ts`) and the rows (`model.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customGrad, embeddingLookup } from "./_ops.ts";
import {
  copiesAttentionBackward,
  copiesAttentionForward,
  streamsAttentionBackward,
  streamsAttentionForward,
  targetAttentionBackward,
  targetAttentionForward,
} from "./_attention_kernels.ts";
import { layerNormBackward, layerNormForward } from "./_layer_norm_kernels.ts";
import type {
  AttentionAttrs,
  CopiesAttrs,
  StreamsAttrs as StreamsKernelAttrs,
  TargetAttrs,
} from "./_attention_kernels.ts";
import type { TfTensor } from "./_types.ts";

export type { AttentionAttrs };

/** The attention of the two streams in tfjs operations takes these (no packing: one length at a time, always causal). */
export type StreamsAttrs = Omit<StreamsKernelAttrs, "lengths" | "causal">;

/**
 * A fused kernel as a differentiable op: `forward` returns the output and
 * the softmax weights, which are saved with the inputs; `backward` gets
 * them back with the output's gradient and returns one gradient per input.
 */
function fusedOp(
  inputs: readonly TfTensor[],
  forward: (xs: TfTensor[]) => [TfTensor, TfTensor],
  backward: (xs: TfTensor[], dy: TfTensor, weights: TfTensor) => TfTensor[],
): TfTensor {
  const op = customGrad<TfTensor[]>((...args) => {
    const save = args.pop() as tf.GradSaveFunc;
    const xs = args as TfTensor[];
    const [out, weights] = forward(xs);
    save([...xs, weights]);
    return {
      value: out,
      gradFunc: (dy, saved) => backward(saved.slice(0, -1), dy, saved.at(-1)!),
    };
  });
  return op(...inputs);
}

/**
 * LayerNorm over the last axis by the fused kernels (W a multiple of 4),
 * with its gradient: `_ops.ts`'s `layerNorm` to float32 rounding.
 */
export function fusedLayerNorm(
  x: TfTensor,
  gamma: TfTensor,
  beta: TfTensor,
  epsilon: number,
): TfTensor {
  return fusedOp(
    [x, gamma, beta],
    ([x, g, b]) => layerNormForward(x!, g!, b!, epsilon),
    ([x, g], dy, stats) => layerNormBackward(x!, g!, dy, stats),
  );
}

/** The fused kernel's op: {@link streamsAttentionForward} with its gradient. */
export function streamsAttention(
  projected: TfTensor,
  context: TfTensor | null,
  attrs: StreamsKernelAttrs,
): TfTensor {
  return fusedOp(
    context === null ? [projected] : [projected, context],
    ([q, c]) => streamsAttentionForward(q!, c ?? null, attrs),
    ([q, c], dy, w) => streamsAttentionBackward(q!, c ?? null, dy, w, attrs),
  );
}

/**
 * Applies `f` to packed sequences one length at a time: `f` gets the rows of
 * the `count` sequences of length `n` (`rowsOf(n)` rows each, in order) of
 * every input, and returns `outRowsOf(n)` rows for each (default as many);
 * the results come back in packed order.
 */
export function byLength(
  inputs: readonly TfTensor[],
  lengths: readonly number[],
  rowsOf: (n: number) => number,
  f: (parts: TfTensor[], n: number, count: number) => TfTensor,
  outRowsOf: (n: number) => number = rowsOf,
): TfTensor {
  const groups = new Map<number, number[]>(); // length -> its sequences
  lengths.forEach((n, s) => (groups.get(n) ?? groups.set(n, []).get(n)!).push(s));
  if (groups.size === 1) return f([...inputs], lengths[0]!, lengths.length);
  const starts: number[] = [];
  let rows = 0;
  for (const n of lengths) {
    starts.push(rows);
    rows += rowsOf(n);
  }
  const outStarts: number[] = [];
  let outRows = 0;
  for (const n of lengths) {
    outStarts.push(outRows);
    outRows += outRowsOf(n);
  }
  const outputs: TfTensor[] = [], order: number[] = [];
  for (const [n, sequences] of groups) {
    const r = rowsOf(n), index = new Int32Array(sequences.length * r);
    sequences.forEach((s, k) => {
      for (let t = 0; t < r; t++) index[k * r + t] = starts[s]! + t;
      for (let t = 0; t < outRowsOf(n); t++) order.push(outStarts[s]! + t);
    });
    const at = tf.tensor1d(index, "int32");
    outputs.push(f(inputs.map((x) => embeddingLookup(x, at)), n, sequences.length));
  }
  const inverse = new Int32Array(outRows);
  order.forEach((row, k) => (inverse[row] = k));
  return embeddingLookup(tf.concat(outputs, 0), tf.tensor1d(inverse, "int32")); // [rows, ...]
}

/**
 * The fused kernel's op: {@link copiesAttentionForward} with its gradient,
 * packed sequences' projections `[sum n, 3HK]` twice to `[sum n^2, HK]`.
 */
export function copiesAttention(
  projected: TfTensor,
  projectedMasked: TfTensor,
  attrs: CopiesAttrs,
): TfTensor {
  return fusedOp(
    [projected, projectedMasked],
    ([p, pm]) => copiesAttentionForward(p!, pm!, attrs),
    ([p, pm], dy, w) => copiesAttentionBackward(p!, pm!, dy, w, attrs),
  );
}

/**
 * The fused kernel's op: {@link targetAttentionForward} with its gradient:
 * queries `[Q, HK]`, each over its own run of `lengths[q]` keys and values
 * (`[sum lengths, HK]`), to `[Q, HK]`.
 */
export function targetAttention(
  q: TfTensor,
  k: TfTensor,
  v: TfTensor,
  attrs: TargetAttrs,
): TfTensor {
  return fusedOp(
    [q, k, v],
    ([qs, ks, vs]) => targetAttentionForward(qs!, ks!, vs!, attrs),
    ([qs, ks, vs], dy, w) => targetAttentionBackward(qs!, ks!, vs!, dy, w, attrs),
  );
}
