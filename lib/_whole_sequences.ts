/**
 * The two layouts that compute every target of whole sequences at once, and
 * only what is particular to them: how their attention logits are assembled.
 * Tokens, the attention kernel, the block and the heads are the model's
 * (`model.ts`); both layouts compute the same losses and gradients as the
 * padded layout up to float32 rounding (`fast_test.ts` checks it).
 *
 * - **Masked copies** (`"copies"`, bidirectional models): copy `i` of a
 *   sequence is the sequence with position `i` masked. The copies differ in
 *   one token, so the first layer's projections are computed once for the
 *   true and once for the masked tokens, and every copy's logits are
 *   assembled from per-sequence products (the true tokens' `Q K^T`, and the
 *   replaced row and column). The last layer runs at the masked position only.
 * - **Two streams** (`"streams"`, unidirectional `"causal"` models, as in
 *   XLNet): a content stream runs causal attention over the true tokens, and
 *   a query stream holds, at each position `i`, the masked token of example
 *   `i`, which attends to the content stream before `i` and to itself. Under
 *   a causal mask this is exactly what each per-example input shows its
 *   target.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dense, embeddingLookup, linear, param } from "./_ops.ts";
import { fastKernelsActive } from "./_kernels.ts";
import {
  type AttentionAttrs,
  byLength,
  copiesAttention,
  streamsAttention,
  type StreamsAttrs,
  targetAttention,
} from "./_fused_ops.ts";
import type { TfTensor } from "./_types.ts";
import type { SequencesBatch } from "./data.ts";
import {
  attend,
  batchAsHeads,
  block,
  type EfaModel,
  embedTokens,
  fusedProjection,
  head,
  headsAsBatch,
  MASKED_LOGIT,
  type ModelOutput,
  multiHeadAttention,
  weightsOverKeys,
} from "./model.ts";
import type { Tensor } from "./shapes.ts";

/**
 * The forward pass of EFA on whole sequences (`"copies"` or `"streams"`):
 * the natural parameters of every example, in the batch's order.
 *
 * @param model The model.
 * @param batch The batch (see `batchTensors` in `plan.ts`).
 * @returns Item logits and/or value natural parameters.
 */
export function sequencesForward(model: EfaModel, batch: SequencesBatch): ModelOutput {
  const encode = (maskItem: boolean): TfTensor =>
    batch.layout === "copies"
      ? encodeCopies(model, batch, maskItem)
      : encodeStreams(model, batch, maskItem);
  const target = model.config.target;
  return tf.tidy(() => {
    const out: { itemEta?: TfTensor; valueEta?: TfTensor } = {};
    if (target !== "value") out.itemEta = head(model, encode(true), "item"); // [E, J]
    if (target !== "item") out.valueEta = head(model, encode(false), "value"); // [E, natural]
    return out;
  });
}

/**
 * Two-stream attention for unidirectional causal models: the final query
 * stream at every target, all targets of each sequence in one pass.
 * Sequences of any lengths come packed in one row; the fused kernel takes
 * them so, the tfjs operations one length at a time.
 */
function encodeStreams(model: EfaModel, batch: SequencesBatch, maskItem: boolean): TfTensor {
  const { heads: H, keyDim: K } = model.config;
  const T = batch.items.shape[1]!;
  const content = embedTokens(model, batch, null, false); // [1, T, W] the true tokens
  const W = content.shape[2]!;
  const query = embedTokens(model, batch, tf.fill([1, T], 1, "bool"), maskItem); // [1, T, W] masked tokens
  const [c, q] = [content, query].map((x) => tf.reshape(x, [T, W])); // [T, W]
  const attrs = { heads: H, keyDim: K, scale: 1 / Math.sqrt(K) };
  const last = fastKernelsActive() && K % 4 === 0
    ? streamLayers(
      model,
      c!,
      q!,
      (p, context, offsets) =>
        streamsAttention(p, context, {
          ...attrs,
          ...offsets,
          lengths: batch.lengths,
          causal: true,
        }),
    )
    : byLength([c!, q!], batch.lengths, (n) => n, ([cs, qs], n, count) =>
      tf.reshape(
        streamLayers(
          model,
          tf.reshape(cs!, [count, n, W]),
          tf.reshape(qs!, [count, n, W]),
          (p, context, offsets) => streamsAttentionOps(p, context, { ...attrs, ...offsets }),
        ),
        [count * n, W],
      )); // [T, W]
  return batch.selector === null ? last : embeddingLookup(last, batch.selector); // [E, W]
}

