/**
 * MovieLens 100K prepared exactly as `movielens/exp-1/*.ipynb` and
 * `movielens/exp-2/v1` and `v2` notebooks (docs/EFA.md 3.3 and 8):
 *
 * 1. (exp-2 only) `rating -= 2`, keep ratings > 0.
 * 2. Keep the 50 most rated movies; ties broken by movie id, which keeps movie
 *    28 (exp-1) and 276 (exp-2) as the saved outputs did.
 * 3. Drop users whose rating count is at least twice their number of distinct
 *    timestamps.
 * 4. (exp-2 only) Drop users with a single rating.
 * 5. Keep one rating per (user, timestamp): pandas'
 *    `group.sample(n=1, random_state=42)` on each group, i.e. row
 *    `RandomState(42).permutation(k)[0]` of a group of `k` rows.
 * 6. Sort by user and timestamp; recode movies 1..50 in order of first
 *    appearance (`pd.factorize`).
 * 7. Split users with the notebooks' quirk: `shuffled = permutation(n)` after
 *    `np.random.seed(42)`, `train = shuffled[shuffled[:3n//4]]`; these are
 *    indices 0..n-1 matched against user ids 1..943.
 * 8. Validation: exp-1 holds out 25% of the training users' sequences, exp-2
 *    25% of the training examples (`random_state=42`).
 */
import { listExamples, type Sequences } from "../mod.ts";
import { NumpyRandomState, trainTestSplit } from "../lib/numpy_random.ts";
import { numberColumn, parseTable } from "../lib/_csv.ts";
import { countTargets, type PreparedDataset, selectSequences, splitExamples } from "./prepared.ts";

/** One row of `u.data`. */
export interface Rating {
  /** User id (1..943). */
  readonly user: number;
  /** Movie id (1..1682). */
  readonly movie: number;
  /** Rating (1..5 in the file). */
  readonly rating: number;
  /** Unix time of the rating. */
  readonly timestamp: number;
}

/** Parses `u.data` (tab-separated user, item, rating, timestamp; no header). */
export function parseRatings(text: string, file = "u.data"): Rating[] {
  const table = parseTable(text, {
    file,
    delimiter: "\t",
    columns: ["user_id", "movie_id", "rating", "timestamp"],
  });
  const user = numberColumn(table, "user_id", { integer: true });
  const movie = numberColumn(table, "movie_id", { integer: true });
  const rating = numberColumn(table, "rating", { integer: true });
  const timestamp = numberColumn(table, "timestamp", { integer: true });
  return Array.from(
    user,
    (u, i) => ({ user: u, movie: movie[i]!, rating: rating[i]!, timestamp: timestamp[i]! }),
  );
}

/** Which MovieLens experiment. */
export type MovielensExperiment = 1 | 2;

function countBy<T>(rows: readonly Rating[], key: (r: Rating) => T): Map<T, number> {
  const counts = new Map<T, number>();
  for (const r of rows) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
  return counts;
}

/** The filtered, deduplicated ratings of an experiment, sorted by user and timestamp, movies recoded 1..50. */
export function filterRatings(ratings: readonly Rating[], experiment: MovielensExperiment): {
  rows: Rating[];
  movieIds: number[];
} {
  let rows = experiment === 2
    ? ratings.map((r) => ({ ...r, rating: r.rating - 2 })).filter((r) => r.rating > 0)
    : [...ratings];
  // Step 0: the 50 most rated movies (ties: smaller movie id first).
  const movieCounts = [...countBy(rows, (r) => r.movie)].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const top = new Set(movieCounts.slice(0, 50).map(([m]) => m));
  rows = rows.filter((r) => top.has(r.movie));
  // Step 1: drop users with count >= 2 * number of distinct timestamps.
  const perUser = new Map<number, { count: number; stamps: Set<number> }>();
  for (const r of rows) {
    const u = perUser.get(r.user) ?? { count: 0, stamps: new Set() };
    u.count++;
    u.stamps.add(r.timestamp);
    perUser.set(r.user, u);
  }
  rows = rows.filter((r) => {
    const u = perUser.get(r.user)!;
    return u.count / u.stamps.size < 2;
  });
  // Step 2 (exp-2): drop users with a single rating.
  if (experiment === 2) {
    const counts = countBy(rows, (r) => r.user);
    rows = rows.filter((r) => counts.get(r.user)! > 1);
  }
  // Step 3: one rating per (user, timestamp): group.sample(n=1, random_state=42).
  const groups = new Map<string, Rating[]>();
  for (const r of rows) {
    const key = `${r.user}:${r.timestamp}`;
    const g = groups.get(key) ?? [];
    g.push(r);
    groups.set(key, g);
  }
  const pickCache = new Map<number, number>();
  const pick = (k: number): number => {
    if (!pickCache.has(k)) pickCache.set(k, new NumpyRandomState(42).permutation(k)[0]!);
    return pickCache.get(k)!;
  };
  rows = [...groups.values()].map((g) => g[pick(g.length)]!);
  rows.sort((a, b) => a.user - b.user || a.timestamp - b.timestamp);
  // Recode movies 1..50 in order of first appearance (pd.factorize).
  const code = new Map<number, number>();
  for (const r of rows) if (!code.has(r.movie)) code.set(r.movie, code.size + 1);
  return {
    rows: rows.map((r) => ({ ...r, movie: code.get(r.movie)! })),
    movieIds: [...code.keys()],
  };
}

