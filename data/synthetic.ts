/**
 * The paper's synthetic data (docs/EFA.md 3.1), generated exactly as
 * `synthetic/sim-*-efa.ipynb`: `np.random.seed(42)`; 10,000 users each watch
 * the 5 movies in the order `permutation(5) + 1`; each rating is one
 * `np.random.normal(mean, 1)` draw in viewing order, with the mean set by the
 * order rules below. Users 1-7,500 train, 7,501-10,000 test; 25% of the
 * training *examples* (one per position) are held out for validation with
 * `train_test_split(test_size=0.25, random_state=42)`.
 */
import { listExamples, type Sequences } from "../mod.ts";
import { NumpyRandomState, trainTestSplit } from "../lib/numpy_random.ts";
import { countTargets, type PreparedDataset, selectSequences, splitExamples } from "./prepared.ts";

/** The conditional mean of a rating, by the notebook's rules. */
export function syntheticMean(order: readonly number[], position: number): number {
  const movie = order[position]!;
  const previous = position > 0 ? order[position - 1] : undefined;
  if (movie === 2) return order.slice(0, position).includes(1) ? 1 : 5; // after movie 1 anywhere earlier
  if (movie === 4) return previous === 3 ? 1 : 3; // right after movie 3
  if (movie === 3) return previous === 4 ? 1 : 3; // right after movie 4
  if (movie === 5) return position === order.length - 1 ? 5 : 3; // watched last
  return 3;
}

/** Generates the users' viewing orders and ratings (`users` of them; the paper has 10,000). */
export function generateSynthetic(users = 10_000, movies = 5, seed = 42): Sequences {
  const rng = new NumpyRandomState(seed);
  const items: number[][] = [];
  const values: number[][] = [];
  for (let u = 0; u < users; u++) {
    const order = rng.permutation(movies).map((m) => m + 1);
    items.push(order);
    values.push(order.map((_, j) => rng.normal(syntheticMean(order, j), 1)));
  }
  return { items, values };
}

/** The synthetic data set with the notebooks' splits. */
export function prepareSynthetic(): PreparedDataset {
  const all = generateSynthetic();
  const trainUsers = Array.from({ length: 7_500 }, (_, i) => i);
  const testUsers = Array.from({ length: 2_500 }, (_, i) => 7_500 + i);
  const train = selectSequences(all, trainUsers);
  const test = selectSequences(all, testUsers);
  const examples = listExamples(train); // user by user, position by position, as the notebooks
  const { train: fitIdx, test: valIdx } = trainTestSplit(examples.length, {
    testSize: 0.25,
    randomState: 42,
  });
  const fit = splitExamples(train, examples, new Set(fitIdx));
  const validation = splitExamples(train, examples, new Set(valIdx));
  const first = all.items[0]!;
  return {
    name: "synthetic",
    numItems: 5,
    maxLength: 5,
    fit,
    validation,
    test,
    stats: {
      users: all.items.length,
      movies: 5,
      rows: countTargets(all),
      user1_order: Array.from(first).join(" "),
      user1_ratings: Array.from(all.values![0]!, (v) => v.toFixed(4)).join(" "),
      train_users: trainUsers.length,
      test_users: testUsers.length,
      fit_predictions: countTargets(fit),
      val_predictions: countTargets(validation),
      test_predictions: countTargets(test),
    },
  };
}
