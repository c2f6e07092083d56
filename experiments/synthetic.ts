/**
 * Synthetic Gaussian ratings (EFA.md 3.1): value EFA against the value FM,
 * test MSE (the noise variance, 1, is the best achievable).
 *
 *   deno run -A experiments/synthetic.ts [--quick] [--force]
 */
import { loadDataset } from "../data/load.ts";
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

/** The table. */
export const table: TableDefinition = {
  name: "synthetic",
  dataset: "synthetic",
  metric: "test_mse",
  metricOf: (r) => r.mse!,
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
