/**
 * Sequences of observations and the per-example batches the models consume.
 *
 * A data set is a list of sequences (a user's ratings, a basket, a day of
 * city temperatures). Sequence `s` has item ids `items[s][j]` in `1..J`,
 * optionally a value `values[s][j]` per item and a lag group `lags[s][j]`.
 * Every listed target position is one *example*: the model predicts the
 * observation at that position from the others (its context).
 *
 * A {@link Batch} holds the tensors of some examples in one of four layouts
 * (`plan.ts` builds them): one padded row per example (`"padded"`, the
 * authors' notebooks' layout; padding uses item id 0 and the model never
 * attends to positions at or after a row's length), one row per example
 * without padding (`"rows"`), or whole sequences whose every target is
 * predicted at once (`"copies"`, `"streams"`); the last three pack rows or
 * sequences of any lengths one after another.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkShapes, type Tensor } from "./shapes.ts";

/** Observations grouped into sequences; see the module documentation. */
export interface Sequences {
  /** Item (attribute) ids per sequence, each in `1..numItems`. */
  readonly items: readonly ArrayLike<number>[];
  /** One value per item (ratings, counts, temperatures), when values are modelled. */
  readonly values?: readonly ArrayLike<number>[];
  /** A lag group per item (0 = the day being predicted), for spatio-temporal data. */
  readonly lags?: readonly ArrayLike<number>[];
  /** The positions to predict in each sequence; every position when absent. */
  readonly targets?: readonly ArrayLike<number>[];
}

/** One prediction: `[sequence index, target position]`. */
export type Example = readonly [sequence: number, position: number];

/** Rows of observations as tensors: item ids, values and lag groups, `[row, time]`. */
export interface TokenRows {
  /** Item ids, 0 = padding: `[row, time]` int32. */
  readonly items: Tensor<"batch time">;
  /** Values (0 at padding): `[row, time]` float32, when modelled. */
  readonly values?: Tensor<"batch time"> | undefined;
  /** Lag groups: `[row, time]` int32, when present. */
  readonly lags?: Tensor<"batch time"> | undefined;
  /** Each token's position in its sequence, `[row, time]` int32, where it is not its column (packed sequences). */
  readonly positions?: Tensor<"batch time"> | undefined;
}

/** The observations the examples of a batch predict, in the batch's order. */
export interface Labels {
  /** The observed item as a class id (`item - 1`), `[example]` int32. */
  readonly item: Tensor<"example">;
  /** The observed value, `[example]` float32, when the data has values. */
  readonly value?: Tensor<"example">;
}

/**
 * How a batch lays out its examples:
 * - `"padded"`: one row per example, padded (the notebooks' layout);
 * - `"rows"`: one row per example, rows of any lengths packed in one row,
 *   no padding;
 * - `"copies"`: whole sequences of any lengths packed in one row, most
 *   positions targets, the first layer shared by the masked copies
 *   (bidirectional models);
 * - `"streams"`: whole sequences of any lengths packed in one row, every
 *   position a target, two streams (unidirectional `"causal"` models).
 */
export type Layout = "padded" | "rows" | "copies" | "streams";

/** One padded row per example, the reference layout of the authors' notebooks. */
export interface PaddedBatch extends TokenRows {
  /** Always `"padded"`. */
  readonly layout: "padded";
  /** Number of real tokens in each row: `[batch]` int32. */
  readonly lengths: Tensor<"batch">;
  /** The masked (predicted) position of each row: `[batch]` int32. */
  readonly target: Tensor<"batch">;
  /** The observations at the targets. */
  readonly labels: Labels;
}

/**
 * One row per example (its whole sequence, or the prefix up to its target),
 * rows of any lengths packed one after another in one row of tokens
 * (`items` is `[1, sum n]`); no padding, no attention mask.
 */
export interface RowsBatch extends TokenRows {
  /** Always `"rows"`. */
  readonly layout: "rows";
  /** The lengths of the packed rows, one per example, in order. */
  readonly lengths: readonly number[];
  /** Each token's position in its row, `[1, sum n]` int32. */
  readonly positions: Tensor<"batch time">;
  /** 1 at each row's masked position, `[1, sum n]`, as bool and as float32. */
  readonly maskAt: { readonly bool: Tensor<"batch time">; readonly float: Tensor<"batch time"> };
  /** Each row's masked token among the packed tokens, `[example]` int32. */
  readonly target: Tensor<"example">;
  /** The observations at the targets. */
  readonly labels: Labels;
}

