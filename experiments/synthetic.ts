/**
 * Synthetic Gaussian ratings (docs/EFA.md 3.1): value EFA against the value FM,
 * test MSE (the noise variance, 1, is the best achievable).
 *
 *   deno run -A experiments/synthetic.ts [--quick] [--force]
 */
import { loadDataset } from "../data/load.ts";
import { syntheticMean } from "../data/synthetic.ts";
import { type Model, predict, type Sequences } from "../mod.ts";
import type { Mode, RunOptions, TableRun } from "./_harness.ts";
import { runDefinedTable, type TableConfig, type TableDefinition, tableMain } from "./_table.ts";
import { syntheticModels } from "./paper_models.ts";

/** The paper's setting: lr 1e-4, batch 256, patience 10, up to 1,000 epochs; three seeds. */
export const full: TableConfig = {
  seeds: [1, 2, 3],
  epochs: null,
  patience: null,
  learningRate: null,
  subset: null,
  models: null,
};
/** CI: a few users, two epochs. */
export const quick: TableConfig = {
  seeds: [1],
  epochs: 2,
  patience: null,
  learningRate: 1e-3,
  subset: { fit: 80, validation: 30, test: 40 },
  models: null,
};

/** Predictions of one (movie, true conditional mean) group of the test set. */
export interface RuleSummary {
  readonly movie: number;
  readonly truth: number;
  readonly count: number;
  readonly mean: number;
  /** 10th, 50th and 90th percentiles of the predicted means. */
  readonly q10: number;
  readonly q50: number;
  readonly q90: number;
}

/** The predicted means of the test set grouped by movie and true conditional mean (the figure's data). */
export function predictedByRule(model: Model, test: Sequences): RuleSummary[] {
  const p = predict(model, test);
  const groups = new Map<string, { movie: number; truth: number; values: number[] }>();
  p.examples.forEach(([s, pos], i) => {
    const order = Array.from(test.items[s]!);
    const movie = order[pos]!, truth = syntheticMean(order, pos);
    const key = `${movie}:${truth}`;
    const g = groups.get(key) ?? groups.set(key, { movie, truth, values: [] }).get(key)!;
    g.values.push(p.valueMean![i]!);
  });
  const quantile = (sorted: number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;
  return [...groups.values()]
    .sort((a, b) => a.movie - b.movie || a.truth - b.truth)
    .map(({ movie, truth, values }) => {
      const sorted = values.toSorted((a, b) => a - b);
      return {
        movie,
        truth,
        count: values.length,
        mean: values.reduce((a, b) => a + b, 0) / values.length,
        q10: quantile(sorted, 0.1),
        q50: quantile(sorted, 0.5),
        q90: quantile(sorted, 0.9),
      };
    });
}

/** The table. */
export const table: TableDefinition = {
  name: "synthetic",
  dataset: "synthetic",
  metric: "test_mse",
  metricOf: (r) => r.mse!,
  figureData: (model, data) => predictedByRule(model, data.test),
  models: async () => {
    const data = await loadDataset("synthetic");
    return syntheticModels().map((spec) => ({
      spec,
      variant: "",
      direction: spec.name.split("_")[1]!,
      data,
    }));
  },
};

/**
 * Runs the table in full or quick mode.
 *
 * @param mode `full` or `quick`.
 * @param options Force, data and results locations.
 * @returns The results.
 */
export function run(mode: Mode = "full", options: RunOptions = {}): Promise<TableRun> {
  return runDefinedTable(table, mode, mode === "full" ? full : quick, options);
}

if (import.meta.main) await tableMain(table, { full, quick });
