/**
 * EFA on your own data in a few lines: from rows of
 * `{ sequence, position, item, value }` to a trained model with `evaluate`,
 * `predict`, `attention` and `save` / {@link loadFitted}.
 *
 * Defaults, and why: a bidirectional model (it sees every other observation,
 * the better direction in every table of the paper); the paper's architecture
 * (width 32, 2 layers of 2 heads); 20% of the sequences held out for
 * validation and early stopping with patience 20 (the notebooks use 10; on
 * the own-data sets, `experiments/own_data_tuning.ts`, 20 gave lower
 * validation loss, on temperature by 5%);
 * learning rate 1e-3 (ten times the paper's 1e-4: the paper trains for hundreds
 * of epochs, a first fit should take minutes); training in the fast layouts (`lib/plan.ts`);
 * Gaussian values standardised inside the model (everything reported in the
 * data's units); items seen once sharing one learned `"(unknown)"` item.
 *
 * @module
 */
import type { Sequences } from "./data.ts";
import { type ExponentialFamily, familyFromSpec } from "./families.ts";
import { attentionWeights, evaluate, type EvaluateResult, predict } from "./evaluate.ts";
import { type RankingResult, rankItems, topItemsOf } from "./ranking.ts";
import { createEfa, efaConfig, type EfaConfigInput, type EfaModel } from "./model.ts";
import { disposeModel } from "./objective.ts";
import { SeedStream } from "./random.ts";
import { loadModel, saveModel } from "./serialize.ts";
import { type EpochInfo, type StepInfo, train, type TrainResult } from "./train.ts";
import type { PlateauSchedule } from "./schedule.ts";
import { type BaselineScore, baselineScores } from "./baselines.ts";

/** One observation: an item (with an optional value) at a position of a sequence. */
export interface Observation {
  /** The sequence (user, basket, day) it belongs to. */
  readonly sequence: string | number;
  /** Its position in the sequence; the rows' order when absent. */
  readonly position?: number;
  /** The item (product, movie, city). */
  readonly item: string | number;
  /**
   * Its value (rating, count, temperature), for value families. Without one
   * (`undefined` or `null`) value families treat the observation as
   * unobserved: it is neither predicted nor in any context.
   */
  readonly value?: number | null | undefined;
}

/** Value families of the high-level API. */
export type ValueFamilyName = "gaussian" | "poisson" | "bernoulli";

/** What is modelled: the item (categorical), its value, or both (joint). */
export type FitFamily = "categorical" | ValueFamilyName | `joint-${ValueFamilyName}`;

/** Options of {@link fit}. */
export interface FitOptions {
  /** What to model (default: `"categorical"` without values, `"gaussian"` with them). */
  readonly family?: FitFamily;
  /** Context: previous observations only, or all others (default `"bidirectional"`). */
  readonly direction?: "unidirectional" | "bidirectional";
  /** Share of sequences held out for validation and early stopping (default 0.2; 0 for none). */
  readonly validationShare?: number;
  /** Seed of the split, the initialisation and the batch order (default 0). */
  readonly seed?: number;
  /** Maximum epochs (default 200). */
  readonly epochs?: number;
  /** Early-stopping patience in epochs (default 20). */
  readonly patience?: number;
  /**
   * Adam's learning rate (default 1e-3; 3e-3 for the categorical family, chosen
   * with one layer on the own-data sets' validation splits,
   * `experiments/results/own_data_tuning.txt`).
   */
  readonly learningRate?: number;
  /**
   * Lower the learning rate when the validation loss stalls (see
   * `PlateauSchedule`), or `null` for a constant rate (default `null`).
   */
  readonly reduceOnPlateau?: PlateauSchedule | null;
  /** Predictions per step (default 256). */
  readonly batchSize?: number;
  /** Embedding width (default 32). */
  readonly dim?: number;
  /** Attention layers (default 2; 1 for the categorical family, see {@link FitOptions.learningRate}). */
  readonly layers?: number;
  /** Attention heads (default 2). */
  readonly heads?: number;
  /** Hidden units of a ReLU feed-forward block after each attention layer (default 0: none, as in the paper). */
  readonly feedForward?: number;
  /**
   * Train on standardised Gaussian values (default `true`): the model sees
   * `(value - mean) / sd` of the training values, and predictions, losses and
   * the saved model stay in the data's own units. Other families ignore it.
   */
  readonly standardize?: boolean;
  /**
   * Items seen fewer times than this in the rows share one item,
   * {@link FittedEfa.unknownItem}, learned from their observations, which
   * also stands for items that `predict`, `evaluate` and `attention` meet
   * for the first time (default 2; 1 keeps every item). Without rare items,
   * or with fewer than two frequent ones, every item is kept and an unseen
   * item is an error.
   */
  readonly minItemCount?: number;
  /** Longest sequence the model will accept (default: the longest in the data). */
  readonly maxLength?: number;
  /** Threads that compute a training step, 1 (default) or 2 (see `TrainOptions.threads`: the same numbers, faster on two cores). */
  readonly threads?: 1 | 2;
  /** Stops training when aborted, keeping the best finished epoch (see `TrainOptions.signal`). */
  readonly signal?: AbortSignal;
  /** Progress after each epoch. */
  readonly onEpoch?: (info: EpochInfo) => void | Promise<void>;
  /** Progress after each optimisation step (see `TrainOptions.onStep`). */
  readonly onStep?: (info: StepInfo) => void;
}

