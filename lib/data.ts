/**
 * Sequences of observations and the per-example batches the models consume.
 *
 * A data set is a list of sequences (a user's ratings, a basket, a day of
 * city temperatures). Sequence `s` has item ids `items[s][j]` in `1..J`,
 * optionally a value `values[s][j]` per item and a lag group `lags[s][j]`.
 * Every listed target position is one *example*: the model predicts the
 * observation at that position from the others (its context).
 *
 * A {@link Batch} holds one padded row per example, the reference layout of
 * the authors' notebooks. Padding uses item id 0 and the model never attends
 * to positions at or after a row's length.
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

/** A padded batch of examples, one row per example. */
export interface Batch {
  /** Item ids, 0 = padding: `[batch, time]` int32. */
  readonly items: Tensor<"batch time">;
  /** Values (0 at padding): `[batch, time]` float32, when modelled. */
  readonly values?: Tensor<"batch time">;
  /** Lag groups: `[batch, time]` int32, when present. */
  readonly lags?: Tensor<"batch time">;
  /** Number of real tokens in each row: `[batch]` int32. */
  readonly lengths: Tensor<"batch">;
  /** The masked (predicted) position of each row: `[batch]` int32. */
  readonly target: Tensor<"batch">;
}

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
 * import { validateSequences } from "@efa/efa";
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
 * @returns The batch; the caller disposes it (see {@link disposeBatch}).
 *
 * @example A batch of two examples from one sequence
 * ```ts
 * import { disposeBatch, makeBatch } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const batch = makeBatch({ items: [[4, 5, 6]] }, [[0, 0], [0, 2]]);
 * assert.deepEqual(batch.items.shape, [2, 3]);
 * assert.deepEqual(Array.from(batch.target.dataSync()), [0, 2]);
 * disposeBatch(batch);
 * ```
 */
export function makeBatch(
  data: Sequences,
  examples: readonly Example[],
  options: MakeBatchOptions = {},
): Batch {
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
    items: tf.tensor2d(items, [B, T], "int32") as Tensor<"batch time">,
    ...(values === undefined
      ? {}
      : { values: tf.tensor2d(values, [B, T], "float32") as Tensor<"batch time"> }),
    ...(lags === undefined
      ? {}
      : { lags: tf.tensor2d(lags, [B, T], "int32") as Tensor<"batch time"> }),
    lengths: tf.tensor1d(lengths, "int32") as Tensor<"batch">,
    target: tf.tensor1d(target, "int32") as Tensor<"batch">,
  };
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
 * import { checkBatch, disposeBatch, makeBatch } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const batch = makeBatch({ items: [[1, 2]] }, [[0, 0]]);
 * assert.throws(() => checkBatch({ ...batch, target: tf.tensor1d([0, 1], "int32") } as never, "f"), TypeError);
 * disposeBatch(batch);
 * ```
 */
export function checkBatch(batch: Batch, fn: string): { batch: number; time: number } {
  const dims = checkShapes(fn, {
    items: [batch.items, "batch time", "int32"],
    lengths: [batch.lengths, "batch", "int32"],
    target: [batch.target, "batch", "int32"],
  });
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
  batch.items.dispose();
  batch.values?.dispose();
  batch.lags?.dispose();
  batch.lengths.dispose();
  batch.target.dispose();
}
