/**
 * The fast training path: the same EFA, the same losses and gradients as
 * the reference per-example construction (`model.ts`) up to float32
 * rounding, several times the throughput. What it does differently:
 *
 * - **No attention mask for padding.** Batches hold rows of one length only:
 *   whole sequences of one length (bidirectional models), or prefixes of one
 *   length (unidirectional `"prefix"` models, where example `i` is the prefix
 *   up to `i`). The two-stream causal mode (below) mixes lengths in training
 *   batches and pads at the end, which the causal mask already hides.
 * - **Masked copies share their first layer** (bidirectional models): the
 *   copies of a sequence with one position masked differ in one token, so the
 *   first layer's projections are computed once for the true and once for the
 *   masked tokens, and every copy's attention logits are assembled from three
 *   per-sequence products (the true tokens' `Q K^T`, and the replaced row and
 *   column). Sequences with few targets use plain rows instead.
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
import type { Example, Sequences } from "./data.ts";
import { categorical } from "./families.ts";
import { embeddingLookup, fastDense, linear, param, softmaxOver } from "./layers.ts";
import type { EfaModel } from "./model.ts";
import type { SeedStream } from "./random.ts";

/**
 * How a batch is computed: `"rows"` (one row per example, rows of one
 * length), `"copies"` (bidirectional: every position of whole sequences
 * masked in turn, the first layer shared across the masked copies), or
 * `"streams"` (unidirectional causal: two streams over whole sequences).
 */
export type FastMode = "rows" | "copies" | "streams";

/**
 * A batch of the fast path: examples whose rows (or sequences) share one
 * length; in the two-stream mode, training batches mix lengths and shorter
 * sequences are padded to the longest.
 */
export interface FastBatch {
  /** How the batch is computed. */
  readonly mode: FastMode;
  /** Tokens per row (rows mode) or per sequence (copies mode; the longest sequence in streams mode). */
  readonly length: number;
  /** The examples, `[sequence, position]`. */
  readonly examples: readonly Example[];
}

/**
 * The longest sequence computed as masked copies: copies hold `[n, n, n]`
 * logits per head and sequence, so longer sequences use one row per example.
 */
export const MAX_COPIES_LENGTH = 48;

/** Options of {@link planFastBatches}. */
export interface PlanOptions {
  /** Predictions per batch (the last batch of a length may be smaller). */
  readonly batchSize: number;
  /** Shuffles examples within each length and the order of batches; evaluation passes none (training uses {@link planFastSteps}). */
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
  const { batchSize, rng } = options;
  const batches: FastBatch[] = [];
  const bidirectional = model.config.direction === "bidirectional";
  const targetsOf = (s: number): ArrayLike<number> =>
    data.targets?.[s] ?? Array.from({ length: data.items[s]!.length }, (_, i) => i);
  // Whole sequences (two streams, or masked copies when at least half the positions are targets).
  const whole = new Map<number, number[]>();
  const rows = new Map<number, Example[]>();
  const wholeMode: FastMode = fastMode(model) === "streams" ? "streams" : "copies";
  data.items.forEach((seq, s) => {
    const targets = targetsOf(s);
    if (targets.length === 0) return;
    const n = seq.length;
    if (
      wholeMode === "streams" ||
      (bidirectional && 2 * targets.length >= n && n <= MAX_COPIES_LENGTH)
    ) {
      (whole.get(n) ?? whole.set(n, []).get(n)!).push(s);
    } else {
      for (let i = 0; i < targets.length; i++) {
        const pos = targets[i]!;
        const length = bidirectional ? n : pos + 1;
        (rows.get(length) ?? rows.set(length, []).get(length)!).push([s, pos]);
      }
    }
  });
  for (const n of [...rows.keys()].sort((a, b) => a - b)) {
    const group = rows.get(n)!;
    if (rng !== undefined) rng.shuffle(group);
    for (let i = 0; i < group.length; i += batchSize) {
      batches.push({ mode: "rows", length: n, examples: group.slice(i, i + batchSize) });
    }
  }
  for (const n of [...whole.keys()].sort((a, b) => a - b)) {
    const group = whole.get(n)!;
    if (rng !== undefined) rng.shuffle(group);
    let examples: Example[] = [];
    for (const s of group) {
      const targets = targetsOf(s);
      if (examples.length > 0 && examples.length + targets.length > batchSize) {
        batches.push({ mode: wholeMode, length: n, examples });
        examples = [];
      }
      for (let i = 0; i < targets.length; i++) examples.push([s, targets[i]!]);
    }
    if (examples.length > 0) batches.push({ mode: wholeMode, length: n, examples });
  }
  if (rng !== undefined) rng.shuffle(batches);
  return batches;
}

