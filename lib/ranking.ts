/**
 * Ranking: the K most likely items of each masked position, and the
 * recommender metrics of categorical models beside their cross-entropy:
 * Recall@K (the share of targets ranked in the top K; one target per
 * prediction, so also the hit rate), NDCG@K (`1 / log2(rank + 1)` when the
 * target is in the top K, else 0) and MRR (the mean of `1 / rank`, over
 * every rank).
 *
 * A target's rank is 1 plus the number of candidate items scored above it,
 * ties broken by item id (a lower id ranks first), so ranks are
 * deterministic. With `excludeContext` the items of the prediction's context
 * (the other observations it may attend to: the earlier ones for a
 * unidirectional model, all the others for a bidirectional one) are not
 * candidates, as recommender evaluations drop items already in the basket;
 * the target stays a candidate even when it also occurs in the context.
 *
 * @module
 */
import type { Example, Sequences } from "./data.ts";
import { type EvaluateOptions, predict } from "./evaluate.ts";
import { type Model, predicts } from "./objective.ts";

/** Options of {@link rankItems} and {@link topK}. */
export interface RankingOptions extends EvaluateOptions {
  /** The cut-offs K of Recall@K and NDCG@K (default `[1, 5, 10]`); each a positive integer. */
  readonly k?: readonly number[];
  /** Drop the items of each prediction's context from its candidates (default `false`). */
  readonly excludeContext?: boolean;
}

/** What {@link rankItems} returns: means over predictions. */
export interface RankingResult {
  /** The cut-offs, ascending. */
  readonly k: number[];
  /** Recall@K for each cut-off. */
  readonly recall: number[];
  /** NDCG@K for each cut-off. */
  readonly ndcg: number[];
  /** Mean reciprocal rank. */
  readonly mrr: number;
  /** Whether context items were excluded. */
  readonly excludeContext: boolean;
  /** Number of predictions. */
  readonly count: number;
}

/**
 * The rank (from 1) of `target` among `scores`: 1 plus the number of
 * candidates scored above it, or equal and of a lower index.
 *
 * @param scores One score per item (0-based item index).
 * @param target The target's index.
 * @param excluded Indices that are not candidates (the target never is excluded).
 * @returns The rank.
 *
 * @example
 * ```ts
 * import { rankOfTarget } from "./ranking.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(rankOfTarget([0.1, 0.5, 0.3], 2), 2);
 * assert.equal(rankOfTarget([0.1, 0.5, 0.3], 2, new Set([1])), 1);
 * assert.equal(rankOfTarget([0.3, 0.3], 1), 2); // a tie: the lower index first
 * ```
 */
export function rankOfTarget(
  scores: ArrayLike<number>,
  target: number,
  excluded?: ReadonlySet<number>,
): number {
  if (!Number.isInteger(target) || target < 0 || target >= scores.length) {
    throw new RangeError(
      `rankOfTarget(): expected target to be an index below ${scores.length}, got ${target}`,
    );
  }
  const t = scores[target]!;
  let rank = 1;
  for (let j = 0; j < scores.length; j++) {
    if (j === target || excluded?.has(j)) continue;
    const s = scores[j]!;
    if (s > t || (s === t && j < target)) rank++;
  }
  return rank;
}

/**
 * Recall@K, NDCG@K and MRR of a list of ranks.
 *
 * @param ranks The targets' ranks (from 1).
 * @param k The cut-offs.
 * @param excludeContext Recorded in the result.
 * @returns The means.
 *
 * @example Two predictions, ranked first and third
 * ```ts
 * import { rankingOf } from "./ranking.ts";
 * import assert from "node:assert/strict";
 *
 * const r = rankingOf([1, 3], [1, 5]);
 * assert.deepEqual(r.recall, [0.5, 1]);
 * assert.equal(r.ndcg[1], (1 + 1 / Math.log2(4)) / 2);
 * assert.equal(r.mrr, (1 + 1 / 3) / 2);
 * ```
 */
export function rankingOf(
  ranks: readonly number[],
  k: readonly number[] = [1, 5, 10],
  excludeContext = false,
): RankingResult {
  const cutoffs = checkCutoffs(k, "rankingOf");
  const n = ranks.length;
  const recall = cutoffs.map((c) => ranks.filter((r) => r <= c).length / n);
  const ndcg = cutoffs.map((c) =>
    ranks.reduce((sum, r) => sum + (r <= c ? 1 / Math.log2(r + 1) : 0), 0) / n
  );
  const mrr = ranks.reduce((sum, r) => sum + 1 / r, 0) / n;
  return { k: cutoffs, recall, ndcg, mrr, excludeContext, count: n };
}

function checkCutoffs(k: readonly number[], fn: string): number[] {
  if (!Array.isArray(k) || k.length === 0 || !k.every((c) => Number.isInteger(c) && c >= 1)) {
    throw new RangeError(
      `${fn}(): expected k to be a non-empty list of positive integers, got ${JSON.stringify(k)}`,
    );
  }
  return [...new Set(k)].sort((a, b) => a - b);
}