/** One prediction of {@link FittedEfa.predict}. */
export interface Prediction {
  /** The sequence, as the rows name it. */
  readonly sequence: string;
  /** The position, as the rows give it (their `position`, or the index in row order when they have none). */
  readonly position: number;
  /** The observed item. */
  readonly item: string;
  /** The observed value, when there is one. */
  readonly value?: number;
  /** The predicted mean value (value and joint families). */
  readonly mean?: number;
  /** The natural parameter(s) of the value. */
  readonly eta?: number[];
  /** The most probable item (categorical and joint families). */
  readonly topItem?: string;
  /** The probability of the observed item. */
  readonly itemProbability?: number;
  /** The most likely items, most likely first (with {@link PredictOptions.top}). */
  readonly top?: readonly { readonly item: string; readonly probability: number }[];
}

/** Options of {@link FittedEfa.predict} and {@link FittedEfa.rank}. */
export interface PredictOptions {
  /** List this many most likely items per prediction (categorical and joint families). */
  readonly top?: number;
  /** Leave out the items of each prediction's context (all other observations of its sequence, or the earlier ones when unidirectional). */
  readonly excludeContext?: boolean;
}

/**
 * How {@link fit} rescaled Gaussian values: the model sees
 * `(value - shift) / scale`.
 */
export interface ValueScale {
  /** Subtracted from every value (the training mean). */
  readonly shift: number;
  /** Then divides it (the training standard deviation). */
  readonly scale: number;
}

/** The held-out sequences' loss after fitting, beside the simple baselines on the same sequences. */
export interface HeldOutReport {
  /** EFA's loss on the held-out sequences, in the data's units. */
  readonly result: EvaluateResult;
  /** The item baselines (categorical and joint families), fitted on the training sequences. */
  readonly itemBaselines?: BaselineScore[];
  /** The value baselines (value and joint families), in the family's loss. */
  readonly valueBaselines?: BaselineScore[];
}

/** A trained model with its item vocabulary. */
export interface FittedEfa {
  /** The underlying model. */
  readonly model: EfaModel;
  /** Item labels by id (index 0 unused; the last is {@link FittedEfa.unknownItem} when there is one). */
  readonly items: readonly string[];
  /** What was modelled. */
  readonly family: FitFamily;
  /** The training history (empty for a loaded model); its losses are on the model's (standardised) scale. */
  readonly training: TrainResult | null;
  /**
   * The label of the item shared by rare items and by items never seen in
   * fitting (see {@link FitOptions.minItemCount}), or `null` when the
   * model has none (an unseen item is then an error).
   */
  readonly unknownItem: string | null;
  /** How values were standardised (Gaussian families), or `null`. */
  readonly valueScale: ValueScale | null;
  /** The validation sequences' loss and baselines (a fit with validation), or `null`. */
  readonly heldOut: HeldOutReport | null;
  /** Held-out loss of rows of the same kind (every position predicted). */
  evaluate(rows: readonly Observation[]): EvaluateResult;
  /** The prediction at every position of every sequence of `rows` (with `top`, the most likely items too). */
  predict(rows: readonly Observation[], options?: PredictOptions): Prediction[];
  /**
   * Recall@K, NDCG@K and MRR of the observed items among the predicted ones
   * (categorical and joint families; see `rankItems`), every position predicted.
   */
  rank(
    rows: readonly Observation[],
    options?: { readonly k?: readonly number[]; readonly excludeContext?: boolean },
  ): RankingResult;
  /**
   * Attention weights `[layer][head][query][key]` for one sequence with one
   * observation masked, with the items and positions of its observations in
   * order. `position` is the masked observation's own position (the rows'
   * `position` values; without them, its 0-based order in the sequence);
   * the default is the first observation.
   */
  attention(
    rows: readonly Observation[],
    sequence: string | number,
    position?: number,
  ): { items: string[]; positions: number[]; weights: number[][][][] };
  /** The model as versioned JSON text. */
  save(): string;
  /** Frees the model's tensors. */
  dispose(): void;
}

