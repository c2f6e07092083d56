/**
 * Several models on one split, with honest error bars: {@link compare} fits
 * each configuration of EFA on the same training sequences, scores it and
 * the simple baselines on the same held-out sequences, and gives each
 * held-out loss and each difference to the best a paired bootstrap
 * confidence interval over sequences (the held-out sequences are drawn with
 * replacement, the same draws for every model, so that what the models have
 * in common cancels from their differences).
 *
 * Beside EFA it fits the paper's baseline, the FM (exponential family
 * embeddings: the same item tables with fixed, uniform context weights
 * instead of attention, `createFm`), on the same training sequences with the
 * first configuration's epochs, patience, learning rate, batch size and
 * width, early-stopped on a seeded fifth of them as `fit` does.
 *
 * @module
 */
import { fit, type FitFamily, type FitOptions, type Observation, type ValueScale } from "./api.ts";
import { baselineScores } from "./baselines.ts";
import type { Sequences } from "./data.ts";
import { predict } from "./evaluate.ts";
import { createFm, fmConfig } from "./fm.ts";
import { disposeModel } from "./objective.ts";
import { SeedStream } from "./random.ts";
import { train } from "./train.ts";

/** Options of {@link compare}. */
export interface CompareOptions {
  /** Share of sequences held out for the comparison (default 0.2). */
  readonly testShare?: number;
  /** Seed of the split, of every fit (unless its configuration sets one) and of the bootstrap (default 0). */
  readonly seed?: number;
  /** Bootstrap resamples (default 1,000). */
  readonly samples?: number;
  /** Confidence level of the intervals (default 0.95). */
  readonly level?: number;
  /** Score the simple baselines too (default true; see `baselineScores`). */
  readonly baselines?: boolean;
  /** Fit and score the FM baseline too (default true; module documentation). */
  readonly fm?: boolean;
  /** Called before each configuration (and the FM) is fitted, with the total of fits. */
  readonly onModel?: (name: string, index: number, total: number) => void;
}

/** One model's held-out score in a {@link Comparison}. */
export interface ComparedModel {
  /** The configuration's name, or the baseline's (e.g. `"neighbours' mean"`). */
  readonly name: string;
  /** `"efa"`, `"fm"` (the paper's baseline) or `"baseline"` (a simple one). */
  readonly kind: "efa" | "fm" | "baseline";
  /** Held-out loss per prediction. */
  readonly loss: number;
  /** The lower end of the loss's confidence interval. */
  readonly low: number;
  /** The upper end of the loss's confidence interval. */
  readonly high: number;
  /** Its loss minus the best model's (0 for the best itself). */
  readonly difference: number;
  /** The lower end of the difference's paired interval. */
  readonly differenceLow: number;
  /** The upper end of the difference's paired interval. */
  readonly differenceHigh: number;
  /** Training time in seconds (EFA configurations and the FM). */
  readonly seconds?: number;
}

/** What {@link compare} found. */
export interface Comparison {
  /** The loss compared: squared error, Poisson loss, binary cross-entropy or cross-entropy (nats). */
  readonly metric: string;
  /** Held-out sequences. */
  readonly sequences: number;
  /** Held-out predictions. */
  readonly predictions: number;
  /** Confidence level of the intervals. */
  readonly level: number;
  /** Bootstrap resamples. */
  readonly samples: number;
  /** Every model, best (lowest loss) first. */
  readonly models: readonly ComparedModel[];
}

const METRICS = {
  categorical: "cross-entropy (nats)",
  gaussian: "squared error",
  poisson: "Poisson loss",
  bernoulli: "binary cross-entropy",
} as const;

/** The loss of one prediction, in the metric of the family. */
function predictionLoss(
  family: keyof typeof METRICS,
  p: { value?: number; mean?: number; itemProbability?: number },
): number {
  switch (family) {
    case "categorical":
      return -Math.log(p.itemProbability!);
    case "gaussian":
      return (p.value! - p.mean!) ** 2;
    case "poisson":
      return p.mean! - (p.value === 0 ? 0 : p.value! * Math.log(p.mean!));
    case "bernoulli":
      return -Math.log(p.value === 1 ? p.mean! : 1 - p.mean!);
  }
}

