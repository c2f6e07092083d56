// AssemblyScript (compiled by `deno task kernels`, not by Deno): the sum of
// tfjs's wasm backend over a block of axes that are not the innermost. tfjs
// transposes the reduced axes to the end and then adds each output's
// elements one by one, from zero, in order. Viewing the tensor as
// `[A, R, B]` (the reduced block in the middle), each output `out[a, b]`
// here adds `x[a, 0, b], x[a, 1, b], ...` one by one from zero: the same
// additions in the same order, so the same bits, without the transpose, and
// four outputs at a time.
//
// The module imports tfjs's memory and keeps nothing in it.

/** `out[a, b] = sum over r of x[a, r, b]`, float32, in r's order. */
export function sumMiddleF32(x: usize, out: usize, A: i32, R: i32, B: i32): void {
  const rowBytes = <usize>B << 2;
  for (let a = 0; a < A; a++) {
    const xa = x + <usize>a * <usize>R * rowBytes;
    const oa = out + <usize>a * rowBytes;
    let b = 0;
    for (; b + 4 <= B; b += 4) {
      let acc = f32x4.splat(0);
      let at = xa + (<usize>b << 2);
      for (let r = 0; r < R; r++) {
        acc = f32x4.add(acc, v128.load(at));
        at += rowBytes;
      }
      v128.store(oa + (<usize>b << 2), acc);
    }
    for (; b < B; b++) {
      let acc: f32 = 0;
      let at = xa + (<usize>b << 2);
      for (let r = 0; r < R; r++) {
        acc += load<f32>(at);
        at += rowBytes;
      }
      store<f32>(oa + (<usize>b << 2), acc);
    }
  }
}

/** The same for int32 (wrapping additions, as tfjs's). */
export function sumMiddleI32(x: usize, out: usize, A: i32, R: i32, B: i32): void {
  const rowBytes = <usize>B << 2;
  for (let a = 0; a < A; a++) {
    const xa = x + <usize>a * <usize>R * rowBytes;
    const oa = out + <usize>a * rowBytes;
    for (let b = 0; b < B; b++) {
      let acc: i32 = 0;
      let at = xa + (<usize>b << 2);
      for (let r = 0; r < R; r++) {
        acc += load<i32>(at);
        at += rowBytes;
      }
      store<i32>(oa + (<usize>b << 2), acc);
    }
  }
}
