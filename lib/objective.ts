/**
 * What EFA and the FM baselines share: the forward pass of any batch layout
 * to natural parameters, and the one loss of the paper (per example: the
 * family's loss, summed over the item and value terms of a joint model; per
 * batch: their mean), used by training, evaluation and the benchmarks.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfScalar, TfTensor } from "./_types.ts";
import { sequencesForward } from "./_whole_sequences.ts";
import type { Batch, Labels, SequenceRequirements, Sequences } from "./data.ts";
import { validateSequences } from "./data.ts";
import { categorical } from "./families.ts";
import { disposeFm, fmForward, type FmModel } from "./fm.ts";
import { disposeEfa, efaForward, type EfaModel, type ModelOutput } from "./model.ts";

/** Any model of this package: EFA or an FM baseline. */
export type Model = EfaModel | FmModel;

/**
 * The forward pass of either model kind on a batch of any layout.
 *
 * @param model The model.
 * @param batch The batch (FM baselines take padded batches only).
 * @returns The natural parameters at the masked positions (and, for padded EFA batches, the attention weights).
 * @throws {TypeError} When an FM gets a batch in another layout than `"padded"`.
 *
 * @example Dispatch on the model kind
 * ```ts
 * import { createFm, disposeBatch, disposeModel, fmConfig, makeBatch } from "@efa/efa";
 * import { forward } from "./objective.ts";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 4 }), { seed: 1 });
 * const batch = makeBatch({ items: [[1, 2]] }, [[0, 0]]);
 * assert.deepEqual(forward(model, batch).itemEta!.shape, [1, 4]);
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function forward(model: Model, batch: Batch): ModelOutput {
  if (model.kind === "fm") {
    if (batch.layout !== "padded") {
      throw new TypeError(`forward(): expected a "padded" batch for an FM, got "${batch.layout}"`);
    }
    return fmForward(model, batch);
  }
  if (batch.layout === "padded" || batch.layout === "rows") return efaForward(model, batch);
  return sequencesForward(model, batch);
}

/**
 * Whether a model predicts items, values, or both.
 *
 * @param model The model.
 * @returns Which terms its loss has.
 *
 * @example A joint model predicts both
 * ```ts
 * import { createEfa, disposeModel, efaConfig } from "@efa/efa";
 * import { predicts } from "./objective.ts";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 3, maxLength: 3 }), { seed: 1 });
 * assert.deepEqual(predicts(model), { item: true, value: false });
 * disposeModel(model);
 * ```
 */
export function predicts(model: Model): { item: boolean; value: boolean } {
  const target = model.config.target;
  return { item: target !== "value", value: target !== "item" };
}

/** Per-example losses, by term. */
export interface LossTerms {
  /** Cross-entropy of the masked item, `[example]`. */
  readonly item?: TfTensor;
  /** The family's loss on the masked value, `[example]`. */
  readonly value?: TfTensor;
}

/**
 * The paper's per-prediction loss terms of a forward pass: the cross-entropy
 * of the item and the family's loss of the value.
 *
 * @param model The model.
 * @param out Its forward pass.
 * @param labels The observations at the targets.
 * @returns The item and/or value loss per example.
 *
 * @example An untrained categorical model scores about log(J)
 * ```ts
 * import { createFm, disposeBatch, disposeModel, fmConfig, makeBatch } from "@efa/efa";
 * import { forward, lossTerms } from "./objective.ts";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 8 }), { seed: 1 });
 * const batch = makeBatch({ items: [[1, 2, 3]] }, [[0, 1]]);
 * const loss = lossTerms(model, forward(model, batch), batch.labels).item!.dataSync()[0]!;
 * assert.ok(Math.abs(loss - Math.log(8)) < 0.1);
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function lossTerms(model: Model, out: ModelOutput, labels: Labels): LossTerms {
  return tf.tidy(() => {
    const terms: { item?: TfTensor; value?: TfTensor } = {};
    if (out.itemEta !== undefined) {
      terms.item = categorical(model.config.numItems).loss(labels.item, out.itemEta); // [E]
    }
    if (out.valueEta !== undefined) terms.value = model.family!.loss(labels.value!, out.valueEta); // [E]
    return terms;
  });
}

/**
 * The training objective of a batch: the mean over its examples of the
 * summed loss terms (Keras' mean loss per prediction). The same number in
 * every layout of the same examples, up to float32 rounding.
 *
 * @param model The model.
 * @param batch The batch.
 * @returns A scalar.
 *
 * @example The mean loss of a batch
 * ```ts
 * import { createFm, disposeBatch, disposeModel, fmConfig, makeBatch, meanLoss } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 8 }), { seed: 1 });
 * const batch = makeBatch({ items: [[1, 2, 3]] }, [[0, 0], [0, 1]]);
 * assert.ok(Number.isFinite(meanLoss(model, batch).dataSync()[0]!));
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function meanLoss(model: Model, batch: Batch): TfScalar {
  return tf.tidy(() => {
    const { item, value } = lossTerms(model, forward(model, batch), batch.labels);
    const total = item !== undefined && value !== undefined
      ? tf.add(item, value)
      : (item ?? value)!; // [E]
    return tf.mean(total) as TfScalar;
  });
}

/**
 * Frees the tensors of a model of either kind.
 *
 * @param model The model.
 *
 * @example Create and free a model
 * ```ts
 * import { createEfa, disposeModel, efaConfig } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const before = tf.memory().numTensors;
 * disposeModel(createEfa(efaConfig(), { seed: 1 }));
 * assert.equal(tf.memory().numTensors, before);
 * ```
 */
export function disposeModel(model: Model): void {
  if (model.kind === "efa") disposeEfa(model);
  else disposeFm(model);
}

/**
 * What a model needs of a data set, for {@link validateSequences}.
 *
 * @param model The model.
 * @returns The requirements.
 *
 * @example A value model requires values
 * ```ts
 * import { createFm, disposeModel, fmConfig } from "@efa/efa";
 * import { dataRequirements } from "./objective.ts";
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
