// AssemblyScript (compiled by `deno task kernels`, not by Deno): the first
// and the last attention layers of the masked copies
// (`lib/_whole_sequences.ts`), forward and backward, each one call for a
// whole batch of sequences of any lengths.
//
// Copy i of a sequence of n tokens is the sequence with token i replaced by
// the masked token. Its queries, keys and values are the true tokens' except
// at i, where they are the masked token's. For every copy i, query j and
// head h of the first layer:
//
//   z_l = scale q'_j . k'_l      w = softmax_l(z)      o_ij = sum_l w_l v'_l
//
// The copies share all but one row and one column of their logits, so the
// products are computed once per sequence and head: true queries on true
// keys (TT), masked queries on true keys (RM), true queries on masked keys
// (CM) and each masked query on its own key (DM). The backward pass gathers
// the logit gradients into the same four blocks and projects them once.
//
// Sequences are packed one after another: sequence s has n_s tokens (the
// int32 `lengths`), its tokens start at row o_s = sum_{t<s} n_t and its
// copies' tokens at row c_s = sum_{t<s} n_t^2 (copy i, token j: row
// c_s + i n_s + j). Layouts (float32): p, pm [sum n, 3HK] (query | key |
// value, head-major within each); out [sum n^2, HK]; weights per sequence
// [H, n(i), n(j), n(l)], one after another. K must be a multiple of 4 (SIMD
// over K). The module imports tfjs's memory and keeps nothing in it; scratch
// is the caller's: 3 n^2 + 2 n floats for the longest n.

import { at, axpy, dot } from "./vectors";

/** The forward pass: writes out and the softmax weights (kept for the backward pass). */
export function copiesForward(
  p: usize,
  pm: usize,
  lengths: usize,
  S: i32,
  out: usize,
  weights: usize,
  scratch: usize,
  H: i32,
  K: i32,
  scale: f32,
): void {
  const HK = H * K;
  const token = <usize>(3 * HK) << 2; // bytes per token row
  const outRow = <usize>HK << 2;
  const kOff = <usize>HK << 2, vOff = <usize>(2 * HK) << 2;
  let o = 0, c = 0, wOff = 0;
  for (let s = 0; s < S; s++) {
    const n = load<i32>(lengths + (<usize>s << 2));
    const nn = n * n;
    const TT = scratch, RM = at(TT, nn), CM = at(RM, nn), DM = at(CM, nn), Z = at(DM, n);
    for (let h = 0; h < H; h++) {
      const base = p + <usize>o * token + (<usize>(h * K) << 2);
      const baseM = pm + <usize>o * token + (<usize>(h * K) << 2);
      for (let j = 0; j < n; j++) {
        const q = base + <usize>j * token, qm = baseM + <usize>j * token;
        for (let l = 0; l < n; l++) {
          const k = base + <usize>l * token + kOff;
          store<f32>(at(TT, j * n + l), dot(q, k, K));
          store<f32>(at(RM, j * n + l), dot(qm, k, K));
          store<f32>(at(CM, j * n + l), dot(q, baseM + <usize>l * token + kOff, K));
        }
        store<f32>(at(DM, j), dot(qm, baseM + <usize>j * token + kOff, K));
      }
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let max = -Infinity as f32;
          for (let l = 0; l < n; l++) {
            const raw = j == i
              ? (l == i ? load<f32>(at(DM, i)) : load<f32>(at(RM, i * n + l)))
              : (l == i ? load<f32>(at(CM, j * n + i)) : load<f32>(at(TT, j * n + l)));
            const z: f32 = raw * scale;
            store<f32>(at(Z, l), z);
            max = Mathf.max(max, z);
          }
          let sum: f32 = 0;
          for (let l = 0; l < n; l++) {
            const e = Mathf.exp(load<f32>(at(Z, l)) - max);
            store<f32>(at(Z, l), e);
            sum += e;
          }
          const w = at(weights, wOff + ((h * n + i) * n + j) * n);
          const y = out + <usize>(c + i * n + j) * outRow + (<usize>(h * K) << 2);
          memory.fill(y, 0, <usize>K << 2);
          for (let l = 0; l < n; l++) {
            const wl: f32 = load<f32>(at(Z, l)) / sum;
            store<f32>(at(w, l), wl);
            const v = (l == i ? baseM : base) + <usize>l * token + vOff;
            axpy(y, wl, v, K);
          }
        }
      }
    }
    o += n;
    c += nn;
    wOff += H * nn * n;
  }
}

