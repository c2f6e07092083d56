// AssemblyScript (compiled by `deno task kernels`, not by Deno): causal
// attention of the two streams (`lib/_whole_sequences.ts`), forward and
// backward, each one call for a whole batch of sequences.
//
// Query i of head h attends to the context's keys and values at j < i
// (causal) or at every j != i (not causal) and, at j = i, to a key and value
// of its own:
//
//   z_ij = scale q_i . k'_j   w_i = softmax_j(z_i)   o_i = sum_j w_ij v'_j
//
// with k'_j, v'_j the context's for j != i and the query row's own (kd_i,
// vd_i) for j = i. Not causal and with the queries as the context, this is
// plain self-attention within each sequence (the rows layout's layers). The query stream passes its projections as the queries
// and the content stream's as the context; the content stream passes its own
// projections as both, so that the diagonal is its own key and value and
// this is plain causal self-attention.
//
// Sequences are packed one after another: sequence s has n_s tokens (the
// int32 `lengths`) starting at row o_s = sum_{t<s} n_t. Layouts (float32),
// offsets and strides in floats: queries [sum n, qStride] with q at 0, kd at
// kdOff and vd at vdOff (head-major within each); context [sum n, cStride]
// with k at kOff and v at vOff; out [sum n, HK]; weights per sequence
// [H, n(i), n(j)], zero above the diagonal, one after another. K must be a
// multiple of 4 (SIMD over K). Scratch is the caller's: K n4 + n4 floats for
// the longest n (n4 = n rounded up to 4): the context's keys (forward) or
// values (backward) transposed, so that the products with every key are
// four keys at a time.

import { at, axpy, dot } from "./vectors";

/**
 * Copies the K floats at `offset` of each of n rows (`row` bytes apart,
 * from `base`) into `t` as [K, n4] (n4 = n rounded up to 4, zero beyond n),
 * so that one float of every row is four lanes at a time.
 */
function transposeRows(base: usize, row: usize, n: i32, n4: i32, K: i32, t: usize): void {
  for (let k = 0; k < K; k++) {
    const line = at(t, k * n4);
    for (let j = 0; j < n; j++) store<f32>(at(line, j), load<f32>(at(base + <usize>j * row, k)));
    for (let j = n; j < n4; j++) store<f32>(at(line, j), 0);
  }
}

/** z[j] = x . t[:, j] for j < end (rounded up to 4), t as [K, n4]: four keys at a time, summed over k in order. */
@inline function productsWith(x: usize, t: usize, n4: i32, end: i32, K: i32, z: usize): void {
  for (let j = 0; j < end; j += 4) v128.store(at(z, j), f32x4.splat(0));
  for (let k = 0; k < K; k++) {
    const xk = f32x4.splat(load<f32>(at(x, k)));
    const line = at(t, k * n4);
    for (let j = 0; j < end; j += 4) {
      v128.store(at(z, j), f32x4.add(v128.load(at(z, j)), f32x4.mul(xk, v128.load(at(line, j)))));
    }
  }
}

/** The forward pass: writes out and the softmax weights (kept for the backward pass). Scratch: K n4 + n4 floats. */
export function streamsForward(
  queries: usize,
  context: usize,
  out: usize,
  weights: usize,
  scratch: usize,
  lengths: usize,
  S: i32,
  H: i32,
  K: i32,
  qStride: i32,
  kdOff: i32,
  vdOff: i32,
  cStride: i32,
  kOff: i32,
  vOff: i32,
  scale: f32,
  causal: i32,
): void {
  const HK = H * K;
  const qRow = <usize>qStride << 2, cRow = <usize>cStride << 2;
  let o = 0, wOff = 0;
  for (let s = 0; s < S; s++) {
    const n = load<i32>(lengths + (<usize>s << 2));
    const n4 = (n + 3) & ~3;
    const keysT = scratch, z = at(scratch, K * n4);
    for (let h = 0; h < H; h++) {
      const head = <usize>(h * K) << 2;
      const qBase = queries + <usize>o * qRow + head;
      const cBase = context + <usize>o * cRow + head;
      transposeRows(cBase + (<usize>kOff << 2), cRow, n, n4, K, keysT);
      for (let i = 0; i < n; i++) {
        const qi = qBase + <usize>i * qRow;
        const w = at(weights, wOff + (h * n + i) * n);
        const end = causal ? i + 1 : n;
        productsWith(qi, keysT, n4, end, K, z);
        store<f32>(at(z, i), dot(qi, at(qi, kdOff), K)); // its own key on the diagonal
        let max = -Infinity as f32;
        for (let j = 0; j < end; j++) {
          const zj: f32 = load<f32>(at(z, j)) * scale;
          store<f32>(at(z, j), zj);
          max = Mathf.max(max, zj);
        }
        let sum: f32 = 0;
        for (let j = 0; j < end; j++) {
          const e = Mathf.exp(load<f32>(at(z, j)) - max);
          store<f32>(at(z, j), e);
          sum += e;
        }
        const y = out + (<usize>((o + i) * HK) << 2) + head;
        memory.fill(y, 0, <usize>K << 2);
        for (let j = 0; j < end; j++) {
          const wj: f32 = load<f32>(at(z, j)) / sum;
          store<f32>(at(w, j), wj);
          axpy(y, wj, j == i ? at(qi, vdOff) : at(cBase + <usize>j * cRow, vOff), K);
        }
        memory.fill(at(w, end), 0, <usize>(n - end) << 2);
      }
    }
    o += n;
    wOff += H * n * n;
  }
}

