// deno-lint-ignore-file no-console -- the command's output
/**
 * `deno task reproduce`: regenerates every table of the paper in sequence,
 * writing `experiments/results/<table>.csv` (`.quick.csv` with `--quick`) and
 * printing ours beside the paper's numbers, then (full mode) the figures
 * (`deno task figures`).
 *
 *   deno task reproduce [--quick] [--only=TABLE] [--models=NAME,...] [--force] [--data-dir=DIR]
 *                          [--threads=1|2]
 *
 * A table whose results exist for the same configuration is skipped unless
 * `--force` (with a note when the code that computed them differs from the
 * current code); a table interrupted mid-way resumes from its last finished
 * model when neither configuration nor code changed, with or without
 * `--force` (delete `experiments/results/.partial/<table>.json` to start from zero).
 *
 * Two cores, two processes: the same command started in a second terminal
 * trains the models the first has not claimed (claims in
 * `experiments/results/.partial/<table>.claims/`); whichever process finishes
 * a table's last model writes its results. `--models` (with one `--only`
 * table) trains only the named models in this process, e.g. to spread a long
 * table over several sittings: the checkpoint keeps them until the rest is run.
 * `--threads=2` (one process on two cores) computes part of each training
 * step in a worker thread, with the same numbers to the bit.
 */
import { parseArgs } from "node:util";
import { parseTable } from "../lib/_csv.ts";
import { type Mode, type RunOptions, runTable } from "./_harness.ts";
import { writeFigures } from "./figures.ts";
import type { TableName } from "./paper.ts";
import { TABLES } from "./tables.ts";

function summary(csvText: string): string[] {
  const table = parseTable(csvText, { file: "results.csv" });
  const at = (row: readonly string[], name: string): string =>
    row[table.columns.indexOf(name)] ?? "";
  return table.rows.filter((r) => at(r, "paper") !== "").map((r) =>
    `  ${`${at(r, "model")} ${at(r, "direction")} ${at(r, "variant")}`.trim().padEnd(34)} ${
      at(r, "metric").padEnd(22)
    } ` +
    `ours ${Number(at(r, "value")).toFixed(4)}  paper ${Number(at(r, "paper")).toFixed(4)}  delta ${
      Number(at(r, "delta")).toFixed(4)
    }  ${at(r, "within") === "true" ? "within" : "OUTSIDE"} tolerance`
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      only: { type: "string" },
      "data-dir": { type: "string" },
      models: { type: "string" },
      threads: { type: "string", default: "1" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      `usage: deno task reproduce [--quick] [--only=TABLE] [--models=NAME,...] [--force] [--data-dir=DIR] [--threads=1|2]\ntables: ${
        Object.keys(TABLES).join(", ")
      }`,
    );
    Deno.exit(0);
  }
  const names = values.only === undefined ? Object.keys(TABLES) : values.only.split(",");
  for (const name of names) {
    if (!(name in TABLES)) {
      console.error(
        `reproduce: unknown table ${JSON.stringify(name)}; expected one of ${
          Object.keys(TABLES).join(", ")
        }`,
      );
      Deno.exit(2);
    }
  }
  if (values.models !== undefined && names.length !== 1) {
    console.error("reproduce: --models needs one table (--only=TABLE)");
    Deno.exit(2);
  }
  if (values.threads !== "1" && values.threads !== "2") {
    console.error(`reproduce: --threads must be 1 or 2, got ${JSON.stringify(values.threads)}`);
    Deno.exit(2);
  }
  const mode: Mode = values.quick ? "quick" : "full";
  const options: RunOptions = {
    force: values.force,
    ...(values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] }),
    ...(values.models === undefined ? {} : { models: values.models.split(",") }),
    threads: values.threads === "2" ? 2 : 1,
  };
  for (const name of names) {
    const start = performance.now();
    const run = await runTable(TABLES[name as TableName], mode, options);
    const seconds = (performance.now() - start) / 1000;
    if (!run.finished) {
      console.log(`${name}${mode === "quick" ? " (quick)" : ""}: left to another process`);
      continue;
    }
    console.log(
      `${name}${mode === "quick" ? " (quick)" : ""}: ${
        run.skipped ? "unchanged" : `done in ${seconds.toFixed(0)} s`
      }, ${run.csv.pathname}`,
    );
    for (const line of summary(await Deno.readTextFile(run.csv))) console.log(line);
  }
  // The figures draw the full results (the quick ones are too small to look at).
  if (mode === "full") await writeFigures(options);
}
