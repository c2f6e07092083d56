/**
 * The package's own wasm kernels, registered in place of tfjs's on the wasm
 * backend. They run inside tfjs's memory (the module imports it), read and
 * write tensors where tfjs keeps them, and give bit-identical results to the
 * kernels they replace, faster: tfjs's own kernels stay the oracle
 * (`setFastKernels(false)` puts them back, and the tests compare the two).
 *
 * - **BatchMatMul**: tfjs computes batched and transposed products with a
 *   scalar loop, and a single untransposed product with XNNPACK, which
 *   repacks its right operand on every call (a fresh gradient each time in
 *   training). Ours is one SIMD loop over 4x8 output tiles in the order of
 *   summation of each (`kernels/assembly/batch_matmul.ts`).
 * - **Slice, SplitV, Concat, GatherV2**: tfjs slices and concatenates in
 *   JavaScript, one short row at a time (and copies the whole input out of
 *   its memory for every slice), and gathers element by element. Ours copy
 *   whole rows inside wasm (`kernels/assembly/copy.ts`): copies, so exact.
 * - **Transpose**: tfjs's wasm transpose is slow on the small matrices of
 *   every dense layer's gradient (about 0.1 ms each). Ours copies rows where
 *   the innermost axis stays, else 8x8 tiles (`kernels/assembly/copy.ts`):
 *   a copy, so exact.
 * - **Identity**: tfjs's wasm backend copies the tensor; the engine calls it
 *   for every tensor it saves for a gradient (each input of a product, each
 *   output of a softmax...). Tensors are immutable, so ours shares the data,
 *   as tfjs's cpu backend and every reshape do.
 * - **Adam** (no tfjs counterpart): one update of every parameter in place,
 *   embedding tables' idle rows skipped (`_adam_kernels.ts`), with the
 *   float32 operations of `lib/adam.ts`'s dozen tensor operations in their
 *   order, so the same bits; `lib/adam.ts` calls it when
 *   {@link fastKernelsActive}.
 * - **Sum** over leading or middle axes (every bias gradient, every
 *   gradient of a broadcast): tfjs transposes the reduced axes to the end,
 *   then adds each output's elements in order from zero. Ours adds the same
 *   elements in the same order where they lie, four outputs at a time
 *   (`kernels/assembly/reduce.ts`).
 * - The fused attention of the copies and streams layouts
 *   (`_attention_kernels.ts`) and the fused LayerNorm
 *   (`_layer_norm_kernels.ts`), installed with these.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { WASM_BASE64 as BATCH_MATMUL_WASM } from "./kernels/_batch_matmul_wasm.ts";
import { WASM_BASE64 as COPY_WASM } from "./kernels/_copy_wasm.ts";
import { WASM_BASE64 as REDUCE_WASM } from "./kernels/_reduce_wasm.ts";
import { installAttentionKernels } from "./_attention_kernels.ts";
import { installAdamKernels } from "./_adam_kernels.ts";
import { installLayerNormKernels } from "./_layer_norm_kernels.ts";
import { instantiate, offsetOf, type WasmBackend } from "./_wasm_memory.ts";

type BatchMatMulExport = (
  a: number,
  b: number,
  out: number,
  scratch: number,
  batch: number,
  aStride: number,
  bStride: number,
  M: number,
  N: number,
  K: number,
  transposeA: number,
  transposeB: number,
  block: number,
) => void;

type CopyBoxExport = (x: number, out: number, ...strideBeginSize: number[]) => void;
type GatherRowsExport = (
  table: number,
  ids: number,
  out: number,
  rows: number,
  width: number,
  count: number,
) => number;

type PermuteExport = (x: number, out: number, ...shapeAndStrides: number[]) => void;
type ConcatRowsExport = (out: number, batch: number, count: number, parts: number) => void;
type SumMiddleExport = (x: number, out: number, A: number, R: number, B: number) => void;

let fast = true;
let installed = false;
let batchMatMulWasm: BatchMatMulExport | null = null;
let copyBoxWasm: CopyBoxExport | null = null;
let gatherRowsWasm: GatherRowsExport | null = null;
let concatRowsWasm: ConcatRowsExport | null = null;
let permuteWasm: PermuteExport | null = null;
let sumMiddleWasm: { float32: SumMiddleExport; int32: SumMiddleExport } | null = null;

/** The name of the package's one-block matrix product (see {@link oneBlockProduct}). */
export const PRODUCT_KERNEL = "EfaOneBlockProduct";

