/**
 * Evaluation: the mean loss and log-likelihood per prediction (accumulated in
 * float64), the mean squared error of value predictions, predictions
 * (means and natural parameters), and attention weights.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfTensor } from "./_types.ts";
import { type Batch, disposeBatch, type Example, listExamples, type Sequences } from "./data.ts";
import { categorical } from "./families.ts";
import type { ModelOutput } from "./model.ts";
import { forward, lossTerms, type Model, predicts, validateData } from "./objective.ts";
import { batchTensors, makeBatch, planEvaluation } from "./plan.ts";

/** Options of {@link evaluate} and {@link predict}. */
export interface EvaluateOptions {
  /** Predictions per forward pass (default 1024). */
  readonly batchSize?: number;
  /**
   * `"auto"` (default for EFA models): packed rows, masked copies or two
   * streams (see `planEvaluation`); `"padded"`: one padded row per
   * example. Both give the same numbers up to float32 rounding; FM baselines
   * always use `"padded"`.
   */
  readonly layout?: "auto" | "padded";
}

/** Every planned batch's forward pass, with its examples; the caller disposes both. */
function* outputs(
  model: Model,
  data: Sequences,
  options: EvaluateOptions,
): Generator<{ examples: readonly Example[]; batch: Batch; out: ModelOutput }> {
  const plan = planEvaluation(model, data, {
    batchSize: options.batchSize ?? 1024,
    ...(options.layout === undefined ? {} : { layout: options.layout }),
  });
  for (const chunk of plan) {
    const batch = batchTensors(model, data, chunk);
    const out = forward(model, batch);
    out.attention?.forEach((a) => a.dispose());
    yield { examples: chunk.examples, batch, out };
  }
}

function disposeOutput(batch: Batch, out: ModelOutput): void {
  disposeBatch(batch);
  out.itemEta?.dispose();
  out.valueEta?.dispose();
}

/** What {@link evaluate} returns; every mean is per prediction. */
export interface EvaluateResult {
  /** The paper's test loss: the mean of the summed loss terms (cross-entropy, MSE, Poisson loss). */
  readonly loss: number;
  /** Mean cross-entropy of the masked items (item and joint models). */
  readonly itemLoss?: number;
  /** Mean family loss of the masked values (value and joint models). */
  readonly valueLoss?: number;
  /** Mean full log-likelihood, all constants included (item plus value terms). */
  readonly logLikelihood: number;
  /** Mean squared error of the predicted mean value (value and joint models). */
  readonly mse?: number;
  /** Number of predictions. */
  readonly count: number;
}

/**
 * Evaluates a model on every target of a data set.
 *
 * @param model The model.
 * @param data The sequences.
 * @param options The batch size.
 * @returns Mean loss, log-likelihood and MSE per prediction.
 *
 * @example An untrained categorical FM scores about log(J)
 * ```ts
 * import { createFm, disposeModel, evaluate, fmConfig } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 10 }), { seed: 1 });
 * const result = evaluate(model, { items: [[1, 2, 3], [4, 5]] });
 * assert.equal(result.count, 5);
 * assert.ok(Math.abs(result.loss - Math.log(10)) < 0.1);
 * disposeModel(model);
 * ```
 */
export function evaluate(
  model: Model,
  data: Sequences,
  options: EvaluateOptions = {},
): EvaluateResult {
  validateData(model, data, "evaluate");
  const what = predicts(model);
  let itemLoss = 0, valueLoss = 0, logLik = 0, squaredError = 0, count = 0;
  for (const { examples, batch, out } of outputs(model, data, options)) {
    const { labels } = batch;
    const sums = tf.tidy(() => {
      const { item, value } = lossTerms(model, out, labels); // [E] each
      const ll: TfTensor[] = [];
      if (out.itemEta !== undefined) {
        ll.push(categorical(model.config.numItems).logLikelihood(labels.item, out.itemEta)); // [E]
      }
      if (out.valueEta !== undefined) {
        ll.push(model.family!.logLikelihood(labels.value!, out.valueEta)); // [E]
      }
      const mean = out.valueEta === undefined ? undefined : model.family!.mean(out.valueEta); // [E]
      return {
        item: item?.dataSync(),
        value: value?.dataSync(),
        ll: ll.map((t) => t.dataSync()),
        mean: mean?.dataSync(),
        y: labels.value?.dataSync(),
      };
    });
    disposeOutput(batch, out);
    const n = examples.length;
    for (let i = 0; i < n; i++) {
      if (sums.item !== undefined) itemLoss += sums.item[i]!;
      if (sums.value !== undefined) valueLoss += sums.value[i]!;
      for (const ll of sums.ll) logLik += ll[i]!;
      if (sums.mean !== undefined && sums.y !== undefined) {
        squaredError += (sums.mean[i]! - sums.y[i]!) ** 2;
      }
    }
    count += n;
  }
  return {
    loss: ((what.item ? itemLoss : 0) + (what.value ? valueLoss : 0)) / count,
    ...(what.item ? { itemLoss: itemLoss / count } : {}),
    ...(what.value ? { valueLoss: valueLoss / count, mse: squaredError / count } : {}),
    logLikelihood: logLik / count,
    count,
  };
}

