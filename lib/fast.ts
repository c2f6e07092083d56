/**
 * The fast training path: the same EFA, the same losses and gradients as
 * the reference per-example construction (`model.ts`) up to float32
 * rounding, several times the throughput. What it does differently:
 *
 * - **No padding.** Batches hold rows of one length only: whole sequences of
 *   one length (bidirectional models), or prefixes of one length
 *   (unidirectional `"prefix"` models, where example `i` is the prefix up to
 *   `i`). Within a batch no attention mask is needed at all.
 * - **All targets of a sequence in one pass** for unidirectional `"causal"`
 *   models, with two streams (as in XLNet): a content stream runs causal
 *   attention over the true tokens, and a query stream holds, at each
 *   position `i`, the masked token of example `i`, which attends to the
 *   content stream before `i` and to itself. Under a causal mask this is
 *   exactly what each per-example input shows its target.
 * - **The last layer only at the target**: its keys and values come from
 *   every token, its query, attention, residual and feed-forward block from
 *   the target row alone.
 * - **Fused projections** (one matmul for query, key and value) and dense
 *   layers with a hand-written gradient ({@link linear}) that avoids tfjs's
 *   slow transposed matmuls.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { afterAttention, embedTokens, type TokenRows } from "./_efa_parts.ts";
import type { TfScalar, TfTensor } from "./_types.ts";
import { type Example, listExamples, type Sequences } from "./data.ts";
import { categorical } from "./families.ts";
import { embeddingLookup, fastDense, linear, param } from "./layers.ts";
import type { EfaModel } from "./model.ts";
import type { SeedStream } from "./random.ts";

/** How a batch is computed: equal-length rows, or two streams over whole sequences. */
export type FastMode = "rows" | "streams";

/** A batch of the fast path: examples whose rows (or sequences) share one length. */
export interface FastBatch {
  /** How the batch is computed. */
  readonly mode: FastMode;
  /** Tokens per row (rows mode) or per sequence (streams mode). */
  readonly length: number;
  /** The examples, `[sequence, position]`. */
  readonly examples: readonly Example[];
}

/** Options of {@link planFastBatches}. */
export interface PlanOptions {
  /** Predictions per batch (the last batch of a length may be smaller). */
  readonly batchSize: number;
  /** Shuffles examples within each length and the order of batches (training); none for evaluation. */
  readonly rng?: SeedStream;
}

/**
 * Which fast computation a model uses: two streams for unidirectional
 * `"causal"` models, equal-length rows otherwise.
 *
 * @param model The model.
 * @returns The mode.
 *
 * @example The paper's unidirectional categorical EFA uses two streams
 * ```ts
 * import { createEfa, disposeModel, efaConfig, fastMode } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ direction: "unidirectional" }), { seed: 1 });
 * assert.equal(fastMode(model), "streams");
 * disposeModel(model);
 * ```
 */
export function fastMode(model: EfaModel): FastMode {
  const { direction, unidirectionalMask } = model.config;
  return direction === "unidirectional" && unidirectionalMask === "causal" ? "streams" : "rows";
}

function rowLength(model: EfaModel, data: Sequences, [s, pos]: Example): number {
  const bidirectional = model.config.direction === "bidirectional";
  return bidirectional ? data.items[s]!.length : pos + 1;
}

/**
 * Groups the examples of a data set into fast-path batches: rows of one
 * length, or whole sequences of one length for two streams.
 *
 * @param model The model.
 * @param data The sequences.
 * @param options The batch size and, for training, the shuffling stream.
 * @returns The batches.
 *
 * @example Every example lands in exactly one batch
 * ```ts
 * import { createEfa, disposeModel, efaConfig, planFastBatches } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * const batches = planFastBatches(model, { items: [[1, 2], [3, 4, 1], [2, 3]] }, { batchSize: 4 });
 * assert.deepEqual(batches.map((b) => [b.length, b.examples.length]), [[2, 4], [3, 3]]);
 * disposeModel(model);
 * ```
 */
