/**
 * The package's fused attention kernels as differentiable ops (a hand-written
 * gradient each, `_attention_kernels.ts` underneath), and {@link byLength},
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
import type { TfTensor } from "./_types.ts";

/** The shapes of a copies or target attention call: H heads of K, and the logits' scale. */
export interface AttentionAttrs {
  readonly heads: number;
  readonly keyDim: number;
  readonly scale: number;
}

/** The shapes of a packed copies or target call: as {@link AttentionAttrs}, and the sequences' lengths. */
export interface PackedAttrs extends AttentionAttrs {
  readonly lengths: readonly number[];
}

/** The shapes of a two-stream attention call, and where the context's keys and values lie in its rows. */
export interface StreamsAttrs extends AttentionAttrs {
  readonly keyOffset: number;
  readonly valueOffset: number;
}

/** The fused kernel's op: {@link streamsAttentionForward} with its gradient. */
export function streamsAttention(
  projected: TfTensor,
  context: TfTensor | null,
  attrs: StreamsAttrs & { readonly lengths: readonly number[]; readonly causal: boolean },
): TfTensor {
  if (context === null) {
    const op = customGrad<[q: TfTensor]>((qs, save) => {
      const [out, weights] = streamsAttentionForward(qs, null, attrs);
      save([qs, weights]);
      return {
        value: out,
        gradFunc: (dy, [a, w]) => streamsAttentionBackward(a!, null, dy, w!, attrs),
      };
    });
    return op(projected);
  }
  const op = customGrad<[q: TfTensor, c: TfTensor]>((qs, cs, save) => {
    const [out, weights] = streamsAttentionForward(qs, cs, attrs);
    save([qs, cs, weights]);
    return {
      value: out,
      gradFunc: (dy, [a, b, w]) => streamsAttentionBackward(a!, b!, dy, w!, attrs),
    };
  });
  return op(projected, context);
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
  attrs: PackedAttrs,
): TfTensor {
  const op = customGrad<[p: TfTensor, pm: TfTensor]>((p, pm, save) => {
    const [out, weights] = copiesAttentionForward(p, pm, attrs);
    save([p, pm, weights]);
    return {
      value: out,
      gradFunc: (dy, [ps, pms, ws]) => copiesAttentionBackward(ps!, pms!, dy, ws!, attrs),
    };
  });
  return op(projected, projectedMasked);
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
  attrs: PackedAttrs,
): TfTensor {
  const op = customGrad<[q: TfTensor, k: TfTensor, v: TfTensor]>((qs, ks, vs, save) => {
    const [out, weights] = targetAttentionForward(qs, ks, vs, attrs);
    save([qs, ks, vs, weights]);
    return {
      value: out,
      gradFunc: (dy, [a, b, c, w]) => targetAttentionBackward(a!, b!, c!, dy, w!, attrs),
    };
  });
  return op(q, k, v);
}
