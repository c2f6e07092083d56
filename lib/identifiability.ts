/**
 * Identifiability checks: how well learned parameters match the true ones up
 * to a linear map. EFA's parameters are identifiable up to linear
 * transformations (the paper's identifiability result), so a trained model's
 * embeddings should equal the truth after the best linear map: R-squared near
 * 1 and a small relative error. Computed in float64 in plain JavaScript.
 *
 * @module
 */

/** A matrix as rows of numbers. */
export type Matrix = readonly (readonly number[])[];

/** Options of {@link linearAlignment}. */
export interface AlignmentOptions {
  /** Fit an intercept (an affine map) as well; the orthogonal map then works on centred rows. Default true. */
  readonly intercept?: boolean;
}

/** How well one set of rows maps onto another. */
export interface Fit {
  /** The map, `[learned columns, truth columns]`: `truth ≈ learned map + intercept`. */
  readonly map: number[][];
  /** The intercept, one per truth column (zeros without an intercept). */
  readonly intercept: number[];
  /** `1 - SS_residual / SS_total` (total around the column means of the truth). */
  readonly r2: number;
  /** `||fitted - truth|| / ||truth||` (Frobenius norms). */
  readonly relativeError: number;
}

/** The best linear and the best orthogonal map of learned rows onto the truth. */
export interface Alignment {
  /** Least squares over all linear (affine with `intercept`) maps. */
  readonly linear: Fit;
  /** The best orthogonal map (Procrustes), when both sides have the same width; else `null`. */
  readonly orthogonal: Fit | null;
}

function shape(m: Matrix, name: string): [number, number] {
  if (!Array.isArray(m) || m.length === 0 || !Array.isArray(m[0])) {
    throw new TypeError(
      `linearAlignment(): expected ${name} to be a non-empty matrix (rows of numbers)`,
    );
  }
  const cols = m[0]!.length;
  m.forEach((row: readonly number[], i: number) => {
    if (row.length !== cols) {
      throw new TypeError(
        `linearAlignment(): expected every row of ${name} to have ${cols} columns, got ${row.length} in row ${i}`,
      );
    }
    row.forEach((v: number, j: number) => {
      if (!Number.isFinite(v)) {
        throw new RangeError(
          `linearAlignment(): expected ${name}[${i}][${j}] to be finite, got ${v}`,
        );
      }
    });
  });
  return [m.length, cols];
}

/** Least squares `X B ≈ Y` by Householder QR; throws when X is rank deficient. */
function leastSquares(X: number[][], Y: number[][]): number[][] {
  const n = X.length, p = X[0]!.length, q = Y[0]!.length;
  const A = X.map((r) => [...r]), B = Y.map((r) => [...r]);
  const diag: number[] = [];
  for (let k = 0; k < p; k++) {
    let norm = 0;
    for (let i = k; i < n; i++) norm += A[i]![k]! ** 2;
    norm = Math.sqrt(norm);
    const alpha = A[k]![k]! > 0 ? -norm : norm;
    const v = new Array<number>(n).fill(0);
    for (let i = k; i < n; i++) v[i] = A[i]![k]!;
    v[k]! -= alpha;
    const vv = v.reduce((s, x) => s + x * x, 0);
    diag.push(Math.abs(alpha));
    if (vv === 0) continue;
    const reflect = (M: number[][], cols: number, from: number): void => {
      for (let j = from; j < cols; j++) {
        let dot = 0;
        for (let i = k; i < n; i++) dot += v[i]! * M[i]![j]!;
        const f = (2 * dot) / vv;
        for (let i = k; i < n; i++) M[i]![j]! -= f * v[i]!;
      }
    };
    reflect(A, p, k);
    reflect(B, q, 0);
  }
  const largest = Math.max(...diag);
  const rank = diag.filter((d) => d > 1e-10 * largest * Math.sqrt(n)).length;
  if (rank < p) {
    throw new RangeError(
      `linearAlignment(): expected learned to have full column rank ${p} (with the intercept column when fitted), got rank ${rank}`,
    );
  }
  const out = Array.from({ length: p }, () => new Array<number>(q).fill(0));
  for (let j = 0; j < q; j++) {
    for (let k = p - 1; k >= 0; k--) {
      let s = B[k]![j]!;
      for (let l = k + 1; l < p; l++) s -= A[k]![l]! * out[l]![j]!;
      out[k]![j] = s / A[k]![k]!;
    }
  }
  return out;
}