export function planFastBatches(
  model: EfaModel,
  data: Sequences,
  options: PlanOptions,
): FastBatch[] {
  const mode = fastMode(model);
  const { batchSize, rng } = options;
  const batches: FastBatch[] = [];
  if (mode === "rows") {
    const byLength = new Map<number, Example[]>();
    for (const e of listExamples(data)) {
      const n = rowLength(model, data, e);
      (byLength.get(n) ?? byLength.set(n, []).get(n)!).push(e);
    }
    for (const n of [...byLength.keys()].sort((a, b) => a - b)) {
      const group = byLength.get(n)!;
      if (rng !== undefined) rng.shuffle(group);
      for (let i = 0; i < group.length; i += batchSize) {
        batches.push({ mode, length: n, examples: group.slice(i, i + batchSize) });
      }
    }
  } else {
    const byLength = new Map<number, number[]>();
    data.items.forEach((seq, s) => {
      if ((data.targets?.[s]?.length ?? seq.length) === 0) return;
      (byLength.get(seq.length) ?? byLength.set(seq.length, []).get(seq.length)!).push(s);
    });
    for (const n of [...byLength.keys()].sort((a, b) => a - b)) {
      const group = byLength.get(n)!;
      if (rng !== undefined) rng.shuffle(group);
      let examples: Example[] = [];
      for (const s of group) {
        const targets = data.targets?.[s] ?? Array.from({ length: n }, (_, i) => i);
        if (examples.length > 0 && examples.length + targets.length > batchSize) {
          batches.push({ mode, length: n, examples });
          examples = [];
        }
        for (let i = 0; i < targets.length; i++) examples.push([s, targets[i]!]);
      }
      if (examples.length > 0) batches.push({ mode, length: n, examples });
    }
  }
  if (rng !== undefined) rng.shuffle(batches);
  return batches;
}

/** The tensors of a fast batch and its labels. */
interface BatchTensors {
  /** Rows or sequences: items, values, lags `[R, T]`. */
  readonly rows: TokenRows;
  /** Rows mode: the masked position of each row `[E]`; streams mode: flat target index `s*n + pos` `[E]`. */
  readonly target: TfTensor;
  /** The observed item (class id) of each example `[E]`. */
  readonly itemLabel: TfTensor;
  /** The observed value of each example `[E]`, when values exist. */
  readonly valueLabel?: TfTensor;
}

function batchTensors(data: Sequences, batch: FastBatch): BatchTensors {
  const T = batch.length;
  const E = batch.examples.length;
  const withValues = data.values !== undefined, withLags = data.lags !== undefined;
  const itemLabel = new Int32Array(E), valueLabel = new Float32Array(E), target = new Int32Array(E);
  let sequences: number[];
  if (batch.mode === "rows") {
    sequences = batch.examples.map(([s]) => s);
    batch.examples.forEach(([, pos], e) => (target[e] = pos));
  } else {
    sequences = [...new Set(batch.examples.map(([s]) => s))];
    const index = new Map(sequences.map((s, i) => [s, i]));
    batch.examples.forEach(([s, pos], e) => (target[e] = index.get(s)! * T + pos));
  }
  const R = sequences.length;
  const items = new Int32Array(R * T), values = new Float32Array(withValues ? R * T : 0);
  const lags = new Int32Array(withLags ? R * T : 0);
  sequences.forEach((s, r) => {
    const seq = data.items[s]!, vs = data.values?.[s], ls = data.lags?.[s];
    for (let j = 0; j < T; j++) {
      items[r * T + j] = seq[j]!;
      if (withValues) values[r * T + j] = vs![j]!;
      if (withLags) lags[r * T + j] = ls![j]!;
    }
  });
  batch.examples.forEach(([s, pos], e) => {
    itemLabel[e] = data.items[s]![pos]! - 1;
    if (withValues) valueLabel[e] = data.values![s]![pos]!;
  });
  return {
    rows: {
      items: tf.tensor2d(items, [R, T], "int32"),
      values: withValues ? tf.tensor2d(values, [R, T], "float32") : undefined,
      lags: withLags ? tf.tensor2d(lags, [R, T], "int32") : undefined,
    },
    target: tf.tensor1d(target, "int32"),
    itemLabel: tf.tensor1d(itemLabel, "int32"),
    ...(withValues ? { valueLabel: tf.tensor1d(valueLabel, "float32") } : {}),
  };
}