/**
 * The layers of the two streams over tokens `[..., W]` (packed `[T, W]` for
 * the fused kernel, `[S, n, W]` for the tfjs operations): returns the final
 * query stream. `attention(projected, context, offsets)` is the streams'
 * attention (a `null` context: the content stream's own causal attention).
 */
function streamLayers(
  model: EfaModel,
  content: TfTensor,
  query: TfTensor,
  attention: (
    projected: TfTensor,
    context: TfTensor | null,
    offsets: { keyOffset: number; valueOffset: number },
  ) => TfTensor,
): TfTensor {
  const { layers: L, heads: H, keyDim: K } = model.config;
  const HK = H * K;
  for (let l = 0; l < L; l++) {
    const last = l === L - 1;
    // The last layer's content stream only gives keys and values to the query stream.
    const [wc, bc] = fusedProjection(model, l, last ? ["key", "value"] : ["query", "key", "value"]);
    const contentProjected = linear(content, wc, bc); // [..., 2HK or 3HK]
    const [wq, bq] = fusedProjection(model, l, ["query", "key", "value"]);
    const queryProjected = linear(query, wq, bq); // [..., 3HK]
    // Query stream: target i attends to the content tokens j < i and, on the diagonal, to its own masked token.
    const offsets = last
      ? { keyOffset: 0, valueOffset: HK }
      : { keyOffset: HK, valueOffset: 2 * HK };
    const attendedQuery = attention(queryProjected, contentProjected, offsets); // [..., HK]
    const nextQuery = block(
      model,
      l,
      query,
      dense(model.params, `layer${l}.attention.output`, attendedQuery),
    ); // [..., W]
    if (!last) {
      // Content stream: causal self-attention over the true tokens.
      const attendedContent = attention(contentProjected, null, offsets); // [..., HK]
      content = block(
        model,
        l,
        content,
        dense(model.params, `layer${l}.attention.output`, attendedContent),
      );
    }
    query = nextQuery;
  }
  return query;
}

/**
 * Causal attention of the two streams in tfjs operations (the oracle of the
 * fused kernel, and the path off the wasm backend): query `i` of the fused
 * projections `[S, n, 3HK]` attends to the context's keys and values at
 * `j < i` and to its own key and value at `j = i`; without a context, to
 * its own rows (causal self-attention). Returns `[S, n, HK]`.
 */
