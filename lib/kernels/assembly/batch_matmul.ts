// AssemblyScript (compiled by `deno task kernels`, not by Deno): the batched
// matrix product of tfjs's wasm backend, `out[p] = op(A[p]) op(B[p])`, with
// SIMD and register blocking, in tfjs's own order of summation so that every
// output is bit-identical to its kernels. For each output, the products over
// the shared axis are summed one by one, in order, within blocks of `block`,
// and the block sums are added one by one to a zero: blocks of 48 are tfjs's
// loop for batched and transposed products (batch_mat_mul_impl.cc,
// `slow_batch_matmul`), one block of the whole axis is XNNPACK's (its f32
// GEMM accumulates from the zero bias, product by product). WebAssembly has no
// fused multiply-add, so each product is rounded before it is added, as there.
//
// The module imports tfjs's memory and keeps nothing in it: no data segments,
// no allocation. Every pointer is a byte offset into that memory.

/**
 * Copies B[p] (`[K, N]`, or `[N, K]` when transposed) into `packed` as
 * `[K, Np]` rows, Np = N rounded up to 8, the extra columns zero.
 */
function pack(b: usize, packed: usize, N: i32, K: i32, Np: i32, transposed: bool): void {
  for (let k = 0; k < K; k++) {
    const row = packed + (<usize>(k * Np) << 2);
    if (transposed) {
      for (let j = 0; j < N; j++) store<f32>(row + (<usize>j << 2), load<f32>(b + (<usize>(j * K + k) << 2)));
    } else {
      memory.copy(row, b + (<usize>(k * N) << 2), <usize>N << 2);
    }
    for (let j = N; j < Np; j++) store<f32>(row + (<usize>j << 2), 0);
  }
}

/** Stores the valid lanes (columns j0..j0+3 below N) of one row's vector. */
@inline
function storeLanes(out: usize, v: v128, N: i32, j0: i32): void {
  const left = N - j0;
  if (left >= 4) {
    v128.store(out + (<usize>j0 << 2), v);
  } else {
    const at = out + (<usize>j0 << 2);
    if (left > 0) store<f32>(at, f32x4.extract_lane(v, 0));
    if (left > 1) store<f32>(at + 4, f32x4.extract_lane(v, 1));
    if (left > 2) store<f32>(at + 8, f32x4.extract_lane(v, 2));
  }
}

/**
 * `out[p] = op(A[p]) op(B[p])` for p < batch: op(A) is `[M, K]` (A stored
 * `[K, M]` when `transposeA`), op(B) is `[K, N]` (B stored `[N, K]` when
 * `transposeB`), out is `[M, N]`. A batch stride of 0 broadcasts that input.
 * `scratch` holds K * (N rounded up to 8) floats. `block` is the length of
 * the summation blocks.
 */
export function batchMatMul(
  a: usize, b: usize, out: usize, scratch: usize,
  batch: i32, aStride: i32, bStride: i32,
  M: i32, N: i32, K: i32, transposeA: i32, transposeB: i32, block: i32,
): void {
  const Np = (N + 7) & ~7;
  // Element (i, k) of op(A) is at a + (i * ai + k * ak) * 4.
  const ai: i32 = transposeA ? 1 : K;
  const ak: i32 = transposeA ? M : 1;
  let packedFor: i32 = -1;
  for (let p = 0; p < batch; p++) {
    const ap = a + (<usize>(p * aStride) << 2);
    const op = out + (<usize>(p * M * N) << 2);
    if (packedFor < 0 || bStride != 0) {
      pack(b + (<usize>(p * bStride) << 2), scratch, N, K, Np, transposeB != 0);
      packedFor = p;
    }
    for (let i0 = 0; i0 < M; i0 += 4) {
      // Rows past M repeat the last row; they are computed and not stored.
      const r0 = ap + (<usize>(i0 * ai) << 2);
      const r1 = ap + (<usize>(min(i0 + 1, M - 1) * ai) << 2);
      const r2 = ap + (<usize>(min(i0 + 2, M - 1) * ai) << 2);
      const r3 = ap + (<usize>(min(i0 + 3, M - 1) * ai) << 2);
      const rows = min(4, M - i0);
      for (let j0 = 0; j0 < N; j0 += 8) {
        let t00 = f32x4.splat(0), t01 = f32x4.splat(0);
        let t10 = f32x4.splat(0), t11 = f32x4.splat(0);
        let t20 = f32x4.splat(0), t21 = f32x4.splat(0);
        let t30 = f32x4.splat(0), t31 = f32x4.splat(0);
        for (let k0 = 0; k0 < K; k0 += block) {
          const k1 = min(k0 + block, K);
          let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
          let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
          let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
          let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
          for (let k = k0; k < k1; k++) {
            const bk = scratch + (<usize>(k * Np + j0) << 2);
            const b0 = v128.load(bk), b1 = v128.load(bk, 16);
            const ko = <usize>(k * ak) << 2;
            const a0 = v128.load32_splat(r0 + ko);
            const a1 = v128.load32_splat(r1 + ko);
            const a2 = v128.load32_splat(r2 + ko);
            const a3 = v128.load32_splat(r3 + ko);
            s00 = f32x4.add(s00, f32x4.mul(a0, b0));
            s01 = f32x4.add(s01, f32x4.mul(a0, b1));
            s10 = f32x4.add(s10, f32x4.mul(a1, b0));
            s11 = f32x4.add(s11, f32x4.mul(a1, b1));
            s20 = f32x4.add(s20, f32x4.mul(a2, b0));
            s21 = f32x4.add(s21, f32x4.mul(a2, b1));
            s30 = f32x4.add(s30, f32x4.mul(a3, b0));
            s31 = f32x4.add(s31, f32x4.mul(a3, b1));
          }
          t00 = f32x4.add(t00, s00); t01 = f32x4.add(t01, s01);
          t10 = f32x4.add(t10, s10); t11 = f32x4.add(t11, s11);
          t20 = f32x4.add(t20, s20); t21 = f32x4.add(t21, s21);
          t30 = f32x4.add(t30, s30); t31 = f32x4.add(t31, s31);
        }
        const o0 = op + (<usize>(i0 * N) << 2);
        storeLanes(o0, t00, N, j0); storeLanes(o0, t01, N, j0 + 4);
        if (rows > 1) { const o = o0 + (<usize>N << 2); storeLanes(o, t10, N, j0); storeLanes(o, t11, N, j0 + 4); }
        if (rows > 2) { const o = o0 + (<usize>(2 * N) << 2); storeLanes(o, t20, N, j0); storeLanes(o, t21, N, j0 + 4); }
        if (rows > 3) { const o = o0 + (<usize>(3 * N) << 2); storeLanes(o, t30, N, j0); storeLanes(o, t31, N, j0 + 4); }
      }
    }
  }
}