function disposeTensors(t: BatchTensors): void {
  tf.dispose([t.rows.items, t.target, t.itemLabel]);
  t.rows.values?.dispose();
  t.rows.lags?.dispose();
  t.valueLabel?.dispose();
}

/** Query, key and value weights of layer `l`, fused `[W, 3HK]` (or key and value only). */
function fusedProjection(
  model: EfaModel,
  l: number,
  parts: readonly ("query" | "key" | "value")[],
): [TfTensor, TfTensor] {
  const p = model.params, name = `layer${l}.attention`;
  return [
    tf.concat(parts.map((q) => param(p, `${name}.${q}.kernel`)), 1), // [W, k*HK]
    tf.concat(parts.map((q) => param(p, `${name}.${q}.bias`)), 0), // [k*HK]
  ];
}

/** `[R, T, H*K] -> [R, H, T, K]`. */
function splitHeads(t: TfTensor, heads: number): TfTensor {
  const [R, T, HK] = t.shape as [number, number, number];
  return tf.transpose(tf.reshape(t, [R, T, heads, HK / heads]), [0, 2, 1, 3]);
}

/** `[R, H, T, K] -> [R, T, H*K]`. */
function mergeHeads(t: TfTensor): TfTensor {
  const [R, H, T, K] = t.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [R, T, H * K]);
}

/** Rows of `x` `[R, T, W]` at flat indices `r*T + t` `[E]`: `[E, W]`. */
function gatherRows(x: TfTensor, flat: TfTensor): TfTensor {
  const [R, T, W] = x.shape as [number, number, number];
  return embeddingLookup(tf.reshape(x, [R * T, W]), flat);
}

/** Multi-head self-attention over whole rows with an optional 0/1 mask `[T, T]`. */
function selfAttention(model: EfaModel, l: number, x: TfTensor, mask?: TfTensor): TfTensor {
  const { heads, keyDim } = model.config;
  const HK = heads * keyDim;
  const [w, b] = fusedProjection(model, l, ["query", "key", "value"]);
  const [q, k, v] = tf.split(linear(x, w, b), [HK, HK, HK], 2).map((t) => splitHeads(t, heads)); // [R, H, T, K]
  let logits = tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(keyDim)); // [R, H, T, T]
  if (mask !== undefined) {
    logits = tf.where(tf.cast(mask, "bool"), logits, tf.fill(logits.shape, -1e9));
  }
  const out = mergeHeads(tf.matMul(tf.softmax(logits), v!)); // [R, T, HK]
  return fastDense(model.params, `layer${l}.attention.output`, out); // [R, T, W]
}

/** Attention of one query per row (the target, `xt` `[E, W]`) over all tokens of its row `x` `[E, T, W]`. */
function targetAttention(model: EfaModel, l: number, x: TfTensor, xt: TfTensor): TfTensor {
  const { heads, keyDim } = model.config;
  const HK = heads * keyDim;
  const E = xt.shape[0]!;
  const [wkv, bkv] = fusedProjection(model, l, ["key", "value"]);
  const [k, v] = tf.split(linear(x, wkv, bkv), [HK, HK], 2).map((t) => splitHeads(t, heads)); // [E, H, T, K]
  const q = tf.reshape(fastDense(model.params, `layer${l}.attention.query`, xt), [
    E,
    heads,
    1,
    keyDim,
  ]); // [E, H, 1, K]
  const weights = tf.softmax(tf.mul(tf.matMul(q, k!, false, true), 1 / Math.sqrt(keyDim))); // [E, H, 1, T]
  const out = tf.reshape(tf.matMul(weights, v!), [E, HK]); // [E, HK]
  return fastDense(model.params, `layer${l}.attention.output`, out); // [E, W]
}

