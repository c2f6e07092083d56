/**
 * The simple baselines a data scientist tries before a model, scored on
 * held-out sequences in the loss EFA reports for them, so that a fit shows at
 * once whether it learned anything:
 *
 * - values, as a mean: the training mean; the item's training mean (a
 *   movie's mean rating, a city's mean temperature); the mean of the
 *   sequence's other values; the mean of the neighbouring values (the
 *   positions just before and after). Gaussian values are scored by squared
 *   error; counts (Poisson) by the Poisson loss `m - y log m` and binary
 *   values (Bernoulli) by binary cross-entropy, the losses EFA reports for
 *   those families. For these two, every mean but the first is shrunk toward
 *   the training mean by one pseudo-observation, `(sum + mean) / (n + 1)`, so
 *   that a run of zeros does not predict a count of exactly 0 (an infinite
 *   loss), and the Bernoulli training mean counts half a success and half a
 *   failure besides.
 * - items (categorical), cross-entropy in nats: the training frequency of
 *   each item; a counting model on the context, the average over the
 *   context's items `c` of `P(j | c)` from training co-occurrence counts
 *   (with one pseudo-count spread by frequency).
 *
 * Each prediction sees what EFA would see: with `"unidirectional"`, only the
 * earlier positions of its sequence (the previous value instead of the two
 * neighbours), with `"bidirectional"` every other position.
 *
 * @module
 */
import type { Sequences } from "./data.ts";

/** One baseline's held-out score. */
export interface BaselineScore {
  /** A short name, e.g. `"item mean"`. */
  readonly name: string;
  /** What it predicts, in a sentence. */
  readonly description: string;
  /**
   * Mean loss per prediction: for values squared error (Gaussian), Poisson
   * loss `m - y log m` or binary cross-entropy (nats); cross-entropy (nats) for items.
   */
  readonly loss: number;
  /** Number of predictions. */
  readonly count: number;
  /** The sum of its losses over each held-out sequence's predictions, by sequence (for paired comparisons). */
  readonly bySequence: readonly number[];
}

/** What the baselines predict (see {@link BaselineOptions.target}). */
export type BaselineTarget = BaselineOptions["target"];

/** Options of {@link baselineScores}. */
export interface BaselineOptions {
  /**
   * The items (categorical, scored by cross-entropy) or the values: Gaussian
   * (squared error), Poisson counts (Poisson loss), Bernoulli 0/1 values
   * (binary cross-entropy).
   */
  readonly target: "item" | "gaussian" | "poisson" | "bernoulli";
  /** The context each prediction may use (default `"bidirectional"`). */
  readonly direction?: "unidirectional" | "bidirectional";
  /** Item ids run over `1..numItems` (default: the largest id seen). */
  readonly numItems?: number;
}

/**
 * Scores the simple baselines, fitted on `train`, on every position of `heldOut`.
 *
 * @param train The sequences the baselines count and average over.
 * @param heldOut The sequences they predict (every position, or its `targets`).
 * @param options The target, the direction and the number of items.
 * @returns One score per baseline, in the order of the module documentation.
 * @throws {RangeError} When a set is empty, item ids are out of range, values are missing for a value target, or a count or 0/1 value is not one.
 *
 * @example The neighbours' mean on a smooth series
 * ```ts
 * import { baselineScores } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const day = (start: number) => Array.from({ length: 10 }, (_, i) => start + i);
 * const train = { items: [new Array(10).fill(1)], values: [day(0)] };
 * const heldOut = { items: [new Array(10).fill(1)], values: [day(5)] };
 * const scores = baselineScores(train, heldOut, { target: "gaussian" });
 * const neighbours = scores.find((s) => s.name === "neighbours' mean")!;
 * assert.ok(neighbours.loss < scores.find((s) => s.name === "mean")!.loss);
 * ```
 */