/** Options of {@link planFastSteps}. */
export interface StepOptions {
  /** Predictions per step (a sequence with more targets is a step of its own). */
  readonly batchSize: number;
  /** The order of sequences and examples. */
  readonly rng: SeedStream;
  /**
   * What a step draws: `"sequences"` (default) keeps the examples of a whole
   * sequence together where the fast path computes whole sequences;
   * `"examples"` draws single examples, as the notebooks' shuffled batches
   * do, computed as rows (slower where copies would share work, but steps
   * are not made of a few sequences whose examples are alike: the
   * temperature table's days). Unidirectional `"prefix"` models always draw
   * examples; `"causal"` ones always draw sequences (two streams), and
   * `"examples"` is an error for them.
   */
  readonly draw?: "sequences" | "examples";
}

/**
 * Plans one training epoch of the fast path: each optimisation step holds a
 * uniformly drawn set of examples, as the notebooks' shuffled batches do
 * (whole sequences where the fast path computes whole sequences), and is
 * computed as one or more fast batches of one length whose weighted
 * gradients add up to the step's gradient. The two-stream mode pads instead
 * (exact under the causal mask). Steps of one length only, the plan of
 * {@link planFastBatches}, train measurably slower per epoch: on MovieLens
 * experiment 1 their validation loss after 20 epochs was 3.756 against the
 * notebooks' 3.691 (mixed steps: 3.693).
 *
 * @param model The model.
 * @param data The sequences.
 * @param options The batch size and the shuffling stream.
 * @returns The steps, each a list of batches.
 *
 * @example Every example lands in exactly one step
 * ```ts
 * import { createEfa, disposeModel, efaConfig, planFastSteps, SeedStream } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * const data = { items: [[1, 2], [3, 4, 1], [2, 3], [4]] };
 * const steps = planFastSteps(model, data, { batchSize: 4, rng: new SeedStream(1) });
 * const examples = steps.flat().flatMap((b) => b.examples);
 * assert.equal(examples.length, 8);
 * disposeModel(model);
 * ```
 */
export function planFastSteps(
  model: EfaModel,
  data: Sequences,
  options: StepOptions,
): FastBatch[][] {
  const { batchSize, rng, draw = "sequences" } = options;
  if (draw !== "sequences" && draw !== "examples") {
    throw new RangeError(
      `planFastSteps: expected draw "sequences" or "examples", got ${JSON.stringify(draw)}`,
    );
  }
  const bidirectional = model.config.direction === "bidirectional";
  const streams = fastMode(model) === "streams";
  if (streams && draw === "examples") {
    throw new RangeError(
      'planFastSteps: draw "examples" needs a bidirectional or unidirectional "prefix" model; ' +
        'a "causal" model trains whole sequences as two streams',
    );
  }
  // Units drawn together: whole sequences (two streams, masked copies) or single examples (rows).
  const units: { readonly whole: boolean; readonly examples: Example[] }[] = [];
  data.items.forEach((seq, s) => {
    const targets = data.targets?.[s] ?? Array.from({ length: seq.length }, (_, i) => i);
    if (targets.length === 0) return;
    const n = seq.length;
    const examples = Array.from(targets, (pos): Example => [s, pos]);
    const copies = draw === "sequences" && bidirectional && 2 * targets.length >= n &&
      n <= MAX_COPIES_LENGTH;
    if (streams || copies) units.push({ whole: true, examples });
    else examples.forEach((e) => units.push({ whole: false, examples: [e] }));
  });
  rng.shuffle(units);
  const steps: FastBatch[][] = [];
  let current: typeof units = [];
  let count = 0;
  const flush = (): void => {
    if (current.length === 0) return;
    if (streams) {
      const examples = current.flatMap((u) => u.examples);
      const length = Math.max(...examples.map(([s]) => data.items[s]!.length));
      steps.push([{ mode: "streams", length, examples }]);
    } else {
      const groups = new Map<string, FastBatch>();
      for (const u of current) {
        const [s, pos] = u.examples[0]!;
        const n = data.items[s]!.length;
        const mode: FastMode = u.whole ? "copies" : "rows";
        const length = u.whole || bidirectional ? n : pos + 1;
        const key = `${mode}:${length}`;
        const b = groups.get(key) ?? groups.set(key, { mode, length, examples: [] }).get(key)!;
        (b.examples as Example[]).push(...u.examples);
      }
      steps.push([...groups.values()]);
    }
    current = [];
    count = 0;
  };
  for (const u of units) {
    if (count > 0 && count + u.examples.length > batchSize) flush();
    current.push(u);
    count += u.examples.length;
  }
  flush();
  return steps;
}