/** What {@link predict} returns, one entry per example in data order. */
export interface Predictions {
  /** The examples, `[sequence, position]`. */
  readonly examples: Example[];
  /** Item probabilities, row-major `[count, numItems]` (item and joint models). */
  readonly itemProbabilities?: Float32Array;
  /** Item logits (the natural parameters), row-major `[count, numItems]`. */
  readonly itemEta?: Float32Array;
  /** The predicted mean value `E[y]` (value and joint models). */
  readonly valueMean?: Float32Array;
  /** The natural parameters of the value, row-major `[count, natural]`. */
  readonly valueEta?: Float32Array;
}

/**
 * Predicts every target of a data set: the mean and the natural parameter of
 * each masked observation.
 *
 * @param model The model.
 * @param data The sequences.
 * @param options The batch size.
 * @returns The predictions, in the order of {@link listExamples}.
 *
 * @example Probabilities sum to one
 * ```ts
 * import { createFm, disposeModel, fmConfig, predict } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 3 }), { seed: 1 });
 * const p = predict(model, { items: [[1, 2]] }).itemProbabilities!;
 * assert.ok(Math.abs(p[0]! + p[1]! + p[2]! - 1) < 1e-6);
 * disposeModel(model);
 * ```
 */
export function predict(model: Model, data: Sequences, options: EvaluateOptions = {}): Predictions {
  validateData(model, data, "predict");
  const examples = listExamples(data);
  const order = new Map(examples.map((e, i) => [`${e[0]}:${e[1]}`, i]));
  const what = predicts(model);
  const J = model.config.numItems;
  const natural = model.family?.naturalDim ?? 0;
  const n = examples.length;
  const itemProbabilities = what.item ? new Float32Array(n * J) : undefined;
  const itemEta = what.item ? new Float32Array(n * J) : undefined;
  const valueMean = what.value ? new Float32Array(n) : undefined;
  const valueEta = what.value ? new Float32Array(n * natural) : undefined;
  for (const { examples: chunk, batch, out } of outputs(model, data, options)) {
    const rows = chunk.map((e) => order.get(`${e[0]}:${e[1]}`)!);
    tf.tidy(() => {
      if (out.itemEta !== undefined) {
        const eta = out.itemEta.dataSync(), probabilities = tf.softmax(out.itemEta).dataSync();
        rows.forEach((r, i) => {
          itemEta!.set(eta.subarray(i * J, (i + 1) * J), r * J);
          itemProbabilities!.set(probabilities.subarray(i * J, (i + 1) * J), r * J);
        });
      }
      if (out.valueEta !== undefined) {
        const eta = out.valueEta.dataSync(), mean = model.family!.mean(out.valueEta).dataSync();
        rows.forEach((r, i) => {
          valueEta!.set(eta.subarray(i * natural, (i + 1) * natural), r * natural);
          valueMean![r] = mean[i]!;
        });
      }
    });
    disposeOutput(batch, out);
  }
  return {
    examples,
    ...(itemProbabilities === undefined ? {} : { itemProbabilities, itemEta: itemEta! }),
    ...(valueMean === undefined ? {} : { valueMean, valueEta: valueEta! }),
  };
}

/**
 * The attention weights of every layer and head when one observation of one
 * sequence is masked: `weights[layer][head][query][key]`.
 *
 * @param model An EFA model.
 * @param data The sequences.
 * @param sequence The sequence's index.
 * @param position The masked position.
 * @returns The weights as nested arrays.
 * @throws {RangeError} When the sequence or position does not exist.
 *
 * @example Each query's weights sum to one
 * ```ts
 * import { attentionWeights, createEfa, disposeModel, efaConfig } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 5, maxLength: 4 }), { seed: 1 });
 * const w = attentionWeights(model, { items: [[1, 2, 3]] }, 0, 1);
 * assert.equal(w.length, 2); // layers
 * assert.ok(Math.abs(w[0]![0]![1]!.reduce((a, b) => a + b) - 1) < 1e-5);
 * disposeModel(model);
 * ```
 */
export function attentionWeights(
  model: Model,
  data: Sequences,
  sequence: number,
  position: number,
): number[][][][] {
  if (model.kind !== "efa") {
    throw new TypeError("attentionWeights(): expected an EFA model, got an FM baseline");
  }
  const seq = data.items[sequence];
  if (seq === undefined) {
    throw new RangeError(
      `attentionWeights(): expected sequence in 0..${data.items.length - 1}, got ${sequence}`,
    );
  }
  if (!Number.isInteger(position) || position < 0 || position >= seq.length) {
    throw new RangeError(
      `attentionWeights(): expected position in 0..${seq.length - 1}, got ${position}`,
    );
  }
  const one: Sequences = {
    items: [seq],
    ...(data.values === undefined ? {} : { values: [data.values[sequence]!] }),
    ...(data.lags === undefined ? {} : { lags: [data.lags[sequence]!] }),
  };
  validateData(model, one, "attentionWeights");
  const batch = makeBatch(one, [[0, position]], { truncateAfterTarget: false });
  const out = forward(model, batch);
  disposeOutput(batch, out);
  // A one-token sequence is laid out two wide (tfjs's oneHot refuses depth 1): keep its own tokens.
  const n = seq.length;
  return out.attention!.map((a) => {
    const w = (a.arraySync() as number[][][][])[0]!;
    a.dispose();
    return w.map((head) => head.slice(0, n).map((row) => row.slice(0, n)));
  });
}