/** The `q` quantile of sorted numbers (linear between order statistics). */
function quantile(sorted: Float64Array, q: number): number {
  const at = q * (sorted.length - 1), lo = Math.floor(at), hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/**
 * Paired bootstrap over sequences: each model's loss per prediction and its
 * difference to the best, with percentile intervals. `losses[m][s]` is the
 * sum of model `m`'s losses over sequence `s`, `counts[s]` its predictions.
 */
export function pairedBootstrap(
  losses: readonly (readonly number[])[],
  counts: readonly number[],
  options: { samples: number; level: number; seed: number },
): {
  loss: number;
  low: number;
  high: number;
  difference: number;
  differenceLow: number;
  differenceHigh: number;
}[] {
  const S = counts.length;
  const total = counts.reduce((a, b) => a + b, 0);
  const means = losses.map((l) => l.reduce((a, b) => a + b, 0) / total);
  const best = means.indexOf(Math.min(...means));
  const rng = new SeedStream(options.seed);
  const draws = losses.map(() => new Float64Array(options.samples));
  const differences = losses.map(() => new Float64Array(options.samples));
  const sums = new Float64Array(losses.length);
  for (let b = 0; b < options.samples; b++) {
    sums.fill(0);
    let n = 0;
    for (let k = 0; k < S; k++) {
      const s = Math.min(S - 1, Math.floor(rng.random() * S));
      n += counts[s]!;
      for (let m = 0; m < losses.length; m++) sums[m]! += losses[m]![s]!;
    }
    for (let m = 0; m < losses.length; m++) {
      draws[m]![b] = sums[m]! / n;
      differences[m]![b] = (sums[m]! - sums[best]!) / n;
    }
  }
  const tail = (1 - options.level) / 2;
  return means.map((loss, m) => {
    draws[m]!.sort();
    differences[m]!.sort();
    return {
      loss,
      low: quantile(draws[m]!, tail),
      high: quantile(draws[m]!, 1 - tail),
      difference: loss - means[best]!,
      differenceLow: quantile(differences[m]!, tail),
      differenceHigh: quantile(differences[m]!, 1 - tail),
    };
  });
}

/**
 * Fits each configuration on the same training sequences and compares them
 * and the simple baselines on the same held-out sequences (module
 * documentation). Every configuration models the same family; the baselines
 * see what a bidirectional EFA sees, or only earlier positions when every
 * configuration is unidirectional.
 *
 * @param rows The observations, as for `fit`.
 * @param configurations Named `fit` options, e.g. `{ "1 layer": { layers: 1 } }`.
 * @param options Split, bootstrap and progress.
 * @returns Every model's held-out loss with intervals, best first.
 * @throws {RangeError} For no configurations, mixed or joint families, a bad
 * share, level or number of samples, or too few sequences to split.
 *
 * @example One layer against two, with the FM and the baselines
 * ```ts
 * import { compare } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const rows = Array.from({ length: 40 }, (_, s) =>
 *   Array.from({ length: 6 }, (_, j) => ({ sequence: s, item: "day", value: Math.sin(s + j) }))
 * ).flat();
 * const result = await compare(rows, { "1 layer": { layers: 1, epochs: 2 }, "2 layers": { epochs: 2 } });
 * assert.equal(result.models.length, 2 + 1 + 4); // two EFAs, the FM, four baselines
 * assert.ok(result.models[0]!.difference === 0 && result.models[0]!.low <= result.models[0]!.loss);
 * ```
 */
export async function compare(
  rows: readonly Observation[],
  configurations: Readonly<Record<string, FitOptions>>,
  options: CompareOptions = {},
): Promise<Comparison> {
  const names = Object.keys(configurations);
  if (names.length === 0) {
    throw new RangeError("compare(): expected at least one configuration, got none");
  }
  const testShare = options.testShare ?? 0.2;
  const samples = options.samples ?? 1000;
  const level = options.level ?? 0.95;
  const seed = options.seed ?? 0;
  if (!(testShare > 0 && testShare < 1)) {
    throw new RangeError(`compare(): expected testShare in (0, 1), got ${testShare}`);
  }
  if (!(Number.isInteger(samples) && samples >= 10)) {
    throw new RangeError(`compare(): expected samples to be an integer >= 10, got ${samples}`);
  }
  if (!(level > 0 && level < 1)) {
    throw new RangeError(`compare(): expected level in (0, 1), got ${level}`);
  }
  const hasValues = Array.isArray(rows) &&
    rows.some((r) => r !== null && r.value !== undefined && r.value !== null);
  const families = new Set(
    names.map((n) => configurations[n]!.family ?? (hasValues ? "gaussian" : "categorical")),
  );
  if (families.size > 1) {
    throw new RangeError(
      `compare(): expected every configuration to model the same family, got ${
        [...families].join(", ")
      }`,
    );
  }
  const family = [...families][0]! as FitFamily;
  if (!(family in METRICS)) {
    throw new RangeError(
      `compare(): expected family categorical, gaussian, poisson or bernoulli, got ${
        JSON.stringify(family)
      } (joint families have two losses; compare them one at a time)`,
    );
  }
  const metricFamily = family as keyof typeof METRICS;
  // Split by sequence, once, for every model.
  const bySequence = new Map<string, Observation[]>();
  for (const r of rows) {
    const key = String(r?.sequence);
    (bySequence.get(key) ?? bySequence.set(key, []).get(key)!).push(r);
  }
  const keys = new SeedStream(seed).shuffle([...bySequence.keys()]);
  const held = Math.round(testShare * keys.length);
  if (held < 2 || keys.length - held < 2) {
    throw new RangeError(
      `compare(): expected enough sequences for ${held} held out and ${
        keys.length - held
      } to fit (at least 2 each), got ${keys.length}`,
    );
  }
  const testKeys = keys.slice(0, held);
  const testIndex = new Map(testKeys.map((k, i) => [k, i] as const));
  const fitRows = keys.slice(held).flatMap((k) => bySequence.get(k)!);
  const testRows = testKeys.flatMap((k) => bySequence.get(k)!);

  const withFm = options.fm ?? true;
  const losses: number[][] = [];
  const counts = new Array<number>(held).fill(0);
  const seconds: number[] = [];
  let baselineInput: { train: Sequences; test: Sequences; numItems: number } | null = null;
  let valueScale: ValueScale | null = null;
  for (const [i, name] of names.entries()) {
    options.onModel?.(name, i, names.length + (withFm ? 1 : 0));
    const start = performance.now();
    const fitted = await fit(fitRows, { seed, ...configurations[name]! });
    try {
      seconds.push((performance.now() - start) / 1000);
      const sums = new Array<number>(held).fill(0);
      const n = new Array<number>(held).fill(0);
      for (const p of fitted.predict(testRows)) {
        const s = testIndex.get(p.sequence)!;
        sums[s]! += predictionLoss(metricFamily, p);
        n[s]!++;
      }
      if (i === 0) n.forEach((c, s) => counts[s] = c);
      losses.push(sums);
      // The baselines and the FM count over the first model's items (its unknown item included) and positions.
      if (i === 0 && ((options.baselines ?? true) || withFm)) {
        baselineInput = asSequences(fitted.items, keys.slice(held), testKeys, bySequence, family);
        valueScale = fitted.valueScale;
      }
    } finally {
      fitted.dispose();
    }
  }
  const models: { name: string; kind: "efa" | "fm" | "baseline"; seconds?: number }[] = names
    .map((name, i) => ({ name, kind: "efa", seconds: seconds[i]! }));
  const unidirectional = names.every((n) => configurations[n]!.direction === "unidirectional");
  if (baselineInput !== null && withFm) {
    options.onModel?.("FM", names.length, names.length + 1);
    const start = performance.now();
    const fm = await fmLosses(baselineInput, metricFamily, unidirectional, {
      first: configurations[names[0]!]!,
      valueScale,
      seed,
    });
    if (fm.count !== counts.reduce((a, b) => a + b, 0)) {
      throw new Error(
        `compare(): internal error, EFA made ${
          counts.reduce((a, b) => a + b, 0)
        } held-out predictions and the FM ${fm.count}`,
      );
    }
    models.push({ name: "FM", kind: "fm", seconds: (performance.now() - start) / 1000 });
    losses.push(fm.sums);
  }
  if (baselineInput !== null && (options.baselines ?? true)) {
    for (
      const b of baselineScores(baselineInput.train, baselineInput.test, {
        target: family === "categorical" ? "item" : metricFamily as "gaussian",
        direction: unidirectional ? "unidirectional" : "bidirectional",
        numItems: baselineInput.numItems,
      })
    ) {
      models.push({ name: b.name, kind: "baseline" });
      losses.push([...b.bySequence]);
    }
  }
  const predictions = counts.reduce((a, b) => a + b, 0);
  if (baselineInput !== null) {
    const baselineCount = baselineInput.test.items.reduce((a, s) => a + s.length, 0);
    if (baselineCount !== predictions) {
      throw new Error(
        `compare(): internal error, EFA made ${predictions} held-out predictions and the baselines ${baselineCount}`,
      );
    }
  }
  const intervals = pairedBootstrap(losses, counts, { samples, level, seed });
  return {
    metric: METRICS[metricFamily],
    sequences: held,
    predictions,
    level,
    samples,
    models: models.map((m, i) => ({ ...m, ...intervals[i]! }))
      .sort((a, b) => a.loss - b.loss),
  };
}

/**
 * The FM baseline (module documentation) trained on `input.train` and its
 * summed loss per held-out sequence, in the data's units.
 */
async function fmLosses(
  input: { train: Sequences; test: Sequences; numItems: number },
  family: keyof typeof METRICS,
  unidirectional: boolean,
  setting: { first: FitOptions; valueScale: ValueScale | null; seed: number },
): Promise<{ sums: number[]; count: number }> {
  const { first, valueScale, seed } = setting;
  const scaled = (s: Sequences): Sequences =>
    valueScale === null || s.values === undefined ? s : {
      items: s.items,
      values: s.values.map((v) => Array.from(v, (y) => (y - valueScale.shift) / valueScale.scale)),
    };
  // Only non-empty sequences are trained on and predicted (a value sequence may have none observed).
  const nonEmpty = (s: Sequences): number[] =>
    s.items.flatMap((items, i) => items.length > 0 ? [i] : []);
  const pick = (s: Sequences, ids: readonly number[]): Sequences => ({
    items: ids.map((i) => s.items[i]!),
    ...(s.values === undefined ? {} : { values: ids.map((i) => s.values![i]!) }),
  });
  const order = new SeedStream(seed).shuffle(nonEmpty(input.train));
  const held = order.length >= 5 ? Math.round(0.2 * order.length) : 0;
  const model = createFm(
    fmConfig({
      numItems: input.numItems,
      target: family === "categorical" ? "item" : "value",
      family: family === "categorical" ? null : { name: family },
      context: unidirectional ? "unidirectional" : "bidirectional",
      maskToken: unidirectional && family === "categorical",
      dim: first.dim ?? 32,
    }),
    { seed },
  );
  try {
    await train(model, scaled(pick(input.train, order.slice(held))), {
      epochs: first.epochs ?? 200,
      patience: first.patience ?? 20,
      learningRate: first.learningRate ?? (family === "categorical" ? 3e-3 : 1e-3),
      batchSize: first.batchSize ?? 256,
      seed,
      ...(held > 0 ? { validation: scaled(pick(input.train, order.slice(0, held))) } : {}),
    });
    const testIds = nonEmpty(input.test);
    const test = pick(input.test, testIds);
    const p = predict(model, scaled(test));
    const sums = new Array<number>(input.test.items.length).fill(0);
    p.examples.forEach(([s, j], k) => {
      const value = test.values === undefined ? undefined : test.values[s]![j];
      const mean = p.valueMean === undefined
        ? undefined
        : valueScale === null
        ? p.valueMean[k]!
        : p.valueMean[k]! * valueScale.scale + valueScale.shift;
      const itemProbability = p.itemProbabilities?.[k * input.numItems + test.items[s]![j]! - 1];
      sums[testIds[s]!]! += predictionLoss(family, {
        ...(value === undefined ? {} : { value }),
        ...(mean === undefined ? {} : { mean }),
        ...(itemProbability === undefined ? {} : { itemProbability }),
      });
    });
    return { sums, count: p.examples.length };
  } finally {
    disposeModel(model);
  }
}

/** Fit and held-out rows as id sequences over a fitted model's items, in position order. */
function asSequences(
  items: readonly string[],
  fitKeys: readonly string[],
  testKeys: readonly string[],
  bySequence: ReadonlyMap<string, Observation[]>,
  family: FitFamily,
): { train: Sequences; test: Sequences; numItems: number } {
  const index = new Map(items.map((label, i) => [label, i] as const));
  const unknown = items.length - 1;
  const withValues = family !== "categorical";
  const toSequences = (groups: Observation[][]): Sequences => {
    // One sequence per group, even an empty one, so that sequence s is testKeys[s].
    const ordered = groups.map((g) =>
      g.filter((r) => !withValues || (r.value !== undefined && r.value !== null))
        .map((r, j) => ({ r, at: r.position ?? j }))
        .sort((a, b) => a.at - b.at).map(({ r }) => r)
    );
    return {
      items: ordered.map((g) => g.map((r) => index.get(String(r.item)) ?? unknown)),
      ...(withValues ? { values: ordered.map((g) => g.map((r) => Number(r.value))) } : {}),
    };
  };
  return {
    train: toSequences(fitKeys.map((k) => bySequence.get(k)!)),
    test: toSequences(testKeys.map((k) => bySequence.get(k)!)),
    numItems: items.length - 1,
  };
}
