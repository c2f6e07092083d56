/**
 * MovieLens experiment 1 (docs/EFA.md 3.3): which movie a user rates next (or at a
 * masked position), categorical EFA against the CBOW FM, test cross-entropy.
 *
 *   deno run -A experiments/movielens_exp1.ts [--quick] [--force] [--data-dir=DIR]
 */
import { loadDataset } from "../data/load.ts";
import type { Mode, RunOptions, TableRun } from "./_harness.ts";
import { runDefinedTable, type TableConfig, type TableDefinition, tableMain } from "./_table.ts";
import { movielensExp1Models } from "./paper_models.ts";

/** The paper's setting: lr 1e-4, batch 256, patience 10, up to 2,000 epochs; three seeds. */
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
  subset: { fit: 60, validation: 20, test: 40 },
  models: null,
};

/** The table. */
export const table: TableDefinition = {
  name: "movielens_exp1",
  dataset: "movielens-100k",
  metric: "test_cross_entropy",
  models: async (options) => {
    const data = await loadDataset("movielens_exp1", options);
    return movielensExp1Models().map((spec) => ({
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