/**
 * Turns the package's kernels on (default) or off: off, tfjs's own kernels
 * compute everything (the oracle; the numbers are the same).
 *
 * @param on Whether to use them.
 * @returns Whether they were on before.
 *
 * @example Compare with tfjs's own kernels
 * ```ts
 * import { setFastKernels } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const a = tf.randomUniform([3, 5, 7], -1, 1, "float32", 1);
 * const b = tf.randomUniform([3, 7, 6], -1, 1, "float32", 2);
 * const ours = tf.matMul(a, b).dataSync();
 * const before = setFastKernels(false);
 * assert.deepEqual(tf.matMul(a, b).dataSync(), ours);
 * setFastKernels(before);
 * ```
 */
export function setFastKernels(on: boolean): boolean {
  if (typeof on !== "boolean") {
    throw new TypeError(`setFastKernels(): expected a boolean, got ${typeof on}`);
  }
  const was = fast;
  fast = on;
  return was;
}

/** Whether the package's kernels are registered and on. */
export function fastKernelsActive(): boolean {
  return installed && fast && tf.getBackend() === "wasm";
}

/**
 * Registers the package's kernels on the wasm backend (once; after the
 * backend is set up). Leaves tfjs's kernels in place when the backend does
 * not expose its memory as expected.
 *
 * @returns Whether they are installed.
 */
export function installKernels(): boolean {
  if (installed) return true;
  if (tf.getBackend() !== "wasm") return false;
  const backend = tf.backend() as unknown as Partial<WasmBackend>;
  const wasmMemory = backend.wasm?.asm?.memory;
  if (!(wasmMemory instanceof WebAssembly.Memory)) return false;
  const matMul = tf.getKernel("BatchMatMul", "wasm"), slice = tf.getKernel("Slice", "wasm");
  const splitV = tf.getKernel("SplitV", "wasm"), gather = tf.getKernel("GatherV2", "wasm");
  const concat = tf.getKernel("Concat", "wasm"), identity = tf.getKernel("Identity", "wasm");
  const sum = tf.getKernel("Sum", "wasm"), transpose = tf.getKernel("Transpose", "wasm");
  if (!matMul || !slice || !splitV || !gather || !concat || !identity || !sum || !transpose) {
    return false;
  }
  const exports = (base64: string): WebAssembly.Exports => instantiate(base64, wasmMemory);
  batchMatMulWasm = exports(BATCH_MATMUL_WASM)["batchMatMul"] as BatchMatMulExport;
  const copy = exports(COPY_WASM);
  copyBoxWasm = copy["copyBox"] as CopyBoxExport;
  gatherRowsWasm = copy["gatherRows"] as GatherRowsExport;
  concatRowsWasm = copy["concatRows"] as ConcatRowsExport;
  permuteWasm = copy["permute"] as PermuteExport;
  const reduce = exports(REDUCE_WASM);
  sumMiddleWasm = {
    float32: reduce["sumMiddleF32"] as SumMiddleExport,
    int32: reduce["sumMiddleI32"] as SumMiddleExport,
  };
  const replace = (
    original: tf.KernelConfig,
    kernelFunc: (args: Parameters<tf.KernelFunc>[0]) => ReturnType<tf.KernelFunc>,
  ): void => {
    tf.unregisterKernel(original.kernelName, "wasm");
    tf.registerKernel({
      ...original,
      kernelFunc: (args) => fast ? kernelFunc(args) : original.kernelFunc(args),
    });
  };
  replace(matMul, (args) => batchMatMul(args, matMul.kernelFunc));
  tf.registerKernel({
    kernelName: PRODUCT_KERNEL,
    backendName: "wasm",
    kernelFunc: (args) => batchMatMul(args, matMul.kernelFunc, true),
  });
  replace(slice, (args) => sliceBox(args, slice.kernelFunc));
  replace(splitV, (args) => split(args, slice.kernelFunc));
  replace(gather, (args) => gatherFirstAxis(args, gather.kernelFunc));
  replace(concat, (args) => concatenate(args, concat.kernelFunc));
  replace(identity, (args) => share(args, identity.kernelFunc));
  replace(sum, (args) => sumBlock(args, sum.kernelFunc));
  replace(transpose, (args) => permuted(args, transpose.kernelFunc));
  installAdamKernels(wasmMemory);
  installLayerNormKernels(wasmMemory);
  installAttentionKernels(wasmMemory);
  installed = true;
  return true;
}

