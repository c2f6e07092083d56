// AssemblyScript (compiled by `deno task kernels`, not by Deno): the first
// attention layer of the masked copies (`lib/_whole_sequences.ts`), forward
// and backward, each one call for a whole batch of sequences.
//
// Copy i of a sequence of n tokens is the sequence with token i replaced by
// the masked token. Its queries, keys and values are the true tokens' except
// at i, where they are the masked token's. For every copy i, query j and
// head h:
//
//   z_l = scale q'_j . k'_l      w = softmax_l(z)      o_ij = sum_l w_l v'_l
//
// The copies share all but one row and one column of their logits, so the
// products are computed once per sequence and head: true queries on true
// keys (TT), masked queries on true keys (RM), true queries on masked keys
// (CM) and each masked query on its own key (DM). The backward pass gathers
// the logit gradients into the same four blocks and projects them once.
//
// Layouts (float32): p, pm [S, n, 3HK] (query | key | value, head-major
// within each); out [S, H, n(i), n(j), K]; weights [S, H, n(i), n(j), n(l)].
// K must be a multiple of 4 (SIMD over K). The module imports tfjs's memory
// and keeps nothing in it; scratch is the caller's: 3 n^2 + 2 n floats.

import { at, axpy, dot } from "./vectors";

/** The forward pass: writes out and the softmax weights (kept for the backward pass). */
export function copiesForward(
  p: usize,
  pm: usize,
  out: usize,
  weights: usize,
  scratch: usize,
  S: i32,
  n: i32,
  H: i32,
  K: i32,
  scale: f32,
): void {
  const HK = H * K;
  const token = <usize>(3 * HK) << 2; // bytes per token row
  const kOff = <usize>HK << 2, vOff = <usize>(2 * HK) << 2;
  const nn = n * n;
  const TT = scratch, RM = at(TT, nn), CM = at(RM, nn), DM = at(CM, nn), Z = at(DM, n);
  for (let s = 0; s < S; s++) {
    for (let h = 0; h < H; h++) {
      const base = p + <usize>(s * n) * token + (<usize>(h * K) << 2);
      const baseM = pm + <usize>(s * n) * token + (<usize>(h * K) << 2);
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
      const sh = s * H + h;
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
          const row = (sh * n + i) * n + j;
          const w = weights + (<usize>(row * n) << 2), o = out + (<usize>(row * K) << 2);
          memory.fill(o, 0, <usize>K << 2);
          for (let l = 0; l < n; l++) {
            const wl: f32 = load<f32>(at(Z, l)) / sum;
            store<f32>(at(w, l), wl);
            const v = (l == i ? baseM : base) + <usize>l * token + vOff;
            axpy(o, wl, v, K);
          }
        }
      }
    }
  }
}

/** The backward pass: from the output's gradient g and the saved weights, the gradients of p and pm. */
export function copiesBackward(
  p: usize,
  pm: usize,
  g: usize,
  weights: usize,
  dp: usize,
  dpm: usize,
  scratch: usize,
  S: i32,
  n: i32,
  H: i32,
  K: i32,
  scale: f32,
): void {
  const HK = H * K;
  const token = <usize>(3 * HK) << 2;
  const kOff = <usize>HK << 2, vOff = <usize>(2 * HK) << 2;
  const nn = n * n;
  memory.fill(dp, 0, <usize>(S * n) * token);
  memory.fill(dpm, 0, <usize>(S * n) * token);
  // Logit gradients by block: A[j,l] true on true (summed over copies), C[j,i] true query on
  // masked key, R[i,l] masked query on true key, D[i] masked on masked; a: one row's g . v'.
  const A = scratch, C = at(A, nn), R = at(C, nn), D = at(R, nn), a = at(D, n);
  for (let s = 0; s < S; s++) {
    for (let h = 0; h < H; h++) {
      const offset = <usize>(s * n) * token + (<usize>(h * K) << 2);
      const base = p + offset, baseM = pm + offset, dBase = dp + offset, dBaseM = dpm + offset;
      memory.fill(A, 0, <usize>(3 * nn + n) << 2);
      const sh = s * H + h;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const row = (sh * n + i) * n + j;
          const w = weights + (<usize>(row * n) << 2), gij = g + (<usize>(row * K) << 2);
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
  }
}

// The last layer of the masked copies runs at each copy's masked position
// only: one query per copy i and head h, keys and values from every token j
// of copy i. Layouts (float32): q [S, n(i), HK]; k, v [S, n(i), n(j), HK];
// out [S, n(i), HK]; weights [S, n(i), H, n(j)].

/** The forward pass of the one-query attention: writes out and the weights. */
export function targetForward(
  q: usize,
  k: usize,
  v: usize,
  out: usize,
  weights: usize,
  S: i32,
  n: i32,
  H: i32,
  K: i32,
  scale: f32,
): void {
  const HK = H * K;
  const token = <usize>HK << 2;
  for (let c = 0; c < S * n; c++) {
    const keys = k + <usize>(c * n) * token, values = v + <usize>(c * n) * token;
    for (let h = 0; h < H; h++) {
      const head = <usize>(h * K) << 2;
      const qc = q + <usize>c * token + head, o = out + <usize>c * token + head;
      const w = weights + (<usize>((c * H + h) * n) << 2);
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
      memory.fill(o, 0, <usize>K << 2);
      for (let j = 0; j < n; j++) {
        const wj: f32 = load<f32>(at(w, j)) / sum;
        store<f32>(at(w, j), wj);
        axpy(o, wj, values + <usize>j * token + head, K);
      }
    }
  }
}

/** The backward pass of the one-query attention: the gradients of q, k and v from out's gradient g. */
export function targetBackward(
  q: usize,
  k: usize,
  v: usize,
  g: usize,
  weights: usize,
  dq: usize,
  dk: usize,
  dv: usize,
  S: i32,
  n: i32,
  H: i32,
  K: i32,
  scale: f32,
): void {
  const HK = H * K;
  const token = <usize>HK << 2;
  memory.fill(dq, 0, <usize>(S * n) * token);
  for (let c = 0; c < S * n; c++) {
    const rows = <usize>(c * n) * token;
    for (let h = 0; h < H; h++) {
      const head = <usize>(h * K) << 2;
      const qc = q + <usize>c * token + head, gc = g + <usize>c * token + head;
      const dqc = dq + <usize>c * token + head;
      const w = weights + (<usize>((c * H + h) * n) << 2);
      let r: f32 = 0;
      for (let j = 0; j < n; j++) {
        r += load<f32>(at(w, j)) * dot(gc, v + rows + <usize>j * token + head, K);
      }
      for (let j = 0; j < n; j++) {
        const at_j = rows + <usize>j * token + head;
        const wj = load<f32>(at(w, j));
        const ds: f32 = wj * (dot(gc, v + at_j, K) - r) * scale;
        axpy(dqc, ds, k + at_j, K);
        // dk_j = ds q, dv_j = w_j g: written, not accumulated (each slot once).
        memory.fill(dk + at_j, 0, <usize>K << 2);
        axpy(dk + at_j, ds, qc, K);
        memory.fill(dv + at_j, 0, <usize>K << 2);
        axpy(dv + at_j, wj, gc, K);
      }
    }
  }
}