/**
 * The largest number of floats one chunk of a fast batch may hold in its
 * biggest intermediate tensors (attention weights, per-token activations).
 * The wasm heap is limited to a few gigabytes, so big batches (the temperature
 * tables train full-batch) are computed in chunks whose gradients are summed.
 */
export const MAX_CHUNK_ELEMENTS = 2_000_000;

/** The widest per-token activation of a model (model width, feed-forward, MLP hidden layers). */
function widest(model: EfaModel): number {
  const c = model.config;
  const widths = [c.itemEmbedding.dim, c.feedForward, c.heads * c.keyDim * 3, ...c.head];
  if (c.itemEmbedding.kind === "mlp") widths.push(c.itemEmbedding.hidden);
  if (c.valueEmbedding.kind !== "none") widths.push(c.valueEmbedding.dim);
  if (c.valueEmbedding.kind === "mlp") widths.push(c.valueEmbedding.hidden);
  if (c.tokenMixer !== null) widths.push(c.tokenMixer.hidden, c.tokenMixer.dim);
  return Math.max(...widths);
}

/**
 * Splits a fast batch into chunks small enough for memory (see
 * {@link MAX_CHUNK_ELEMENTS}), keeping whole sequences together in the copies
 * and streams modes. The batch's loss is the example-weighted mean of its
 * chunks' losses, so summing the chunks' weighted gradients gives exactly the
 * batch's gradient.
 *
 * @param model The model.
 * @param batch The batch.
 * @param maxElements The budget per chunk.
 * @returns One or more chunks, in order.
 *
 * @example A small batch stays whole
 * ```ts
 * import { createEfa, disposeModel, efaConfig, planFastBatches, splitFastBatch } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * const data = { items: [[1, 2, 3], [2, 3, 4], [3, 4, 1]] };
 * const [batch] = planFastBatches(model, data, { batchSize: 9 }); // three whole sequences
 * assert.equal(splitFastBatch(model, batch!).length, 1);
 * assert.equal(splitFastBatch(model, batch!, 10).length, 3); // one sequence per chunk
 * disposeModel(model);
 * ```
 */
export function splitFastBatch(
  model: EfaModel,
  batch: FastBatch,
  maxElements: number = MAX_CHUNK_ELEMENTS,
): FastBatch[] {
  const n = batch.length, H = model.config.heads, width = widest(model);
  if (batch.mode === "rows") {
    const perExample = n * (H * n + width);
    const size = Math.max(1, Math.floor(maxElements / perExample));
    if (batch.examples.length <= size) return [batch];
    const chunks: FastBatch[] = [];
    for (let i = 0; i < batch.examples.length; i += size) {
      chunks.push({ ...batch, examples: batch.examples.slice(i, i + size) });
    }
    return chunks;
  }
  const perSequence = batch.mode === "copies" ? n * n * (H * n + width) : n * (H * n + width);
  const sequencesPerChunk = Math.max(1, Math.floor(maxElements / perSequence));
  const chunks: FastBatch[] = [];
  let current: Example[] = [];
  let sequences = 0, last = -1;
  for (const e of batch.examples) {
    if (e[0] !== last) {
      if (sequences === sequencesPerChunk) {
        chunks.push({ ...batch, examples: current });
        current = [];
        sequences = 0;
      }
      sequences++;
      last = e[0];
    }
    current.push(e);
  }
  if (current.length > 0) chunks.push({ ...batch, examples: current });
  return chunks;
}

