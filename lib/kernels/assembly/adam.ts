// AssemblyScript (compiled by `deno task kernels`, not by Deno): Adam updates
// in place, with the float32 operations of `lib/adam.ts`'s tfjs ops in their
// order, each rounded to float32 as a tfjs kernel rounds it (no fused
// multiply-add in wasm):
//
//   m' = m + (g - m) c1        v' = v + (g g - v) c2
//   w' = w - (m' alpha) / (sqrt(v') + eps)
//
// so the same bits as the dozen tensor operations it replaces, each of which
// reads and writes every parameter.
//
// `adamRows` is the same update for a table of rows (an embedding) where
// most rows have a zero gradient at most steps. Such a row's weights and
// first moment soon stop changing, to the bit, while its second moment goes
// on decaying: a row is *idle* from the step after which a zero-gradient step
// (g = +0) provably leaves w and m as they are, at every later step:
//
//   - m is a fixed point: m + (0 - m) c1 == m, bit for bit (m decays to a
//     few denormals and stops there: 0.1 of it rounds to zero);
//   - |m| alpha rounds to zero for every later alpha (|m| < `mBound`, from
//     the largest step size Adam can take), so the update is a signed zero,
//     and w minus that signed zero is w, bit for bit;
//   - v is finite (0 / (sqrt(v) + eps) is then a zero).
//
// An idle row costs one read of its gradient per step; its second moment is
// caught up (the skipped `v + (0 - v) c2`, one by one, until it stops
// changing) when a gradient reaches it again, or when the state is read.
// So every step leaves w, m and v (after catching up) as the dense update
// would, bit for bit.
//
// The module imports tfjs's memory and keeps nothing in it.

/** Updates `n` parameters: reads g, w, m, v; writes m, v (in place) and wOut (may be w). */
export function adamSegment(
  g: usize,
  w: usize,
  m: usize,
  v: usize,
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
    v128.store(m + at, m2);
    v128.store(v + at, v2);
    v128.store(wOut + at, f32x4.sub(v128.load(w + at), u));
  }
  for (; i < n; i++) {
    const at = <usize>i << 2;
    const gi = load<f32>(g + at), mi = load<f32>(m + at), vi = load<f32>(v + at);
    const m2: f32 = mi + (gi - mi) * c1;
    const v2: f32 = vi + (gi * gi - vi) * c2;
    const u: f32 = (m2 * alpha) / (Mathf.sqrt(v2) + eps);
    store<f32>(m + at, m2);
    store<f32>(v + at, v2);
    store<f32>(wOut + at, load<f32>(w + at) - u);
  }
}

/** Whether `width` floats at `g` are all +0 (every bit clear). */
@inline
function allPositiveZero(g: usize, width: i32): bool {
  let i = 0;
  let any = v128.splat<i32>(0);
  for (; i + 4 <= width; i += 4) any = v128.or(any, v128.load(g + (<usize>i << 2)));
  if (v128.any_true(any)) return false;
  for (; i < width; i++) if (load<u32>(g + (<usize>i << 2)) != 0) return false;
  return true;
}

/** Applies `steps` zero-gradient steps to the `width` second moments at `v` (stops once they stop changing). */
function catchUp(v: usize, width: i32, steps: i32, c2: f32): void {
  const c2x4 = f32x4.splat(c2), zero = f32x4.splat(0);
  for (let i = 0; i < width; i += 4) {
    const at = v + (<usize>i << 2);
    const lanes = min(4, width - i);
    if (lanes == 4) {
      let vi = v128.load(at);
      for (let s = 0; s < steps; s++) {
        const next = f32x4.add(vi, f32x4.mul(f32x4.sub(f32x4.mul(zero, zero), vi), c2x4));
        if (!v128.any_true(v128.xor(next, vi))) break;
        vi = next;
      }
      v128.store(at, vi);
    } else {
      for (let j = 0; j < lanes; j++) {
        const p = at + (<usize>j << 2);
        let vj = load<f32>(p);
        for (let s = 0; s < steps; s++) {
          const next: f32 = vj + (<f32>0 * <f32>0 - vj) * c2;
          if (reinterpret<u32>(next) == reinterpret<u32>(vj)) break;
          vj = next;
        }
        store<f32>(p, vj);
      }
    }
  }
}

/** Whether the row at w, m, v (just updated) is idle: see the module comment. */
function isIdle(w: usize, m: usize, v: usize, width: i32, c1: f32, mBound: f32): bool {
  for (let i = 0; i < width; i++) {
    const at = <usize>i << 2;
    const mi = load<f32>(m + at), vi = load<f32>(v + at), wi = load<f32>(w + at);
    const next: f32 = mi + (<f32>0 - mi) * c1;
    if (reinterpret<u32>(next) != reinterpret<u32>(mi)) return false;
    if (!(Mathf.abs(mi) < mBound)) return false;
    if (!(vi - vi == <f32>0)) return false; // NaN or infinite
    const u: f32 = copysign<f32>(0, mi); // the update m alpha / (sqrt(v) + eps) is this signed zero
    if (reinterpret<u32>(wi - u) != reinterpret<u32>(wi)) return false;
  }
  return true;
}

/**
 * One Adam step `t` of a `[rows, width]` table (its moments at m and v, in
 * place; weights read at w, written at wOut, which may be w). `idleSince[r]`
 * (int32 per row, in place) is -1 for an active row, else the step after
 * which row r went idle. Returns the number of rows updated.
 */
export function adamRows(
  g: usize,
  w: usize,
  m: usize,
  v: usize,
  wOut: usize,
  idleSince: usize,
  rows: i32,
  width: i32,
  t: i32,
  c1: f32,
  c2: f32,
  alpha: f32,
  eps: f32,
  mBound: f32,
): i32 {
  const rowBytes = <usize>width << 2;
  let updated = 0;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * rowBytes;
    const flag = idleSince + (<usize>r << 2);
    const since = load<i32>(flag);
    if (since >= 0) {
      if (allPositiveZero(g + at, width)) {
        if (wOut != w) memory.copy(wOut + at, w + at, rowBytes);
        continue;
      }
      catchUp(v + at, width, t - 1 - since, c2);
    }
    adamSegment(g + at, w + at, m + at, v + at, wOut + at, width, c1, c2, alpha, eps);
    updated++;
    store<i32>(flag, isIdle(wOut + at, m + at, v + at, width, c1, mBound) ? t : -1);
  }
  return updated;
}

/** Catches up the second moments of every idle row of a table to step t (before the state is read). */
export function adamCatchUp(v: usize, idleSince: usize, rows: i32, width: i32, t: i32, c2: f32): void {
  const rowBytes = <usize>width << 2;
  for (let r = 0; r < rows; r++) {
    const flag = idleSince + (<usize>r << 2);
    const since = load<i32>(flag);
    if (since < 0 || since >= t) continue;
    catchUp(v + <usize>r * rowBytes, width, t - since, c2);
    store<i32>(flag, t);
  }
}
