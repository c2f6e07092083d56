/**
 * Instacart baskets (docs/EFA.md 3.2): the masked item of a basket, categorical EFA
 * against the CBOW FM, test cross-entropy.
 *
 *   deno run -A experiments/instacart.ts [--quick] [--force] [--data-dir=DIR]
 */
import { loadDataset } from "../data/load.ts";
import type { Mode, RunOptions, TableRun } from "./_harness.ts";
import { runDefinedTable, type TableConfig, type TableDefinition, tableMain } from "./_table.ts";
import { instacartModels } from "./paper_models.ts";

/**
 * The paper's model, data and batch (256), trained with lr 1e-3 and early stopping
 * (patience 10, best weights restored) instead of lr 1e-4 for 1,000 epochs without
 * stopping, which would take about 7.5 h per EFA model on two cores; three
 * seeds (about 8 h of training in all: run it over sittings with `--models`).
 */
export const full: TableConfig = {
  seeds: [1, 2, 3],
  epochs: 1000,
  patience: 10,
  learningRate: 1e-3,
  subset: null,
  models: null,
};
/** CI: a few baskets, two epochs. */
export const quick: TableConfig = {
  seeds: [1],
  epochs: 2,
  patience: null,
  learningRate: 1e-3,
  subset: { fit: 150, validation: 40, test: 60 },
  models: null,
};

/** The table. */
export const table: TableDefinition = {
  name: "instacart",
  dataset: "instacart",
  metric: "test_cross_entropy",
  models: async (options) => {
    const data = await loadDataset("instacart", options);
    return instacartModels().map((spec) => ({
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
