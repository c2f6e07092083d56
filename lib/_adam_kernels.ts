/**
 * Adam's update on the wasm backend, in place (`kernels/assembly/adam.ts`):
 * one pass over each variable with the float32 operations of `lib/adam.ts`'s
 * tensor operations in their order, so the same bits, and for embedding
 * tables (rank 2, at least {@link LAZY_MIN_ROWS} rows) only the rows that are
 * not idle (a row whose zero-gradient steps provably leave its weights and
 * first moment as they are; its second moment is caught up when it is needed).
 *
 * The moments belong to the optimiser and are written where they lie. A
 * variable is written where it lies unless another tensor shares its data (a
 * clone kept as best weights: the package's Identity kernel shares data);
 * then it gets a fresh buffer and the clone keeps the old values.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { WASM_BASE64 as ADAM_WASM } from "./kernels/_adam_wasm.ts";
import { instantiate, offsetOf, type WasmBackend } from "./_wasm_memory.ts";

type SegmentExport = (
  g: number,
  w: number,
  m: number,
  v: number,
  wOut: number,
  n: number,
  c1: number,
  c2: number,
  alpha: number,
  eps: number,
) => void;
type RowsExport = (
  g: number,
  w: number,
  m: number,
  v: number,
  wOut: number,
  idleSince: number,
  rows: number,
  width: number,
  t: number,
  c1: number,
  c2: number,
  alpha: number,
  eps: number,
  mBound: number,
) => number;
type CatchUpExport = (
  v: number,
  idleSince: number,
  rows: number,
  width: number,
  t: number,
  c2: number,
) => void;

let kernels: { segment: SegmentExport; rows: RowsExport; catchUp: CatchUpExport } | null = null;

/** Instantiates the Adam kernels on tfjs's wasm memory (once, with the other kernels). */
export function installAdamKernels(memory: WebAssembly.Memory): void {
  const exports = instantiate(ADAM_WASM, memory);
  kernels = {
    segment: exports["adamSegment"] as SegmentExport,
    rows: exports["adamRows"] as RowsExport,
    catchUp: exports["adamCatchUp"] as CatchUpExport,
  };
}

/** Rank-2 variables with at least this many rows are updated row by row, idle rows skipped. */
export const LAZY_MIN_ROWS = 256;

/** The constants of one Adam step (float32 in the kernel, as tfjs turns each number into a float32 scalar). */
export interface AdamStepConstants {
  /** The step number, from 1. */
  readonly t: number;
  /** `1 - beta1`. */
  readonly c1: number;
  /** `1 - beta2`. */
  readonly c2: number;
  /** The step size `lr sqrt(1 - beta2^t) / (1 - beta1^t)`. */
  readonly alpha: number;
  /** Added to the root of the second moment. */
  readonly epsilon: number;
  /**
   * First moments below this in magnitude give a zero update at every step
   * size Adam can take (see {@link firstMomentBound}).
   */
  readonly mBound: number;
}

/**
 * The magnitude below which `m alpha` rounds to zero in float32 for every
 * step size `alpha_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)` of a run: half
 * the smallest float32 denormal (2^-150) over the largest `alpha_t`, with a
 * margin of 2 for rounding.
 *
 * @param learningRate The learning rate.
 * @param beta1 Decay of the first moment.
 * @param beta2 Decay of the second moment.
 * @returns The bound (0 when the step sizes are not finite).
 */
export function firstMomentBound(learningRate: number, beta1: number, beta2: number): number {
  // alpha_t tends to lr; its largest value lies at small t.
  let largest = learningRate;
  for (let t = 1; t <= 100_000; t++) {
    largest = Math.max(largest, learningRate * Math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t));
  }
  return Number.isFinite(largest) && largest > 0 ? 2 ** -150 / (2 * largest) : 0;
}

/** Whether a variable is updated row by row (a table with many rows). */
export function isLazyTable(w: tf.Tensor): boolean {
  return w.rank === 2 && w.shape[0]! >= LAZY_MIN_ROWS && w.dtype === "float32";
}

/**
 * One Adam step of every variable, in place (only when the package's kernels
 * are active): the flat moments `m` and `v` are written where they lie, each
 * variable where it lies unless its data is shared (then it is assigned a
 * fresh buffer).
 *
 * @param m The flat first moment `[P]`.
 * @param v The flat second moment `[P]`.
 * @param grads One gradient per variable (`undefined`: zero).
 * @param weights The variables, in the moments' order.
 * @param idleSince Per variable, the int32 `[rows]` idle marks of a lazy table (else `undefined`).
 * @param constants The step's constants.
 * @returns The number of table rows updated (idle rows skipped).
 */
export function adamStepInPlace(
  m: tf.Variable,
  v: tf.Variable,
  grads: readonly (tf.Tensor | undefined)[],
  weights: readonly tf.Variable[],
  idleSince: readonly (tf.Tensor | undefined)[],
  constants: AdamStepConstants,
): number {
  const { segment, rows } = kernels!;
  const backend = tf.backend() as unknown as WasmBackend & { refCount(dataId: object): number };
  const { t, c1, c2, alpha, epsilon, mBound } = constants;
  if (backend.refCount(m.dataId) > 1 || backend.refCount(v.dataId) > 1) {
    throw new Error("adamStepInPlace: the moments share their data with another tensor");
  }
  let offset = 0; // bytes into the flat moments
  let updated = 0;
  weights.forEach((w, i) => {
    const g = grads[i] ?? tf.zerosLike(w);
    const shared = backend.refCount(w.dataId) > 1;
    const fresh = shared ? backend.makeOutput(w.shape, "float32") : undefined;
    const wAt = offsetOf(backend, w), outAt = fresh ? offsetOf(backend, fresh) : wAt;
    const mAt = offsetOf(backend, m) + offset, vAt = offsetOf(backend, v) + offset;
    const idle = idleSince[i];
    if (idle !== undefined) {
      updated += rows(
        offsetOf(backend, g),
        wAt,
        mAt,
        vAt,
        outAt,
        offsetOf(backend, idle),
        w.shape[0]!,
        w.shape[1]!,
        t,
        c1,
        c2,
        alpha,
        epsilon,
        mBound,
      );
    } else {
      segment(offsetOf(backend, g), wAt, mAt, vAt, outAt, w.size, c1, c2, alpha, epsilon);
    }
    if (grads[i] === undefined) g.dispose();
    if (fresh) {
      const value = tf.engine().makeTensorFromTensorInfo(fresh);
      w.assign(value);
      value.dispose();
    }
    offset += 4 * w.size;
  });
  return updated;
}

/**
 * Catches up the second moments of the idle rows of every lazy table to step
 * `t`, in place, so that `v` holds what the dense update would have.
 *
 * @param v The flat second moment `[P]`.
 * @param weights The variables, in the moments' order.
 * @param idleSince Per variable, the idle marks of a lazy table (else `undefined`).
 * @param t The steps taken.
 * @param c2 `1 - beta2`.
 */
export function catchUpSecondMoments(
  v: tf.Variable,
  weights: readonly tf.Variable[],
  idleSince: readonly (tf.Tensor | undefined)[],
  t: number,
  c2: number,
): void {
  const backend = tf.backend() as unknown as WasmBackend;
  let offset = 0;
  weights.forEach((w, i) => {
    const idle = idleSince[i];
    if (idle !== undefined) {
      kernels!.catchUp(
        offsetOf(backend, v) + offset,
        offsetOf(backend, idle),
        w.shape[0]!,
        w.shape[1]!,
        t,
        c2,
      );
    }
    offset += 4 * w.size;
  });
}