export function streamsAttentionOps(
  projected: TfTensor,
  context: TfTensor | null,
  attrs: StreamsAttrs,
): TfTensor {
  const { heads: H, keyDim: K, scale, keyOffset, valueOffset } = attrs;
  const HK = H * K;
  const [S, n] = projected.shape as [number, number];
  const { diagonal, offDiagonal, causalBias } = constantsFor(n); // [n, n]
  const [q, kSelf, vSelf] = tf.split(projected, [HK, HK, HK], 2).map((p) => headsAsBatch(p, H)); // [S*H, n, K]
  if (context === null) {
    const { output } = attend(
      q as Tensor<"batch query key_dim">,
      kSelf as Tensor<"batch key key_dim">,
      vSelf as Tensor<"batch key value_dim">,
      causalBias as Tensor<"query key">,
    ); // [S*H, n, K]
    return batchAsHeads(output, H); // [S, n, HK]
  }
  const k = headsAsBatch(tf.slice(context, [0, 0, keyOffset], [S, n, HK]), H); // [S*H, n, K]
  const v = headsAsBatch(tf.slice(context, [0, 0, valueOffset], [S, n, HK]), H);
  const cross = tf.mul(tf.matMul(q!, k, false, true), scale); // [S*H, n, n]
  const self = tf.mul(tf.sum(tf.mul(q!, kSelf!), -1, true), scale); // [S*H, n, 1]
  const logits = tf.add(tf.add(tf.mul(cross, offDiagonal), tf.mul(self, diagonal)), causalBias); // [S*H, n, n]
  const weights = weightsOverKeys(logits); // [S*H, n, n]
  const selfWeight = tf.sum(tf.mul(weights, diagonal), -1, true); // [S*H, n, 1]
  const attended = tf.add(tf.matMul(tf.mul(weights, offDiagonal), v), tf.mul(selfWeight, vSelf!)); // [S*H, n, K]
  return batchAsHeads(attended, H); // [S, n, HK]
}

/**
 * Masked copies of whole sequences (bidirectional models): copy `i` of a
 * sequence is the sequence with position `i` masked. The first layer is
 * shared: projections of the true and of the masked tokens are computed once
 * per sequence, and copy `i`'s logits are the true tokens' `Q K^T` with row
 * `i` and column `i` replaced. Sequences of any lengths come packed in one
 * row; the fused kernels take them so, the tfjs operations one length at a
 * time. Returns the final representation at every target.
 */
function encodeCopies(model: EfaModel, batch: SequencesBatch, maskItem: boolean): TfTensor {
  const { layers: L, keyDim: K } = model.config;
  const T = batch.items.shape[1]!;
  const trueTokens = embedTokens(model, batch, null, false); // [1, T, W]
  const W = trueTokens.shape[2]!;
  const maskedTokens = embedTokens(model, batch, tf.fill([1, T], 1, "bool"), maskItem); // [1, T, W]
  const [tokens, masked] = [trueTokens, maskedTokens].map((x) => tf.reshape(x, [T, W])); // [T, W]
  const last = fastKernelsActive() && K % 4 === 0 && L >= 2
    ? packedCopies(model, tokens!, masked!, batch.lengths)
    : byLength([tokens!, masked!], batch.lengths, (n) => n, ([t, m], n, count) =>
      tf.reshape(
        rectangularCopies(model, tf.reshape(t!, [count, n, W]), tf.reshape(m!, [count, n, W])),
        [count * n, W],
      )); // [T, W]: each copy's masked position
  return batch.selector === null ? last : embeddingLookup(last, batch.selector); // [E, W]
}

/**
 * The copies of packed sequences with the fused kernels (at least two
 * layers): the first layer of every copy in one call, the block on every
 * copy's tokens `[sum n^2, W]`, the middle layers one length at a time, and
 * the last layer at each copy's masked position in one call. Returns `[sum n, W]`.
 */
