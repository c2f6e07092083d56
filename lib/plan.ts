/**
 * Batch layouts and the two planners: which examples are computed together,
 * in which {@link Layout}, and the tensors of each batch.
 *
 * The same model computes every layout (`model.ts`, `_whole_sequences.ts`);
 * they differ only in how much work the examples of a batch share:
 *
 * - `"padded"`: one row per example padded to the model's `maxLength`, as
 *   the authors' notebooks feed Keras. The oracle of the tests, the layout of
 *   the FM baselines and of attention inspection.
 * - `"rows"`: one row per example, so that no attention mask is needed
 *   (whole sequences for bidirectional models, prefixes up to the target
 *   for unidirectional `"prefix"` models).
 * - `"copies"`: whole sequences whose positions are all (or mostly)
 *   targets; the masked copies share their first layer.
 * - `"streams"`: whole sequences, every target at once, for unidirectional
 *   `"causal"` models (two streams, as in XLNet).
 *
 * Rows, copies and streams pack rows or sequences of any lengths one after
 * another (the fused attention kernels take them so; the tfjs operations
 * compute one length at a time), so a step is one batch per layout.
 *
 * {@link planEpochs} draws the training steps, {@link planEvaluation} groups
 * examples for evaluation; both split batches too big for memory into chunks
 * whose example-weighted gradients add up to the batch's.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type Batch,
  type Example,
  type Layout,
  listExamples,
  type PaddedBatch,
  type RowsBatch,
  type Sequences,
  type SequencesBatch,
} from "./data.ts";
import type { EfaModel } from "./model.ts";
import type { Model } from "./objective.ts";
import type { SeedStream } from "./random.ts";
import type { Tensor } from "./shapes.ts";

/** Which examples one batch computes and how; tensors are built from it by {@link batchTensors}. */
export interface BatchPlan {
  /** The layout. */
  readonly layout: Layout;
  /** Tokens of the longest row (`"rows"`) or sequence (`"copies"`, `"streams"`); unused for `"padded"`. */
  readonly length: number;
  /** The examples, `[sequence, position]`, in the order of the batch's outputs. */
  readonly examples: readonly Example[];
}

/** Which layouts a planner may choose: `"auto"` (rows, copies or streams per sequence) or `"padded"` only. */
export type LayoutChoice = "auto" | "padded";

/**
 * The longest sequence computed as masked copies: copies hold `[n, n, n]`
 * logits per head and sequence, so longer sequences use one row per example.
 */
export const MAX_COPIES_LENGTH = 48;

/**
 * The largest number of floats one chunk of a batch may hold in its biggest
 * intermediate tensors (attention weights, per-token activations). The wasm
 * heap is limited to a few gigabytes, so big batches (the temperature tables
 * train full-batch) are computed in chunks whose gradients are summed.
 */
const MAX_CHUNK_ELEMENTS = 2_000_000;

// ---------------------------------------------------------------------------
// Tensors of a batch
// ---------------------------------------------------------------------------

/** Options of {@link makeBatch}. */
export interface MakeBatchOptions {
  /**
   * Cut each row just after its target. Exact for unidirectional models,
   * which never look past the target, and it saves the padded work.
   */
  readonly truncateAfterTarget?: boolean;
  /** Pad every row to at least this many tokens (the notebooks pad to `max_len`). */
  readonly padTo?: number;
  /** Include values (default: when the data has them). */
  readonly values?: boolean;
  /** Include lag groups (default: when the data has them). */
  readonly lags?: boolean;
}

/**
 * Builds one padded row per example: the reference layout that the authors'
 * notebooks feed to Keras. Rows are padded to the longest row of the batch
 * (at least two columns).
 *
 * @param data The sequences.
 * @param examples The examples to put in the batch.
 * @param options Truncation and which fields to include.
 * @returns The batch; the caller disposes it (see `disposeBatch`).
 * @throws {RangeError} When there are no examples.
 *
 * @example A batch of two examples from one sequence
 * ```ts
 * import { disposeBatch, makeBatch } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const batch = makeBatch({ items: [[4, 5, 6]] }, [[0, 0], [0, 2]]);
 * assert.deepEqual(batch.items.shape, [2, 3]);
 * assert.deepEqual(Array.from(batch.target.dataSync()), [0, 2]);
 * assert.deepEqual(Array.from(batch.labels.item.dataSync()), [3, 5]); // item - 1
 * disposeBatch(batch);
 * ```
 */