/** Singular value decomposition of a square matrix by one-sided Jacobi: `M = U diag(s) V^T`. */
function svd(M: number[][]): { U: number[][]; s: number[]; V: number[][] } {
  const n = M.length;
  const U = M.map((r) => [...r]);
  const V = Array.from(
    { length: n },
    (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)),
  );
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let a = 0; a < n - 1; a++) {
      for (let b = a + 1; b < n; b++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < n; i++) {
          alpha += U[i]![a]! ** 2;
          beta += U[i]![b]! ** 2;
          gamma += U[i]![a]! * U[i]![b]!;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta));
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (const W of [U, V]) {
          for (let i = 0; i < n; i++) {
            const x = W[i]![a]!, y = W[i]![b]!;
            W[i]![a] = c * x - s * y;
            W[i]![b] = s * x + c * y;
          }
        }
      }
    }
    if (off < 1e-15) break;
  }
  const s = Array.from(
    { length: n },
    (_, j) => Math.sqrt(U.reduce((acc, r) => acc + r[j]! ** 2, 0)),
  );
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      U[i]![j] = s[j]! > 0 ? U[i]![j]! / s[j]! : 0;
    }
  }
  return { U, s, V };
}

function score(fitted: number[][], Y: Matrix): { r2: number; relativeError: number } {
  const q = Y[0]!.length;
  const means = Array.from({ length: q }, (_, j) => Y.reduce((a, r) => a + r[j]!, 0) / Y.length);
  let ssRes = 0, ssTot = 0, norm = 0;
  Y.forEach((row, i) =>
    row.forEach((y, j) => {
      ssRes += (fitted[i]![j]! - y) ** 2;
      ssTot += (y - means[j]!) ** 2;
      norm += y * y;
    })
  );
  return { r2: 1 - ssRes / ssTot, relativeError: Math.sqrt(ssRes / norm) };
}

/**
 * Fits the best linear map (least squares, with an intercept by default) and
 * the best orthogonal map (Procrustes) from learned rows to true rows, and
 * reports how well each fits.
 *
 * @param learned The learned parameters, one row per unit (e.g. item), `[n, p]`.
 * @param truth The true parameters of the same units, `[n, q]`.
 * @param options Whether to fit an intercept.
 * @returns The linear and orthogonal fits with R-squared and relative error.
 * @throws {TypeError} When the inputs are not matrices or have different numbers of rows.
 * @throws {RangeError} When `learned` is rank deficient or a value is not finite.
 *
 * @example A rotated and shifted copy aligns exactly
 * ```ts
 * import { linearAlignment } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const truth = [[1, 0], [0, 1], [1, 1], [2, -1]];
 * const learned = truth.map(([a, b]) => [-b! + 3, a! + 1]); // a rotation by 90 degrees plus a shift
 * const { linear, orthogonal } = linearAlignment(learned, truth);
 * assert.ok(linear.r2 > 1 - 1e-12 && orthogonal!.r2 > 1 - 1e-12);
 * ```
 */
export function linearAlignment(
  learned: Matrix,
  truth: Matrix,
  options: AlignmentOptions = {},
): Alignment {
  const [n, p] = shape(learned, "learned");
  const [m, q] = shape(truth, "truth");
  if (n !== m) {
    throw new TypeError(
      `linearAlignment(): expected learned and truth to have the same rows, got ${n} and ${m}`,
    );
  }
  const intercept = options.intercept ?? true;
  const X = learned.map((r) => (intercept ? [...r, 1] : [...r]));
  if (n < X[0]!.length) {
    throw new RangeError(
      `linearAlignment(): expected at least ${X[0]!.length} rows to fit the map, got ${n}`,
    );
  }
  const coefficients = leastSquares(X, truth.map((r) => [...r]));
  const map = coefficients.slice(0, p);
  const shift = intercept ? coefficients[p]! : new Array<number>(q).fill(0);
  const fitted = learned.map((r) =>
    Array.from({ length: q }, (_, j) => shift[j]! + r.reduce((a, x, k) => a + x * map[k]![j]!, 0))
  );
  const linear: Fit = { map, intercept: shift, ...score(fitted, truth) };
  let orthogonal: Fit | null = null;
  if (p === q) {
    const mean = (
      M: Matrix,
      j: number,
    ): number => (intercept ? M.reduce((a, r) => a + r[j]!, 0) / n : 0);
    const mx = Array.from({ length: p }, (_, j) => mean(learned, j)),
      my = Array.from({ length: q }, (_, j) => mean(truth, j));
    const M = Array.from(
      { length: p },
      (_, a) =>
        Array.from(
          { length: q },
          (_, b) => learned.reduce((s, r, i) => s + (r[a]! - mx[a]!) * (truth[i]![b]! - my[b]!), 0),
        ),
    );
    const { U, V } = svd(M);
    const R = Array.from(
      { length: p },
      (_, a) =>
        Array.from({ length: q }, (_, b) => U[a]!.reduce((s, u, k) => s + u * V[b]![k]!, 0)),
    );
    const shiftO = Array.from(
      { length: q },
      (_, j) => my[j]! - mx.reduce((s, x, k) => s + x * R[k]![j]!, 0),
    );
    const fittedO = learned.map((r) =>
      Array.from({ length: q }, (_, j) => shiftO[j]! + r.reduce((a, x, k) => a + x * R[k]![j]!, 0))
    );
    orthogonal = { map: R, intercept: shiftO, ...score(fittedO, truth) };
  }
  return { linear, orthogonal };
}