/** The 0-based indices of the items in an example's context (see the module comment). */
export function contextItemIndices(model: Model, data: Sequences, example: Example): Set<number> {
  const [s, pos] = example;
  const items = data.items[s]!;
  const unidirectional = model.kind === "efa"
    ? model.config.direction === "unidirectional"
    : model.config.context === "unidirectional";
  const out = new Set<number>();
  const end = unidirectional ? pos : items.length;
  for (let j = 0; j < end; j++) if (j !== pos) out.add(items[j]! - 1);
  out.delete(items[pos]! - 1); // the target stays a candidate
  return out;
}

function itemScores(
  model: Model,
  data: Sequences,
  options: RankingOptions,
  fn: string,
): { examples: Example[]; eta: Float32Array; probabilities: Float32Array } {
  if (!predicts(model).item) {
    throw new TypeError(
      `${fn}(): expected a model that predicts items, got one that predicts values only`,
    );
  }
  const p = predict(model, data, options);
  return { examples: p.examples, eta: p.itemEta!, probabilities: p.itemProbabilities! };
}

/**
 * Recall@K, NDCG@K and MRR of a categorical (or joint) model on every
 * target of a data set.
 *
 * @param model The model.
 * @param data The sequences.
 * @param options The cut-offs, whether to exclude context items, the batch size.
 * @returns The metrics.
 * @throws {TypeError} When the model predicts values only.
 *
 * @example An untrained model ranks about in the middle
 * ```ts
 * import { createFm, disposeModel, fmConfig, rankItems } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 20 }), { seed: 1 });
 * const r = rankItems(model, { items: [[1, 2, 3, 4], [5, 6, 7]] }, { k: [10] });
 * assert.equal(r.count, 7);
 * assert.ok(r.recall[0]! >= 0 && r.recall[0]! <= 1);
 * disposeModel(model);
 * ```
 */
export function rankItems(
  model: Model,
  data: Sequences,
  options: RankingOptions = {},
): RankingResult {
  const cutoffs = checkCutoffs(options.k ?? [1, 5, 10], "rankItems");
  const { examples, eta } = itemScores(model, data, options, "rankItems");
  const J = model.config.numItems, exclude = options.excludeContext ?? false;
  const ranks = examples.map((e, i) => {
    const [s, pos] = e;
    const scores = eta.subarray(i * J, (i + 1) * J);
    return rankOfTarget(
      scores,
      data.items[s]![pos]! - 1,
      exclude ? contextItemIndices(model, data, e) : undefined,
    );
  });
  return rankingOf(ranks, cutoffs, exclude);
}

/** What {@link topK} returns, one row per example in data order. */
export interface TopItems {
  /** The examples, `[sequence, position]`. */
  readonly examples: Example[];
  /** The number of items per example. */
  readonly k: number;
  /** Item ids (1-based), row-major `[count, k]`, most likely first. */
  readonly items: Int32Array;
  /** Their probabilities (of the full softmax), row-major `[count, k]`. */
  readonly probabilities: Float32Array;
}

/**
 * The `k` most likely items of every masked position, most likely first
 * (ties: the lower id first), optionally without the items of its context.
 *
 * @param model A categorical (or joint) model.
 * @param data The sequences.
 * @param k How many items per position (at most the candidates there are).
 * @param options Whether to exclude context items, the batch size.
 * @returns The items and their probabilities.
 * @throws {RangeError} When `k` is not a positive integer up to the number of items.
 *
 * @example
 * ```ts
 * import { createFm, disposeModel, fmConfig, topK } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 8 }), { seed: 1 });
 * const top = topK(model, { items: [[1, 2, 3]] }, 3);
 * assert.equal(top.items.length, 9); // 3 positions x 3 items
 * assert.ok(top.probabilities[0]! >= top.probabilities[1]!);
 * disposeModel(model);
 * ```
 */
export function topK(
  model: Model,
  data: Sequences,
  k: number,
  options: Omit<RankingOptions, "k"> = {},
): TopItems {
  const scores = itemScores(model, data, options, "topK");
  return topItemsOf(model, data, scores, k, options.excludeContext ?? false);
}

/**
 * {@link topK} from predictions already made (`predict`'s examples, logits
 * and probabilities), so that a caller with them needs no second forward pass.
 */
export function topItemsOf(
  model: Model,
  data: Sequences,
  scores: { examples: Example[]; eta: Float32Array; probabilities: Float32Array },
  k: number,
  excludeContext: boolean,
): TopItems {
  const J = model.config.numItems;
  if (!Number.isInteger(k) || k < 1 || k > J) {
    throw new RangeError(
      `topK(): expected k to be an integer from 1 to ${J} (the items), got ${k}`,
    );
  }
  const { examples, eta, probabilities } = scores;
  const n = examples.length;
  const items = new Int32Array(n * k), probs = new Float32Array(n * k);
  examples.forEach((e, i) => {
    const scores = eta.subarray(i * J, (i + 1) * J);
    const excluded = excludeContext ? contextItemIndices(model, data, e) : undefined;
    const order = [...Array(J).keys()].filter((j) => !excluded?.has(j))
      .sort((a, b) => scores[b]! - scores[a]! || a - b);
    for (let r = 0; r < k; r++) {
      const j = order[r];
      items[i * k + r] = j === undefined ? 0 : j + 1; // 0: fewer candidates than k
      probs[i * k + r] = j === undefined ? 0 : probabilities[i * J + j]!;
    }
  });
  return { examples, k, items, probabilities: probs };
}
