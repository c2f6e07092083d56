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
import { ChunkWorker } from "./_parallel.ts";
import { countParameters } from "./_ops.ts";
import { decodeBase64, encodeBase64 } from "./_base64.ts";
import { plateauLearningRate, type PlateauSchedule } from "./schedule.ts";

/** Above this many parameters, `threads: 2` trains on one thread (see {@link TrainOptions.threads}). */
const WORKER_MAX_PARAMETERS = 250_000;

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
  /** The learning rate of the epoch (reported when a {@link TrainOptions.reduceOnPlateau} schedule is set). */
  readonly learningRate?: number;
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
  /** Lower the learning rate when the validation loss stalls (default: a constant rate). */
  readonly reduceOnPlateau?: PlateauSchedule;
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
  /**
   * Threads that compute a step (default 1). With 2, a worker with its own
   * copy of the model computes some of the chunks of every step that has
   * several (masked copies and rows of different lengths, chunks of long
   * sequences), while this thread computes the rest: the same numbers to
   * the bit, as the step's gradient is still summed in chunk order. It pays
   * on epochs of many multi-chunk steps; starting the worker takes about a
   * second (if it cannot start, training goes on in this thread). FM
   * baselines, one-chunk steps and models of more than 250,000 parameters
   * (whose weights and gradients cost more to pass between the threads
   * every step than the worker saves) use this thread only.
   */
  readonly threads?: 1 | 2;
  /**
   * Stops training when aborted (Ctrl-C in the command line): after the
   * current step, the model gets the weights of the best finished epoch, as
   * when patience runs out, and the result says `interrupted`.
   */
  readonly signal?: AbortSignal;
  /** Called after every epoch; may be async (it is awaited). */
  readonly onEpoch?: (info: EpochInfo) => void | Promise<void>;
  /**
   * Go on from a checkpoint written by `checkpoint.save` of an earlier run
   * with the same options and data: training continues at the epoch after
   * it, with the same numbers as if it had never stopped. The model's
   * parameters are replaced by the checkpoint's.
   */
  readonly resume?: TrainCheckpoint;
  /**
   * Saves the run's state after an epoch, at most once every `everySeconds`
   * seconds of training (default 0: after every epoch) and always after the
   * last one (awaited; write it atomically, a half-written checkpoint is no
   * checkpoint). An interrupted run loses at most the epochs since the last
   * save.
   */
  readonly checkpoint?: {
    readonly save: (checkpoint: TrainCheckpoint) => void | Promise<void>;
    readonly everySeconds?: number;
  };
  /** Called after every step. */
  readonly onStep?: (info: StepInfo) => void;
}

/**
 * A training run as it stood after an epoch, as plain JSON-safe data:
 * enough for {@link train} to go on from there with the same numbers as a
 * run that never stopped (parameters, Adam's moments and step count, the
 * best epoch's weights, the history; the batch order is replayed from the
 * seed). Write it with `JSON.stringify`, pass it back as
 * {@link TrainOptions.resume}.
 */
