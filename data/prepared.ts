/** The shape every data pipeline returns: splits as sequences, and counts to check. */
import type { Sequences } from "../mod.ts";

/** A prepared data set: the paper's splits, ready for `train` and `evaluate`. */
export interface PreparedDataset {
  /** The data set's name, as `deno task datasets` prints it. */
  readonly name: string;
  /** Number of distinct items J (ids 1..J). */
  readonly numItems: number;
  /** The longest sequence over all splits. */
  readonly maxLength: number;
  /** Fit part of the training data (what the optimiser sees). */
  readonly fit: Sequences;
  /** Validation part of the training data (early stopping). */
  readonly validation: Sequences;
  /** Held-out test data (the paper's reported metric). */
  readonly test: Sequences;
  /** Item names by id (index 0 unused), where the data set has them. */
  readonly itemNames?: readonly string[];
  /** Counts and facts to check against the paper, printed by `deno task datasets`. */
  readonly stats: Readonly<Record<string, number | string>>;
}

/** The number of target positions of a data set. */
export function countTargets(data: Sequences): number {
  return data.items.reduce((n, seq, s) => n + (data.targets?.[s]?.length ?? seq.length), 0);
}

/**
 * Splits sequences into two example sets by example index (scikit-learn's
 * per-example `train_test_split`): each keeps the full sequences as context
 * and lists only its own target positions. Sequences with no target in a part
 * are left out of it.
 */
export function splitExamples(
  data: Sequences,
  examples: readonly (readonly [number, number])[],
  part: ReadonlySet<number>,
): Sequences {
  const targets = new Map<number, number[]>();
  examples.forEach(([s, pos], i) => {
    if (!part.has(i)) return;
    const list = targets.get(s) ?? [];
    list.push(pos);
    targets.set(s, list);
  });
  const kept = [...targets.keys()].sort((a, b) => a - b);
  return {
    items: kept.map((s) => data.items[s]!),
    ...(data.values === undefined ? {} : { values: kept.map((s) => data.values![s]!) }),
    ...(data.lags === undefined ? {} : { lags: kept.map((s) => data.lags![s]!) }),
    targets: kept.map((s) => targets.get(s)!.sort((a, b) => a - b)),
  };
}

/** Selects whole sequences by index, in the given order. */
export function selectSequences(data: Sequences, indices: readonly number[]): Sequences {
  return {
    items: indices.map((s) => data.items[s]!),
    ...(data.values === undefined ? {} : { values: indices.map((s) => data.values![s]!) }),
    ...(data.lags === undefined ? {} : { lags: indices.map((s) => data.lags![s]!) }),
    ...(data.targets === undefined ? {} : { targets: indices.map((s) => data.targets![s]!) }),
  };
}