/** The final representation at each row's target: equal-length rows, the last layer at the target only. */
function encodeRows(model: EfaModel, t: BatchTensors, maskItem: boolean): TfTensor {
  const L = model.config.layers;
  const [R, T] = t.rows.items.shape as [number, number];
  const maskAt = tf.equal(
    tf.reshape(tf.range(0, T, 1, "int32"), [1, T]),
    tf.reshape(t.target, [R, 1]),
  ); // [R, T]
  let x = embedTokens(model, t.rows, maskAt, maskItem, fastDense); // [R, T, W]
  for (let l = 0; l < L - 1; l++) {
    x = afterAttention(model, l, x, selfAttention(model, l, x), fastDense);
  }
  const flat = tf.add(tf.mul(tf.range(0, R, 1, "int32"), tf.scalar(T, "int32")), t.target); // [R]
  const xt = gatherRows(x, flat); // [R, W]
  return afterAttention(model, L - 1, xt, targetAttention(model, L - 1, x, xt), fastDense); // [R, W]
}

/**
 * Two-stream attention for unidirectional causal models: the final query
 * stream at every target, all targets of each sequence in one pass.
 */
function encodeStreams(model: EfaModel, t: BatchTensors, maskItem: boolean): TfTensor {
  const { layers: L, heads, keyDim } = model.config;
  const HK = heads * keyDim;
  const [S, n] = t.rows.items.shape as [number, number];
  const scale = 1 / Math.sqrt(keyDim);
  const row = tf.reshape(tf.range(0, n, 1, "int32"), [n, 1]),
    col = tf.reshape(tf.range(0, n, 1, "int32"), [1, n]);
  const before = tf.less(col, row); // [n, n] key j strictly before query i
  const upTo = tf.lessEqual(col, row); // [n, n] causal: j <= i
  const diagonal = tf.cast(tf.equal(col, row), "float32"); // [n, n]
  let content = embedTokens(model, t.rows, null, false, fastDense); // [S, n, W] the true tokens
  let query = embedTokens(model, t.rows, tf.fill([S, n], 1, "bool"), maskItem, fastDense); // [S, n, W] masked tokens
  for (let l = 0; l < L; l++) {
    const last = l === L - 1;
    const [wc, bc] = fusedProjection(model, l, last ? ["key", "value"] : ["query", "key", "value"]);
    const contentParts = tf.split(linear(content, wc, bc), last ? [HK, HK] : [HK, HK, HK], 2)
      .map((p) => splitHeads(p, heads)); // [S, H, n, K] each
    const [kc, vc] = last ? contentParts : contentParts.slice(1);
    const [wq, bq] = fusedProjection(model, l, ["query", "key", "value"]);
    const [qg, kg, vg] = tf.split(linear(query, wq, bq), [HK, HK, HK], 2).map((p) =>
      splitHeads(p, heads)
    ); // [S, H, n, K]
    // Query stream: target i attends to content tokens j < i and to its own masked token.
    const cross = tf.mul(tf.matMul(qg!, kc!, false, true), scale); // [S, H, n, n]
    const self = tf.mul(tf.sum(tf.mul(qg!, kg!), -1, true), scale); // [S, H, n, 1]
    const isSelf = tf.broadcastTo(tf.cast(diagonal, "bool"), cross.shape);
    const logits = tf.where(
      tf.broadcastTo(before, cross.shape),
      cross,
      tf.where(isSelf, tf.broadcastTo(self, cross.shape), tf.fill(cross.shape, -1e9)),
    ); // [S, H, n, n]: content before i, the own masked token on the diagonal
    const weights = tf.softmax(logits); // [S, H, n, n]
    const selfWeight = tf.sum(tf.mul(weights, diagonal), -1, true); // [S, H, n, 1]
    const attended = tf.add(
      tf.matMul(tf.mul(weights, tf.sub(1, diagonal)), vc!),
      tf.mul(selfWeight, vg!),
    ); // [S, H, n, K]
    const nextQuery = afterAttention(
      model,
      l,
      query,
      fastDense(model.params, `layer${l}.attention.output`, mergeHeads(attended)),
      fastDense,
    );
    if (!last) {
      // Content stream: causal self-attention over the true tokens.
      const [qc] = contentParts;
      let cl = tf.mul(tf.matMul(qc!, kc!, false, true), scale); // [S, H, n, n]
      cl = tf.where(tf.broadcastTo(upTo, cl.shape), cl, tf.fill(cl.shape, -1e9));
      const out = mergeHeads(tf.matMul(tf.softmax(cl), vc!)); // [S, n, HK]
      content = afterAttention(
        model,
        l,
        content,
        fastDense(model.params, `layer${l}.attention.output`, out),
        fastDense,
      );
    }
    query = nextQuery;
  }
  return gatherRows(query, t.target); // [E, W]
}