const FAMILY_SPECS = {
  gaussian: { name: "gaussian" },
  poisson: { name: "poisson" },
  bernoulli: { name: "bernoulli" },
} as const;

function valueFamilyOf(family: FitFamily): ValueFamilyName | null {
  if (family === "categorical") return null;
  return (family.startsWith("joint-") ? family.slice(6) : family) as ValueFamilyName;
}

/** Each row's index in the array it came in, so that errors can name it (see {@link rowError}). */
const ROW_INDEX = new WeakMap<Observation, number>();

/**
 * An error about one row: its `row` property is the row's index in the
 * caller's array (the command line turns it into the CSV line).
 */
function rowError<E extends Error>(error: E, row: Observation): E & { row?: number } {
  const index = ROW_INDEX.get(row);
  return index === undefined ? error : Object.assign(error, { row: index });
}

/** Whether a row has no value (`undefined` or `null`, an empty CSV cell): value families leave it out. */
function isMissing(row: Observation): boolean {
  return row.value === undefined || row.value === null;
}

/** Groups rows into sequences, ordered by their positions (which must be distinct), else by row order. */
function groupRows(
  rows: readonly Observation[],
  fn: string,
  withValues = false,
): Map<string, Observation[]> {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new RangeError(`${fn}(): expected at least one row, got none`);
  }
  const groups = new Map<string, Observation[]>();
  rows.forEach((row, i) => {
    if (
      row === null || typeof row !== "object" || row.item === undefined ||
      row.sequence === undefined
    ) {
      throw new TypeError(
        `${fn}(): expected row ${i} to have a sequence and an item, got ${JSON.stringify(row)}`,
      );
    }
    if (withValues && isMissing(row)) return; // unobserved: neither context nor target
    const key = String(row.sequence);
    ROW_INDEX.set(row, i);
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(row);
  });
  for (const [key, list] of groups) {
    if (list.some((r) => r.position !== undefined)) {
      if (list.some((r) => r.position === undefined || !Number.isFinite(r.position))) {
        throw new TypeError(
          `${fn}(): expected every row of sequence ${
            JSON.stringify(key)
          } to have a numeric position`,
        );
      }
      list.sort((a, b) => a.position! - b.position!);
      for (let j = 1; j < list.length; j++) {
        if (list[j]!.position === list[j - 1]!.position) {
          const [first, second] = [list[j - 1]!, list[j]!].map((r) => ROW_INDEX.get(r)!).sort((
            a,
            b,
          ) => a - b);
          throw rowError(
            new RangeError(
              `${fn}(): sequence ${JSON.stringify(key)} has two observations at position ${
                list[j]!.position
              } (rows ${first} and ${second}); positions order a sequence, so each must be distinct`,
            ),
            rows[second!]!,
          );
        }
      }
    }
  }
  return groups;
}

/**
 * Sequences of item ids (and values) from grouped rows, with a given
 * vocabulary; checks every value against the family and every sequence
 * against the longest the model takes, naming the sequence, the position
 * (the row's own, or its order) and the row.
 */