export function makeBatch(
  data: Sequences,
  examples: readonly Example[],
  options: MakeBatchOptions = {},
): PaddedBatch {
  const withValues = options.values ?? data.values !== undefined;
  const withLags = options.lags ?? data.lags !== undefined;
  const B = examples.length;
  if (B === 0) throw new RangeError("makeBatch(): expected at least one example, got none");
  const rowLength = (e: Example): number =>
    options.truncateAfterTarget ? e[1] + 1 : data.items[e[0]]!.length;
  let T = Math.max(2, options.padTo ?? 0); // at least two columns: tfjs's oneHot refuses depth 1
  for (const e of examples) T = Math.max(T, rowLength(e));
  const items = new Int32Array(B * T);
  const values = withValues ? new Float32Array(B * T) : undefined;
  const lags = withLags ? new Int32Array(B * T) : undefined;
  const lengths = new Int32Array(B);
  const target = new Int32Array(B);
  examples.forEach((e, b) => {
    const [s, pos] = e;
    const n = rowLength(e);
    const seq = data.items[s]!;
    const vs = data.values?.[s];
    const ls = data.lags?.[s];
    for (let j = 0; j < n; j++) {
      items[b * T + j] = seq[j]!;
      if (values !== undefined) values[b * T + j] = vs![j]!;
      if (lags !== undefined) lags[b * T + j] = ls![j]!;
    }
    lengths[b] = n;
    target[b] = pos;
  });
  return {
    layout: "padded",
    items: tf.tensor2d(items, [B, T], "int32") as Tensor<"batch time">,
    ...(values === undefined
      ? {}
      : { values: tf.tensor2d(values, [B, T], "float32") as Tensor<"batch time"> }),
    ...(lags === undefined
      ? {}
      : { lags: tf.tensor2d(lags, [B, T], "int32") as Tensor<"batch time"> }),
    lengths: tf.tensor1d(lengths, "int32") as Tensor<"batch">,
    target: tf.tensor1d(target, "int32") as Tensor<"batch">,
    labels: labelsOf(data, examples, withValues),
  };
}

/** The observations at the examples' targets: class ids `item - 1` and values. */
function labelsOf(
  data: Sequences,
  examples: readonly Example[],
  withValues: boolean,
): Batch["labels"] {
  const item = new Int32Array(examples.length), value = new Float32Array(examples.length);
  examples.forEach(([s, pos], e) => {
    item[e] = data.items[s]![pos]! - 1;
    if (withValues) value[e] = data.values![s]![pos]!;
  });
  return {
    item: tf.tensor1d(item, "int32") as Tensor<"example">,
    ...(withValues ? { value: tf.tensor1d(value, "float32") as Tensor<"example"> } : {}),
  };
}

/**
 * How the padded layout lays out a model's batches, as the authors' notebooks
 * build them: one row per example, padded to the model's `maxLength`
 * (`max_len`); rows are cut after the target only where the notebooks build
 * prefixes (the value EFA's `"prefix"` unidirectional rows and the
 * unidirectional FM).
 *
 * @param model The model.
 * @returns Options for {@link makeBatch}.
 *
 * @example The categorical unidirectional EFA keeps whole, padded rows
 * ```ts
 * import { createEfa, disposeModel, efaConfig } from "@efa/efa";
 * import { paddedLayout } from "./plan.ts";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ direction: "unidirectional" }), { seed: 1 });
 * assert.deepEqual(paddedLayout(model), { truncateAfterTarget: false, padTo: 24 });
 * disposeModel(model);
 * ```
 */
export function paddedLayout(model: Model): MakeBatchOptions {
  if (model.kind === "fm") {
    return { truncateAfterTarget: model.config.context === "unidirectional" };
  }
  const { direction, unidirectionalMask, maxLength } = model.config;
  return {
    truncateAfterTarget: direction === "unidirectional" && unidirectionalMask === "prefix",
    padTo: maxLength,
  };
}

/**
 * The tensors of a planned batch, in its layout; the caller disposes them
 * (`disposeBatch`).
 *
 * @param model The model (the padded layout depends on it).
 * @param data The sequences the plan refers to.
 * @param plan The batch.
 * @returns The batch's tensors and labels.
 */