function packedCopies(
  model: EfaModel,
  tokens: TfTensor,
  masked: TfTensor,
  lengths: readonly number[],
): TfTensor {
  const { layers: L, heads: H, keyDim: K } = model.config;
  const attrs = { heads: H, keyDim: K, scale: 1 / Math.sqrt(K), lengths };
  const p = model.params;
  const [T, W] = tokens.shape as [number, number];
  const [copyTokens, maskedPositions] = packedIndices(lengths, T);
  const [wqkv, bqkv] = fusedProjection(model, 0, ["query", "key", "value"]);
  const attended = copiesAttention(
    linear(tokens, wqkv, bqkv),
    linear(masked, wqkv, bqkv),
    attrs,
  ); // [C, HK], C = sum n^2: copy i, token j of each sequence
  const copies = embeddingLookup(tf.concat([tokens, masked], 0), copyTokens); // [C, W]: copy i's tokens
  let h = block(model, 0, copies, dense(p, "layer0.attention.output", attended)); // [C, W]
  // Middle layers: ordinary self-attention within each copy.
  for (let l = 1; l < L - 1; l++) {
    h = byLength([h], lengths, (n) => n * n, ([x], n, count) => {
      const rows = tf.reshape(x!, [count * n, n, W]); // one row per copy
      const { output } = multiHeadAttention(model, l, rows); // [count*n, n, W]
      return tf.reshape(block(model, l, rows, output), [count * n * n, W]);
    });
  }
  // Last layer at the masked position only: one query per copy over its tokens.
  const target = embeddingLookup(h, maskedPositions); // [T, W]
  const q = dense(p, `layer${L - 1}.attention.query`, target); // [T, HK]
  const k = dense(p, `layer${L - 1}.attention.key`, h); // [C, HK]
  const v = dense(p, `layer${L - 1}.attention.value`, h); // [C, HK]
  const perCopy = lengths.flatMap((n) => new Array<number>(n).fill(n)); // each copy's n keys
  const out = targetAttention(q, k, v, { ...attrs, lengths: perCopy }); // [T, HK]
  return block(model, L - 1, target, dense(p, `layer${L - 1}.attention.output`, out)); // [T, W]
}

/**
 * The rows of packed sequences' copies: for every copy i and token j, its
 * row in `concat([tokens, masked])` (the masked token at j = i), `[C]`; and
 * each copy's masked position among the copies' tokens, `[T]`.
 */
function packedIndices(lengths: readonly number[], T: number): [TfTensor, TfTensor] {
  const C = lengths.reduce((sum, n) => sum + n * n, 0);
  const copyTokens = new Int32Array(C), maskedPositions = new Int32Array(T);
  let o = 0, c = 0;
  for (const n of lengths) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) copyTokens[c + i * n + j] = j === i ? T + o + j : o + j;
      maskedPositions[o + i] = c + i * n + i;
    }
    o += n;
    c += n * n;
  }
  return [tf.tensor1d(copyTokens, "int32"), tf.tensor1d(maskedPositions, "int32")];
}

/**
 * Masked copies of `S` sequences of one length `n` in tfjs operations (the
 * oracle of the fused kernels, the path off the wasm backend, and one-layer
 * models): from the true and masked tokens `[S, n, W]`, the final
 * representation at each copy's masked position, `[S, n(i), W]`.
 */
