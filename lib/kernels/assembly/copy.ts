// AssemblyScript (compiled by `deno task kernels`, not by Deno): the data
// movement of tfjs's wasm backend that tfjs does element by element or in
// JavaScript: boxes cut out of a tensor (Slice, SplitV) and rows gathered by
// index (GatherV2 on the first axis, every embedding lookup). Copies only, so
// the results are tfjs's to the bit.
//
// The module imports tfjs's memory and keeps nothing in it. Every pointer is
// a byte offset into that memory; elements are 4 bytes (float32 or int32).

/**
 * Copies the box `[b0, b0 + n0) x ... x [b3, b3 + n3)` of a rank-4 tensor
 * with element strides `s0, s1, s2` (and 1) to `out`, row-major.
 */
export function copyBox(
  x: usize, out: usize,
  s0: i32, s1: i32, s2: i32,
  b0: i32, b1: i32, b2: i32, b3: i32,
  n0: i32, n1: i32, n2: i32, n3: i32,
): void {
  const row = <usize>n3 << 2;
  let o = out;
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      let from = x + (<usize>((b0 + i) * s0 + (b1 + j) * s1 + b2 * s2 + b3) << 2);
      const step = <usize>s2 << 2;
      for (let k = 0; k < n2; k++) {
        memory.copy(o, from, row);
        o += row;
        from += step;
      }
    }
  }
}

/**
 * `out[r] = table[ids[r]]` for `count` ids, rows of `width` elements; ids
 * are int32. Returns the number of ids outside `[0, rows)`: when it is not
 * zero, nothing was copied and the caller reports the error.
 */
export function gatherRows(
  table: usize, ids: usize, out: usize, rows: i32, width: i32, count: i32,
): i32 {
  let bad = 0;
  for (let r = 0; r < count; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    if (id < 0 || id >= rows) bad++;
  }
  if (bad > 0) return bad;
  const row = <usize>width << 2;
  for (let r = 0; r < count; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    memory.copy(out + <usize>r * row, table + <usize>id * row, row);
  }
  return 0;
}

/**
 * Concatenation: for each of `batch` outer rows, the inner rows of `count`
 * inputs one after the other. `parts` holds `count` pairs of int32: an
 * input's byte offset and its inner row length in elements.
 */
export function concatRows(out: usize, batch: i32, count: i32, parts: usize): void {
  let o = out;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < count; i++) {
      const at = parts + (<usize>i << 3);
      const inner = <usize>load<i32>(at, 4) << 2;
      memory.copy(o, <usize>load<i32>(at) + <usize>b * inner, inner);
      o += inner;
    }
  }
}

/**
 * A transposition: `out[i0, i1, i2, i3] = x[i0 t0 + i1 t1 + i2 t2 + i3 t3]`
 * for the output's shape `d0 x d1 x d2 x d3`, where `t` are the input's
 * element strides of the output's axes. Whole rows where the innermost axis
 * stays innermost (`t3 == 1`), else 8 x 8 tiles of the two inner axes.
 */
export function permute(
  x: usize, out: usize,
  d0: i32, d1: i32, d2: i32, d3: i32,
  t0: i32, t1: i32, t2: i32, t3: i32,
): void {
  const plane = <usize>(d2 * d3) << 2;
  for (let i = 0; i < d0; i++) {
    for (let j = 0; j < d1; j++) {
      const from = x + (<usize>(i * t0 + j * t1) << 2);
      const to = out + <usize>(i * d1 + j) * plane;
      if (t3 == 1) {
        const row = <usize>d3 << 2;
        for (let y = 0; y < d2; y++) {
          memory.copy(to + <usize>y * row, from + (<usize>(y * t2) << 2), row);
        }
        continue;
      }
      for (let y0 = 0; y0 < d2; y0 += 8) {
        const y1 = min(y0 + 8, d2);
        for (let x0 = 0; x0 < d3; x0 += 8) {
          const x1 = min(x0 + 8, d3);
          for (let y = y0; y < y1; y++) {
            const src = from + (<usize>(y * t2) << 2), dst = to + (<usize>(y * d3) << 2);
            for (let c = x0; c < x1; c++) {
              store<u32>(dst + (<usize>c << 2), load<u32>(src + (<usize>(c * t3) << 2)));
            }
          }
        }
      }
    }
  }
}