/** The tensors of a fast batch and its labels. */
interface BatchTensors {
  /** Rows or sequences: items, values, lags `[R, T]`. */
  readonly rows: TokenRows;
  /** Rows mode: the masked position of each row `[E]`; streams mode: flat target index `s*n + pos` `[E]`. */
  readonly target: TfTensor;
  /** Rows mode: 1 at each row's masked position, `[E, T]` (bool and float). */
  readonly maskAt?: { readonly bool: TfTensor; readonly float: TfTensor };
  /** Whole-sequence modes: each example's flat position `s*n + pos` `[E]`, or `null` when that is `0..E-1`. */
  readonly selector?: TfTensor | null;
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
    // Shorter sequences of a two-stream batch are padded with zeros (pad item 0).
    for (let j = 0; j < Math.min(T, seq.length); j++) {
      items[r * T + j] = seq[j]!;
      if (withValues) values[r * T + j] = vs![j]!;
      if (withLags) lags[r * T + j] = ls![j]!;
    }
  });
  batch.examples.forEach(([s, pos], e) => {
    itemLabel[e] = data.items[s]![pos]! - 1;
    if (withValues) valueLabel[e] = data.values![s]![pos]!;
  });
  let maskAt: { bool: TfTensor; float: TfTensor } | undefined;
  let selector: TfTensor | null | undefined;
  if (batch.mode === "rows") {
    const m = new Float32Array(E * T);
    batch.examples.forEach(([, pos], e) => (m[e * T + pos] = 1));
    const float = tf.tensor2d(m, [E, T]);
    maskAt = { bool: tf.cast(float, "bool"), float };
  } else {
    const identity = E === R * T && target.every((flat, e) => flat === e);
    selector = identity ? null : tf.tensor1d(target, "int32");
  }
  return {
    ...(maskAt === undefined ? {} : { maskAt }),
    ...(selector === undefined ? {} : { selector }),
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
  if (t.maskAt !== undefined) tf.dispose([t.maskAt.bool, t.maskAt.float]);
  t.selector?.dispose();
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

/** Per-length constants of the two-stream attention, built once and kept. */
interface StreamConstants {
  /** 1 on the diagonal, `[n, n]`. */
  readonly diagonal: TfTensor;
  /** 1 off the diagonal, `[n, n]`. */
  readonly offDiagonal: TfTensor;
  /** 0 where key j <= query i, -1e9 after: `[n, n]`. */
  readonly causalBias: TfTensor;
}

/** Per-length constants of the masked copies: which entries of copy i's logits `[n(i), n(j), n(l)]` come from where. */
interface CopyConstants {
  /** 1 on the diagonal `[n(i), n(j)]`: query j is copy i's masked position. */
  readonly diagonal: TfTensor;
  /** 1 off the diagonal `[n, n]`. */
  readonly offDiagonalOf: TfTensor;
  /** Neither query j nor key l is the masked position i. */
  readonly neither: TfTensor;
  /** Key l is the masked position, query j is not. */
  readonly keyOnly: TfTensor;
  /** Query j is the masked position, key l is not. */
  readonly queryOnly: TfTensor;
  /** Both are the masked position. */
  readonly both: TfTensor;
  /** Key l is the masked position (any query). */
  readonly keyIsMasked: TfTensor;
}

const streamConstants = new Map<number, StreamConstants>();

function constantsFor(n: number): StreamConstants {
  let c = streamConstants.get(n);
  if (c === undefined) {
    const diagonal = new Float32Array(n * n),
      offDiagonal = new Float32Array(n * n),
      causal = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        diagonal[i * n + j] = i === j ? 1 : 0;
        offDiagonal[i * n + j] = i === j ? 0 : 1;
        causal[i * n + j] = j <= i ? 0 : -1e9;
      }
    }
    c = {
      diagonal: tf.keep(tf.tensor2d(diagonal, [n, n])),
      offDiagonal: tf.keep(tf.tensor2d(offDiagonal, [n, n])),
      causalBias: tf.keep(tf.tensor2d(causal, [n, n])),
    };
    streamConstants.set(n, c);
  }
  return c;
}

const copyConstants = new Map<number, CopyConstants>();

/**
 * Frees the per-length constant tensors the fast path keeps between batches
 * (masks of the two streams and of the masked copies). They are rebuilt on
 * demand; call this when done training to return every tensor.
 *
 * @example Release the constants
 * ```ts
 * import { clearFastCache } from "@efa/efa";
 *
 * clearFastCache();
 * ```
 */
