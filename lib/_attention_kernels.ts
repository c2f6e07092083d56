/**
 * The package's fused attention kernels (no tfjs counterpart), for the two
 * layouts that compute every target of whole sequences at once
 * (`_whole_sequences.ts`). Each replaces some tens to a hundred small tfjs
 * operations with one wasm call forward and one backward, softmax and
 * weighted sum included. They are not bit-identical to those operations
 * (they sum in their own order and use their own `exp`): equal to float32
 * rounding, which the tests bound.
 *
 * - **EfaCopiesAttention**: the first layer of every masked copy
 *   (`kernels/assembly/copies.ts`).
 * - **EfaTargetAttention**: one-query attention, each query over its own
 *   run of keys: the copies' last layer (one query per copy, at its masked
 *   position) and the rows layout's (`kernels/assembly/copies.ts`).
 * - **EfaStreamsAttention**: attention within each packed sequence, each
 *   query's own key and value on the diagonal: the two streams (causal) and
 *   the rows layout's self-attention (`kernels/assembly/streams.ts`).
 *
 * All need `keyDim` a multiple of 4 (SIMD over the key width).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { WASM_BASE64 as COPIES_WASM } from "./kernels/_copies_wasm.ts";
import { WASM_BASE64 as STREAMS_WASM } from "./kernels/_streams_wasm.ts";
import { instantiate, offsetOf, type WasmBackend, withScratch } from "./_wasm_memory.ts";

/** A packed-sequences kernel: tensor addresses, then the lengths' address, S, more addresses, then H, K and the scale. */
type PackedExport = (...addressesShapeScale: number[]) => void;

type StreamsForwardExport = (
  queries: number,
  context: number,
  out: number,
  weights: number,
  scratch: number,
  ...shapeStridesScale: number[]
) => void;
type StreamsBackwardExport = (
  queries: number,
  context: number,
  g: number,
  weights: number,
  dQueries: number,
  dContext: number,
  scratch: number,
  ...shapeStridesScale: number[]
) => void;

let wasm: {
  copiesForward: PackedExport;
  copiesBackward: PackedExport;
  targetForward: PackedExport;
  targetBackward: PackedExport;
  streamsForward: StreamsForwardExport;
  streamsBackward: StreamsBackwardExport;
} | null = null;

/** The names of the package's masked-copies attention kernels (see {@link copiesAttentionForward}). */
export const COPIES_KERNEL = "EfaCopiesAttention", COPIES_GRAD_KERNEL = "EfaCopiesAttentionGrad";

/** The names of the one-query attention kernels (see {@link targetAttentionForward}). */
export const TARGET_KERNEL = "EfaTargetAttention", TARGET_GRAD_KERNEL = "EfaTargetAttentionGrad";

/** The names of the within-sequence attention kernels (see {@link streamsAttentionForward}). */
export const STREAMS_KERNEL = "EfaStreamsAttention",
  STREAMS_GRAD_KERNEL = "EfaStreamsAttentionGrad";

/**
 * Registers the attention kernels on the wasm backend, their modules
 * instantiated on tfjs's memory (called once, by `installKernels`).
 *
 * @param memory tfjs's wasm memory.
 */
export function installAttentionKernels(memory: WebAssembly.Memory): void {
  const copies = instantiate(COPIES_WASM, memory), streams = instantiate(STREAMS_WASM, memory);
  wasm = {
    copiesForward: copies["copiesForward"] as PackedExport,
    copiesBackward: copies["copiesBackward"] as PackedExport,
    targetForward: copies["targetForward"] as PackedExport,
    targetBackward: copies["targetBackward"] as PackedExport,
    streamsForward: streams["streamsForward"] as StreamsForwardExport,
    streamsBackward: streams["streamsBackward"] as StreamsBackwardExport,
  };
  const kernels: [string, (args: Parameters<tf.KernelFunc>[0]) => tf.TensorInfo[]][] = [
    [COPIES_KERNEL, copiesKernel],
    [COPIES_GRAD_KERNEL, copiesGradKernel],
    [TARGET_KERNEL, targetKernel],
    [TARGET_GRAD_KERNEL, targetGradKernel],
    [STREAMS_KERNEL, streamsKernel],
    [STREAMS_GRAD_KERNEL, streamsGradKernel],
  ];
  for (const [kernelName, kernelFunc] of kernels) {
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
  }
}

