// deno-lint-ignore-file no-console -- a command-line experiment
/**
 * `deno task own-data`: EFA as a new user meets it, `fit()` with its
 * defaults on real data the package did not generate, against the simple
 * baselines a data scientist tries first, on the same held-out sequences.
 *
 *   deno task own-data [--only=NAME,...] [--data-dir=DIR] [--out=FILE]
 *
 * The data sets, each as rows of `{ sequence, position, item, value }`:
 * - `temperature`: daily mean temperature (°F) of 30 U.S. cities (every fifth
 *   city of the Kaggle file in its order), one sequence per city and month of
 *   2016 to 2019, item = city, position = day, value = temperature (Gaussian;
 *   missing days, -99, left out).
 * - `movielens`: MovieLens 100K, each user's first 50 ratings in time order,
 *   item = movie, value = rating (Gaussian).
 * - `instacart`: the first 5,000 baskets of the paper's processed Instacart
 *   training file, item = product (categorical).
 *
 * 20% of the sequences (seeded) are held out; `fit()` sees the rest (and
 * holds out its own 20% of them for early stopping). Every model and
 * baseline predicts every position of the held-out sequences from the
 * others and is scored in the same loss: squared error in the data's units,
 * or cross-entropy in nats. Beside `fit()`'s defaults and the package's
 * simple baselines (`baselineScores`), a small MLP over a window of
 * neighbours (values) or over the bag of context items (items), trained here
 * with Adam and early stopping, is what a data scientist would write next.
 *
 * Writes `experiments/results/own_data.csv` and `own_data.json` (config,
 * environment, times).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { baselineScores } from "../lib/baselines.ts";
import { windowMlp } from "./window_mlp.ts";
import { backendInfo, fit, type Observation, type Sequences } from "../mod.ts";
import { HELD_OUT, loadSplit, OWN_DATASETS } from "./own_data_sets.ts";
import { codeVersion, gitCommit } from "./_harness.ts";

const { values: args } = parseArgs({
  options: {
    only: { type: "string" },
    "data-dir": { type: "string" },
    out: { type: "string", default: "experiments/results/own_data" },
    threads: { type: "string", default: "2" },
  },
});
const dataOptions = args["data-dir"] === undefined ? {} : { dataDir: args["data-dir"] };
const SEED = 0;

function toSequences(rows: readonly Observation[], index: Map<string, number>): Sequences {
  const groups = Map.groupBy(rows, (r) => String(r.sequence));
  const lists = [...groups.values()].map((l) =>
    l.toSorted((a, b) => (a.position ?? 0) - (b.position ?? 0))
  );
  const id = (r: Observation) => {
    const label = String(r.item);
    if (!index.has(label)) index.set(label, index.size + 1);
    return index.get(label)!;
  };
  return {
    items: lists.map((l) => l.map(id)),
    ...(lists[0]![0]!.value === undefined
      ? {}
      : { values: lists.map((l) => l.map((r) => r.value!)) }),
  };
}

interface ResultLine {
  dataset: string;
  model: string;
  description: string;
  loss: number;
  count: number;
  seconds: number;
}

const only = args.only === undefined ? null : new Set(args.only.split(","));
const threads = Number(args.threads) === 1 ? 1 : 2;
const results: ResultLine[] = [];
const datasets: Record<string, unknown> = {};
const started = new Date().toISOString();
for (const name of OWN_DATASETS) {
  if (only !== null && !only.has(name)) continue;
  const { rows, train, test, target, description } = await loadSplit(name, dataOptions);
  const index = new Map<string, number>();
  const trainSeq = toSequences(train, index), testSeq = toSequences(test, index);
  const numItems = index.size;
  datasets[name] = {
    description,
    rows: rows.length,
    trainSequences: trainSeq.items.length,
    testSequences: testSeq.items.length,
    items: numItems,
  };
  console.log(
    `# ${name}: ${description}; ${rows.length} rows, ${trainSeq.items.length} + ${testSeq.items.length} sequences, ${numItems} items`,
  );
  const add = (line: ResultLine) => {
    results.push(line);
    console.log(
      `${name.padEnd(12)} ${line.model.padEnd(24)} ${
        line.loss.toFixed(4).padStart(10)
      }  (${line.count} predictions, ${line.seconds.toFixed(1)} s)`,
    );
  };
  let t = performance.now();
  for (const b of baselineScores(trainSeq, testSeq, { target, numItems })) {
    add({
      dataset: name,
      model: b.name,
      description: b.description,
      loss: b.loss,
      count: b.count,
      seconds: (performance.now() - t) / 1000,
    });
    t = performance.now();
  }
  t = performance.now();
  const mlp = windowMlp(trainSeq, testSeq, numItems, target, SEED);
  add({
    dataset: name,
    model: "window MLP",
    description: target === "item"
      ? `an MLP (64 ReLU) over the bag of context items, ${mlp.epochs} epochs`
      : `an MLP (32 ReLU) over the 3 values either side, the sequence and item means, ${mlp.epochs} epochs`,
    loss: mlp.loss,
    count: mlp.count,
    seconds: (performance.now() - t) / 1000,
  });
  t = performance.now();
  const fitted = await fit(train, { seed: SEED, threads });
  const predictions = fitted.predict(test);
  const loss = target === "item"
    ? -predictions.reduce((a, p) => a + Math.log(p.itemProbability!), 0) / predictions.length
    : predictions.reduce((a, p) => a + (p.value! - p.mean!) ** 2, 0) / predictions.length;
  const epochsRun = fitted.training?.history.length ?? 0;
  add({
    dataset: name,
    model: "EFA fit() defaults",
    description: `fit() with its defaults (${fitted.family}, bidirectional), ${epochsRun} epochs`,
    loss,
    count: predictions.length,
    seconds: (performance.now() - t) / 1000,
  });
  fitted.dispose();
}

const csv = [
  "dataset,model,loss,count,seconds,description",
  ...results.map((r) =>
    [
      r.dataset,
      r.model,
      r.loss.toFixed(6),
      r.count,
      r.seconds.toFixed(1),
      JSON.stringify(r.description),
    ].join(",")
  ),
].join("\n") + "\n";
await Deno.writeTextFile(`${args.out}.csv`, csv);
await Deno.writeTextFile(
  `${args.out}.json`,
  JSON.stringify(
    {
      started,
      finished: new Date().toISOString(),
      codeVersion: await codeVersion(),
      gitCommit: await gitCommit(),
      backend: backendInfo(),
      threads,
      seed: SEED,
      heldOutShare: HELD_OUT,
      datasets,
      results,
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${args.out}.csv and ${args.out}.json`);