function toSequences(
  groups: Map<string, Observation[]>,
  index: ReadonlyMap<string, number>,
  withValues: boolean,
  fn: string,
  check: {
    readonly family?: ExponentialFamily | null;
    readonly maxLength?: number;
    readonly unknownId?: number;
  } = {},
): { data: Sequences; keys: string[] } {
  const keys = [...groups.keys()];
  const where = (k: string, r: Observation, j: number): string =>
    `sequence ${JSON.stringify(k)} at position ${r.position ?? j}`;
  for (const k of keys) {
    const list = groups.get(k)!;
    if (check.maxLength !== undefined && list.length > check.maxLength) {
      throw rowError(
        new RangeError(
          `${fn}(): sequence ${
            JSON.stringify(k)
          } has ${list.length} observations, more than the model's maxLength ${check.maxLength}`,
        ),
        list[check.maxLength]!,
      );
    }
  }
  const items = keys.map((k) =>
    groups.get(k)!.map((r) => {
      const id = index.get(String(r.item)) ?? check.unknownId;
      if (id === undefined) {
        throw rowError(
          new RangeError(
            `${fn}(): unknown item ${JSON.stringify(String(r.item))} in sequence ${
              JSON.stringify(k)
            }; the model knows ${index.size} items (items rarer than fit()'s minItemCount share an item that stands for unseen ones; this fit had none)`,
          ),
          r,
        );
      }
      return id;
    })
  );
  if (!withValues) return { data: { items }, keys };
  const values = keys.map((k) =>
    groups.get(k)!.map((r, j) => {
      if (typeof r.value !== "number" || Number.isNaN(r.value)) {
        throw rowError(
          new TypeError(
            `${fn}(): expected a numeric value in ${where(k, r, j)}, got ${
              JSON.stringify(r.value)
            }`,
          ),
          r,
        );
      }
      try {
        check.family?.validate([r.value], fn, "VALUE");
      } catch (error) {
        // The family's own reason, e.g. "to hold integer counts >= 0, got 0.5".
        const reason = String((error as Error).message).replace(/^.*?VALUE /, "").replace(
          / at index 0$/,
          "",
        );
        throw rowError(
          new RangeError(
            `${fn}(): expected the value of ${where(k, r, j)} ${reason} (${check.family!.name})`,
          ),
          r,
        );
      }
      return r.value;
    })
  );
  return { data: { items, values }, keys };
}

/** Values rescaled as the model sees them. */
function scaleValues(data: Sequences, scale: ValueScale | null): Sequences {
  if (scale === null || data.values === undefined) return data;
  return {
    ...data,
    values: data.values.map((v) => Float64Array.from(v, (x) => (x - scale.shift) / scale.scale)),
  };
}

/** An evaluation of standardised values in the data's units (squared errors times `scale^2`). */
function inDataUnits(result: EvaluateResult, scale: ValueScale | null): EvaluateResult {
  if (scale === null || result.valueLoss === undefined) return result;
  const s2 = scale.scale * scale.scale;
  const valueLoss = result.valueLoss * s2;
  return {
    ...result,
    loss: result.loss - result.valueLoss + valueLoss,
    valueLoss,
    ...(result.mse === undefined ? {} : { mse: result.mse * s2 }),
    logLikelihood: result.logLikelihood - Math.log(scale.scale),
  };
}

