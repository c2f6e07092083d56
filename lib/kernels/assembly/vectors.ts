// AssemblyScript helpers shared by the attention kernels (imported, so
// compiled into each module that uses them; not a module of its own).

/** The dot product of K floats at a and b (K a multiple of 4), four lanes then summed pairwise. */
@inline export function dot(a: usize, b: usize, K: i32): f32 {
  let acc = f32x4.splat(0);
  for (let k = 0; k < K; k += 4) {
    const at = <usize>k << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + at), v128.load(b + at)));
  }
  return (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) +
    (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
}

/** y += a x over K floats. */
@inline export function axpy(y: usize, a: f32, x: usize, K: i32): void {
  const a4 = f32x4.splat(a);
  for (let k = 0; k < K; k += 4) {
    const at = <usize>k << 2;
    v128.store(y + at, f32x4.add(v128.load(y + at), f32x4.mul(a4, v128.load(x + at))));
  }
}

/** The address of float i from base. */
@inline export function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}