export function clearFastCache(): void {
  for (const c of streamConstants.values()) tf.dispose(Object.values(c));
  for (const c of copyConstants.values()) tf.dispose(Object.values(c));
  streamConstants.clear();
  copyConstants.clear();
}

function copyConstantsFor(n: number): CopyConstants {
  let c = copyConstants.get(n);
  if (c === undefined) {
    const cube = (f: (i: number, j: number, l: number) => boolean): TfTensor => {
      const out = new Float32Array(n * n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          for (let l = 0; l < n; l++) out[(i * n + j) * n + l] = f(i, j, l) ? 1 : 0;
        }
      }
      return tf.keep(tf.tensor3d(out, [n, n, n]));
    };
    c = {
      diagonal: tf.keep(tf.tidy(() => tf.eye(n))),
      offDiagonalOf: tf.keep(tf.tidy(() => tf.sub(1, tf.eye(n)))),
      neither: cube((i, j, l) => j !== i && l !== i),
      keyOnly: cube((i, j, l) => j !== i && l === i),
      queryOnly: cube((i, j, l) => j === i && l !== i),
      both: cube((i, j, l) => j === i && l === i),
      keyIsMasked: cube((i, _j, l) => l === i),
    };
    copyConstants.set(n, c);
  }
  return c;
}

/** `[R, T, H*K] -> [R*H, T, K]` (heads merged into the batch: 3-D batched matmuls are faster in tfjs). */
function headsAsBatch(t: TfTensor, heads: number): TfTensor {
  const [R, T, HK] = t.shape as [number, number, number];
  return tf.reshape(tf.transpose(tf.reshape(t, [R, T, heads, HK / heads]), [0, 2, 1, 3]), [
    R * heads,
    T,
    HK / heads,
  ]);
}

/** `[R*H, T, K] -> [R, T, H*K]`. */
function batchAsHeads(t: TfTensor, heads: number): TfTensor {
  const [RH, T, K] = t.shape as [number, number, number];
  return tf.reshape(tf.transpose(tf.reshape(t, [RH / heads, heads, T, K]), [0, 2, 1, 3]), [
    RH / heads,
    T,
    heads * K,
  ]);
}

/** Multi-head self-attention over whole rows (no mask: every token of a row is real). */
function selfAttention(model: EfaModel, l: number, x: TfTensor): TfTensor {
  const { heads, keyDim } = model.config;
  const HK = heads * keyDim;
  const [w, b] = fusedProjection(model, l, ["query", "key", "value"]);
  const [q, k, v] = tf.split(linear(x, w, b), [HK, HK, HK], 2).map((t) => headsAsBatch(t, heads)); // [R*H, T, K]
  const weights = tf.softmax(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(keyDim))); // [R*H, T, T]
  const out = batchAsHeads(tf.matMul(weights, v!), heads); // [R, T, HK]
  return fastDense(model.params, `layer${l}.attention.output`, out); // [R, T, W]
}

/** Attention of one query per row (the target, `xt` `[E, W]`) over all tokens of its row `x` `[E, T, W]`. */
function targetAttention(model: EfaModel, l: number, x: TfTensor, xt: TfTensor): TfTensor {
  const { heads, keyDim } = model.config;
  const HK = heads * keyDim;
  const E = xt.shape[0]!;
  const [wkv, bkv] = fusedProjection(model, l, ["key", "value"]);
  const [k, v] = tf.split(linear(x, wkv, bkv), [HK, HK], 2).map((t) => headsAsBatch(t, heads)); // [E*H, T, K]
  const q = tf.reshape(fastDense(model.params, `layer${l}.attention.query`, xt), [
    E * heads,
    1,
    keyDim,
  ]); // [E*H, 1, K]
  const weights = tf.softmax(tf.mul(tf.matMul(q, k!, false, true), 1 / Math.sqrt(keyDim))); // [E*H, 1, T]
  const out = tf.reshape(tf.matMul(weights, v!), [E, HK]); // [E, HK]
  return fastDense(model.params, `layer${l}.attention.output`, out); // [E, W]
}