/** Sequences of movie codes and ratings, one per user, users in the given order. */
function sequencesOf(rows: readonly Rating[], users: readonly number[]): Sequences {
  const byUser = new Map<number, Rating[]>();
  for (const r of rows) {
    const list = byUser.get(r.user) ?? [];
    list.push(r);
    byUser.set(r.user, list);
  }
  return {
    items: users.map((u) => byUser.get(u)!.map((r) => r.movie)),
    values: users.map((u) => byUser.get(u)!.map((r) => r.rating)),
  };
}

/** The prepared experiment: splits and the counts the paper's notebooks print. */
export function prepareMovielens(
  ratings: readonly Rating[],
  experiment: MovielensExperiment,
): PreparedDataset {
  const { rows, movieIds } = filterRatings(ratings, experiment);
  const users = [...new Set(rows.map((r) => r.user))]; // sorted: rows are sorted by user
  const n = users.length;
  const shuffled = new NumpyRandomState(42).permutation(n);
  const midpoint = Math.floor((3 * n) / 4);
  const trainIds = new Set(shuffled.slice(0, midpoint).map((i) => shuffled[i]!)); // indices, not user ids
  const testIds = new Set(shuffled.slice(midpoint).map((i) => shuffled[i]!));
  const trainUsers = users.filter((u) => trainIds.has(u));
  const testUsers = users.filter((u) => testIds.has(u));
  const train = sequencesOf(rows, trainUsers);
  const test = sequencesOf(rows, testUsers);
  let fit: Sequences, validation: Sequences;
  if (experiment === 1) {
    const split = trainTestSplit(trainUsers.length, { testSize: 0.25, randomState: 42 });
    fit = selectSequences(train, split.train);
    validation = selectSequences(train, split.test);
  } else {
    const examples = listExamples(train);
    const split = trainTestSplit(examples.length, { testSize: 0.25, randomState: 42 });
    fit = splitExamples(train, examples, new Set(split.train));
    validation = splitExamples(train, examples, new Set(split.test));
  }
  const maxLength = Math.max(...[train, test].flatMap((d) => d.items.map((s) => s.length)));
  const ratingsCount = rows.length;
  return {
    name: `movielens_exp${experiment}`,
    numItems: movieIds.length,
    maxLength,
    fit,
    validation,
    test,
    stats: {
      users: n,
      movies: movieIds.length,
      ratings: ratingsCount,
      sparsity: (100 * (1 - ratingsCount / (n * movieIds.length))).toFixed(2),
      longest: Math.max(...users.map((u) => rows.filter((r) => r.user === u).length)),
      kept_tie_movie: experiment === 1
        ? (movieIds.includes(28) ? 28 : 191)
        : (movieIds.includes(276) ? 276 : 357),
      train_users: trainUsers.length,
      train_ratings: countTargets(train),
      test_users: testUsers.length,
      test_ratings: countTargets(test),
      unused_users: n - trainUsers.length - testUsers.length,
      fit_predictions: countTargets(fit),
      val_predictions: countTargets(validation),
    },
  };
}