/** The backward pass: from the output's gradient g and the saved weights, the gradients of p and pm. */
export function copiesBackward(
  p: usize,
  pm: usize,
  lengths: usize,
  S: i32,
  g: usize,
  weights: usize,
  dp: usize,
  dpm: usize,
  scratch: usize,
  H: i32,
  K: i32,
  scale: f32,
): void {
  const HK = H * K;
  const token = <usize>(3 * HK) << 2;
  const gRow = <usize>HK << 2;
  const kOff = <usize>HK << 2, vOff = <usize>(2 * HK) << 2;
  let total = 0;
  for (let s = 0; s < S; s++) total += load<i32>(lengths + (<usize>s << 2));
  memory.fill(dp, 0, <usize>total * token);
  memory.fill(dpm, 0, <usize>total * token);
  let o = 0, c = 0, wOff = 0;
  for (let s = 0; s < S; s++) {
    const n = load<i32>(lengths + (<usize>s << 2));
    const nn = n * n;
    // Logit gradients by block: A[j,l] true on true (summed over copies), C[j,i] true query on
    // masked key, R[i,l] masked query on true key, D[i] masked on masked; a: one row's g . v'.
    const A = scratch, C = at(A, nn), R = at(C, nn), D = at(R, nn), a = at(D, n);
    for (let h = 0; h < H; h++) {
      const offset = <usize>o * token + (<usize>(h * K) << 2);
      const base = p + offset, baseM = pm + offset, dBase = dp + offset, dBaseM = dpm + offset;
      memory.fill(A, 0, <usize>(3 * nn + n) << 2);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const w = at(weights, wOff + ((h * n + i) * n + j) * n);
          const gij = g + <usize>(c + i * n + j) * gRow + (<usize>(h * K) << 2);
          let r: f32 = 0;
          for (let l = 0; l < n; l++) {
            const v = (l == i ? baseM : base) + <usize>l * token + vOff;
            const al = dot(gij, v, K);
            store<f32>(at(a, l), al);
            r += load<f32>(at(w, l)) * al;
          }
          for (let l = 0; l < n; l++) {
            const wl = load<f32>(at(w, l));
            const ds: f32 = wl * (load<f32>(at(a, l)) - r) * scale;
            const slot = j == i
              ? (l == i ? at(D, i) : at(R, i * n + l))
              : (l == i ? at(C, j * n + i) : at(A, j * n + l));
            store<f32>(slot, load<f32>(slot) + ds);
            axpy((l == i ? dBaseM : dBase) + <usize>l * token + vOff, wl, gij, K);
          }
        }
      }
      // Project the logit gradients: C and R are zero on their diagonals.
      for (let t = 0; t < n; t++) {
        const dq = dBase + <usize>t * token, dk = dq + kOff;
        const dqm = dBaseM + <usize>t * token, dkm = dqm + kOff;
        for (let u = 0; u < n; u++) {
          const q = base + <usize>u * token, k = q + kOff;
          const qm = baseM + <usize>u * token, km = qm + kOff;
          axpy(dq, load<f32>(at(A, t * n + u)), k, K); // dq_t += A[t,u] k_u
          axpy(dq, load<f32>(at(C, t * n + u)), km, K); // dq_t += C[t,u] km_u
          axpy(dk, load<f32>(at(A, u * n + t)), q, K); // dk_t += A[u,t] q_u
          axpy(dk, load<f32>(at(R, u * n + t)), qm, K); // dk_t += R[u,t] qm_u
          axpy(dqm, load<f32>(at(R, t * n + u)), k, K); // dqm_t += R[t,u] k_u
          axpy(dkm, load<f32>(at(C, u * n + t)), q, K); // dkm_t += C[u,t] q_u
        }
        const d = load<f32>(at(D, t));
        axpy(dqm, d, baseM + <usize>t * token + kOff, K); // dqm_t += D[t] km_t
        axpy(dkm, d, baseM + <usize>t * token, K); // dkm_t += D[t] qm_t
      }
    }
    o += n;
    c += nn;
    wOff += H * nn * n;
  }
}

