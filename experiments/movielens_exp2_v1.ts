/**
 * MovieLens experiment 2, v1 (docs/EFA.md 3.3): a user's rating of a movie as a
 * shifted Poisson count (`y - 1 ~ Poisson(lambda)`), value EFA against the value FM:
 * test Poisson loss and the mean predicted rating by true rating.
 *
 *   deno run -A experiments/movielens_exp2_v1.ts [--quick] [--force] [--data-dir=DIR]
 */
import type { Mode, RunOptions, TableRun } from "./_harness.ts";
import { exp2Table, FULL, QUICK } from "./_movielens_exp2.ts";
import { runDefinedTable, type TableConfig, type TableDefinition, tableMain } from "./_table.ts";

/** The paper's setting (see `_movielens_exp2.ts`). */
export const full: TableConfig = FULL;
/** CI: a few users, two epochs. */
export const quick: TableConfig = QUICK;
/** The table. */
export const table: TableDefinition = exp2Table("v1");

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