function rectangularCopies(
  model: EfaModel,
  trueTokens: TfTensor,
  maskedTokens: TfTensor,
): TfTensor {
  const { layers: L, heads: H, keyDim: K } = model.config;
  const HK = H * K;
  const [S, n, W] = trueTokens.shape as [number, number, number];
  const scale = 1 / Math.sqrt(K);
  const attrs = { heads: H, keyDim: K, scale };
  const c = copyConstantsFor(n);
  const p = model.params;
  const [wqkv, bqkv] = fusedProjection(model, 0, ["query", "key", "value"]);
  const projected = linear(trueTokens, wqkv, bqkv); // [S, n, 3HK]
  const projectedMasked = linear(maskedTokens, wqkv, bqkv); // [S, n, 3HK]
  // Head h's query, key or value: a column slice, no transpose. part 0 = query, 1 = key, 2 = value.
  const head = (x: TfTensor, part: number, h: number): TfTensor =>
    tf.slice(x, [0, 0, part * HK + h * K], [S, n, K]); // [S, n, K]
  const outputKernel = param(p, "layer0.attention.output.kernel"); // [HK, W]

  let last: TfTensor; // the final representation at each copy's masked position, [S, n(i), W]
  if (L === 1) {
    // Only copy i's masked query matters: keys are the true tokens except the masked one at i.
    const perHead: TfTensor[] = [];
    for (let h = 0; h < H; h++) {
      const qm = head(projectedMasked, 0, h),
        km = head(projectedMasked, 1, h),
        vm = head(projectedMasked, 2, h);
      const rowReplaced = tf.matMul(qm, head(projected, 1, h), false, true); // [S, n(i), n(l)]
      const selfMasked = tf.sum(tf.mul(qm, km), -1, true); // [S, n(i), 1]
      const logits = tf.mul(
        tf.add(tf.mul(rowReplaced, c.offDiagonalOf), tf.mul(selfMasked, c.diagonal)),
        scale,
      );
      const weights = weightsOverKeys(logits); // [S, n(i), n(l)]
      const selfWeight = tf.sum(tf.mul(weights, c.diagonal), -1, true); // [S, n(i), 1]
      const attended = tf.add(
        tf.matMul(tf.mul(weights, c.offDiagonalOf), head(projected, 2, h)),
        tf.mul(selfWeight, vm),
      ); // [S, n, K]
      perHead.push(linear(attended, tf.slice(outputKernel, [h * K, 0], [K, W]))); // [S, n, W]
    }
    const out = tf.add(tf.addN(perHead), param(p, "layer0.attention.output.bias")); // [S, n, W]
    last = block(model, 0, maskedTokens, out);
  } else {
    const attended = tf.reshape(copiesAttentionOps(projected, projectedMasked, attrs), [
      S,
      H,
      n * n * K,
    ]); // [S, H, n(i)*n(j)*K]
    // The output projection head by head (a slice of the batch axis; no transpose of this large tensor).
    const perHead = Array.from({ length: H }, (_, h) =>
      linear(
        tf.reshape(tf.slice(attended, [0, h, 0], [S, 1, n * n * K]), [S, n, n, K]),
        tf.slice(outputKernel, [h * K, 0], [K, W]),
      )); // [S, n, n, W] each
    const out = tf.add(tf.addN(perHead), param(p, "layer0.attention.output.bias")); // [S, n(i), n(j), W]
    const diagonal = tf.expandDims(c.diagonal, 2); // [n(i), n(j), 1]
    const copies = tf.add(
      tf.mul(tf.expandDims(trueTokens, 1), tf.sub(1, diagonal)),
      tf.mul(tf.expandDims(maskedTokens, 2), diagonal),
    ); // [S, n(i), n(j), W]: copy i's tokens
    let h = block(model, 0, copies, out); // [S, n, n, W]
    // Middle layers: ordinary self-attention within each copy.
    for (let l = 1; l < L - 1; l++) {
      const rows = tf.reshape(h, [S * n, n, W]); // one row per copy
      const { output } = multiHeadAttention(model, l, rows); // [S*n, n, W]
      h = tf.reshape(block(model, l, rows, output), [S, n, n, W]);
    }
    // Last layer at the masked position only: one query per copy, elementwise, softmax over the key axis j.
    const target = tf.sum(tf.mul(h, diagonal), 2); // [S, n(i), W]
    // Separate key and value projections: splitting a fused [S, n, n, 2H, K] tensor is very slow in tfjs.
    const k2 = dense(p, `layer${L - 1}.attention.key`, h); // [S, n(i), n(j), HK]
    const v2 = dense(p, `layer${L - 1}.attention.value`, h);
    const q2 = dense(p, `layer${L - 1}.attention.query`, target); // [S, n(i), HK]
    const out2 = targetAttentionOps(q2, k2, v2, attrs); // [S, n(i), HK]
    const attention = dense(p, `layer${L - 1}.attention.output`, out2); // [S, n, W]
    last = block(model, L - 1, target, attention);
  }
  return last;
}

/**
 * The first attention layer of every masked copy in tfjs operations (the
 * oracle of the fused kernel, and the path off the wasm backend): from the
 * true and masked tokens' fused projections `[S, n, 3HK]`, copy i's output
 * at every query j, `[S, H, n(i), n(j), K]`.
 */