function makeFitted(
  model: EfaModel,
  items: readonly string[],
  family: FitFamily,
  training: TrainResult | null,
  valueScale: ValueScale | null,
  unknownItem: string | null,
  heldOut: HeldOutReport | null = null,
): FittedEfa {
  const index = new Map(items.map((label, id) => [label, id] as const).slice(1));
  const withValues = family !== "categorical";
  const check = {
    family: model.family,
    maxLength: model.config.maxLength,
    ...(unknownItem === null ? {} : { unknownId: index.get(unknownItem)! }),
  };
  const prepare = (rows: readonly Observation[], fn: string) =>
    toSequences(groupRows(rows, fn, withValues), index, withValues, fn, check);
  return {
    model,
    items,
    family,
    training,
    unknownItem,
    valueScale,
    heldOut,
    evaluate: (rows) =>
      inDataUnits(
        evaluate(model, scaleValues(prepare(rows, "evaluate").data, valueScale)),
        valueScale,
      ),
    rank: (rows, options = {}) => {
      if (family !== "categorical" && !family.startsWith("joint-")) {
        throw new TypeError(
          `rank(): expected a model of items (categorical or joint), got ${family}`,
        );
      }
      return rankItems(model, scaleValues(prepare(rows, "rank").data, valueScale), options);
    },
    predict: (rows, options = {}) => {
      const groups = groupRows(rows, "predict", withValues);
      const { data, keys } = toSequences(groups, index, withValues, "predict", check);
      const scaled = scaleValues(data, valueScale);
      const p = predict(model, scaled);
      if (options.top !== undefined && p.itemProbabilities === undefined) {
        throw new TypeError(
          `predict(): top needs a model of items (categorical or joint), got ${family}`,
        );
      }
      const top = options.top === undefined ? undefined : topItemsOf(
        model,
        scaled,
        { examples: p.examples, eta: p.itemEta!, probabilities: p.itemProbabilities! },
        options.top,
        options.excludeContext ?? false,
      );
      const shift = valueScale?.shift ?? 0, scale = valueScale?.scale ?? 1;
      const natural = model.family?.naturalDim ?? 0, J = items.length - 1;
      return p.examples.map(([s, pos], i) => {
        const row = groups.get(keys[s]!)![pos]!; // the observation, to report its own position
        const out: { -readonly [K in keyof Prediction]: Prediction[K] } = {
          sequence: keys[s]!,
          position: row.position ?? pos,
          item: String(row.item),
        };
        if (data.values !== undefined) out.value = data.values[s]![pos]!;
        if (p.valueMean !== undefined) {
          out.mean = p.valueMean[i]! * scale + shift;
          // A unit-variance Gaussian on the standardised scale is N(mean, scale^2) in the data's units.
          out.eta = valueScale === null
            ? Array.from(p.valueEta!.subarray(i * natural, (i + 1) * natural))
            : [out.mean / (scale * scale)];
        }
        if (p.itemProbabilities !== undefined) {
          const row = p.itemProbabilities.subarray(i * J, (i + 1) * J);
          let best = 0;
          for (let k = 1; k < J; k++) if (row[k]! > row[best]!) best = k;
          out.topItem = items[best + 1]!;
          out.itemProbability = row[data.items[s]![pos]! - 1]!;
        }
        if (top !== undefined) {
          const k = top.k;
          out.top = Array.from(top.items.subarray(i * k, (i + 1) * k)).flatMap((id, r) =>
            id === 0 ? [] : [{ item: items[id]!, probability: top.probabilities[i * k + r]! }]
          );
        }
        return out;
      });
    },
    attention: (rows, sequence, position) => {
      const groups = groupRows(rows, "attention", withValues);
      const key = String(sequence);
      const list = groups.get(key);
      if (list === undefined) {
        throw new RangeError(`attention(): unknown sequence ${JSON.stringify(key)}`);
      }
      // The rows' own positions where they have them, else their order.
      const positions = list.map((r, i) => r.position ?? i);
      const masked = position === undefined ? 0 : positions.indexOf(position);
      if (masked < 0) {
        const shown = positions.slice(0, 10).join(", ") + (positions.length > 10 ? ", ..." : "");
        throw new RangeError(
          `attention(): sequence ${
            JSON.stringify(key)
          } has no observation at position ${position}; ` +
            `its positions are ${shown}`,
        );
      }
      const { data } = toSequences(new Map([[key, list]]), index, withValues, "attention", check);
      return {
        items: list.map((r) => String(r.item)),
        positions,
        weights: attentionWeights(model, scaleValues(data, valueScale), 0, masked),
      };
    },
    save: () =>
      JSON.stringify({
        format: "efa-fitted",
        formatVersion: 1,
        items,
        family,
        ...(valueScale === null ? {} : { valueScale }),
        ...(unknownItem === null ? {} : { unknownItem }),
        model: JSON.parse(saveModel(model)),
      }),
    dispose: () => disposeModel(model),
  };
}

/**
 * Fits EFA to rows of observations.
 *
 * @param rows The observations: `{ sequence, position?, item, value? }`.
 * @param options Family, direction, validation share, seed, training and architecture settings.
 * @returns The fitted model.
 * @throws {RangeError} For empty data, bad options, or values the family cannot take (e.g. negative Poisson counts).
 * @throws {TypeError} For rows without a sequence or item, or value families without numeric values.
 *
 * @example Baskets in four lines
 * ```ts
 * import { fit } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const rows = [["a", "milk"], ["a", "bread"], ["b", "milk"], ["b", "eggs"], ["c", "bread"], ["c", "eggs"]]
 *   .map(([sequence, item]) => ({ sequence: sequence!, item: item! }));
 * const fitted = await fit(rows, { epochs: 3, validationShare: 0 });
 * assert.equal(fitted.evaluate(rows).count, 6);
 * assert.deepEqual(fitted.items.slice(1), ["bread", "eggs", "milk"]);
 * fitted.dispose();
 * ```
 */