function sliceBox(
  args: Parameters<tf.KernelFunc>[0],
  original: tf.KernelFunc,
): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
  const backend = args.backend as unknown as WasmBackend;
  const rank = x.shape.length;
  const parsed = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  const b = parsed[0]!, n = parsed[1]!;
  // tfjs copies the whole input out of its memory for every slice (readSync), contiguous or not.
  if ((x.dtype !== "float32" && x.dtype !== "int32") || rank < 1 || rank > 4) {
    return original(args) as tf.TensorInfo;
  }
  if (n.some((d) => d === 0)) return backend.makeOutput(n, x.dtype as "float32");
  const pad = 4 - rank;
  const shape = [...new Array(pad).fill(1), ...x.shape];
  const begin4 = [...new Array(pad).fill(0), ...b], size4 = [...new Array(pad).fill(1), ...n];
  const strides = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!];
  const out = backend.makeOutput(n, x.dtype as "float32");
  copyBoxWasm!(offsetOf(backend, x), offsetOf(backend, out), ...strides, ...begin4, ...size4);
  return out;
}

function permuted(
  args: Parameters<tf.KernelFunc>[0],
  original: tf.KernelFunc,
): ReturnType<tf.KernelFunc> {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { perm } = args.attrs as { perm: number[] };
  const backend = args.backend as unknown as WasmBackend;
  const rank = x.shape.length;
  if (
    (x.dtype !== "float32" && x.dtype !== "int32") || rank < 1 || rank > 4 ||
    perm.length !== rank || x.shape.some((d) => d === 0)
  ) return original(args);
  const out = backend.makeOutput(perm.map((a) => x.shape[a]!), x.dtype as "float32");
  const pad = 4 - rank;
  const shape = [...new Array(pad).fill(1), ...x.shape];
  const strides = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const perm4 = [...Array.from({ length: pad }, (_, i) => i), ...perm.map((a) => a + pad)];
  permuteWasm!(
    offsetOf(backend, x),
    offsetOf(backend, out),
    ...perm4.map((a) => shape[a]!),
    ...perm4.map((a) => strides[a]!),
  );
  return out;
}

function split(args: Parameters<tf.KernelFunc>[0], slice: tf.KernelFunc): tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { numOrSizeSplits, axis } = args.attrs as {
    numOrSizeSplits: number | number[];
    axis: number;
  };
  const $axis = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
  const begin = new Array(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[$axis] = s;
    const piece = sliceBox({ ...args, attrs: { begin: [...begin], size } }, slice);
    begin[$axis] += s;
    return piece;
  });
}

function sumBlock(
  args: Parameters<tf.KernelFunc>[0],
  original: tf.KernelFunc,
): ReturnType<tf.KernelFunc> {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const backend = args.backend as unknown as WasmBackend;
  const shape = x.shape, rank = shape.length;
  if (x.dtype !== "float32" && x.dtype !== "int32") return original(args);
  const axes = tf.util.parseAxisParam(axis, shape);
  const first = axes[0], last = axes[axes.length - 1];
  // Only one block of axes in order, not the innermost (where tfjs needs no transpose).
  if (
    first === undefined || last === undefined || last === rank - 1 ||
    axes.some((a, i) => a !== first + i) || shape.some((d) => d === 0)
  ) return original(args);
  const size = tf.util.sizeFromShape;
  const kept = shape.filter((_, i) => i < first || i > last);
  const out = backend.makeOutput(
    keepDims ? shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : kept,
    x.dtype as "float32",
  );
  sumMiddleWasm![x.dtype](
    offsetOf(backend, x),
    offsetOf(backend, out),
    size(shape.slice(0, first)),
    size(shape.slice(first, last + 1)),
    size(shape.slice(last + 1)),
  );
  return out;
}

function share(
  args: Parameters<tf.KernelFunc>[0],
  original: tf.KernelFunc,
): ReturnType<tf.KernelFunc> {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype === "string") return original(args);
  (args.backend as unknown as WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function concatenate(
  args: Parameters<tf.KernelFunc>[0],
  original: tf.KernelFunc,
): ReturnType<tf.KernelFunc> {
  const inputs = args.inputs as unknown as tf.TensorInfo[];
  const backend = args.backend as unknown as WasmBackend;
  const dtype = inputs[0]?.dtype;
  if (inputs.length < 2 || (dtype !== "float32" && dtype !== "int32")) return original(args);
  const axis = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, inputs[0]!.shape)[0]!;
  const shapes = inputs.map((t) => t.shape);
  tf.backend_util.assertParamsConsistent(shapes, axis);
  if (inputs.some((t) => t.dtype !== dtype || t.shape.some((d) => d === 0))) return original(args);
  const out = backend.makeOutput(tf.backend_util.computeOutShape(shapes, axis), dtype as "float32");
  const size = tf.util.sizeFromShape;
  const parts = backend.wasm._malloc(8 * inputs.length);
  try {
    // Offsets past 2 GiB come back from _malloc as negative int32s.
    const table = new Int32Array(backend.wasm.asm.memory.buffer, parts >>> 0, 2 * inputs.length);
    inputs.forEach((t, i) => {
      table[2 * i] = offsetOf(backend, t);
      table[2 * i + 1] = size(t.shape.slice(axis));
    });
    concatRowsWasm!(offsetOf(backend, out), size(shapes[0]!.slice(0, axis)), inputs.length, parts);
  } finally {
    backend.wasm._free(parts);
  }
  return out;
}