/** What every attention kernel takes: H heads of K, and the logits' scale. */
export interface AttentionAttrs {
  readonly heads: number;
  readonly keyDim: number;
  readonly scale: number;
}

/** The shapes of a masked-copies attention call: as {@link AttentionAttrs}, and the sequences' lengths. */
export interface CopiesAttrs extends AttentionAttrs {
  /** The lengths of the packed sequences, in order. */
  readonly lengths: readonly number[];
}

/**
 * The first attention layer of every masked copy of packed sequences (only
 * when `fastKernelsActive()` and `keyDim` is a multiple of 4): copy `i` of
 * a sequence attends with the true tokens' queries, keys and values except
 * at `i`, where the masked token's are used.
 *
 * @param projected The true tokens' fused projections, `[sum n, 3HK]` (query | key | value), sequence after sequence.
 * @param projectedMasked The masked tokens' projections, `[sum n, 3HK]`.
 * @param attrs The heads H, the key width K, the logits' scale and the sequences' lengths n.
 * @returns The outputs `[sum n^2, HK]` (copy i, token j of each sequence in turn) and the softmax weights `[H sum n^3]`.
 */
export function copiesAttentionForward(
  projected: tf.Tensor,
  projectedMasked: tf.Tensor,
  attrs: CopiesAttrs,
): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(
    COPIES_KERNEL,
    { projected, projectedMasked } as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as [tf.Tensor, tf.Tensor];
}

/**
 * The gradient of {@link copiesAttentionForward}.
 *
 * @param projected As given to the forward pass, `[sum n, 3HK]`.
 * @param projectedMasked As given to the forward pass, `[sum n, 3HK]`.
 * @param dy The gradient of the outputs, `[sum n^2, HK]`.
 * @param weights The forward pass's weights.
 * @param attrs As given to the forward pass.
 * @returns The gradients of `projected` and `projectedMasked`.
 */
export function copiesAttentionBackward(
  projected: tf.Tensor,
  projectedMasked: tf.Tensor,
  dy: tf.Tensor,
  weights: tf.Tensor,
  attrs: CopiesAttrs,
): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(
    COPIES_GRAD_KERNEL,
    { projected, projectedMasked, dy, weights } as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as [tf.Tensor, tf.Tensor];
}

/** The packing of a copies or target call: tokens, copies' tokens, the longest sequence, and every length valid. */
function packing(
  kernel: string,
  attrs: CopiesAttrs,
): { tokens: number; copies: number; cubes: number; longest: number } {
  let tokens = 0, copies = 0, cubes = 0, longest = 0;
  for (const n of attrs.lengths) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`${kernel}: expected sequence lengths >= 1, got ${n}`);
    }
    tokens += n;
    copies += n * n;
    cubes += n * n * n;
    longest = Math.max(longest, n);
  }
  return { tokens, copies, cubes, longest };
}

function copiesShape(args: Parameters<tf.KernelFunc>[0]): ReturnType<typeof packing> {
  const { projected, projectedMasked } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as CopiesAttrs;
  const { heads: H, keyDim: K } = attrs;
  const sizes = packing(COPIES_KERNEL, attrs);
  const expected = [sizes.tokens, 3 * H * K].join();
  if (
    K % 4 !== 0 || projected!.shape.join() !== expected ||
    projectedMasked!.shape.join() !== expected ||
    projected!.dtype !== "float32" || projectedMasked!.dtype !== "float32"
  ) {
    throw new TypeError(
      `${COPIES_KERNEL}: expected two float32 [${sizes.tokens}, 3*${H}*${K}] projections (the sequences' tokens) with ${K} a multiple of 4, got [${
        projected!.shape
      }] and [${projectedMasked!.shape}]`,
    );
  }
  return sizes;
}

/** Runs `f` with the lengths written to tfjs's memory (int32) and `floats` floats of scratch after them. */
function withLengths<T>(
  backend: WasmBackend,
  lengths: readonly number[],
  floats: number,
  f: (lengthsAt: number, scratch: number) => T,
): T {
  return withScratch(backend, lengths.length + floats, (at) => {
    new Int32Array(backend.wasm.asm.memory.buffer, at, lengths.length).set(lengths);
    return f(at, at + 4 * lengths.length);
  });
}

function copiesKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { copies, cubes, longest } = copiesShape(args);
  const { projected, projectedMasked } = args.inputs as Record<string, tf.TensorInfo>;
  const { heads: H, keyDim: K, scale, lengths } = args.attrs as unknown as CopiesAttrs;
  const backend = args.backend as unknown as WasmBackend;
  const out = backend.makeOutput([copies, H * K], "float32");
  const weights = backend.makeOutput([H * cubes], "float32");
  if (lengths.length === 0) return [out, weights];
  withLengths(
    backend,
    lengths,
    3 * longest * longest + 2 * longest,
    (at, scratch) =>
      wasm!.copiesForward(
        offsetOf(backend, projected!),
        offsetOf(backend, projectedMasked!),
        at,
        lengths.length,
        offsetOf(backend, out),
        offsetOf(backend, weights),
        scratch,
        H,
        K,
        scale,
      ),
  );
  return [out, weights];
}

function copiesGradKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { longest } = copiesShape(args);
  const { projected, projectedMasked, dy, weights } = args.inputs as Record<string, tf.TensorInfo>;
  const { heads: H, keyDim: K, scale, lengths } = args.attrs as unknown as CopiesAttrs;
  const backend = args.backend as unknown as WasmBackend;
  const dp = backend.makeOutput(projected!.shape, "float32");
  const dpm = backend.makeOutput(projected!.shape, "float32");
  if (lengths.length === 0) return [dp, dpm];
  withLengths(
    backend,
    lengths,
    3 * longest * longest + 2 * longest,
    (at, scratch) =>
      wasm!.copiesBackward(
        offsetOf(backend, projected!),
        offsetOf(backend, projectedMasked!),
        at,
        lengths.length,
        offsetOf(backend, dy!),
        offsetOf(backend, weights!),
        offsetOf(backend, dp),
        offsetOf(backend, dpm),
        scratch,
        H,
        K,
        scale,
      ),
  );
  return [dp, dpm];
}

/** The shapes of a one-query attention call: as {@link AttentionAttrs}, and each query's number of keys. */
export interface TargetAttrs extends AttentionAttrs {
  /** How many keys each query has (its keys follow the previous query's), one per query. */
  readonly lengths: readonly number[];
}

/**
 * One-query attention (only when `fastKernelsActive()` and `keyDim` is a
 * multiple of 4): each query attends to its own run of keys and values. The
 * last layer of the masked copies (one query per copy, at its masked
 * position, over the copy's tokens) and of the rows layout (one per row).
 *
 * @param q The queries, `[Q, HK]`.
 * @param k The keys, query after query, `[sum n, HK]`.
 * @param v The values, `[sum n, HK]`.
 * @param attrs The heads H, the key width K, the logits' scale and each query's number of keys n.
 * @returns The outputs `[Q, HK]` and the softmax weights `[H sum n]`.
 */
export function targetAttentionForward(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  attrs: TargetAttrs,
): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(
    TARGET_KERNEL,
    { q, k, v } as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as [tf.Tensor, tf.Tensor];
}

/**
 * The gradient of {@link targetAttentionForward}.
 *
 * @param q As given to the forward pass, `[Q, HK]`.
 * @param k As given to the forward pass, `[sum n, HK]`.
 * @param v As given to the forward pass, `[sum n, HK]`.
 * @param dy The gradient of the outputs, `[Q, HK]`.
 * @param weights The forward pass's weights.
 * @param attrs As given to the forward pass.
 * @returns The gradients of `q`, `k` and `v`.
 */
