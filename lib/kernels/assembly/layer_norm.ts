// AssemblyScript (compiled by `deno task kernels`, not by Deno): LayerNorm
// over the last axis of `[N, W]` rows, forward and backward, each one pass
// per row instead of tfjs's dozen operations over the whole tensor:
//
//   mean = sum(x) / W     var = sum((x - mean)^2) / W     r = 1 / sqrt(var + eps)
//   y = (x - mean) r gamma + beta
//
// and, with xhat = (x - mean) r and g = dy gamma,
//
//   dx = r (g - mean(g) - xhat mean(g xhat))   dgamma = sum over rows of dy xhat
//   dbeta = sum over rows of dy
//
// in float32, four lanes at a time (W a multiple of 4). The sums run in
// another order than tfjs's, so the results agree to float32 rounding, not
// to the bit. The module imports tfjs's memory and keeps nothing in it.

@inline
function horizontal(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** y `[N, W]` and the rows' (mean, 1 / sqrt(var + eps)) in stats `[N, 2]`. */
export function layerNormForward(
  x: usize, gamma: usize, beta: usize, y: usize, stats: usize, N: i32, W: i32, eps: f32,
): void {
  const w = <f32>W;
  for (let r = 0; r < N; r++) {
    const row = x + (<usize>(r * W) << 2), out = y + (<usize>(r * W) << 2);
    let acc = f32x4.splat(0);
    for (let i = 0; i < W; i += 4) acc = f32x4.add(acc, v128.load(row + (<usize>i << 2)));
    const mean: f32 = horizontal(acc) / w;
    const m4 = f32x4.splat(mean);
    let sq = f32x4.splat(0);
    for (let i = 0; i < W; i += 4) {
      const d = f32x4.sub(v128.load(row + (<usize>i << 2)), m4);
      sq = f32x4.add(sq, f32x4.mul(d, d));
    }
    const rstd: f32 = <f32>1 / Mathf.sqrt(horizontal(sq) / w + eps);
    const r4 = f32x4.splat(rstd);
    store<f32>(stats + (<usize>(2 * r) << 2), mean);
    store<f32>(stats + (<usize>(2 * r + 1) << 2), rstd);
    for (let i = 0; i < W; i += 4) {
      const at = <usize>i << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(row + at), m4), r4);
      v128.store(out + at, f32x4.add(f32x4.mul(xhat, v128.load(gamma + at)), v128.load(beta + at)));
    }
  }
}

/** dx `[N, W]`, dgamma and dbeta `[W]` (written, not added to). */
export function layerNormBackward(
  x: usize, gamma: usize, dy: usize, stats: usize, dx: usize, dgamma: usize, dbeta: usize,
  N: i32, W: i32,
): void {
  const w = <f32>W;
  for (let i = 0; i < W; i += 4) {
    v128.store(dgamma + (<usize>i << 2), f32x4.splat(0));
    v128.store(dbeta + (<usize>i << 2), f32x4.splat(0));
  }
  for (let r = 0; r < N; r++) {
    const base = <usize>(r * W) << 2;
    const m4 = f32x4.splat(load<f32>(stats + (<usize>(2 * r) << 2)));
    const rstd = load<f32>(stats + (<usize>(2 * r + 1) << 2));
    const r4 = f32x4.splat(rstd);
    let s1 = f32x4.splat(0), s2 = f32x4.splat(0);
    for (let i = 0; i < W; i += 4) {
      const at = <usize>i << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(x + base + at), m4), r4);
      const d = v128.load(dy + base + at);
      const g = f32x4.mul(d, v128.load(gamma + at));
      s1 = f32x4.add(s1, g);
      s2 = f32x4.add(s2, f32x4.mul(g, xhat));
      v128.store(dgamma + at, f32x4.add(v128.load(dgamma + at), f32x4.mul(d, xhat)));
      v128.store(dbeta + at, f32x4.add(v128.load(dbeta + at), d));
    }
    const mean1 = f32x4.splat(horizontal(s1) / w), mean2 = f32x4.splat(horizontal(s2) / w);
    for (let i = 0; i < W; i += 4) {
      const at = <usize>i << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(x + base + at), m4), r4);
      const g = f32x4.mul(v128.load(dy + base + at), v128.load(gamma + at));
      v128.store(
        dx + base + at,
        f32x4.mul(r4, f32x4.sub(f32x4.sub(g, mean1), f32x4.mul(xhat, mean2))),
      );
    }
  }
}
