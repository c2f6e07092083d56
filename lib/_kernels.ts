/**
 * The package's own wasm kernels, registered in place of tfjs's on the wasm
 * backend. They run inside tfjs's memory (the module imports it), read and
 * write tensors where tfjs keeps them, and give bit-identical results to the
 * kernels they replace, faster: tfjs's own kernels stay the oracle
 * (`setFastKernels(false)` puts them back, and the tests compare the two).
 *
 * - **BatchMatMul**: tfjs computes batched and transposed products with a
 *   scalar loop (its one fast path, XNNPACK, takes only a single
 *   untransposed product, which is left to it). Ours is a SIMD loop over
 *   4x8 output tiles in the same order of summation
 *   (`kernels/assembly/batch_matmul.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { decodeBase64 } from "./_base64.ts";
import { WASM_BASE64 as BATCH_MATMUL_WASM } from "./kernels/_batch_matmul_wasm.ts";

/** The parts of tfjs's wasm backend that the kernels use. */
interface WasmBackend {
  readonly wasm: {
    readonly asm: { readonly memory: WebAssembly.Memory };
    _malloc(bytes: number): number;
    _free(pointer: number): void;
  };
  readonly dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

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

let fast = true;
let installed = false;
let batchMatMulWasm: BatchMatMulExport | null = null;

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
  const original = tf.getKernel("BatchMatMul", "wasm");
  if (original === undefined) return false;
  const instance = new WebAssembly.Instance(
    new WebAssembly.Module(decodeBase64(BATCH_MATMUL_WASM)),
    { env: { memory: wasmMemory } },
  );
  batchMatMulWasm = instance.exports["batchMatMul"] as BatchMatMulExport;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => batchMatMul(args, original.kernelFunc),
  });
  installed = true;
  return true;
}

function batchMatMul(
  args: Parameters<tf.KernelFunc>[0],
  original: tf.KernelFunc,
): ReturnType<tf.KernelFunc> {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const backend = args.backend as unknown as WasmBackend;
  if (!fast || a.dtype !== "float32" || b.dtype !== "float32") return original(args);
  const ra = a.shape.length, rb = b.shape.length;
  const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  const Kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
  const batchA = outerA.reduce((n, d) => n * d, 1), batchB = outerB.reduce((n, d) => n * d, 1);
  // One untransposed product is XNNPACK's in tfjs (one block of the whole axis), the rest tfjs's loop (blocks of 48).
  const xnnpack = !transposeA && !transposeB && batchA === 1 && batchB === 1;
  const plainBatch = batchA === batchB
    ? outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i])
    : batchA === 1 || batchB === 1;
  if (!plainBatch || K !== Kb || K === 0 || M === 0 || N === 0) return original(args);
  const batch = Math.max(batchA, batchB);
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB), M, N];
  const out = backend.makeOutput(outShape, "float32");
  const offset = (t: tf.TensorInfo): number => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const scratch = backend.wasm._malloc(4 * K * ((N + 7) & ~7));
  try {
    batchMatMulWasm!(
      offset(a),
      offset(b),
      offset(out),
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