export function batchTensors(model: Model, data: Sequences, plan: BatchPlan): Batch {
  if (plan.layout === "padded") return makeBatch(data, plan.examples, paddedLayout(model));
  if (plan.layout === "copies" || plan.layout === "streams") {
    return packedSequences(data, plan.layout, plan.examples);
  }
  return packedRows(model, data, plan.examples);
}

/**
 * The rows layout's tensors: one row per example (its whole sequence for
 * bidirectional models, the prefix up to its target for unidirectional
 * ones), packed one after another in one row.
 */
function packedRows(model: Model, data: Sequences, examples: readonly Example[]): RowsBatch {
  const withValues = data.values !== undefined, withLags = data.lags !== undefined;
  const prefix = model.kind === "efa" && model.config.direction === "unidirectional";
  const lengths = examples.map(([s, pos]) => prefix ? pos + 1 : data.items[s]!.length);
  const total = lengths.reduce((sum, n) => sum + n, 0);
  const items = new Int32Array(total), positions = new Int32Array(total);
  const values = new Float32Array(withValues ? total : 0),
    lags = new Int32Array(withLags ? total : 0);
  const mask = new Float32Array(total), target = new Int32Array(examples.length);
  let o = 0;
  examples.forEach(([s, pos], r) => {
    const seq = data.items[s]!, vs = data.values?.[s], ls = data.lags?.[s], n = lengths[r]!;
    for (let j = 0; j < n; j++) {
      items[o + j] = seq[j]!;
      positions[o + j] = j;
      if (withValues) values[o + j] = vs![j]!;
      if (withLags) lags[o + j] = ls![j]!;
    }
    mask[o + pos] = 1;
    target[r] = o + pos;
    o += n;
  });
  const row = (x: Int32Array | Float32Array, dtype: "int32" | "float32"): Tensor<"batch time"> =>
    tf.tensor2d(x, [1, total], dtype) as Tensor<"batch time">;
  const float = row(mask, "float32");
  return {
    layout: "rows",
    items: row(items, "int32"),
    values: withValues ? row(values, "float32") : undefined,
    lags: withLags ? row(lags, "int32") : undefined,
    positions: row(positions, "int32"),
    lengths,
    maskAt: { bool: tf.cast(float, "bool") as Tensor<"batch time">, float },
    target: tf.tensor1d(target, "int32") as Tensor<"example">,
    labels: labelsOf(data, examples, withValues),
  };
}

/** The copies and streams layouts' tensors: the examples' sequences packed one after another in one row. */
function packedSequences(
  data: Sequences,
  layout: "copies" | "streams",
  examples: readonly Example[],
): SequencesBatch {
  const withValues = data.values !== undefined, withLags = data.lags !== undefined;
  const sequences = [...new Set(examples.map(([s]) => s))];
  const offsets = new Map<number, number>();
  let total = 0;
  for (const s of sequences) {
    offsets.set(s, total);
    total += data.items[s]!.length;
  }
  const items = new Int32Array(total), positions = new Int32Array(total);
  const values = new Float32Array(withValues ? total : 0),
    lags = new Int32Array(withLags ? total : 0);
  for (const s of sequences) {
    const seq = data.items[s]!, vs = data.values?.[s], ls = data.lags?.[s], o = offsets.get(s)!;
    for (let j = 0; j < seq.length; j++) {
      items[o + j] = seq[j]!;
      positions[o + j] = j;
      if (withValues) values[o + j] = vs![j]!;
      if (withLags) lags[o + j] = ls![j]!;
    }
  }
  const target = Int32Array.from(examples, ([s, pos]) => offsets.get(s)! + pos);
  const identity = target.length === total && target.every((flat, e) => flat === e);
  const row = (x: Int32Array | Float32Array, dtype: "int32" | "float32"): Tensor<"batch time"> =>
    tf.tensor2d(x, [1, total], dtype) as Tensor<"batch time">;
  return {
    layout,
    items: row(items, "int32"),
    values: withValues ? row(values, "float32") : undefined,
    lags: withLags ? row(lags, "int32") : undefined,
    positions: row(positions, "int32"),
    lengths: sequences.map((s) => data.items[s]!.length),
    selector: identity ? null : tf.tensor1d(target, "int32") as Tensor<"example">,
    labels: labelsOf(data, examples, withValues),
  };
}

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