export function copiesAttentionOps(
  projected: TfTensor,
  projectedMasked: TfTensor,
  attrs: AttentionAttrs,
): TfTensor {
  const { heads: H, keyDim: K, scale } = attrs;
  const HK = H * K;
  const [S, n] = projected.shape as [number, number];
  const c = copyConstantsFor(n);
  // Layer 1 for every copy i and query j, heads in the batch axis: logits [S*H, n(i), n(j), n(l)].
  const [q, k, v] = tf.split(projected, [HK, HK, HK], 2).map((x) => headsAsBatch(x, H)); // [S*H, n, K]
  const [qm, km, vm] = tf.split(projectedMasked, [HK, HK, HK], 2).map((x) => headsAsBatch(x, H));
  // One product gives all four blocks: true and masked queries against true and masked keys.
  const blocks = tf.matMul(tf.concat([q!, qm!], 1), tf.concat([k!, km!], 1), false, true); // [S*H, 2n, 2n]
  const SH = S * H;
  const all = tf.slice(blocks, [0, 0, 0], [SH, n, n]); // [S*H, n(j), n(l)] true queries on true keys
  const columnReplaced = tf.transpose(tf.slice(blocks, [0, 0, n], [SH, n, n]), [0, 2, 1]); // [S*H, n(i), n(j)]: q_j . km_i
  const rowReplaced = tf.slice(blocks, [0, n, 0], [SH, n, n]); // [S*H, n(i), n(l)]: qm_i . k_l
  const selfMasked = tf.sum(tf.mul(qm!, km!), -1); // [S*H, n(i)]
  const logits = tf.mul(
    tf.addN([
      tf.mul(tf.expandDims(all, 1), c.neither),
      tf.mul(tf.expandDims(columnReplaced, 3), c.keyOnly),
      tf.mul(tf.expandDims(rowReplaced, 2), c.queryOnly),
      tf.mul(tf.reshape(selfMasked, [SH, n, 1, 1]), c.both),
    ]),
    scale,
  ); // [S*H, n(i), n(j), n(l)]
  const weights = weightsOverKeys(logits); // [S*H, n(i), n(j), n(l)]
  // Copy i's values are the true ones except at i: sum_l w v_l + w_i (vm_i - v_i).
  const onTrue = tf.reshape(tf.matMul(tf.reshape(weights, [SH, n * n, n]), v!), [SH, n, n, K]); // [S*H, n(i), n(j), K]
  const onMasked = tf.sum(tf.mul(weights, c.keyIsMasked), -1, true); // [S*H, n(i), n(j), 1]
  const attended = tf.reshape(
    tf.add(onTrue, tf.mul(onMasked, tf.expandDims(tf.sub(vm!, v!), 2))),
    [S, H, n, n, K],
  ); // [S, H, n(i), n(j), K]
  return attended;
}

/**
 * The copies' last layer in tfjs operations (the oracle of the fused
 * kernel): one query per copy, elementwise, softmax over the key axis j.
 * `[S, n(i), HK]` queries, `[S, n(i), n(j), HK]` keys and values to `[S, n(i), HK]`.
 */
export function targetAttentionOps(
  q: TfTensor,
  k: TfTensor,
  v: TfTensor,
  attrs: AttentionAttrs,
): TfTensor {
  const { heads: H, keyDim: K, scale } = attrs;
  const [S, n] = q.shape as [number, number];
  const k2 = tf.reshape(k, [S, n, n, H, K]); // [S, n(i), n(j), H, K]
  const v2 = tf.reshape(v, [S, n, n, H, K]);
  const q2 = tf.reshape(q, [S, n, 1, H, K]);
  const logits2 = tf.mul(tf.sum(tf.mul(q2, k2), -1), scale); // [S, n(i), n(j), H]
  const weights2 = weightsOverKeys(logits2, 2); // softmax over j
  return tf.reshape(tf.sum(tf.mul(tf.expandDims(weights2, 4), v2), 2), [S, n, H * K]); // [S, n(i), HK]
}

