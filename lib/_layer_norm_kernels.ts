/**
 * LayerNorm over the last axis as two wasm kernels (`kernels/assembly/layer_norm.ts`),
 * forward and backward, each one pass over the rows instead of tfjs's dozen
 * operations (moments, subtract, rsqrt, scale, offset, and their gradients).
 * The tfjs operations of `_ops.ts`'s `layerNorm` stay the oracle: the two
 * agree to float32 rounding (the sums run in another order).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { WASM_BASE64 as LAYER_NORM_WASM } from "./kernels/_layer_norm_wasm.ts";
import { instantiate, offsetOf, type WasmBackend } from "./_wasm_memory.ts";

type ForwardExport = (
  x: number,
  gamma: number,
  beta: number,
  y: number,
  stats: number,
  N: number,
  W: number,
  eps: number,
) => void;
type BackwardExport = (
  x: number,
  gamma: number,
  dy: number,
  stats: number,
  dx: number,
  dgamma: number,
  dbeta: number,
  N: number,
  W: number,
) => void;

/** The name of the forward kernel: `y` and the rows' statistics. */
export const LAYER_NORM_KERNEL = "EfaLayerNorm";
/** The name of the backward kernel: `dx`, `dgamma`, `dbeta`. */
export const LAYER_NORM_GRAD_KERNEL = "EfaLayerNormGrad";

let wasm: { forward: ForwardExport; backward: BackwardExport } | null = null;

/** Instantiates and registers the LayerNorm kernels on tfjs's wasm memory (with the other kernels). */
export function installLayerNormKernels(memory: WebAssembly.Memory): void {
  const exports = instantiate(LAYER_NORM_WASM, memory);
  wasm = {
    forward: exports["layerNormForward"] as ForwardExport,
    backward: exports["layerNormBackward"] as BackwardExport,
  };
  tf.registerKernel({ kernelName: LAYER_NORM_KERNEL, backendName: "wasm", kernelFunc: forward });
  tf.registerKernel({
    kernelName: LAYER_NORM_GRAD_KERNEL,
    backendName: "wasm",
    kernelFunc: backward,
  });
}

function rowsOf(x: tf.TensorInfo, fn: string): [number, number] {
  const W = x.shape.at(-1)!;
  if (x.dtype !== "float32" || W % 4 !== 0) {
    throw new TypeError(
      `${fn}: expected float32 rows of a multiple of 4 values, got ${x.dtype} [${x.shape}]`,
    );
  }
  return [tf.util.sizeFromShape(x.shape) / W, W];
}

function forward(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { x, gamma, beta } = args.inputs as Record<string, tf.TensorInfo>;
  const { epsilon } = args.attrs as unknown as { epsilon: number };
  const backend = args.backend as unknown as WasmBackend;
  const [N, W] = rowsOf(x!, LAYER_NORM_KERNEL);
  const y = backend.makeOutput(x!.shape, "float32");
  const stats = backend.makeOutput([N, 2], "float32");
  wasm!.forward(
    offsetOf(backend, x!),
    offsetOf(backend, gamma!),
    offsetOf(backend, beta!),
    offsetOf(backend, y),
    offsetOf(backend, stats),
    N,
    W,
    epsilon,
  );
  return [y, stats];
}

function backward(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { x, gamma, dy, stats } = args.inputs as Record<string, tf.TensorInfo>;
  const backend = args.backend as unknown as WasmBackend;
  const [N, W] = rowsOf(x!, LAYER_NORM_GRAD_KERNEL);
  const dx = backend.makeOutput(x!.shape, "float32");
  const dgamma = backend.makeOutput([W], "float32"), dbeta = backend.makeOutput([W], "float32");
  wasm!.backward(
    offsetOf(backend, x!),
    offsetOf(backend, gamma!),
    offsetOf(backend, dy!),
    offsetOf(backend, stats!),
    offsetOf(backend, dx),
    offsetOf(backend, dgamma),
    offsetOf(backend, dbeta),
    N,
    W,
  );
  return [dx, dgamma, dbeta];
}

/**
 * LayerNorm's forward kernel: the normalised rows and each row's mean and
 * `1 / sqrt(var + epsilon)`, `[N, 2]` (what the backward kernel needs).
 *
 * @param x The rows, `[..., W]`, W a multiple of 4.
 * @param gamma The scale, `[W]`.
 * @param beta The offset, `[W]`.
 * @param epsilon Added to the variance.
 * @returns `[y, stats]`.
 */
export function layerNormForward(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(
    LAYER_NORM_KERNEL,
    { x, gamma, beta } as unknown as tf.NamedTensorMap,
    { epsilon } as unknown as tf.NamedAttrMap,
  ) as [tf.Tensor, tf.Tensor];
}

/**
 * The gradient of {@link layerNormForward}.
 *
 * @param x As given to the forward pass.
 * @param gamma As given to the forward pass.
 * @param dy The gradient of `y`.
 * @param stats The forward pass's statistics.
 * @returns `[dx, dgamma, dbeta]`.
 */
export function layerNormBackward(
  x: tf.Tensor,
  gamma: tf.Tensor,
  dy: tf.Tensor,
  stats: tf.Tensor,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(
    LAYER_NORM_GRAD_KERNEL,
    { x, gamma, dy, stats } as unknown as tf.NamedTensorMap,
    {} as tf.NamedAttrMap,
  ) as [tf.Tensor, tf.Tensor, tf.Tensor];
}