/** The final representation at each row's target: equal-length rows, the last layer at the target only. */
function encodeRows(model: EfaModel, t: BatchTensors, maskItem: boolean): TfTensor {
  const L = model.config.layers;
  let x = embedTokens(model, t.rows, t.maskAt!.bool, maskItem, fastDense); // [R, T, W]
  for (let l = 0; l < L - 1; l++) {
    x = afterAttention(model, l, x, selfAttention(model, l, x), fastDense);
  }
  const xt = tf.sum(tf.mul(x, tf.expandDims(t.maskAt!.float, 2)), 1); // [R, W] the target rows
  return afterAttention(model, L - 1, xt, targetAttention(model, L - 1, x, xt), fastDense); // [R, W]
}

/** The rows `[E, W]` of `x` `[S, n, W]` at the examples' flat positions (all of them, in order, when `null`). */
function selectTargets(x: TfTensor, selector: TfTensor | null): TfTensor {
  const [S, n, W] = x.shape as [number, number, number];
  const flat = tf.reshape(x, [S * n, W]); // [S*n, W]
  return selector === null ? flat : embeddingLookup(flat, selector); // [E, W]
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
  const { diagonal, offDiagonal, causalBias } = constantsFor(n); // [n, n]
  let content = embedTokens(model, t.rows, null, false, fastDense); // [S, n, W] the true tokens
  let query = embedTokens(model, t.rows, tf.fill([S, n], 1, "bool"), maskItem, fastDense); // [S, n, W] masked tokens
  for (let l = 0; l < L; l++) {
    const last = l === L - 1;
    const [wc, bc] = fusedProjection(model, l, last ? ["key", "value"] : ["query", "key", "value"]);
    const contentParts = tf.split(linear(content, wc, bc), last ? [HK, HK] : [HK, HK, HK], 2)
      .map((p) => headsAsBatch(p, heads)); // [S*H, n, K] each
    const [kc, vc] = last ? contentParts : contentParts.slice(1);
    const [wq, bq] = fusedProjection(model, l, ["query", "key", "value"]);
    const [qg, kg, vg] = tf.split(linear(query, wq, bq), [HK, HK, HK], 2).map((p) =>
      headsAsBatch(p, heads)
    ); // [S*H, n, K]
    // Query stream: target i attends to the content tokens j < i and, on the diagonal, to its own masked token.
    const cross = tf.mul(tf.matMul(qg!, kc!, false, true), scale); // [S*H, n, n]
    const self = tf.mul(tf.sum(tf.mul(qg!, kg!), -1, true), scale); // [S*H, n, 1]
    const logits = tf.add(tf.add(tf.mul(cross, offDiagonal), tf.mul(self, diagonal)), causalBias); // [S*H, n, n]
    const weights = tf.softmax(logits); // [S*H, n, n]
    const selfWeight = tf.sum(tf.mul(weights, diagonal), -1, true); // [S*H, n, 1]
    const attended = tf.add(tf.matMul(tf.mul(weights, offDiagonal), vc!), tf.mul(selfWeight, vg!)); // [S*H, n, K]
    const out = fastDense(
      model.params,
      `layer${l}.attention.output`,
      batchAsHeads(attended, heads),
    ); // [S, n, W]
    const nextQuery = afterAttention(model, l, query, out, fastDense);
    if (!last) {
      // Content stream: causal self-attention over the true tokens.
      const [qc] = contentParts;
      const cl = tf.add(tf.mul(tf.matMul(qc!, kc!, false, true), scale), causalBias); // [S*H, n, n]
      const outC = batchAsHeads(tf.matMul(tf.softmax(cl), vc!), heads); // [S, n, HK]
      content = afterAttention(
        model,
        l,
        content,
        fastDense(model.params, `layer${l}.attention.output`, outC),
        fastDense,
      );
    }
    query = nextQuery;
  }
  return selectTargets(query, t.selector!); // [E, W] each example's position
}

/**
 * Masked copies of whole sequences (bidirectional models): copy `i` of a
 * sequence is the sequence with position `i` masked. The first layer is shared:
 * projections of the true and of the masked tokens are computed once per
 * sequence, and copy `i`'s logits are the true tokens' `Q K^T` with row `i`
 * and column `i` replaced. Returns the final representation at every target.
 */