function gatherFirstAxis(
  args: Parameters<tf.KernelFunc>[0],
  original: tf.KernelFunc,
): ReturnType<tf.KernelFunc> {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  const backend = args.backend as unknown as WasmBackend;
  if (
    batchDims !== 0 || tf.util.parseAxisParam(axis, x.shape)[0] !== 0 ||
    (x.dtype !== "float32" && x.dtype !== "int32") || indices.dtype !== "int32" ||
    x.shape.length < 1 || x.shape.some((d) => d === 0)
  ) return original(args);
  const rows = x.shape[0]!, width = tf.util.sizeFromShape(x.shape.slice(1));
  const count = tf.util.sizeFromShape(indices.shape);
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype as "float32");
  if (count === 0) return out;
  const bad = gatherRowsWasm!(
    offsetOf(backend, x),
    offsetOf(backend, indices),
    offsetOf(backend, out),
    rows,
    width,
    count,
  );
  if (bad === 0) return out;
  backend.disposeData(out.dataId);
  return original(args); // tfjs's error for the index out of range
}

/**
 * A matrix product of 2-D float32 matrices, either transposed, summed as
 * tfjs sums an untransposed one (XNNPACK: one block of the whole shared
 * axis): the same bits as transposing first and multiplying, without the
 * transpose (only when {@link fastKernelsActive}). The dense layers'
 * gradients use it.
 *
 * @param a `[M, K]`, or `[K, M]` when `transposeA`.
 * @param b `[K, N]`, or `[N, K]` when `transposeB`.
 * @param transposeA Whether `a` is stored transposed.
 * @param transposeB Whether `b` is stored transposed.
 * @returns `op(a) op(b)`, `[M, N]`.
 */
export function oneBlockProduct(
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA: boolean,
  transposeB: boolean,
): tf.Tensor {
  if (a.rank !== 2 || b.rank !== 2 || a.dtype !== "float32" || b.dtype !== "float32") {
    throw new TypeError(
      `oneBlockProduct(): expected two float32 matrices, got ${a.dtype} [${a.shape}] and ${b.dtype} [${b.shape}]`,
    );
  }
  return tf.engine().runKernel(
    PRODUCT_KERNEL,
    { a, b } as unknown as tf.NamedTensorMap,
    { transposeA, transposeB } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor;
}

function batchMatMul(
  args: Parameters<tf.KernelFunc>[0],
  original: tf.KernelFunc,
  oneBlock = false,
): ReturnType<tf.KernelFunc> {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const backend = args.backend as unknown as WasmBackend;
  if (a.dtype !== "float32" || b.dtype !== "float32") return original(args);
  const ra = a.shape.length, rb = b.shape.length;
  const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  const Kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA), batchB = tf.util.sizeFromShape(outerB);
  // One untransposed product is XNNPACK's in tfjs (one block of the whole axis), the rest tfjs's loop (blocks of 48).
  const xnnpack = oneBlock || (!transposeA && !transposeB && batchA === 1 && batchB === 1);
  const plainBatch = batchA === batchB
    ? outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i])
    : batchA === 1 || batchB === 1;
  if (!plainBatch || K !== Kb || K === 0 || M === 0 || N === 0) return original(args);
  const batch = Math.max(batchA, batchB);
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB), M, N];
  const out = backend.makeOutput(outShape, "float32");
  const scratch = backend.wasm._malloc(4 * K * ((N + 7) & ~7));
  try {
    batchMatMulWasm!(
      offsetOf(backend, a),
      offsetOf(backend, b),
      offsetOf(backend, out),
      scratch,
      batch,
      batchA === 1 ? 0 : M * K,
      batchB === 1 ? 0 : K * N,
      M,
      N,
      K,
      transposeA ? 1 : 0,
      transposeB ? 1 : 0,
      xnnpack ? K : 48,
    );
  } finally {
    backend.wasm._free(scratch);
  }
  return out;
}