export function targetAttentionBackward(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  dy: tf.Tensor,
  weights: tf.Tensor,
  attrs: TargetAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(
    TARGET_GRAD_KERNEL,
    { q, k, v, dy, weights } as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as [tf.Tensor, tf.Tensor, tf.Tensor];
}

function targetShape(args: Parameters<tf.KernelFunc>[0]): { queries: number; keys: number } {
  const { q, k, v } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as TargetAttrs;
  const { heads: H, keyDim: K } = attrs;
  const queries = attrs.lengths.length, keys = packing(TARGET_KERNEL, attrs).tokens;
  const HK = H * K, kv = [keys, HK].join();
  if (
    q!.shape.join() !== [queries, HK].join() || K % 4 !== 0 || k!.shape.join() !== kv ||
    v!.shape.join() !== kv || [q, k, v].some((t) => t!.dtype !== "float32")
  ) {
    throw new TypeError(
      `${TARGET_KERNEL}: expected float32 queries [${queries}, ${H}*${K}] and keys and values [${keys}, ${H}*${K}] with ${K} a multiple of 4, got [${
        q!.shape
      }], [${k!.shape}] and [${v!.shape}]`,
    );
  }
  return { queries, keys };
}

function targetKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { queries, keys } = targetShape(args);
  const { q, k, v } = args.inputs as Record<string, tf.TensorInfo>;
  const { heads: H, keyDim: K, scale, lengths } = args.attrs as unknown as TargetAttrs;
  const backend = args.backend as unknown as WasmBackend;
  const out = backend.makeOutput([queries, H * K], "float32");
  const weights = backend.makeOutput([H * keys], "float32");
  if (queries === 0) return [out, weights];
  withLengths(backend, lengths, 0, (at) =>
    wasm!.targetForward(
      offsetOf(backend, q!),
      offsetOf(backend, k!),
      offsetOf(backend, v!),
      at,
      queries,
      offsetOf(backend, out),
      offsetOf(backend, weights),
      H,
      K,
      scale,
    ));
  return [out, weights];
}

function targetGradKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { queries } = targetShape(args);
  const { q, k, v, dy, weights } = args.inputs as Record<string, tf.TensorInfo>;
  const { heads: H, keyDim: K, scale, lengths } = args.attrs as unknown as TargetAttrs;
  const backend = args.backend as unknown as WasmBackend;
  const dq = backend.makeOutput(q!.shape, "float32");
  const dk = backend.makeOutput(k!.shape, "float32");
  const dv = backend.makeOutput(v!.shape, "float32");
  if (queries === 0) return [dq, dk, dv];
  withLengths(backend, lengths, 0, (at) =>
    wasm!.targetBackward(
      offsetOf(backend, q!),
      offsetOf(backend, k!),
      offsetOf(backend, v!),
      at,
      queries,
      offsetOf(backend, dy!),
      offsetOf(backend, weights!),
      offsetOf(backend, dq),
      offsetOf(backend, dk),
      offsetOf(backend, dv),
      H,
      K,
      scale,
    ));
  return [dq, dk, dv];
}

/** The shapes of a two-stream attention call: as {@link AttentionAttrs}, where the context's keys and values lie, the lengths and causality. */
export interface StreamsAttrs extends AttentionAttrs {
  /** Where the context's keys start in each of its rows (floats); ignored without a context. */
  readonly keyOffset: number;
  /** Where the context's values start in each of its rows (floats); ignored without a context. */
  readonly valueOffset: number;
  /** The lengths of the packed sequences, in order. */
  readonly lengths: readonly number[];
  /** Whether query i sees the context at j < i only (the streams), or at every j (the rows' self-attention). */
  readonly causal: boolean;
}

/**
 * Attention of the two streams of packed sequences (only when
 * `fastKernelsActive()` and `keyDim` is a multiple of 4): query `i` of a
 * sequence attends to the context's keys and values at `j < i` (`causal`;
 * otherwise at every `j != i`) and to its own key and value at `j = i`.
 * Without a context, the queries' rows are the context: plain (causal)
 * self-attention within each sequence.
 *
 * @param queries Fused projections `[sum n, 3HK]` (query | key | value), sequence after sequence: the queries and the diagonal's keys and values.
 * @param context Projections `[sum n, P]` holding the keys at `keyOffset` and the values at `valueOffset`, or `null`.
 * @param attrs The heads H, the key width K, the logits' scale, the context's offsets and the sequences' lengths n.
 * @returns The outputs `[sum n, HK]` and the softmax weights, `[H, n(i), n(j)]` per sequence (zero for `j > i`), flat.
 */