/**
 * Whole sequences of any lengths packed one after another in one row of
 * tokens (`items` is `[1, sum n]`, `positions` says where each token stands
 * in its sequence), predicted at several positions at once: as masked
 * copies (`"copies"`) or two streams (`"streams"`).
 */
export interface SequencesBatch extends TokenRows {
  /** `"copies"` or `"streams"`. */
  readonly layout: "copies" | "streams";
  /** The lengths of the packed sequences, in order. */
  readonly lengths: readonly number[];
  /** Each token's position in its sequence, `[1, sum n]` int32. */
  readonly positions: Tensor<"batch time">;
  /** Each example's token `offset of its sequence + position`, `[example]` int32; `null` when that is `0..E-1`. */
  readonly selector: Tensor<"example"> | null;
  /** The observations at the targets. */
  readonly labels: Labels;
}

/** The tensors of some examples, in one of the four {@link Layout}s. */
export type Batch = PaddedBatch | RowsBatch | SequencesBatch;

/**
 * Lists every example of a data set in order: each target position of each
 * sequence.
 *
 * @param data The sequences.
 * @returns The examples.
 *
 * @example Two sequences, every position a target
 * ```ts
 * import { listExamples } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(listExamples({ items: [[1, 2], [3]] }), [[0, 0], [0, 1], [1, 0]]);
 * ```
 */
export function listExamples(data: Sequences): Example[] {
  const out: Example[] = [];
  data.items.forEach((seq, s) => {
    const targets = data.targets?.[s];
    if (targets === undefined) {
      for (let j = 0; j < seq.length; j++) out.push([s, j]);
    } else {
      for (let j = 0; j < targets.length; j++) out.push([s, targets[j]!]);
    }
  });
  return out;
}

/** What {@link validateSequences} checks the data against. */
export interface SequenceRequirements {
  /** Item ids must lie in `1..numItems`. */
  readonly numItems: number;
  /** Sequences may not be longer. */
  readonly maxLength: number;
  /** Whether values are required. */
  readonly values: boolean;
  /** Whether lag groups are required, and how many groups exist. */
  readonly lagGroups: number;
  /** Checks each value (a family's `validate`). */
  readonly validateValues?: (values: ArrayLike<number>, fn: string, arg: string) => void;
}

/**
 * Checks a data set before training or evaluation, with errors that say which
 * sequence and position is wrong.
 *
 * @param data The sequences.
 * @param requirements What the model needs.
 * @param fn The public function doing the check, named in the error.
 * @throws {RangeError} For empty or too long sequences, item ids out of range,
 * targets out of range, or values the family cannot take (NaN, negative counts).
 * @throws {TypeError} For missing or misaligned values, lags or targets.
 *
 * @example An item id out of range
 * ```ts
 * import { validateSequences } from "./data.ts";
 * import assert from "node:assert/strict";
 *
 * const req = { numItems: 3, maxLength: 4, values: false, lagGroups: 0 };
 * validateSequences({ items: [[1, 3]] }, req, "fit");
 * assert.throws(() => validateSequences({ items: [[1, 4]] }, req, "fit"), {
 *   name: "RangeError",
 *   message: "fit(): expected items[0][1] to be an item id in 1..3, got 4",
 * });
 * ```
 */