// The last layer of the masked copies runs at each copy's masked position
// only: one query per copy and head, keys and values from every token of
// the copy; the rows layout's last layer likewise, one query per row. So
// query c has its own run of n_c keys (the int32 `lengths`, one per query),
// the keys of query c starting at row k_c = sum_{d<c} n_d. Layouts
// (float32): q and out [Q, HK]; k, v [sum n, HK]; weights, query c at
// H k_c as [H, n_c].

/** The forward pass of the one-query attention: writes out and the weights. */
export function targetForward(
  q: usize,
  k: usize,
  v: usize,
  lengths: usize,
  Q: i32,
  out: usize,
  weights: usize,
  H: i32,
  K: i32,
  scale: f32,
): void {
  const HK = H * K;
  const token = <usize>HK << 2;
  let c = 0;
  for (let r = 0; r < Q; r++) {
    const n = load<i32>(lengths + (<usize>r << 2));
    const keys = k + <usize>c * token, values = v + <usize>c * token;
    for (let h = 0; h < H; h++) {
      const head = <usize>(h * K) << 2;
      const qc = q + <usize>r * token + head, y = out + <usize>r * token + head;
      const w = at(weights, H * c + h * n);
      let max = -Infinity as f32;
      for (let j = 0; j < n; j++) {
        const z: f32 = dot(qc, keys + <usize>j * token + head, K) * scale;
        store<f32>(at(w, j), z);
        max = Mathf.max(max, z);
      }
      let sum: f32 = 0;
      for (let j = 0; j < n; j++) {
        const e = Mathf.exp(load<f32>(at(w, j)) - max);
        store<f32>(at(w, j), e);
        sum += e;
      }
      memory.fill(y, 0, <usize>K << 2);
      for (let j = 0; j < n; j++) {
        const wj: f32 = load<f32>(at(w, j)) / sum;
        store<f32>(at(w, j), wj);
        axpy(y, wj, values + <usize>j * token + head, K);
      }
    }
    c += n;
  }
}

/** The backward pass of the one-query attention: the gradients of q, k and v from out's gradient g. */
export function targetBackward(
  q: usize,
  k: usize,
  v: usize,
  lengths: usize,
  Q: i32,
  g: usize,
  weights: usize,
  dq: usize,
  dk: usize,
  dv: usize,
  H: i32,
  K: i32,
  scale: f32,
): void {
  const HK = H * K;
  const token = <usize>HK << 2;
  memory.fill(dq, 0, <usize>Q * token);
  let c = 0;
  for (let r = 0; r < Q; r++) {
    const n = load<i32>(lengths + (<usize>r << 2));
    const rows = <usize>c * token;
    for (let h = 0; h < H; h++) {
      const head = <usize>(h * K) << 2;
      const qc = q + <usize>r * token + head, gc = g + <usize>r * token + head;
      const dqc = dq + <usize>r * token + head;
      const w = at(weights, H * c + h * n);
      let rw: f32 = 0;
      for (let j = 0; j < n; j++) {
        rw += load<f32>(at(w, j)) * dot(gc, v + rows + <usize>j * token + head, K);
      }
      for (let j = 0; j < n; j++) {
        const at_j = rows + <usize>j * token + head;
        const wj = load<f32>(at(w, j));
        const ds: f32 = wj * (dot(gc, v + at_j, K) - rw) * scale;
        axpy(dqc, ds, k + at_j, K);
        // dk_j = ds q, dv_j = w_j g: written, not accumulated (each slot once).
        memory.fill(dk + at_j, 0, <usize>K << 2);
        axpy(dk + at_j, ds, qc, K);
        memory.fill(dv + at_j, 0, <usize>K << 2);
        axpy(dv + at_j, wj, gc, K);
      }
    }
    c += n;
  }
}