function encodeCopies(model: EfaModel, t: BatchTensors, maskItem: boolean): TfTensor {
  const { layers: L, heads: H, keyDim: K } = model.config;
  const HK = H * K;
  const [S, n] = t.rows.items.shape as [number, number];
  const scale = 1 / Math.sqrt(K);
  const c = copyConstantsFor(n);
  const p = model.params;
  const trueTokens = embedTokens(model, t.rows, null, false, fastDense); // [S, n, W]
  const W = trueTokens.shape[2]!;
  const maskedTokens = embedTokens(model, t.rows, tf.fill([S, n], 1, "bool"), maskItem, fastDense); // [S, n, W]
  const [wqkv, bqkv] = fusedProjection(model, 0, ["query", "key", "value"]);
  const projected = linear(trueTokens, wqkv, bqkv); // [S, n, 3HK]
  const projectedMasked = linear(maskedTokens, wqkv, bqkv); // [S, n, 3HK]
  // Head h's query, key or value: a column slice, no transpose. part 0 = query, 1 = key, 2 = value.
  const head = (x: TfTensor, part: number, h: number): TfTensor =>
    tf.slice(x, [0, 0, part * HK + h * K], [S, n, K]); // [S, n, K]
  const outputKernel = param(p, "layer0.attention.output.kernel"); // [HK, W]

  let last: TfTensor; // the final representation at each copy's masked position, [S, n(i), W]
  if (L === 1) {
    // Only copy i's masked query matters: keys are the true tokens except the masked one at i.
    const perHead: TfTensor[] = [];
    for (let h = 0; h < H; h++) {
      const qm = head(projectedMasked, 0, h),
        km = head(projectedMasked, 1, h),
        vm = head(projectedMasked, 2, h);
      const rowReplaced = tf.matMul(qm, head(projected, 1, h), false, true); // [S, n(i), n(l)]
      const selfMasked = tf.sum(tf.mul(qm, km), -1, true); // [S, n(i), 1]
      const logits = tf.mul(
        tf.add(tf.mul(rowReplaced, c.offDiagonalOf), tf.mul(selfMasked, c.diagonal)),
        scale,
      );
      const weights = tf.softmax(logits); // [S, n(i), n(l)]
      const selfWeight = tf.sum(tf.mul(weights, c.diagonal), -1, true); // [S, n(i), 1]
      const attended = tf.add(
        tf.matMul(tf.mul(weights, c.offDiagonalOf), head(projected, 2, h)),
        tf.mul(selfWeight, vm),
      ); // [S, n, K]
      perHead.push(linear(attended, tf.slice(outputKernel, [h * K, 0], [K, W]))); // [S, n, W]
    }
    const out = tf.add(tf.addN(perHead), param(p, "layer0.attention.output.bias")); // [S, n, W]
    last = afterAttention(model, 0, maskedTokens, out, fastDense);
  } else {
    // Layer 1 for every copy i and query j, heads in the batch axis: logits [S*H, n(i), n(j), n(l)].
    const [q, k, v] = tf.split(projected, [HK, HK, HK], 2).map((x) => headsAsBatch(x, H)); // [S*H, n, K]
    const [qm, km, vm] = tf.split(projectedMasked, [HK, HK, HK], 2).map((x) => headsAsBatch(x, H));
    // One product gives all four blocks: true and masked queries against true and masked keys.
    const blocks = tf.matMul(tf.concat([q!, qm!], 1), tf.concat([k!, km!], 1), false, true); // [S*H, 2n, 2n]
    const SH = S * H;
    const all = tf.slice(blocks, [0, 0, 0], [SH, n, n]); // [S*H, n(j), n(l)] true queries on true keys
    const columnReplaced = tf.transpose(tf.slice(blocks, [0, 0, n], [SH, n, n]), [0, 2, 1]); // [S*H, n(i), n(j)]: q_j . km_i
    const rowReplaced = tf.slice(blocks, [0, n, 0], [SH, n, n]); // [S*H, n(i), n(l)]: qm_i . k_l
    const selfMasked = tf.sum(tf.mul(qm!, km!), -1); // [S*H, n(i)]
    const logits = tf.mul(
      tf.addN([
        tf.mul(tf.expandDims(all, 1), c.neither),
        tf.mul(tf.expandDims(columnReplaced, 3), c.keyOnly),
        tf.mul(tf.expandDims(rowReplaced, 2), c.queryOnly),
        tf.mul(tf.reshape(selfMasked, [SH, n, 1, 1]), c.both),
      ]),
      scale,
    ); // [S*H, n(i), n(j), n(l)]
    const weights = tf.softmax(logits); // [S*H, n(i), n(j), n(l)]
    // Copy i's values are the true ones except at i: sum_l w v_l + w_i (vm_i - v_i).
    const onTrue = tf.reshape(tf.matMul(tf.reshape(weights, [SH, n * n, n]), v!), [SH, n, n, K]); // [S*H, n(i), n(j), K]
    const onMasked = tf.sum(tf.mul(weights, c.keyIsMasked), -1, true); // [S*H, n(i), n(j), 1]
    const attended = tf.reshape(
      tf.add(onTrue, tf.mul(onMasked, tf.expandDims(tf.sub(vm!, v!), 2))),
      [S, H, n * n * K],
    ); // [S, H, n(i)*n(j)*K]
    // The output projection head by head (a slice of the batch axis; no transpose of this large tensor).
    const perHead = Array.from({ length: H }, (_, h) =>
      linear(
        tf.reshape(tf.slice(attended, [0, h, 0], [S, 1, n * n * K]), [S, n, n, K]),
        tf.slice(outputKernel, [h * K, 0], [K, W]),
      )); // [S, n, n, W] each
    const out = tf.add(tf.addN(perHead), param(p, "layer0.attention.output.bias")); // [S, n(i), n(j), W]
    const diagonal = tf.expandDims(c.diagonal, 2); // [n(i), n(j), 1]
    const copies = tf.add(
      tf.mul(tf.expandDims(trueTokens, 1), tf.sub(1, diagonal)),
      tf.mul(tf.expandDims(maskedTokens, 2), diagonal),
    ); // [S, n(i), n(j), W]: copy i's tokens
    let h = afterAttention(model, 0, copies, out, fastDense); // [S, n, n, W]
    // Middle layers: ordinary self-attention within each copy.
    for (let l = 1; l < L - 1; l++) {
      const rows = tf.reshape(h, [S * n, n, W]); // one row per copy
      h = tf.reshape(afterAttention(model, l, rows, selfAttention(model, l, rows), fastDense), [
        S,
        n,
        n,
        W,
      ]);
    }
    // Last layer at the masked position only: one query per copy, elementwise, softmax over the key axis j.
    const target = tf.sum(tf.mul(h, diagonal), 2); // [S, n(i), W]
    // Separate key and value projections: splitting a fused [S, n, n, 2H, K] tensor is very slow in tfjs.
    const k2 = tf.reshape(fastDense(p, `layer${L - 1}.attention.key`, h), [S, n, n, H, K]); // [S, n(i), n(j), H, K]
    const v2 = tf.reshape(fastDense(p, `layer${L - 1}.attention.value`, h), [S, n, n, H, K]);
    const q2 = tf.reshape(fastDense(p, `layer${L - 1}.attention.query`, target), [S, n, 1, H, K]);
    const logits2 = tf.mul(tf.sum(tf.mul(q2, k2), -1), scale); // [S, n(i), n(j), H]
    const weights2 = softmaxOver(logits2, 2); // softmax over j
    const out2 = tf.reshape(tf.sum(tf.mul(tf.expandDims(weights2, 4), v2), 2), [S, n, HK]); // [S, n(i), HK]
    const attention = fastDense(p, `layer${L - 1}.attention.output`, out2); // [S, n, W]
    last = afterAttention(model, L - 1, target, attention, fastDense);
  }
  return selectTargets(last, t.selector!); // [E, W] each example's masked position
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
  const encode = batch.mode === "rows"
    ? encodeRows
    : batch.mode === "copies"
    ? encodeCopies
    : encodeStreams;
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
 * @example The same loss as the reference layout
 * ```ts
 * import { batchLoss, createEfa, disposeModel, efaConfig, fastBatchLoss, makeBatch, planFastBatches, referenceBatchOptions } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * const data = { items: [[1, 2, 3]] };
 * const [batch] = planFastBatches(model, data, { batchSize: 8 });
 * const fast = fastBatchLoss(model, data, batch!).dataSync()[0]!;
 * const reference = batchLoss(model, makeBatch(data, batch!.examples, referenceBatchOptions(model))).dataSync()[0]!;
 * assert.ok(Math.abs(fast - reference) < 1e-6);
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
