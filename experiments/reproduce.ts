// deno-lint-ignore-file no-console -- the command's output (default printers)
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
import { MissingDataError } from "../data/source.ts";
import { type Mode, type RunOptions, runTable, tableJobKeys } from "./_harness.ts";
import { writeFigures } from "./figures.ts";
import type { TableName } from "./paper.ts";
import { TABLES } from "./tables.ts";

/** One line per row compared with the paper (quick rows: ours only, as smoke checks). */
function comparedRows(csvText: string, mode: Mode): string[] {
  const table = parseTable(csvText, { file: "results.csv" });
  const at = (row: readonly string[], name: string): string =>
    row[table.columns.indexOf(name)] ?? "";
  return table.rows.filter((r) => at(r, "paper") !== "").map((r) => {
    const head = `  ${
      `${at(r, "model")} ${at(r, "direction")} ${at(r, "variant")}`.trim().padEnd(34)
    } ${at(r, "metric").padEnd(22)} ours ${Number(at(r, "value")).toFixed(4)}`;
    if (mode === "quick") return `${head}  (smoke check)`;
    return `${head}  paper ${Number(at(r, "paper")).toFixed(4)}  delta ${
      Number(at(r, "delta")).toFixed(4)
    }  ${at(r, "within") === "true" ? "within" : "OUTSIDE"} tolerance`;
  });
}

/** A word for a POSIX shell: as it is when safe, else in single quotes. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** What happened to each table of a run. */
export interface RunSummary {
  readonly done: string[];
  readonly skipped: string[];
  readonly unfinished: string[];
}

/** The closing line of a run, and its exit code (0 only when every table was written). */
export function closing(summary: RunSummary): { line: string; code: number } {
  const parts = [
    `${summary.done.length} table${summary.done.length === 1 ? "" : "s"} done`,
    ...(summary.skipped.length === 0
      ? []
      : [`${summary.skipped.length} skipped for missing data (${summary.skipped.join(", ")})`]),
    ...(summary.unfinished.length === 0 ? [] : [
      `${summary.unfinished.length} left to another process or a later run (${
        summary.unfinished.join(", ")
      })`,
    ]),
  ];
  const code = summary.skipped.length + summary.unfinished.length === 0 ? 0 : 1;
  return { line: `reproduce: ${parts.join(", ")}`, code };
}

/**
 * Runs `deno task reproduce` with these arguments, printing to `print`
 * (errors to `printError`); resolves to the exit code: 0 when every table
 * asked for was written, 1 when some were skipped for missing data or left
 * unfinished, 2 for bad arguments.
 */