/** Whole sequences or single examples: how a model's sequence is computed outside the padded layout. */
function wholeLayout(model: EfaModel): "copies" | "streams" {
  const { direction, unidirectionalMask } = model.config;
  return direction === "unidirectional" && unidirectionalMask === "causal" ? "streams" : "copies";
}

/** The target positions of sequence `s`. */
function targetsOf(data: Sequences, s: number): ArrayLike<number> {
  return data.targets?.[s] ?? Array.from({ length: data.items[s]!.length }, (_, i) => i);
}

/** Whether sequence `s` is computed whole (two streams, or masked copies when at least half its positions are targets). */
function computedWhole(
  model: EfaModel,
  n: number,
  targets: number,
  draw: "sequences" | "examples",
): boolean {
  if (wholeLayout(model) === "streams") return true;
  return draw === "sequences" && model.config.direction === "bidirectional" &&
    2 * targets >= n && n <= MAX_COPIES_LENGTH;
}

/** Options of {@link planEvaluation}. */
export interface EvaluationPlanOptions {
  /** Predictions per batch (before memory chunking). */
  readonly batchSize: number;
  /** `"auto"` (default): the fastest layout per sequence; `"padded"`: the notebooks' layout. */
  readonly layout?: LayoutChoice;
}

/**
 * Groups every example of a data set into batches for evaluation: padded
 * rows in data order, or packed rows and packed whole sequences, shortest
 * first, chunked for memory.
 *
 * @param model The model (FM baselines always use the padded layout).
 * @param data The sequences.
 * @param options The batch size and the layout.
 * @returns The batches; every example appears in exactly one.
 *
 * @example Every example lands in exactly one batch
 * ```ts
 * import { createEfa, disposeModel, efaConfig } from "@efa/efa";
 * import { planEvaluation } from "./plan.ts";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * const plan = planEvaluation(model, { items: [[1, 2], [3, 4, 1], [2, 3]] }, { batchSize: 4 });
 * assert.deepEqual(plan.map((b) => [b.layout, b.length, b.examples.length]), [["copies", 2, 4], ["copies", 3, 3]]);
 * disposeModel(model);
 * ```
 */
export function planEvaluation(
  model: Model,
  data: Sequences,
  options: EvaluationPlanOptions,
): BatchPlan[] {
  const { batchSize } = options;
  if (model.kind === "fm" || options.layout === "padded") {
    const examples = listExamples(data);
    const plan: BatchPlan[] = [];
    for (let i = 0; i < examples.length; i += batchSize) {
      plan.push({ layout: "padded", length: 0, examples: examples.slice(i, i + batchSize) });
    }
    return plan;
  }
  const batches: BatchPlan[] = [];
  const bidirectional = model.config.direction === "bidirectional";
  const whole = new Map<number, number[]>();
  const rows = new Map<number, Example[]>();
  const layout = wholeLayout(model);
  data.items.forEach((seq, s) => {
    const targets = targetsOf(data, s);
    if (targets.length === 0) return;
    const n = seq.length;
    if (computedWhole(model, n, targets.length, "sequences")) {
      (whole.get(n) ?? whole.set(n, []).get(n)!).push(s);
    } else {
      for (let i = 0; i < targets.length; i++) {
        const pos = targets[i]!;
        const length = bidirectional ? n : pos + 1;
        (rows.get(length) ?? rows.set(length, []).get(length)!).push([s, pos]);
      }
    }
  });
  // Rows shortest first, rows of any lengths packed together.
  const sortedRows = [...rows.keys()].sort((a, b) => a - b)
    .flatMap((n) => rows.get(n)!.map((e) => [n, e] as const));
  for (let i = 0; i < sortedRows.length; i += batchSize) {
    const part = sortedRows.slice(i, i + batchSize);
    batches.push({ layout: "rows", length: part.at(-1)![0], examples: part.map(([, e]) => e) });
  }
  // Shortest first, sequences of any lengths packed together.
  let examples: Example[] = [], longest = 0;
  const flush = (): void => {
    if (examples.length > 0) batches.push({ layout, length: longest, examples });
    examples = [];
  };
  for (const n of [...whole.keys()].sort((a, b) => a - b)) {
    for (const s of whole.get(n)!) {
      const targets = targetsOf(data, s);
      if (examples.length > 0 && examples.length + targets.length > batchSize) flush();
      for (let i = 0; i < targets.length; i++) examples.push([s, targets[i]!]);
      longest = n;
    }
  }
  flush();
  return batches.flatMap((b) => chunked(model, data, b));
}

