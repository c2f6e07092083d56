/**
 * The training loop: Adam on the paper's per-prediction loss, batch order
 * drawn from a seed, validation every epoch, early stopping with patience and
 * restore of the best weights, callbacks for progress, divergence detection.
 * The library never writes to the console; progress goes through `onEpoch`
 * and `onStep`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { disposeBatch, listExamples, type Sequences } from "./data.ts";
import { evaluate } from "./evaluate.ts";
import { Adam } from "./adam.ts";
import { meanLoss, type Model, validateData } from "./objective.ts";
import { type BatchPlan, batchTensors, planEpochs } from "./plan.ts";
import type { TfScalar, TfTensor, TfVariable } from "./_types.ts";
import { SeedStream } from "./random.ts";

/** What {@link train} reports after each epoch. */
export interface EpochInfo {
  /** The epoch just finished, from 1. */
  readonly epoch: number;
  /** Mean training loss per prediction over the epoch. */
  readonly trainLoss: number;
  /** Mean validation loss per prediction, when validation data was given. */
  readonly validationLoss?: number;
  /** The epoch with the lowest validation loss so far. */
  readonly bestEpoch: number;
  /** Wall time of the epoch in seconds. */
  readonly seconds: number;
  /** Optimisation steps per epoch. */
  readonly steps: number;
}

/** What {@link train} reports after each optimisation step. */
export interface StepInfo {
  /** The current epoch, from 1. */
  readonly epoch: number;
  /** The step within the epoch, from 1. */
  readonly step: number;
  /** Steps per epoch. */
  readonly steps: number;
  /** The batch's mean loss. */
  readonly loss: number;
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** Maximum number of epochs. */
  readonly epochs: number;
  /** Predictions per step (default 256, the paper's batch size). */
  readonly batchSize?: number;
  /** Adam's learning rate (default 1e-4, the paper's). */
  readonly learningRate?: number;
  /** Stop after this many epochs without a better validation loss (default: never). */
  readonly patience?: number;
  /** Seed of the batch order (default 0). */
  readonly seed?: number;
  /** Validation data, evaluated every epoch; early stopping watches its loss. */
  readonly validation?: Sequences;
  /** Put back the weights of the best validation epoch at the end (default true). */
  readonly restoreBestWeights?: boolean;
  /**
   * `"auto"` (default for EFA models): each step draws its examples (whole
   * sequences where they are computed whole) in a seeded random order and
   * computes them as equal-length rows, masked copies or two streams: the
   * same losses and gradients as the padded layout at several times the
   * speed (see `planEpochs`). `"padded"`: one padded row per example, as the
   * notebooks, batches drawn uniformly. FM baselines always use `"padded"`.
   */
  readonly layout?: "auto" | "padded";
  /**
   * `"auto"` layout: what a step draws, whole sequences where they are
   * computed whole (`"sequences"`, default) or single examples
   * (`"examples"`, see `planEpochs`).
   */
  readonly draw?: "sequences" | "examples";
  /** Called after every epoch; may be async (it is awaited). */
  readonly onEpoch?: (info: EpochInfo) => void | Promise<void>;
  /** Called after every step. */
  readonly onStep?: (info: StepInfo) => void;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** One record per epoch run. */
  readonly history: EpochInfo[];
  /** The epoch whose weights the model holds at the end. */
  readonly bestEpoch: number;
  /** Its validation loss (or training loss without validation data). */
  readonly bestLoss: number;
  /** Whether patience ran out before `epochs`. */
  readonly stoppedEarly: boolean;
}

/**
 * Trains a model in place with Adam as Keras computes it ({@link Adam}:
 * beta 0.9, 0.999, epsilon 1e-7). Each epoch shuffles the examples with a stream seeded by
 * `seed`, so the same seed on the same backend gives the same losses.
 *
 * @param model The model (EFA or FM); its parameters are updated.
 * @param data The training sequences.
 * @param options Epochs, batch size, learning rate, early stopping, callbacks.
 * @returns The history and the chosen epoch.
 * @throws {RangeError} When the data does not fit the model or an option is out of range.
 * @throws {Error} When the loss becomes NaN or infinite, naming the epoch and step.
 *
 * @example Train the FM baseline for two epochs
 * ```ts
 * import { createFm, disposeModel, fmConfig, train } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 4 }), { seed: 1 });
 * const data = { items: [[1, 2, 3], [2, 3, 4], [1, 3]] };
 * const result = await train(model, data, { epochs: 2, learningRate: 0.01, seed: 7 });
 * assert.equal(result.history.length, 2);
 * disposeModel(model);
 * ```
 */