export function streamsAttentionForward(
  queries: tf.Tensor,
  context: tf.Tensor | null,
  attrs: StreamsAttrs,
): [tf.Tensor, tf.Tensor] {
  const inputs = context === null ? { queries } : { queries, context };
  return tf.engine().runKernel(
    STREAMS_KERNEL,
    inputs as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as [tf.Tensor, tf.Tensor];
}

/**
 * The gradient of {@link streamsAttentionForward}.
 *
 * @param queries As given to the forward pass, `[sum n, 3HK]`.
 * @param context As given to the forward pass, `[sum n, P]` or `null`.
 * @param dy The gradient of the outputs, `[sum n, HK]`.
 * @param weights The forward pass's weights.
 * @param attrs As given to the forward pass.
 * @returns The gradient of `queries`, and of `context` when there is one.
 */
export function streamsAttentionBackward(
  queries: tf.Tensor,
  context: tf.Tensor | null,
  dy: tf.Tensor,
  weights: tf.Tensor,
  attrs: StreamsAttrs,
): tf.Tensor[] {
  const inputs = context === null ? { queries, dy, weights } : { queries, context, dy, weights };
  return tf.engine().runKernel(
    STREAMS_GRAD_KERNEL,
    inputs as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor[];
}

/** Checks a streams call's shapes; returns the packing and the strides and offsets the wasm takes. */
function streamsShape(
  args: Parameters<tf.KernelFunc>[0],
): { sizes: ReturnType<typeof packing>; layout: number[] } {
  const { queries, context } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = args.attrs as unknown as StreamsAttrs;
  const { heads: H, keyDim: K, keyOffset, valueOffset } = attrs;
  const sizes = packing(STREAMS_KERNEL, attrs);
  const HK = H * K;
  const [N, Q] = queries!.shape as [number, number];
  const [cN, P] = (context ?? queries)!.shape as [number, number];
  const kOff = context === undefined ? HK : keyOffset,
    vOff = context === undefined ? 2 * HK : valueOffset;
  if (
    queries!.shape.length !== 2 || N !== sizes.tokens || Q !== 3 * HK || K % 4 !== 0 ||
    queries!.dtype !== "float32" ||
    (context !== undefined && (context.shape.length !== 2 || context.dtype !== "float32")) ||
    cN !== N || kOff < 0 || vOff < 0 || kOff + HK > P! || vOff + HK > P!
  ) {
    throw new TypeError(
      `${STREAMS_KERNEL}: expected float32 queries [${sizes.tokens}, 3*${H}*${K}] (the sequences' tokens) and a context [${sizes.tokens}, P] holding ${HK} keys at ${kOff} and values at ${vOff}, with ${K} a multiple of 4; got [${
        queries!.shape
      }] and [${context?.shape ?? "none"}]`,
    );
  }
  return { sizes, layout: [Q, HK, 2 * HK, P!, kOff, vOff] };
}

function streamsKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { sizes, layout } = streamsShape(args);
  const { queries, context } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { heads: H, keyDim: K, scale, lengths, causal } = args.attrs as unknown as StreamsAttrs;
  const backend = args.backend as unknown as WasmBackend;
  const out = backend.makeOutput([sizes.tokens, H * K], "float32");
  const weights = backend.makeOutput([H * sizes.copies], "float32");
  if (lengths.length === 0) return [out, weights];
  const n4 = (sizes.longest + 3) & ~3;
  withLengths(backend, lengths, K * n4 + n4, (at, scratch) =>
    wasm!.streamsForward(
      offsetOf(backend, queries!),
      offsetOf(backend, context ?? queries!),
      offsetOf(backend, out),
      offsetOf(backend, weights),
      scratch,
      at,
      lengths.length,
      H,
      K,
      ...layout,
      scale,
      causal ? 1 : 0,
    ));
  return [out, weights];
}

function streamsGradKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { sizes, layout } = streamsShape(args);
  const { queries, context, dy, weights } = args.inputs as Record<
    string,
    tf.TensorInfo | undefined
  >;
  const { heads: H, keyDim: K, scale, lengths, causal } = args.attrs as unknown as StreamsAttrs;
  const backend = args.backend as unknown as WasmBackend;
  const dQueries = backend.makeOutput(queries!.shape, "float32");
  const dContext = context === undefined ? dQueries : backend.makeOutput(context.shape, "float32");
  const outs = context === undefined ? [dQueries] : [dQueries, dContext];
  if (lengths.length === 0) return outs;
  const n4 = (sizes.longest + 3) & ~3;
  withLengths(backend, lengths, K * n4 + n4, (at, scratch) =>
    wasm!.streamsBackward(
      offsetOf(backend, queries!),
      offsetOf(backend, context ?? queries!),
      offsetOf(backend, dy!),
      offsetOf(backend, weights!),
      offsetOf(backend, dQueries),
      offsetOf(backend, dContext),
      scratch,
      at,
      lengths.length,
      H,
      K,
      ...layout,
      scale,
      causal ? 1 : 0,
    ));
  return outs;
}