export async function reproduce(
  args: readonly string[],
  print: (line: string) => void = console.log,
  printError: (line: string) => void = console.error,
): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      quick: { type: "boolean", default: false },
      protocol: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      only: { type: "string" },
      "data-dir": { type: "string" },
      "results-dir": { type: "string" },
      offline: { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      models: { type: "string" },
      jobs: { type: "string" },
      "list-jobs": { type: "boolean", default: false },
      merge: { type: "boolean", default: false },
      threads: { type: "string", default: "1" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    print(
      `usage: deno task reproduce [--quick] [--only=TABLE,...] [--models=NAME,...] [--force] [--threads=1|2]
                         [--data-dir=DIR] [--offline] [--results-dir=DIR] [--quiet]
       deno task reproduce --list-jobs [...]   then each printed command anywhere, then --merge
  --quick        small configurations of every table (minutes): a smoke check, always rerun
  --protocol     the notebooks' own training for the tables whose full run takes a shortcut
                 (instacart: lr 1e-4, 1,000 epochs, no early stopping, one seed; ~3.5 h on one
                 thread), into <table>.protocol.csv
  --only         these tables; --models: only these models of one table in this process
  --force        rerun tables whose results exist
  --threads=2    one process on two cores (same numbers to the bit)
  --data-dir     the data root (default EFA_DATA_DIR, then the cache directory)
  --offline      never download: tables whose data is missing are skipped
  --results-dir  where results and checkpoints go (default experiments/results/)
  --quiet        no per-epoch progress
  --list-jobs    print one command per (table, model, seed); each trains its job alone on any
                 machine that shares the results folder, the last one writes the table
  --jobs         train only these jobs (model/seed=S) of one table
  --merge        train nothing: write the tables whose jobs have all finished, list the missing
tables: ${Object.keys(TABLES).join(", ")}`,
    );
    return 0;
  }
  if (values.quick && values.protocol) {
    printError("reproduce: --quick and --protocol go one at a time");
    return 2;
  }
  const withProtocol = Object.keys(TABLES).filter((n) => TABLES[n as TableName].protocol);
  const names = values.only === undefined
    ? values.protocol ? withProtocol : Object.keys(TABLES)
    : values.only.split(",");
  for (const name of names) {
    if (!(name in TABLES)) {
      printError(
        `reproduce: unknown table ${JSON.stringify(name)}; expected one of ${
          Object.keys(TABLES).join(", ")
        }`,
      );
      return 2;
    }
    if (values.protocol && !withProtocol.includes(name)) {
      printError(
        `reproduce: ${name} has no --protocol run (its full run is the notebooks' protocol); ` +
          `tables with one: ${withProtocol.join(", ")}`,
      );
      return 2;
    }
  }
  for (const flag of ["models", "jobs"] as const) {
    if (values[flag] !== undefined && names.length !== 1) {
      printError(`reproduce: --${flag} needs one table (--only=TABLE)`);
      return 2;
    }
  }
  if ([values["list-jobs"], values.merge, values.jobs !== undefined].filter(Boolean).length > 1) {
    printError("reproduce: --list-jobs, --merge and --jobs go one at a time");
    return 2;
  }
  if (values.threads !== "1" && values.threads !== "2") {
    printError(`reproduce: --threads must be 1 or 2, got ${JSON.stringify(values.threads)}`);
    return 2;
  }
  const mode: Mode = values.quick ? "quick" : values.protocol ? "protocol" : "full";
  const resultsDir = values["results-dir"] === undefined
    ? undefined
    : new URL(`${values["results-dir"].replace(/\/?$/, "/")}`, `file://${Deno.cwd()}/`);
  const options: RunOptions = {
    // A quick run is a smoke check of the code as it is now: it always runs (a merge only reads).
    force: !values.merge && (values.force || mode === "quick"),
    ...(values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] }),
    ...(values.offline ? { download: false } : {}),
    ...(resultsDir === undefined ? {} : { resultsDir }),
    ...(values.models === undefined ? {} : { models: values.models.split(",") }),
    ...(values.jobs === undefined ? {} : { jobs: values.jobs.split(",") }),
    ...(values.merge ? { jobs: [] } : {}),
    threads: values.threads === "2" ? 2 : 1,
    quiet: values.quiet,
  };
  if (values["list-jobs"]) {
    // Each command repeats the options that decide what runs and where it goes.
    const shared = [
      ...(values.quick ? ["--quick"] : []),
      ...(values.protocol ? ["--protocol"] : []),
      ...(values.force ? ["--force"] : []),
      ...(values["data-dir"] === undefined ? [] : [`--data-dir=${values["data-dir"]}`]),
      ...(values.offline ? ["--offline"] : []),
      ...(values["results-dir"] === undefined ? [] : [`--results-dir=${values["results-dir"]}`]),
      ...(values.threads === "2" ? ["--threads=2"] : []),
    ].map(shellQuote);
    let code = 0;
    for (const name of names) {
      let keys: string[];
      try {
        keys = await tableJobKeys(TABLES[name as TableName], mode, options);
      } catch (error) {
        if (!(error instanceof MissingDataError)) throw error;
        printError(`${name}: skipped, ${error.message}`);
        code = 1;
        continue;
      }
      const chosen = keys.filter((key) =>
        options.models === undefined || options.models.includes(key.split("/")[0]!)
      );
      for (const key of chosen) {
        print(
          ["deno", "task", "reproduce", `--only=${name}`, shellQuote(`--jobs=${key}`), ...shared]
            .join(" "),
        );
      }
    }
    return code;
  }
  if (mode === "quick") {
    print(
      "reproduce --quick: a few sequences and two epochs of every model, to check that the code runs " +
        "(minutes); its numbers are not comparable with the paper's. The tables: deno task reproduce.",
    );
  }
  const summary: RunSummary = { done: [], skipped: [], unfinished: [] };
  for (const name of names) {
    const label = `${name}${mode === "full" ? "" : ` (${mode})`}`;
    const start = performance.now();
    let run;
    try {
      run = await runTable(TABLES[name as TableName], mode, options);
    } catch (error) {
      if (!(error instanceof MissingDataError)) throw error;
      print(`${label}: skipped, ${error.message}`);
      summary.skipped.push(name);
      continue;
    }
    const seconds = (performance.now() - start) / 1000;
    if (!run.finished) {
      const asked = options.jobs ?? [];
      if (values.jobs !== undefined && asked.every((key) => run.results[key] !== undefined)) {
        // A cluster job: its part is done; the table's last job (or --merge) writes the table.
        print(`${label}: ${asked.join(" ")} done; the table is written with its last job`);
        continue;
      }
      if (values.merge) {
        const keys = await tableJobKeys(TABLES[name as TableName], mode, options);
        const missing = keys.filter((key) => run.results[key] === undefined);
        print(
          `${label}: not merged, ${missing.length} of ${keys.length} jobs missing: ${
            missing.join(" ")
          }`,
        );
      } else print(`${label}: left to another process`);
      summary.unfinished.push(name);
      continue;
    }
    summary.done.push(name);
    print(
      `${label}: ${
        run.skipped ? "unchanged" : `done in ${seconds.toFixed(0)} s`
      }, ${run.csv.pathname}`,
    );
    for (const line of comparedRows(await Deno.readTextFile(run.csv), mode)) print(line);
  }
  // The figures draw the full results (the quick ones are too small to look at).
  if (mode === "full" && resultsDir === undefined) await writeFigures(options);
  const end = closing(summary);
  print(end.line);
  return end.code;
}

if (import.meta.main) Deno.exit(await reproduce(Deno.args));
