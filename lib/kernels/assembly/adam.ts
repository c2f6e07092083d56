// AssemblyScript (compiled by `deno task kernels`, not by Deno): one Adam
// update of a segment of the parameters, in one pass, with the float32
// operations of `lib/adam.ts`'s tfjs ops in their order, each rounded to
// float32 as a tfjs kernel rounds it (no fused multiply-add in wasm):
//
//   m' = m + (g - m) c1        v' = v + (g g - v) c2
//   w' = w - (m' alpha) / (sqrt(v') + eps)
//
// so the same bits as the dozen tensor operations it replaces, each of which
// reads and writes every parameter.
//
// The module imports tfjs's memory and keeps nothing in it.

/** Updates `n` parameters: reads g, w, m, v; writes mOut, vOut, wOut (float32). */
export function adamSegment(
  g: usize,
  w: usize,
  m: usize,
  v: usize,
  mOut: usize,
  vOut: usize,
  wOut: usize,
  n: i32,
  c1: f32,
  c2: f32,
  alpha: f32,
  eps: f32,
): void {
  let i = 0;
  const c1x4 = f32x4.splat(c1), c2x4 = f32x4.splat(c2);
  const alphax4 = f32x4.splat(alpha), epsx4 = f32x4.splat(eps);
  for (; i + 4 <= n; i += 4) {
    const at = <usize>i << 2;
    const gi = v128.load(g + at), mi = v128.load(m + at), vi = v128.load(v + at);
    const m2 = f32x4.add(mi, f32x4.mul(f32x4.sub(gi, mi), c1x4));
    const v2 = f32x4.add(vi, f32x4.mul(f32x4.sub(f32x4.mul(gi, gi), vi), c2x4));
    const u = f32x4.div(f32x4.mul(m2, alphax4), f32x4.add(f32x4.sqrt(v2), epsx4));
    v128.store(mOut + at, m2);
    v128.store(vOut + at, v2);
    v128.store(wOut + at, f32x4.sub(v128.load(w + at), u));
  }
  for (; i < n; i++) {
    const at = <usize>i << 2;
    const gi = load<f32>(g + at), mi = load<f32>(m + at), vi = load<f32>(v + at);
    const m2: f32 = mi + (gi - mi) * c1;
    const v2: f32 = vi + (gi * gi - vi) * c2;
    const u: f32 = (m2 * alpha) / (Mathf.sqrt(v2) + eps);
    store<f32>(mOut + at, m2);
    store<f32>(vOut + at, v2);
    store<f32>(wOut + at, load<f32>(w + at) - u);
  }
}