export async function fit(
  rows: readonly Observation[],
  options: FitOptions = {},
): Promise<FittedEfa> {
  const hasValues = Array.isArray(rows) && rows.some((r) => r !== null && !isMissing(r));
  const family: FitFamily = options.family ?? (hasValues ? "gaussian" : "categorical");
  const valueFamily = valueFamilyOf(family);
  if (valueFamily !== null && !(valueFamily in FAMILY_SPECS)) {
    throw new RangeError(
      `fit(): expected family to be categorical, gaussian, poisson, bernoulli or joint-<family>, got ${
        JSON.stringify(family)
      }`,
    );
  }
  const groups = groupRows(rows, "fit", valueFamily !== null);
  if (groups.size === 0) {
    throw new RangeError(
      `fit(): the ${valueFamily} family models values, and none of the ${rows.length} rows has one`,
    );
  }
  const share = options.validationShare ?? 0.2;
  if (!(share >= 0 && share < 1)) {
    throw new RangeError(`fit(): expected validationShare in [0, 1), got ${share}`);
  }
  const minItemCount = options.minItemCount ?? 2;
  if (!Number.isInteger(minItemCount) || minItemCount < 1) {
    throw new RangeError(
      `fit(): expected minItemCount to be an integer >= 1, got ${options.minItemCount}`,
    );
  }
  const seen = new Map<string, number>();
  for (const list of groups.values()) {
    for (const r of list) seen.set(String(r.item), (seen.get(String(r.item)) ?? 0) + 1);
  }
  const frequent = [...seen.keys()].filter((label) => seen.get(label)! >= minItemCount);
  // Rare items share one item when they exist, and at least two items are frequent.
  const merge = frequent.length >= 2 && frequent.length < seen.size;
  const labels = (merge ? frequent : [...seen.keys()]).sort();
  let unknownItem: string | null = null;
  if (merge) {
    unknownItem = "(unknown)";
    while (seen.has(unknownItem)) unknownItem += "'";
    labels.push(unknownItem);
  }
  const items = ["", ...labels];
  const index = new Map(labels.map((label, i) => [label, i + 1] as const));
  const { data } = toSequences(groups, index, valueFamily !== null, "fit", {
    ...(unknownItem === null ? {} : { unknownId: labels.length }),
    family: valueFamily === null ? null : familyFromSpec(FAMILY_SPECS[valueFamily]),
    ...(options.maxLength === undefined ? {} : { maxLength: options.maxLength }),
  });
  const longest = Math.max(...data.items.map((s) => s.length));
  const maxLength = options.maxLength ?? longest;
  const dim = options.dim ?? 32;
  const config: EfaConfigInput = {
    numItems: labels.length,
    maxLength,
    target: valueFamily === null ? "item" : family.startsWith("joint-") ? "joint" : "value",
    family: valueFamily === null ? null : FAMILY_SPECS[valueFamily],
    direction: options.direction ?? "bidirectional",
    unidirectionalMask: "causal",
    itemEmbedding: { kind: "table", dim },
    valueEmbedding: valueFamily === null ? { kind: "none" } : { kind: "mlp", hidden: 2 * dim, dim },
    layers: options.layers ?? (family === "categorical" ? 1 : 2),
    heads: options.heads ?? 2,
    feedForward: options.feedForward ?? 0,
    head: valueFamily === null ? [] : [dim],
  };
  const model = createEfa(efaConfig(config), { seed: options.seed ?? 0 });
  const rng = new SeedStream(options.seed ?? 0);
  const order = rng.shuffle(data.items.map((_, i) => i));
  const held = Math.round(share * order.length);
  const pick = (ids: number[]): Sequences => ({
    items: ids.map((i) => data.items[i]!),
    ...(data.values === undefined ? {} : { values: ids.map((i) => data.values![i]!) }),
  });
  const trainPart = pick(order.slice(held));
  const validationPart = held > 0 ? pick(order.slice(0, held)) : null;
  const valueScale = valueFamily === "gaussian" && (options.standardize ?? true)
    ? standardScale(trainPart.values!)
    : null;
  try {
    const training = await train(model, scaleValues(trainPart, valueScale), {
      epochs: options.epochs ?? 200,
      patience: options.patience ?? 20,
      learningRate: options.learningRate ?? (family === "categorical" ? 3e-3 : 1e-3),
      batchSize: options.batchSize ?? 256,
      seed: options.seed ?? 0,
      ...(options.reduceOnPlateau == null ? {} : { reduceOnPlateau: options.reduceOnPlateau }),
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(validationPart === null ? {} : { validation: scaleValues(validationPart, valueScale) }),
      ...(options.onEpoch === undefined ? {} : { onEpoch: options.onEpoch }),
      ...(options.onStep === undefined ? {} : { onStep: options.onStep }),
    });
    const heldOut = validationPart === null ? null : {
      result: inDataUnits(evaluate(model, scaleValues(validationPart, valueScale)), valueScale),
      ...heldOutBaselines(trainPart, validationPart, family, labels.length, config.direction!),
    };
    return makeFitted(model, items, family, training, valueScale, unknownItem, heldOut);
  } catch (error) {
    disposeModel(model);
    throw error;
  }
}