export function baselineScores(
  train: Sequences,
  heldOut: Sequences,
  options: BaselineOptions,
): BaselineScore[] {
  const direction = options.direction ?? "bidirectional";
  if (!["item", "gaussian", "poisson", "bernoulli"].includes(options.target)) {
    throw new RangeError(
      `baselineScores(): expected target "item", "gaussian", "poisson" or "bernoulli", got ${
        JSON.stringify(options.target)
      }`,
    );
  }
  if (direction !== "unidirectional" && direction !== "bidirectional") {
    throw new RangeError(
      `baselineScores(): expected direction "unidirectional" or "bidirectional", got ${
        JSON.stringify(direction)
      }`,
    );
  }
  for (const [name, set] of [["train", train], ["heldOut", heldOut]] as const) {
    if (set.items.length === 0) {
      throw new RangeError(`baselineScores(): expected ${name} to hold sequences, got none`);
    }
    if (options.target !== "item" && set.values === undefined) {
      throw new RangeError(
        `baselineScores(): expected ${name}.values for a ${options.target} target`,
      );
    }
    if (options.target === "poisson" || options.target === "bernoulli") {
      checkValues(set, name, options.target);
    }
  }
  const largest = Math.max(...[train, heldOut].flatMap((s) => s.items.map((x) => maxOf(x))));
  const numItems = options.numItems ?? largest;
  if (largest > numItems) {
    throw new RangeError(
      `baselineScores(): expected item ids in 1..${numItems}, got ${largest}`,
    );
  }
  const causal = direction === "unidirectional";
  return options.target === "item"
    ? itemBaselines(train, heldOut, numItems, causal)
    : valueBaselines(train, heldOut, numItems, causal, options.target);
}

/** Counts must be whole and non-negative, Bernoulli values 0 or 1. */
function checkValues(set: Sequences, name: string, target: "poisson" | "bernoulli"): void {
  set.values!.forEach((values, s) => {
    for (let j = 0; j < values.length; j++) {
      const y = values[j]!;
      const ok = target === "poisson" ? Number.isInteger(y) && y >= 0 : y === 0 || y === 1;
      if (!ok) {
        throw new RangeError(
          `baselineScores(): expected ${name}.values[${s}][${j}] to be ${
            target === "poisson" ? "a count (0, 1, 2, ...)" : "0 or 1"
          }, got ${y}`,
        );
      }
    }
  });
}

/** The loss of predicting mean `m` for value `y`. */
const VALUE_LOSS = {
  gaussian: (y: number, m: number) => (y - m) ** 2,
  poisson: (y: number, m: number) => m - (y === 0 ? 0 : y * Math.log(m)),
  bernoulli: (y: number, m: number) => -(y === 1 ? Math.log(m) : Math.log(1 - m)),
} as const;

function maxOf(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]!);
  return m;
}

/** Calls `visit(sequence, position)` for every predicted position. */
function eachTarget(data: Sequences, visit: (s: number, j: number) => void): void {
  data.items.forEach((seq, s) => {
    const targets = data.targets?.[s];
    if (targets === undefined) { for (let j = 0; j < seq.length; j++) visit(s, j); }
    else for (let t = 0; t < targets.length; t++) visit(s, targets[t]!);
  });
}