export interface TrainCheckpoint {
  /** Always `"efa-train-checkpoint"`. */
  readonly format: "efa-train-checkpoint";
  /** The layout version of this object (1). */
  readonly formatVersion: 1;
  /**
   * What must match to resume: the options that shape the run (batch size,
   * learning rate, seed, layout, draw, validation or not, restore of the
   * best weights), the number of training examples and the parameters'
   * names and shapes. The number of epochs and the patience may change.
   */
  readonly fingerprint: string;
  /** Epochs finished. */
  readonly epoch: number;
  /** Their records. */
  readonly history: readonly EpochInfo[];
  /** The best epoch so far (0: none). */
  readonly bestEpoch: number;
  /** Its monitored loss (`null` before any epoch). */
  readonly bestLoss: number | null;
  /** Adam's step count. */
  readonly adamStep: number;
  /** The parameters, float32 little-endian in base64, in `model.params` order. */
  readonly params: string;
  /** Adam's first moment, likewise. */
  readonly adamM: string;
  /** Adam's second moment, likewise. */
  readonly adamV: string;
  /** The best epoch's parameters, likewise; `null` when they are `params` or not kept. */
  readonly bestParams: string | null;
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
  /** Whether `signal` stopped training (the unfinished epoch is not in `history`). */
  readonly interrupted: boolean;
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
  const threads = options.threads ?? 1;
  if (threads !== 1 && threads !== 2) {
    throw new RangeError(`${fn}(): expected threads to be 1 or 2, got ${threads}`);
  }
  const schedule = options.reduceOnPlateau;
  if (schedule !== undefined) plateauLearningRate([], learningRate, schedule); // checks the rule
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
  const fingerprint = JSON.stringify({
    batchSize,
    learningRate,
    seed: options.seed ?? 0,
    layout: options.layout ?? "auto",
    draw: options.draw ?? "sequences",
    validation: options.validation !== undefined,
    restoreBestWeights: options.restoreBestWeights ?? true,
    ...(schedule === undefined ? {} : { reduceOnPlateau: schedule }),
    examples,
    params: Object.entries(model.params).map(([name, v]) => [name, v.shape, v.dtype]),
  });
  const optimizer = new Adam(variables, { learningRate });
  const history: EpochInfo[] = [];
  let best: { epoch: number; loss: number; weights: TfTensor[] | null } = {
    epoch: 0,
    loss: Infinity,
    weights: null,
  };
  let firstEpoch = 1;
  if (options.resume !== undefined) {
    try {
      best = resumeFrom(options.resume, fingerprint, variables, optimizer);
    } catch (error) {
      optimizer.dispose();
      throw error;
    }
    history.push(...options.resume.history);
    if (schedule !== undefined) {
      optimizer.learningRate = plateauLearningRate(history, learningRate, schedule);
    }
    firstEpoch = options.resume.epoch + 1;
    // The batch order of the epochs already run, drawn again from the seed and set aside.
    for (let e = 1; e < firstEpoch; e++) epochs.next();
  }
  const saveEvery = (options.checkpoint?.everySeconds ?? 0) * 1000;
  let savedAt = performance.now();
  const saveCheckpoint = async (epoch: number): Promise<void> => {
    await options.checkpoint!.save({
      format: "efa-train-checkpoint",
      formatVersion: 1,
      fingerprint,
      epoch,
      history: history.slice(),
      bestEpoch: best.epoch,
      bestLoss: best.epoch === 0 ? null : best.loss,
      ...(() => {
        const { step, m, v } = optimizer.state();
        return { adamStep: step, adamM: floatsToBase64(m), adamV: floatsToBase64(v) };
      })(),
      params: floatsToBase64(flatWeights(variables)),
      bestParams: best.weights === null || best.epoch === epoch
        ? null
        : floatsToBase64(flatWeights(best.weights)),
    });
    savedAt = performance.now();
  };
  let stoppedEarly = false, interrupted = false, yielded = performance.now();
  // A worker that cannot start (no permission to read the package, say) leaves this thread: same numbers.
  const worker = threads === 2 && model.kind === "efa" &&
      countParameters(model.params) <= WORKER_MAX_PARAMETERS
    ? await ChunkWorker.start(model.config, Object.keys(model.params), data).catch(() => null)
    : null;
  const restore = (): void => {
    if (best.weights !== null) variables.forEach((v, i) => v.assign(best.weights![i]!));
  };
  try {
    // A checkpoint of a run whose patience had already run out: nothing left to train.
    if (firstEpoch > 1 && firstEpoch - 1 - best.epoch >= patience) {
      stoppedEarly = firstEpoch - 1 < options.epochs;
    }
    training: for (let epoch = firstEpoch; epoch <= options.epochs && !stoppedEarly; epoch++) {
      const start = performance.now();
      const epochRate = optimizer.learningRate;
      let lossSum = 0;
      const plan = epochs.next().value;
      const steps = plan.length;
      for (let step = 1; step <= steps; step++) {
        const { count, chunks } = plan[step - 1]!;
        const loss = chunks.length === 1
          ? optimizer.step(() => batchLoss(model, data, chunks[0]!))
          : await accumulatedStep(optimizer, variables, model, data, chunks, count, worker);
        if (!Number.isFinite(loss)) {
          throw new Error(
            `Training diverged: the loss is ${loss} at epoch ${epoch}, step ${step} of ${steps}`,
          );
        }
        lossSum += loss * count;
        options.onStep?.({ epoch, step, steps, loss });
        if (options.signal !== undefined && performance.now() - yielded > 200) {
          // Let the event loop run (a Ctrl-C listener aborts the signal there); no effect on the numbers.
          await new Promise((resolve) => setTimeout(resolve, 0));
          yielded = performance.now();
        }
        if (options.signal?.aborted) {
          interrupted = true;
          break training;
        }
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
        ...(schedule === undefined ? {} : { learningRate: epochRate }),
      };
      history.push(info);
      if (schedule !== undefined) {
        optimizer.learningRate = plateauLearningRate(history, learningRate, schedule);
      }
      const lastEpoch = epoch === options.epochs || epoch - best.epoch >= patience;
      if (
        options.checkpoint !== undefined &&
        (lastEpoch || options.signal?.aborted || performance.now() - savedAt >= saveEvery)
      ) {
        await saveCheckpoint(epoch);
      }
      await options.onEpoch?.(info);
      if (options.signal?.aborted) {
        interrupted = epoch < options.epochs;
        break;
      }
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
    worker?.terminate();
    optimizer.dispose();
    best.weights?.forEach((w) => w.dispose());
  }
  const last = history[history.length - 1];
  if (last === undefined) {
    return { history, bestEpoch: 0, bestLoss: Infinity, stoppedEarly, interrupted };
  }
  const kept = (options.restoreBestWeights ?? true)
    ? best
    : { epoch: last.epoch, loss: last.validationLoss ?? last.trainLoss };
  return { history, bestEpoch: kept.epoch, bestLoss: kept.loss, stoppedEarly, interrupted };
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

/**
 * The loss of one chunk of a step, weighted by its share of the step's
 * examples, and its gradients (`undefined` for a variable it does not
 * reach), as `train()` computes them on either thread.
 *
 * @param model The model.
 * @param variables The variables, in the optimiser's order.
 * @param data The sequences the chunk refers to.
 * @param chunk The chunk.
 * @param share Its weight.
 * @returns The weighted loss and one gradient per variable.
 */
export function chunkGradients(
  model: Model,
  variables: TfVariable[],
  data: Sequences,
  chunk: BatchPlan,
  share: number,
): { loss: number; grads: (TfTensor | undefined)[] } {
  const { value, grads } = tf.variableGrads(
    () => tf.mul(batchLoss(model, data, chunk), share) as TfScalar,
    variables,
  );
  const loss = value.dataSync()[0]!;
  value.dispose();
  return { loss, grads: variables.map((v) => grads[v.name]) };
}

/**
 * One optimiser step from gradients summed over the chunks of a step in
 * chunk order, each weighted by its share of the examples. With a worker,
 * it computes about half of the chunks (by size) while this thread computes
 * the others; the sum is the same.
 */
async function accumulatedStep(
  optimizer: Adam,
  variables: TfVariable[],
  model: Model,
  data: Sequences,
  chunks: readonly BatchPlan[],
  count: number,
  worker: ChunkWorker | null,
): Promise<number> {
  const shares = chunks.map((c) => c.examples.length / count);
  const remote = worker === null ? [] : balance(chunks);
  const fromWorker = worker === null || !remote.includes(true)
    ? Promise.resolve([])
    : worker.gradients(
      flatWeights(variables),
      chunks.filter((_, i) => remote[i]),
      shares.filter((_, i) => remote[i]),
    );
  let total: (TfTensor | undefined)[] = variables.map(() => undefined);
  let loss = 0;
  const add = (grads: (TfTensor | undefined)[]): void => {
    total = variables.map((_, i) => {
      const g = grads[i];
      if (g === undefined) return total[i];
      if (total[i] === undefined) return g;
      const sum = tf.add(total[i]!, g);
      tf.dispose([total[i]!, g]);
      return sum;
    });
  };
  if (worker === null) {
    chunks.forEach((chunk, i) => {
      const r = chunkGradients(model, variables, data, chunk, shares[i]!);
      loss += r.loss;
      add(r.grads);
    });
  } else {
    // This thread's chunks first (the worker computes meanwhile), then the sum in chunk order.
    const local = chunks.map((chunk, i) =>
      remote[i] ? null : chunkGradients(model, variables, data, chunk, shares[i]!)
    );
    const results = await fromWorker;
    let next = 0;
    chunks.forEach((_, i) => {
      if (local[i] !== null) {
        loss += local[i]!.loss;
        add(local[i]!.grads);
        return;
      }
      const r = results[next++]!;
      let offset = 0;
      add(variables.map((v, j) => {
        const g = r.present[j] === 1
          ? tf.tensor(r.grads.subarray(offset, offset + v.size), v.shape, "float32")
          : undefined;
        offset += v.size;
        return g;
      }));
      loss += r.loss;
    });
  }
  optimizer.apply(total);
  tf.dispose(total.filter((t): t is TfTensor => t !== undefined));
  return loss;
}

/**
 * Which chunks the worker computes: about half of the work, greedily in
 * order. A chunk costs a fixed part (hundreds of kernel calls) and a part
 * that grows with examples x length^2.
 */
function balance(chunks: readonly BatchPlan[]): boolean[] {
  let here = 0, there = 0;
  return chunks.map((c) => {
    const cost = 1 +
      (c.examples.length * c.length * (c.layout === "streams" ? 1 : c.length)) / 20000;
    if (there < here) {
      there += cost;
      return true;
    }
    here += cost;
    return false;
  });
}

/** Every variable's values, concatenated in order. */
function flatWeights(variables: readonly TfTensor[]): Float32Array<ArrayBuffer> {
  const flat = new Float32Array(variables.reduce((n, v) => n + v.size, 0));
  let offset = 0;
  for (const v of variables) {
    flat.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
  return flat;
}

function floatsToBase64(values: Float32Array<ArrayBuffer>): string {
  return encodeBase64(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

function floatsFromBase64(text: string, size: number, what: string): Float32Array<ArrayBuffer> {
  const bytes = decodeBase64(text);
  if (bytes.byteLength !== size * 4) {
    throw new RangeError(
      `train(): expected the checkpoint's ${what} to hold ${size} float32 values, got ${bytes.byteLength} bytes`,
    );
  }
  return new Float32Array(bytes.buffer, bytes.byteOffset, size);
}

/** Puts a checkpoint's parameters and optimiser state back; returns the best epoch's record. */
function resumeFrom(
  checkpoint: TrainCheckpoint,
  fingerprint: string,
  variables: readonly TfVariable[],
  optimizer: Adam,
): { epoch: number; loss: number; weights: TfTensor[] | null } {
  if (checkpoint?.format !== "efa-train-checkpoint" || checkpoint.formatVersion !== 1) {
    throw new TypeError(
      `train(): expected resume to be a checkpoint of format efa-train-checkpoint version 1, got ${
        JSON.stringify(checkpoint?.format)
      } version ${JSON.stringify(checkpoint?.formatVersion)}`,
    );
  }
  if (checkpoint.fingerprint !== fingerprint) {
    throw new RangeError(
      `train(): the checkpoint in resume is of another run; expected options, data size and parameters ` +
        `${fingerprint}, got ${checkpoint.fingerprint}`,
    );
  }
  const size = variables.reduce((n, v) => n + v.size, 0);
  const split = (flat: Float32Array<ArrayBuffer>): TfTensor[] => {
    let offset = 0;
    return variables.map((v) => {
      const t = tf.tensor(flat.subarray(offset, offset + v.size), v.shape, "float32");
      offset += v.size;
      return t;
    });
  };
  const params = split(floatsFromBase64(checkpoint.params, size, "params"));
  variables.forEach((v, i) => v.assign(params[i]!));
  tf.dispose(params);
  optimizer.restore({
    step: checkpoint.adamStep,
    m: floatsFromBase64(checkpoint.adamM, size, "adamM"),
    v: floatsFromBase64(checkpoint.adamV, size, "adamV"),
  });
  if (checkpoint.bestEpoch === 0) return { epoch: 0, loss: Infinity, weights: null };
  const weights = checkpoint.bestParams === null
    ? variables.map((v) => tf.clone(v))
    : split(floatsFromBase64(checkpoint.bestParams, size, "bestParams"));
  return { epoch: checkpoint.bestEpoch, loss: checkpoint.bestLoss!, weights };
}