/** Options of {@link planEpochs}. */
export interface TrainingPlanOptions {
  /** Predictions per step (a sequence computed whole with more targets is a step of its own). */
  readonly batchSize: number;
  /** The order of sequences and examples. */
  readonly rng: SeedStream;
  /** `"auto"` (default): the fastest layout per sequence; `"padded"`: the notebooks' layout. */
  readonly layout?: LayoutChoice;
  /**
   * What a step draws (`"auto"` layout): `"sequences"` (default) keeps the
   * examples of a whole sequence together where it is computed whole;
   * `"examples"` draws single examples, as the notebooks' shuffled batches
   * do, computed as rows (slower where copies would share work, but steps
   * are not made of a few sequences whose examples are alike: the
   * temperature table's days). Unidirectional `"prefix"` models always draw
   * examples; `"causal"` ones always draw sequences (two streams), and
   * `"examples"` is an error for them.
   */
  readonly draw?: "sequences" | "examples";
}

/** One optimisation step: its number of examples and the chunks whose weighted gradients sum to its gradient. */
export interface TrainingStep {
  /** The examples of the step. */
  readonly count: number;
  /** The batches to compute, each within the memory budget. */
  readonly chunks: readonly BatchPlan[];
}

/**
 * Plans the training epochs, one list of steps per `next()`. Each step holds
 * a uniformly drawn set of examples, as the notebooks' shuffled batches do:
 * in the padded layout, consecutive slices of the examples shuffled anew
 * every epoch; otherwise whole sequences where they are computed whole, and
 * single examples elsewhere, whole sequences and rows each packed into one
 * batch. (Steps of one length
 * only, the batches of {@link planEvaluation}, train measurably slower per
 * epoch: on MovieLens experiment 1 their validation loss after 20 epochs was
 * 3.756 against the notebooks' 3.691; mixed steps: 3.693.)
 *
 * @param model The model (FM baselines always use the padded layout).
 * @param data The training sequences.
 * @param options The batch size, the shuffling stream, the layout and what a step draws.
 * @returns An endless sequence of epochs.
 * @throws {RangeError} When `draw` is unknown or `"examples"` for a `"causal"` unidirectional EFA.
 *
 * @example Every example lands in exactly one step of an epoch
 * ```ts
 * import { createEfa, disposeModel, efaConfig, SeedStream } from "@efa/efa";
 * import { planEpochs } from "./plan.ts";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * const data = { items: [[1, 2], [3, 4, 1], [2, 3], [4]] };
 * const steps = planEpochs(model, data, { batchSize: 4, rng: new SeedStream(1) }).next().value!;
 * assert.equal(steps.flatMap((s) => s.chunks).flatMap((b) => b.examples).length, 8);
 * disposeModel(model);
 * ```
 */
export function* planEpochs(
  model: Model,
  data: Sequences,
  options: TrainingPlanOptions,
): Generator<TrainingStep[], never> {
  const { batchSize, rng, draw = "sequences" } = options;
  if (draw !== "sequences" && draw !== "examples") {
    throw new RangeError(
      `train(): expected draw to be "sequences" or "examples", got ${JSON.stringify(draw)}`,
    );
  }
  if (model.kind === "fm" || options.layout === "padded") {
    const examples = listExamples(data);
    const order = examples.map((_, i) => i); // shuffled in place, epoch after epoch
    while (true) {
      rng.shuffle(order);
      yield Array.from({ length: Math.ceil(examples.length / batchSize) }, (_, i) => {
        const step = order.slice(i * batchSize, (i + 1) * batchSize).map((k) => examples[k]!);
        const plan: BatchPlan = { layout: "padded", length: 0, examples: step };
        return { count: step.length, chunks: chunked(model, data, plan) };
      });
    }
  }
  const streams = wholeLayout(model) === "streams";
  if (streams && draw === "examples") {
    throw new RangeError(
      'train(): expected draw "sequences" for a unidirectional "causal" model (it trains whole ' +
        'sequences as two streams), got "examples"; draw "examples" needs a bidirectional or "prefix" model',
    );
  }
  while (true) yield planSteps(model, data, batchSize, rng, draw);
}