/** What the fast path computes for a batch: natural parameters and labels per example. */
export interface FastOutput {
  /** Item logits `[E, J]` (item and joint models). */
  readonly itemEta?: TfTensor;
  /** Value natural parameters `[E, natural]` (value and joint models). */
  readonly valueEta?: TfTensor;
  /** The observed item (class id) of each example `[E]`. */
  readonly itemLabel: TfTensor;
  /** The observed value of each example `[E]`, when values exist. */
  readonly valueLabel?: TfTensor;
}

function valueHead(model: EfaModel, h: TfTensor): TfTensor {
  let x = h; // [E, W]
  model.config.head.forEach((_, i) => (x = tf.relu(fastDense(model.params, `head${i}`, x)))); // [E, hidden]
  return model.family!.naturalParameter(fastDense(model.params, "valueOutput", x)); // [E, natural]
}

/**
 * The fast forward pass of one batch: natural parameters and labels of its
 * examples, in the batch's order. The caller disposes the tensors.
 *
 * @param model An EFA model.
 * @param data The sequences the batch refers to.
 * @param batch The batch (see {@link planFastBatches}).
 * @returns Natural parameters and labels.
 *
 * @example Logits of one batch
 * ```ts
 * import { createEfa, disposeModel, efaConfig, fastForward, planFastBatches } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * const data = { items: [[1, 2, 3]] };
 * const [batch] = planFastBatches(model, data, { batchSize: 8 });
 * const out = fastForward(model, data, batch!);
 * assert.deepEqual(out.itemEta!.shape, [3, 4]);
 * tf.dispose([out.itemEta!, out.itemLabel]);
 * disposeModel(model);
 * ```
 */
export function fastForward(model: EfaModel, data: Sequences, batch: FastBatch): FastOutput {
  const t = batchTensors(data, batch);
  const encode = batch.mode === "rows" ? encodeRows : encodeStreams;
  const target = model.config.target;
  try {
    return tf.tidy(() => {
      const out: {
        itemEta?: TfTensor;
        valueEta?: TfTensor;
        itemLabel: TfTensor;
        valueLabel?: TfTensor;
      } = {
        itemLabel: tf.clone(t.itemLabel),
      };
      if (t.valueLabel !== undefined) out.valueLabel = tf.clone(t.valueLabel);
      if (target !== "value") {
        out.itemEta = fastDense(model.params, "itemOutput", encode(model, t, true)); // [E, J]
      }
      if (target !== "item") out.valueEta = valueHead(model, encode(model, t, false)); // [E, natural]
      return out;
    });
  } finally {
    disposeTensors(t);
  }
}

/**
 * The training objective of a fast batch: the mean over its examples of the
 * summed loss terms (the same number as `batchLoss` on the reference batch of
 * the same examples, up to float32 rounding).
 *
 * @param model An EFA model.
 * @param data The sequences.
 * @param batch The batch.
 * @returns A scalar.
 *
 * @example The mean loss of a batch
 * ```ts
 * import { createEfa, disposeModel, efaConfig, fastBatchLoss, planFastBatches } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * const data = { items: [[1, 2, 3]] };
 * const [batch] = planFastBatches(model, data, { batchSize: 8 });
 * assert.ok(Math.abs(fastBatchLoss(model, data, batch!).dataSync()[0]! - Math.log(4)) < 0.1);
 * disposeModel(model);
 * ```
 */
export function fastBatchLoss(model: EfaModel, data: Sequences, batch: FastBatch): TfScalar {
  return tf.tidy(() => {
    const out = fastForward(model, data, batch);
    let total: TfTensor | undefined;
    if (out.itemEta !== undefined) {
      total = categorical(model.config.numItems).loss(out.itemLabel, out.itemEta);
    }
    if (out.valueEta !== undefined) {
      const v = model.family!.loss(out.valueLabel!, out.valueEta);
      total = total === undefined ? v : tf.add(total, v);
    }
    return tf.mean(total!) as TfScalar;
  });
}