function valueBaselines(
  train: Sequences,
  heldOut: Sequences,
  numItems: number,
  causal: boolean,
  target: "gaussian" | "poisson" | "bernoulli",
): BaselineScore[] {
  const sums = new Float64Array(numItems + 1), counts = new Float64Array(numItems + 1);
  let total = 0, n = 0;
  train.items.forEach((seq, s) => {
    const values = train.values![s]!;
    for (let j = 0; j < seq.length; j++) {
      sums[seq[j]!]! += values[j]!;
      counts[seq[j]!]!++;
      total += values[j]!;
      n++;
    }
  });
  const mean = target === "bernoulli" ? (total + 0.5) / (n + 1) : total / n;
  // Counts and 0/1 values: one pseudo-observation at the training mean (module documentation).
  const pseudo = target === "gaussian" ? 0 : 1;
  const shrunk = (sum: number, count: number): number =>
    count + pseudo > 0 ? (sum + pseudo * mean) / (count + pseudo) : mean;
  const lossOf = VALUE_LOSS[target];
  const errors = [0, 0, 0, 0];
  const bySequence = errors.map(() => new Array<number>(heldOut.items.length).fill(0));
  let count = 0;
  eachTarget(heldOut, (s, j) => {
    const items = heldOut.items[s]!, values = heldOut.values![s]!;
    const y = values[j]!, item = items[j]!;
    const itemMean = counts[item]! > 0 ? shrunk(sums[item]!, counts[item]!) : mean;
    let others = 0, seen = 0;
    const end = causal ? j : values.length;
    for (let k = 0; k < end; k++) {
      if (k !== j) {
        others += values[k]!;
        seen++;
      }
    }
    const sequenceMean = seen > 0 ? shrunk(others, seen) : mean;
    const near = [j - 1, ...(causal ? [] : [j + 1])].filter((k) => k >= 0 && k < values.length);
    const neighbours = near.length > 0
      ? shrunk(near.reduce((a, k) => a + values[k]!, 0), near.length)
      : sequenceMean;
    [mean, itemMean, sequenceMean, neighbours].forEach((p, b) => {
      const loss = lossOf(y, p);
      errors[b]! += loss;
      bySequence[b]![s]! += loss;
    });
    count++;
  });
  const names = causal
    ? ["mean", "item mean", "sequence mean so far", "previous value"]
    : ["mean", "item mean", "sequence mean", "neighbours' mean"];
  const descriptions = causal
    ? [
      "the training mean of every value",
      "the training mean of the observation's item",
      "the mean of the sequence's earlier values",
      "the value just before",
    ]
    : [
      "the training mean of every value",
      "the training mean of the observation's item",
      "the mean of the sequence's other values",
      "the mean of the values just before and after",
    ];
  return names.map((name, b) => ({
    name,
    description: descriptions[b]!,
    loss: errors[b]! / count,
    count,
    bySequence: bySequence[b]!,
  }));
}

function itemBaselines(
  train: Sequences,
  heldOut: Sequences,
  numItems: number,
  causal: boolean,
): BaselineScore[] {
  const J = numItems;
  const frequency = new Float64Array(J).fill(1); // add-one
  const pairs = new Float64Array(J * J); // pairs[c * J + j]: j seen with c in its context
  for (const seq of train.items) {
    for (let j = 0; j < seq.length; j++) {
      frequency[seq[j]! - 1]!++;
      const end = causal ? j : seq.length;
      for (let k = 0; k < end; k++) if (k !== j) pairs[(seq[k]! - 1) * J + seq[j]! - 1]!++;
    }
  }
  const totalFrequency = frequency.reduce((a, b) => a + b, 0);
  const prior = frequency.map((f) => f / totalFrequency);
  const rowTotals = new Float64Array(J);
  for (let c = 0; c < J; c++) {
    for (let j = 0; j < J; j++) rowTotals[c]! += pairs[c * J + j]!;
  }
  let frequencyLoss = 0, countingLoss = 0, count = 0;
  const frequencyBySequence = new Array<number>(heldOut.items.length).fill(0);
  const countingBySequence = new Array<number>(heldOut.items.length).fill(0);
  eachTarget(heldOut, (s, j) => {
    const seq = heldOut.items[s]!, y = seq[j]! - 1;
    frequencyLoss -= Math.log(prior[y]!);
    frequencyBySequence[s]! -= Math.log(prior[y]!);
    const end = causal ? j : seq.length;
    let p = 0, seen = 0;
    for (let k = 0; k < end; k++) {
      if (k === j) continue;
      const c = seq[k]! - 1;
      p += (pairs[c * J + y]! + prior[y]!) / (rowTotals[c]! + 1);
      seen++;
    }
    const counted = -Math.log(seen > 0 ? p / seen : prior[y]!);
    countingLoss += counted;
    countingBySequence[s]! += counted;
    count++;
  });
  return [
    {
      name: "frequency",
      description: "each item's training frequency (add-one)",
      loss: frequencyLoss / count,
      count,
      bySequence: frequencyBySequence,
    },
    {
      name: "co-occurrence",
      description: causal
        ? "the mean over earlier items c of P(item | c), counted in training"
        : "the mean over the other items c of P(item | c), counted in training",
      loss: countingLoss / count,
      count,
      bySequence: countingBySequence,
    },
  ];
}
