/**
 * Evaluation: the mean loss and log-likelihood per prediction (accumulated in
 * float64), the mean squared error of value predictions, predictions
 * (means and natural parameters), and attention weights.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfTensor } from "./_types.ts";
import { disposeBatch, type Example, listExamples, makeBatch, type Sequences } from "./data.ts";
import { fastForward, planFastBatches, splitFastBatch } from "./fast.ts";
import { categorical } from "./families.ts";
import {
  forward,
  type Model,
  predicts,
  referenceBatchOptions,
  targetLabels,
  validateData,
} from "./objective.ts";

/** Options of {@link evaluate} and {@link predict}. */
export interface EvaluateOptions {
  /** Predictions per forward pass (default 1024). */
  readonly batchSize?: number;
  /**
   * `"fast"` (default for EFA models): batches of equal-length rows or two
   * streams (see `fast.ts`); `"reference"`: one padded row per example. Both
   * give the same numbers up to float32 rounding; FM baselines always use the
   * reference path.
   */
  readonly path?: "fast" | "reference";
}

/** Natural parameters and labels of a chunk of examples (tensors the caller disposes). */
interface ChunkOutput {
  readonly examples: readonly Example[];
  readonly itemEta?: TfTensor;
  readonly valueEta?: TfTensor;
  readonly itemLabel: TfTensor;
  readonly valueLabel?: TfTensor;
}

/** Every example's natural parameters and labels, chunk by chunk, on the fast or the reference path. */
function* outputs(model: Model, data: Sequences, options: EvaluateOptions): Generator<ChunkOutput> {
  const batchSize = options.batchSize ?? 1024;
  if (model.kind === "efa" && (options.path ?? "fast") === "fast") {
    for (const batch of planFastBatches(model, data, { batchSize })) {
      for (const chunk of splitFastBatch(model, batch)) {
        yield { examples: chunk.examples, ...fastForward(model, data, chunk) };
      }
    }
    return;
  }
  for (const chunk of chunks(listExamples(data), batchSize)) {
    const batch = makeBatch(data, chunk, referenceBatchOptions(model));
    const out = tf.tidy(() => {
      const f = forward(model, batch);
      f.attention.forEach((a) => a.dispose());
      const labels = targetLabels(batch);
      return {
        ...(f.itemEta === undefined ? {} : { itemEta: f.itemEta }),
        ...(f.valueEta === undefined ? {} : { valueEta: f.valueEta }),
        itemLabel: labels.item,
        ...(labels.value === undefined ? {} : { valueLabel: labels.value }),
      };
    });
    disposeBatch(batch);
    yield { examples: chunk, ...out };
  }
}

function disposeChunk(c: ChunkOutput): void {
  tf.dispose([c.itemLabel]);
  c.itemEta?.dispose();
  c.valueEta?.dispose();
  c.valueLabel?.dispose();
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

function* chunks(examples: Example[], size: number): Generator<Example[]> {
  for (let i = 0; i < examples.length; i += size) yield examples.slice(i, i + size);
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
  for (const chunk of outputs(model, data, options)) {
    const sums = tf.tidy(() => {
      const ll: TfTensor[] = [];
      let item: TfTensor | undefined, value: TfTensor | undefined, mean: TfTensor | undefined;
      if (chunk.itemEta !== undefined) {
        const family = categorical(model.config.numItems);
        item = family.loss(chunk.itemLabel, chunk.itemEta);
        ll.push(family.logLikelihood(chunk.itemLabel, chunk.itemEta));
      }
      if (chunk.valueEta !== undefined) {
        value = model.family!.loss(chunk.valueLabel!, chunk.valueEta);
        ll.push(model.family!.logLikelihood(chunk.valueLabel!, chunk.valueEta));
        mean = model.family!.mean(chunk.valueEta);
      }
      return {
        item: item?.dataSync(),
        value: value?.dataSync(),
        ll: ll.map((t) => t.dataSync()),
        mean: mean?.dataSync(),
        y: chunk.valueLabel?.dataSync(),
      };
    });
    disposeChunk(chunk);
    const n = chunk.examples.length;
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
  for (const chunk of outputs(model, data, options)) {
    const rows = chunk.examples.map((e) => order.get(`${e[0]}:${e[1]}`)!);
    tf.tidy(() => {
      if (chunk.itemEta !== undefined) {
        const eta = chunk.itemEta.dataSync(), probabilities = tf.softmax(chunk.itemEta).dataSync();
        rows.forEach((r, i) => {
          itemEta!.set(eta.subarray(i * J, (i + 1) * J), r * J);
          itemProbabilities!.set(probabilities.subarray(i * J, (i + 1) * J), r * J);
        });
      }
      if (chunk.valueEta !== undefined) {
        const eta = chunk.valueEta.dataSync(), mean = model.family!.mean(chunk.valueEta).dataSync();
        rows.forEach((r, i) => {
          valueEta!.set(eta.subarray(i * natural, (i + 1) * natural), r * natural);
          valueMean![r] = mean[i]!;
        });
      }
    });
    disposeChunk(chunk);
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
  disposeBatch(batch);
  out.itemEta?.dispose();
  out.valueEta?.dispose();
  return out.attention.map((a) => {
    const w = (a.arraySync() as number[][][][])[0]!;
    a.dispose();
    return w;
  });
}
