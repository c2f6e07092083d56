/**
 * What EFA and the FM baselines share: a forward pass to natural parameters,
 * the observed labels at the masked positions, and the per-prediction loss
 * (the family's loss, summed over the item and value terms of a joint model).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfScalar, TfTensor } from "./_types.ts";
import type { Batch, MakeBatchOptions, SequenceRequirements, Sequences } from "./data.ts";
import { validateSequences } from "./data.ts";
import { categorical } from "./families.ts";
import { fmForward, type FmModel } from "./fm.ts";
import { efaForward, type EfaModel, type EfaOutput } from "./model.ts";

/** Any model of this package: EFA or an FM baseline. */
export type Model = EfaModel | FmModel;

/**
 * The forward pass of either model kind.
 *
 * @param model The model.
 * @param batch The batch.
 * @returns The natural parameters at the masked positions (and EFA's attention).
 *
 * @example Dispatch on the model kind
 * ```ts
 * import { createFm, disposeBatch, disposeModel, fmConfig, forward, makeBatch } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 4 }), { seed: 1 });
 * const batch = makeBatch({ items: [[1, 2]] }, [[0, 0]]);
 * assert.deepEqual(forward(model, batch).itemEta!.shape, [1, 4]);
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function forward(model: Model, batch: Batch): EfaOutput {
  return model.kind === "efa" ? efaForward(model, batch) : fmForward(model, batch);
}

/** Whether a model predicts items, values, or both. */
export function predicts(model: Model): { item: boolean; value: boolean } {
  const target = model.config.target;
  return { item: target !== "value", value: target !== "item" };
}

/**
 * The observations at each row's masked position: the item as a class id
 * (`item - 1`) and the value.
 *
 * @param batch The batch.
 * @returns `item` `[batch]` int32 and, when the batch has values, `value` `[batch]`.
 *
 * @example Labels of two rows
 * ```ts
 * import { disposeBatch, makeBatch, targetLabels } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const batch = makeBatch({ items: [[3, 7]], values: [[0.5, 2]] }, [[0, 0], [0, 1]]);
 * const { item, value } = targetLabels(batch);
 * assert.deepEqual(Array.from(item.dataSync()), [2, 6]);
 * assert.deepEqual(Array.from(value!.dataSync()), [0.5, 2]);
 * disposeBatch(batch);
 * ```
 */
export function targetLabels(batch: Batch): { item: TfTensor; value?: TfTensor } {
  return tf.tidy(() => {
    const T = batch.items.shape[1]!;
    const onTarget = tf.oneHot(batch.target, T, 1, 0, "int32"); // [B, T]
    const item = tf.sub(tf.sum(tf.mul(batch.items, onTarget), 1), tf.scalar(1, "int32")); // [B]
    if (batch.values === undefined) return { item };
    return { item, value: tf.sum(tf.mul(batch.values, tf.cast(onTarget, "float32")), 1) }; // [B]
  });
}

/** Per-row losses of a batch, by term. */
export interface ExampleLosses {
  /** Cross-entropy of the masked item, `[batch]`. */
  readonly item?: TfTensor;
  /** The family's loss on the masked value, `[batch]`. */
  readonly value?: TfTensor;
}