/** Per-length constants of the two-stream attention, built once and kept. */
interface StreamConstants {
  /** 1 on the diagonal, `[n, n]`. */
  readonly diagonal: TfTensor;
  /** 1 off the diagonal, `[n, n]`. */
  readonly offDiagonal: TfTensor;
  /** 0 where key j <= query i, -1e9 after: `[n, n]`. */
  readonly causalBias: TfTensor;
}

/** Per-length constants of the masked copies: which entries of copy i's logits `[n(i), n(j), n(l)]` come from where. */
interface CopyConstants {
  /** 1 on the diagonal `[n(i), n(j)]`: query j is copy i's masked position. */
  readonly diagonal: TfTensor;
  /** 1 off the diagonal `[n, n]`. */
  readonly offDiagonalOf: TfTensor;
  /** Neither query j nor key l is the masked position i. */
  readonly neither: TfTensor;
  /** Key l is the masked position, query j is not. */
  readonly keyOnly: TfTensor;
  /** Query j is the masked position, key l is not. */
  readonly queryOnly: TfTensor;
  /** Both are the masked position. */
  readonly both: TfTensor;
  /** Key l is the masked position (any query). */
  readonly keyIsMasked: TfTensor;
}

const streamConstants = new Map<number, StreamConstants>();

function constantsFor(n: number): StreamConstants {
  let c = streamConstants.get(n);
  if (c === undefined) {
    const diagonal = new Float32Array(n * n),
      offDiagonal = new Float32Array(n * n),
      causal = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        diagonal[i * n + j] = i === j ? 1 : 0;
        offDiagonal[i * n + j] = i === j ? 0 : 1;
        causal[i * n + j] = j <= i ? 0 : MASKED_LOGIT;
      }
    }
    c = {
      diagonal: tf.keep(tf.tensor2d(diagonal, [n, n])),
      offDiagonal: tf.keep(tf.tensor2d(offDiagonal, [n, n])),
      causalBias: tf.keep(tf.tensor2d(causal, [n, n])),
    };
    streamConstants.set(n, c);
  }
  return c;
}

const copyConstants = new Map<number, CopyConstants>();

/**
 * Frees the per-length constant tensors that the copies and streams layouts
 * keep between batches (their masks). They are rebuilt on demand; call this
 * when done training to return every tensor.
 *
 * @example Release the constants
 * ```ts
 * import { clearLayoutCache } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const before = tf.memory().numTensors;
 * clearLayoutCache();
 * assert.ok(tf.memory().numTensors <= before);
 * ```
 */
export function clearLayoutCache(): void {
  for (const c of streamConstants.values()) tf.dispose(Object.values(c));
  for (const c of copyConstants.values()) tf.dispose(Object.values(c));
  streamConstants.clear();
  copyConstants.clear();
}

function copyConstantsFor(n: number): CopyConstants {
  let c = copyConstants.get(n);
  if (c === undefined) {
    const cube = (f: (i: number, j: number, l: number) => boolean): TfTensor => {
      const out = new Float32Array(n * n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          for (let l = 0; l < n; l++) out[(i * n + j) * n + l] = f(i, j, l) ? 1 : 0;
        }
      }
      return tf.keep(tf.tensor3d(out, [n, n, n]));
    };
    c = {
      diagonal: tf.keep(tf.tidy(() => tf.eye(n))),
      offDiagonalOf: tf.keep(tf.tidy(() => tf.sub(1, tf.eye(n)))),
      neither: cube((i, j, l) => j !== i && l !== i),
      keyOnly: cube((i, j, l) => j !== i && l === i),
      queryOnly: cube((i, j, l) => j === i && l !== i),
      both: cube((i, j, l) => j === i && l === i),
      keyIsMasked: cube((i, _j, l) => l === i),
    };
    copyConstants.set(n, c);
  }
  return c;
}