/** The training values' mean and standard deviation (1 when they are all equal). */
function standardScale(values: readonly ArrayLike<number>[]): ValueScale {
  let n = 0, sum = 0;
  for (const v of values) for (let i = 0; i < v.length; i++, n++) sum += v[i]!;
  const shift = sum / n;
  let squares = 0;
  for (const v of values) for (let i = 0; i < v.length; i++) squares += (v[i]! - shift) ** 2;
  const sd = Math.sqrt(squares / n);
  return { shift, scale: sd > 0 ? sd : 1 };
}

/** The simple baselines of the family's targets on the validation sequences. */
function heldOutBaselines(
  trainPart: Sequences,
  validation: Sequences,
  family: FitFamily,
  numItems: number,
  direction: "unidirectional" | "bidirectional",
): { itemBaselines?: BaselineScore[]; valueBaselines?: BaselineScore[] } {
  const options = { direction, numItems };
  return {
    ...(family === "categorical" || family.startsWith("joint-")
      ? { itemBaselines: baselineScores(trainPart, validation, { ...options, target: "item" }) }
      : {}),
    ...(valueFamilyOf(family) === null ? {} : {
      valueBaselines: baselineScores(trainPart, validation, {
        ...options,
        target: valueFamilyOf(family)!,
      }),
    }),
  };
}

/**
 * Rebuilds a fitted model from {@link FittedEfa.save}'s text.
 *
 * @param text The saved JSON.
 * @returns The fitted model.
 * @throws {TypeError} When the text is not a saved fitted model or comes from another format version.
 *
 * @example Save and load
 * ```ts
 * import { fit, loadFitted } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const rows = [{ sequence: 1, item: "x" }, { sequence: 1, item: "y" }, { sequence: 2, item: "y" }, { sequence: 2, item: "x" }];
 * const fitted = await fit(rows, { epochs: 1, validationShare: 0 });
 * const copy = loadFitted(fitted.save());
 * assert.equal(copy.evaluate(rows).loss, fitted.evaluate(rows).loss);
 * fitted.dispose();
 * copy.dispose();
 * ```
 */
export function loadFitted(text: string): FittedEfa {
  let saved: {
    format?: string;
    formatVersion?: number;
    items?: string[];
    family?: FitFamily;
    valueScale?: ValueScale;
    unknownItem?: string;
    model?: unknown;
  };
  try {
    saved = JSON.parse(text);
  } catch {
    throw new TypeError(
      "loadFitted(): expected the JSON text of a saved fitted model, got invalid JSON",
    );
  }
  if (saved?.format !== "efa-fitted") {
    throw new TypeError('loadFitted(): expected a saved fitted model (format "efa-fitted")');
  }
  if (saved.formatVersion !== 1) {
    throw new TypeError(
      `loadFitted(): expected format version 1, got ${saved.formatVersion}; fit or save it again with this version`,
    );
  }
  const model = loadModel(JSON.stringify(saved.model));
  if (model.kind !== "efa") throw new TypeError("loadFitted(): expected an EFA model");
  return makeFitted(
    model,
    saved.items!,
    saved.family!,
    null,
    saved.valueScale ?? null,
    saved.unknownItem ?? null,
  );
}