export function validateSequences(
  data: Sequences,
  requirements: SequenceRequirements,
  fn: string,
): void {
  const { numItems, maxLength } = requirements;
  if (data === null || typeof data !== "object" || !Array.isArray(data.items)) {
    throw new TypeError(
      `${fn}(): expected data.items to be an array of sequences, got ${typeof data?.items}`,
    );
  }
  if (data.items.length === 0) {
    throw new RangeError(`${fn}(): expected at least one sequence, got none`);
  }
  for (const key of ["values", "lags", "targets"] as const) {
    const field = data[key];
    if (field !== undefined && field.length !== data.items.length) {
      throw new TypeError(
        `${fn}(): expected data.${key} to have one entry per sequence (${data.items.length}), got ${field.length}`,
      );
    }
  }
  if (requirements.values && data.values === undefined) {
    throw new TypeError(
      `${fn}(): expected data.values, because the model predicts or embeds values`,
    );
  }
  if (requirements.lagGroups > 0 && data.lags === undefined) {
    throw new TypeError(
      `${fn}(): expected data.lags, because the model has ${requirements.lagGroups} lag groups`,
    );
  }
  data.items.forEach((seq, s) => {
    if (seq.length === 0) {
      throw new RangeError(`${fn}(): expected sequence ${s} to be non-empty, got length 0`);
    }
    if (seq.length > maxLength) {
      throw new RangeError(
        `${fn}(): expected sequence ${s} to have at most ${maxLength} items, got ${seq.length}`,
      );
    }
    for (let j = 0; j < seq.length; j++) {
      const id = seq[j]!;
      if (!Number.isInteger(id) || id < 1 || id > numItems) {
        throw new RangeError(
          `${fn}(): expected items[${s}][${j}] to be an item id in 1..${numItems}, got ${id}`,
        );
      }
    }
    const values = data.values?.[s];
    if (requirements.values && values !== undefined) {
      if (values.length !== seq.length) {
        throw new TypeError(
          `${fn}(): expected values[${s}] to have length ${seq.length}, got ${values.length}`,
        );
      }
      requirements.validateValues?.(values, fn, `values[${s}]`);
      for (let j = 0; j < values.length; j++) {
        if (Number.isNaN(values[j]!)) {
          throw new RangeError(`${fn}(): expected values[${s}][${j}] to be a number, got NaN`);
        }
      }
    }
    const lags = data.lags?.[s];
    if (requirements.lagGroups > 0 && lags !== undefined) {
      if (lags.length !== seq.length) {
        throw new TypeError(
          `${fn}(): expected lags[${s}] to have length ${seq.length}, got ${lags.length}`,
        );
      }
      for (let j = 0; j < lags.length; j++) {
        const g = lags[j]!;
        if (!Number.isInteger(g) || g < 0 || g >= requirements.lagGroups) {
          throw new RangeError(
            `${fn}(): expected lags[${s}][${j}] to be a lag group in 0..${
              requirements.lagGroups - 1
            }, got ${g}`,
          );
        }
      }
    }
    const targets = data.targets?.[s];
    if (targets !== undefined) {
      for (let j = 0; j < targets.length; j++) {
        const t = targets[j]!;
        if (!Number.isInteger(t) || t < 0 || t >= seq.length) {
          throw new RangeError(
            `${fn}(): expected targets[${s}][${j}] to be a position in 0..${
              seq.length - 1
            }, got ${t}`,
          );
        }
      }
    }
  });
}

/**
 * Checks the shapes and dtypes of a batch at a public boundary.
 *
 * @param batch The batch.
 * @param fn The public function doing the check.
 * @returns The bound sizes `{ batch, time }`.
 * @throws {TypeError} When a field has the wrong shape or dtype.
 *
 * @example A batch whose target has the wrong length
 * ```ts
 * import { disposeBatch, makeBatch, named } from "@efa/efa";
 * import { checkBatch } from "./data.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const batch = makeBatch({ items: [[1, 2]] }, [[0, 0]]);
 * const target = named(tf.tensor1d([0, 1], "int32"), "batch");
 * assert.throws(() => checkBatch({ ...batch, target }, "f"), {
 *   name: "TypeError",
 *   message: "f(): expected target to have shape [batch=1], got [2]",
 * });
 * disposeBatch(batch);
 * ```
 */
export function checkBatch(
  batch: PaddedBatch | RowsBatch,
  fn: string,
): { batch: number; time: number } {
  const dims = checkShapes(fn, { items: [batch.items, "batch time", "int32"] });
  if (batch.layout === "padded") {
    checkShapes(fn, {
      lengths: [batch.lengths, "batch", "int32"],
      target: [batch.target, "batch", "int32"],
    }, dims);
  } else {
    checkShapes(fn, { maskAt: [batch.maskAt.float, "batch time", "float32"] }, dims);
  }
  if (batch.values !== undefined) {
    checkShapes(fn, { values: [batch.values, "batch time", "float32"] }, dims);
  }
  if (batch.lags !== undefined) {
    checkShapes(fn, { lags: [batch.lags, "batch time", "int32"] }, dims);
  }
  return { batch: dims["batch"]!, time: dims["time"]! };
}

/**
 * Disposes the tensors of a batch.
 *
 * @param batch The batch.
 *
 * @example Dispose a batch
 * ```ts
 * import { disposeBatch, makeBatch } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const before = tf.memory().numTensors;
 * disposeBatch(makeBatch({ items: [[1]] }, [[0, 0]]));
 * assert.equal(tf.memory().numTensors, before);
 * ```
 */
export function disposeBatch(batch: Batch): void {
  tf.dispose([batch.items, batch.labels.item]);
  batch.values?.dispose();
  batch.lags?.dispose();
  batch.labels.value?.dispose();
  if (batch.layout === "padded") tf.dispose([batch.lengths, batch.target]);
  else if (batch.layout === "rows") {
    tf.dispose([batch.maskAt.bool, batch.maskAt.float, batch.positions, batch.target]);
  } else tf.dispose([batch.positions, ...(batch.selector === null ? [] : [batch.selector])]);
}