/**
 * The backward pass: from the output's gradient g and the saved weights,
 * the gradients of the queries and of the context (accumulated into zeroed
 * buffers, so dQueries and dContext may be one buffer when the queries are
 * the context). Scratch: K n4 + n4 floats.
 */
export function streamsBackward(
  queries: usize,
  context: usize,
  g: usize,
  weights: usize,
  dQueries: usize,
  dContext: usize,
  scratch: usize,
  lengths: usize,
  S: i32,
  H: i32,
  K: i32,
  qStride: i32,
  kdOff: i32,
  vdOff: i32,
  cStride: i32,
  kOff: i32,
  vOff: i32,
  scale: f32,
  causal: i32,
): void {
  const HK = H * K;
  const qRow = <usize>qStride << 2, cRow = <usize>cStride << 2;
  let total = 0;
  for (let s = 0; s < S; s++) total += load<i32>(lengths + (<usize>s << 2));
  memory.fill(dQueries, 0, <usize>total * qRow);
  if (dContext != dQueries) memory.fill(dContext, 0, <usize>total * cRow);
  let o = 0, wOff = 0;
  for (let s = 0; s < S; s++) {
    const n = load<i32>(lengths + (<usize>s << 2));
    const n4 = (n + 3) & ~3;
    const valuesT = scratch, a = at(scratch, K * n4); // a_j = g_i . v'_j
    for (let h = 0; h < H; h++) {
      const head = <usize>(h * K) << 2;
      const qBase = queries + <usize>o * qRow + head;
      const cBase = context + <usize>o * cRow + head;
      const dqBase = dQueries + <usize>o * qRow + head;
      const dcBase = dContext + <usize>o * cRow + head;
      transposeRows(cBase + (<usize>vOff << 2), cRow, n, n4, K, valuesT);
      for (let i = 0; i < n; i++) {
        const qi = qBase + <usize>i * qRow, dqi = dqBase + <usize>i * qRow;
        const gi = g + (<usize>((o + i) * HK) << 2) + head;
        const w = at(weights, wOff + (h * n + i) * n);
        const end = causal ? i + 1 : n;
        productsWith(gi, valuesT, n4, end, K, a);
        store<f32>(at(a, i), dot(gi, at(qi, vdOff), K)); // its own value on the diagonal
        let r: f32 = 0;
        for (let j = 0; j < end; j++) r += load<f32>(at(w, j)) * load<f32>(at(a, j));
        for (let j = 0; j < end; j++) {
          const wj = load<f32>(at(w, j));
          const ds: f32 = wj * (load<f32>(at(a, j)) - r) * scale;
          if (j == i) {
            axpy(dqi, ds, at(qi, kdOff), K); // dq_i += ds kd_i
            axpy(at(dqi, kdOff), ds, qi, K); // dkd_i += ds q_i
            axpy(at(dqi, vdOff), wj, gi, K); // dvd_i += w_ii g_i
          } else {
            const cj = cBase + <usize>j * cRow, dcj = dcBase + <usize>j * cRow;
            axpy(dqi, ds, at(cj, kOff), K); // dq_i += ds k_j
            axpy(at(dcj, kOff), ds, qi, K); // dk_j += ds q_i
            axpy(at(dcj, vOff), wj, gi, K); // dv_j += w_ij g_i
          }
        }
      }
    }
    o += n;
    wOff += H * n * n;
  }
}