/** One epoch of steps outside the padded layout (see {@link planEpochs}). */
function planSteps(
  model: EfaModel,
  data: Sequences,
  batchSize: number,
  rng: SeedStream,
  draw: "sequences" | "examples",
): TrainingStep[] {
  const bidirectional = model.config.direction === "bidirectional";
  const streams = wholeLayout(model) === "streams";
  // Units drawn together: whole sequences (two streams, masked copies) or single examples (rows).
  const units: { readonly whole: boolean; readonly examples: Example[] }[] = [];
  data.items.forEach((seq, s) => {
    const targets = targetsOf(data, s);
    if (targets.length === 0) return;
    const examples = Array.from(targets, (pos): Example => [s, pos]);
    if (computedWhole(model, seq.length, targets.length, draw)) {
      units.push({ whole: true, examples });
    } else examples.forEach((e) => units.push({ whole: false, examples: [e] }));
  });
  rng.shuffle(units);
  const steps: TrainingStep[] = [];
  let current: typeof units = [];
  let count = 0;
  const flush = (): void => {
    if (current.length === 0) return;
    let batches: BatchPlan[];
    if (streams) {
      const examples = current.flatMap((u) => u.examples);
      const length = Math.max(...examples.map(([s]) => data.items[s]!.length));
      batches = [{ layout: "streams", length, examples }];
    } else {
      const groups = new Map<string, { layout: Layout; length: number; examples: Example[] }>();
      for (const u of current) {
        const [s, pos] = u.examples[0]!;
        const n = data.items[s]!.length;
        const layout: Layout = u.whole ? "copies" : "rows";
        const length = u.whole || bidirectional ? n : pos + 1;
        // Copies and rows pack sequences or rows of any lengths into one batch each.
        const key = layout;
        const b = groups.get(key) ??
          groups.set(key, { layout, length, examples: [] }).get(key)!;
        b.length = Math.max(b.length, length);
        b.examples.push(...u.examples);
      }
      batches = [...groups.values()];
    }
    steps.push({ count, chunks: batches.flatMap((b) => chunked(model, data, b)) });
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

/** The widest per-token activation of an EFA (model width, feed-forward, MLP hidden layers). */
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
 * Splits a batch into chunks within {@link MAX_CHUNK_ELEMENTS}, keeping whole
 * sequences together in the copies and streams layouts. The batch's loss is
 * the example-weighted mean of its chunks' losses, so the chunks' weighted
 * gradients sum to the batch's gradient. FM batches are never split.
 */
export function chunked(
  model: Model,
  data: Sequences,
  batch: BatchPlan,
  maxElements: number = MAX_CHUNK_ELEMENTS,
): BatchPlan[] {
  if (model.kind !== "efa") return [batch];
  const split = (size: number): BatchPlan[] => {
    if (batch.examples.length <= size) return [batch];
    const chunks: BatchPlan[] = [];
    for (let i = 0; i < batch.examples.length; i += size) {
      chunks.push({ ...batch, examples: batch.examples.slice(i, i + size) });
    }
    return chunks;
  };
  const H = model.config.heads;
  if (batch.layout === "padded") {
    const T = Math.max(
      model.config.maxLength,
      ...batch.examples.map(([s]) => data.items[s]!.length),
    );
    const perExample = T * (H * T + 3 * H * model.config.keyDim);
    return split(Math.max(1, Math.floor(maxElements / perExample)));
  }
  // Rows and whole sequences are packed: each costs its own length's elements.
  const width = widest(model);
  const prefix = model.config.direction === "unidirectional";
  const lengthOf = ([s, pos]: Example): number =>
    batch.layout === "rows" && prefix ? pos + 1 : data.items[s]!.length;
  const cost = (m: number): number =>
    batch.layout === "copies" ? m * m * (H * m + width) : m * (H * m + width);
  const chunks: BatchPlan[] = [];
  let current: Example[] = [];
  let elements = 0, last = -1;
  const push = (): void => {
    chunks.push({ ...batch, length: Math.max(...current.map(lengthOf)), examples: current });
  };
  for (const e of batch.examples) {
    // A unit: one example (rows) or one whole sequence (copies, streams).
    if (batch.layout === "rows" || e[0] !== last) {
      const c = cost(lengthOf(e));
      if (current.length > 0 && elements + c > maxElements) {
        push();
        current = [];
        elements = 0;
      }
      elements += c;
      last = e[0];
    }
    current.push(e);
  }
  if (current.length > 0) push();
  return chunks.length === 1 ? [batch] : chunks;
}