/**
 * The paper's per-prediction loss of every row, each term computed separately.
 *
 * @param model The model.
 * @param batch The batch.
 * @returns The item and/or value loss per row.
 *
 * @example An untrained categorical model scores about log(J)
 * ```ts
 * import { createFm, disposeBatch, disposeModel, exampleLosses, fmConfig, makeBatch } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 8 }), { seed: 1 });
 * const batch = makeBatch({ items: [[1, 2, 3]] }, [[0, 1]]);
 * const loss = exampleLosses(model, batch).item!.dataSync()[0]!;
 * assert.ok(Math.abs(loss - Math.log(8)) < 0.1);
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function exampleLosses(model: Model, batch: Batch): ExampleLosses {
  return tf.tidy(() => {
    const out = forward(model, batch);
    out.attention.forEach((a) => a.dispose());
    const labels = targetLabels(batch);
    const losses: { item?: TfTensor; value?: TfTensor } = {};
    if (out.itemEta !== undefined) {
      losses.item = categorical(model.config.numItems).loss(labels.item, out.itemEta);
    }
    if (out.valueEta !== undefined) losses.value = model.family!.loss(labels.value!, out.valueEta);
    return losses;
  });
}

/**
 * The training objective of a batch: the mean over rows of the summed loss
 * terms (Keras' mean loss per prediction).
 *
 * @param model The model.
 * @param batch The batch.
 * @returns A scalar.
 *
 * @example The mean loss of a batch
 * ```ts
 * import { batchLoss, createFm, disposeBatch, disposeModel, fmConfig, makeBatch } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 8 }), { seed: 1 });
 * const batch = makeBatch({ items: [[1, 2, 3]] }, [[0, 0], [0, 1]]);
 * assert.ok(Number.isFinite(batchLoss(model, batch).dataSync()[0]!));
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function batchLoss(model: Model, batch: Batch): TfScalar {
  return tf.tidy(() => {
    const { item, value } = exampleLosses(model, batch);
    const total = item !== undefined && value !== undefined
      ? tf.add(item, value)
      : (item ?? value)!;
    return tf.mean(total) as TfScalar;
  });
}

/**
 * What a model needs of a data set, for {@link validateSequences}.
 *
 * @param model The model.
 * @returns The requirements.
 *
 * @example A value model requires values
 * ```ts
 * import { createFm, dataRequirements, disposeModel, fmConfig } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 3, target: "value", family: { name: "poisson" } }), { seed: 1 });
 * assert.equal(dataRequirements(model).values, true);
 * disposeModel(model);
 * ```
 */
export function dataRequirements(model: Model): SequenceRequirements {
  const embedsValues = model.kind === "efa"
    ? model.config.valueEmbedding.kind !== "none"
    : model.config.target === "value";
  const family = model.family;
  return {
    numItems: model.config.numItems,
    maxLength: model.kind === "efa" ? model.config.maxLength : Number.MAX_SAFE_INTEGER,
    values: embedsValues,
    lagGroups: model.kind === "efa" ? model.config.lagGroups : 0,
    ...(family === null ? {} : { validateValues: family.validate }),
  };
}

/**
 * Checks a data set against what a model needs (see {@link validateSequences}).
 *
 * @param model The model.
 * @param data The sequences.
 * @param fn The public function doing the check.
 *
 * @example Negative Poisson counts are refused
 * ```ts
 * import { createFm, disposeModel, fmConfig, validateData } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 3, target: "value", family: { name: "poisson" } }), { seed: 1 });
 * assert.throws(() => validateData(model, { items: [[1, 2]], values: [[1, -1]] }, "fit"), RangeError);
 * disposeModel(model);
 * ```
 */
export function validateData(model: Model, data: Sequences, fn: string): void {
  validateSequences(data, dataRequirements(model), fn);
}

/**
 * How the reference path lays out a batch, as the authors' notebooks build it:
 * one row per example, padded to the model's `maxLength` (`max_len`); rows are
 * cut after the target only where the notebooks build prefixes (the value EFA's
 * `"prefix"` unidirectional rows and the unidirectional FM).
 *
 * @param model The model.
 * @returns Options for {@link makeBatch}.
 *
 * @example The categorical unidirectional EFA keeps whole, padded rows
 * ```ts
 * import { createEfa, disposeModel, efaConfig, referenceBatchOptions } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ direction: "unidirectional" }), { seed: 1 });
 * assert.deepEqual(referenceBatchOptions(model), { truncateAfterTarget: false, padTo: 24 });
 * disposeModel(model);
 * ```
 */
export function referenceBatchOptions(model: Model): MakeBatchOptions {
  if (model.kind === "fm") {
    return { truncateAfterTarget: model.config.context === "unidirectional" };
  }
  const { direction, unidirectionalMask, maxLength } = model.config;
  return {
    truncateAfterTarget: direction === "unidirectional" && unidirectionalMask === "prefix",
    padTo: maxLength,
  };
}