export async function train(
  model: Model,
  data: Sequences,
  options: TrainOptions,
): Promise<TrainResult> {
  const fn = "train";
  const batchSize = options.batchSize ?? 256;
  const learningRate = options.learningRate ?? 1e-4;
  const patience = options.patience ?? Infinity;
  if (!Number.isInteger(options.epochs) || options.epochs < 1) {
    throw new RangeError(
      `${fn}(): expected epochs to be a positive integer, got ${options.epochs}`,
    );
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`${fn}(): expected batchSize to be a positive integer, got ${batchSize}`);
  }
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) {
    throw new RangeError(
      `${fn}(): expected learningRate to be a positive number, got ${learningRate}`,
    );
  }
  if (!(patience >= 1)) {
    throw new RangeError(`${fn}(): expected patience to be >= 1, got ${patience}`);
  }
  validateData(model, data, fn);
  if (options.validation !== undefined) validateData(model, options.validation, fn);

  const examples = listExamples(data).length;
  const rng = new SeedStream(options.seed ?? 0);
  const epochs = planEpochs(model, data, {
    batchSize,
    rng,
    ...(options.layout === undefined ? {} : { layout: options.layout }),
    ...(options.draw === undefined ? {} : { draw: options.draw }),
  });
  const variables = Object.values(model.params);
  const optimizer = new Adam(variables, { learningRate });
  const history: EpochInfo[] = [];
  let best: { epoch: number; loss: number; weights: TfTensor[] | null } = {
    epoch: 0,
    loss: Infinity,
    weights: null,
  };
  let stoppedEarly = false;
  const restore = (): void => {
    if (best.weights !== null) variables.forEach((v, i) => v.assign(best.weights![i]!));
  };
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const start = performance.now();
      let lossSum = 0;
      const plan = epochs.next().value;
      const steps = plan.length;
      for (let step = 1; step <= steps; step++) {
        const { count, chunks } = plan[step - 1]!;
        const loss = chunks.length === 1
          ? optimizer.step(() => batchLoss(model, data, chunks[0]!))
          : accumulatedStep(optimizer, variables, model, data, chunks, count);
        if (!Number.isFinite(loss)) {
          throw new Error(
            `Training diverged: the loss is ${loss} at epoch ${epoch}, step ${step} of ${steps}`,
          );
        }
        lossSum += loss * count;
        options.onStep?.({ epoch, step, steps, loss });
      }
      const trainLoss = lossSum / examples;
      const validationLoss = options.validation === undefined
        ? undefined
        : evaluate(model, options.validation, {
          batchSize: Math.max(batchSize, 1024),
          ...(options.layout === undefined ? {} : { layout: options.layout }),
        }).loss;
      const monitored = validationLoss ?? trainLoss;
      if (!Number.isFinite(monitored)) {
        throw new Error(`Training diverged: the validation loss is ${monitored} at epoch ${epoch}`);
      }
      if (monitored < best.loss) {
        best.weights?.forEach((w) => w.dispose());
        best = { epoch, loss: monitored, weights: variables.map((v) => tf.clone(v)) };
      }
      const info: EpochInfo = {
        epoch,
        trainLoss,
        ...(validationLoss === undefined ? {} : { validationLoss }),
        bestEpoch: best.epoch,
        seconds: (performance.now() - start) / 1000,
        steps: plan.length,
      };
      history.push(info);
      await options.onEpoch?.(info);
      if (epoch - best.epoch >= patience) {
        stoppedEarly = epoch < options.epochs;
        break;
      }
    }
    if (options.restoreBestWeights ?? true) restore();
  } catch (error) {
    restore(); // leave the model at its best finished epoch, never half-updated
    throw error;
  } finally {
    optimizer.dispose();
    best.weights?.forEach((w) => w.dispose());
  }
  const last = history[history.length - 1]!;
  const kept = (options.restoreBestWeights ?? true)
    ? best
    : { epoch: last.epoch, loss: last.validationLoss ?? last.trainLoss };
  return { history, bestEpoch: kept.epoch, bestLoss: kept.loss, stoppedEarly };
}

/**
 * The mean loss of a planned batch, its tensors built and freed around the
 * forward pass (what a training step differentiates).
 *
 * @param model The model.
 * @param data The sequences the plan refers to.
 * @param plan The batch.
 * @returns A scalar.
 */
export function batchLoss(model: Model, data: Sequences, plan: BatchPlan): TfScalar {
  const batch = batchTensors(model, data, plan);
  try {
    return meanLoss(model, batch);
  } finally {
    disposeBatch(batch);
  }
}

/** One optimiser step from gradients summed over the chunks of a step, each weighted by its share of the examples. */
function accumulatedStep(
  optimizer: Adam,
  variables: TfVariable[],
  model: Model,
  data: Sequences,
  chunks: readonly BatchPlan[],
  count: number,
): number {
  let total: (TfTensor | undefined)[] = variables.map(() => undefined);
  let loss = 0;
  for (const chunk of chunks) {
    const weight = chunk.examples.length / count;
    const { value, grads } = tf.variableGrads(
      () => tf.mul(batchLoss(model, data, chunk), weight) as TfScalar,
      variables,
    );
    loss += value.dataSync()[0]!;
    total = variables.map((v, i) => {
      const g = grads[v.name];
      if (g === undefined) return total[i];
      if (total[i] === undefined) return g;
      const sum = tf.add(total[i]!, g);
      tf.dispose([total[i]!, g]);
      return sum;
    });
    value.dispose();
  }
  optimizer.apply(total);
  tf.dispose(total.filter((t): t is TfTensor => t !== undefined));
  return loss;
}
