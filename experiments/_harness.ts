// deno-lint-ignore-file no-console -- progress and results of command-line runs
/**
 * What every table script shares: running its models one by one with a
 * checkpoint after each (an interrupted table resumes from its last finished
 * model), skipping a table whose results exist for the same configuration and
 * code, progress on the terminal, and writing `results/<table>.csv` (or
 * `.quick.csv`) with the paper's numbers beside ours and `<table>.json` with
 * the configuration, the environment and each model's learning curve.
 */
import { createHash } from "node:crypto";
import { backendInfo, type EpochInfo } from "../mod.ts";
import { tryClaim, withLock } from "./_claims.ts";
import { epochProgress, writeAtomically } from "../lib/_io.ts";
import { paperNumber, type TableName, withinTolerance } from "./paper.ts";

/** Full (the paper's setting, as practical) or quick (CI). */
export type Mode = "full" | "quick";

/** One model to train and test. */
export interface Job {
  /** Unique within the table, e.g. `efa/bidirectional/seed=1`. */
  readonly key: string;
  /** `efa` or `fm`. */
  readonly model: "efa" | "fm";
  /** `unidirectional`, `bidirectional` or `""`. */
  readonly direction: string;
  /** Layers, lag or k where the table has them, else `""`. */
  readonly variant: string;
  /** The seed of initialisation and batch order. */
  readonly seed: number;
  /** The most epochs it may train (for the progress display). */
  readonly maxEpochs: number;
}

/** What a job produced. */
export interface JobResult {
  /** Metric values by name (e.g. `test_cross_entropy`, `mean_predicted_rating@rating=1`). */
  readonly metrics: Record<string, number>;
  /** Epochs run. */
  readonly epochs: number;
  /** The epoch whose weights were tested. */
  readonly bestEpoch: number;
  /** Wall time in seconds. */
  readonly seconds: number;
  /** Train and validation loss per epoch. */
  readonly history: readonly {
    readonly epoch: number;
    readonly train: number;
    readonly validation?: number;
  }[];
  /** What the figures draw of the trained model (see `TableDefinition.figureData`). */
  readonly figureData?: unknown;
}

/** Options of a table run. */
export interface RunOptions {
  /**
   * Rerun even if results exist for the same configuration. A checkpoint of
   * the same configuration and code is still resumed (delete
   * `results/.partial/<table>.json` to start from zero).
   */
  readonly force?: boolean;
  /** The data root (`--data-dir`). */
  readonly dataDir?: string;
  /** Where results go (default `experiments/results/`). */
  readonly resultsDir?: URL;
  /** No progress output. */
  readonly quiet?: boolean;
  /**
   * Train only these of the table's models (by name, e.g. `efa_1_layers`) in
   * this process, leaving the others to another process or a later run; the
   * configuration, and so the checkpoint, stay the table's (`--models`).
   */
  readonly models?: readonly string[];
}

/** One row of a results CSV. */
export interface ResultRow {
  readonly table: string;
  readonly dataset: string;
  readonly model: string;
  readonly direction: string;
  readonly variant: string;
  readonly metric: string;
  readonly value: number;
  readonly paper?: number;
  readonly delta?: number;
  readonly tolerance?: number;
  readonly within?: boolean;
}

const RESULTS = new URL("./results/", import.meta.url);
const CODE_FILES = ["../lib/", "../data/", "./"];
/** Files that cannot change a result (orchestration, benchmarks, data-slice tooling). */
const NOT_RESULT_CODE = new Set([
  "identifiability.ts",
  "readme_table.ts",
  "reproduce.ts",
  "bench.ts",
  "datasets.ts",
  "make_temperature_slices.ts",
  "figures.ts",
  "plot.ts",
  "_claims.ts",
]);

/** A hash of the code that produces results: lib/, data/ and experiments/ sources (tests and tooling excluded). */
export async function codeVersion(): Promise<string> {
  const hash = createHash("sha256");
  const files: string[] = [];
  for (const dir of CODE_FILES) {
    const url = new URL(dir, import.meta.url);
    for await (const e of Deno.readDir(url)) {
      const source = e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts");
      if (source && !NOT_RESULT_CODE.has(e.name)) files.push(new URL(e.name, url).pathname);
    }
  }
  for (const f of files.sort()) {
    hash.update(f.slice(f.lastIndexOf("/"))).update(await Deno.readTextFile(f));
  }
  return hash.digest("hex").slice(0, 16);
}

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/**
 * The checked-out commit (12 hex digits), with `+dirty` when tracked files
 * outside `experiments/results/` differ from it (results written by an
 * earlier table of the same run, or by another process, do not count);
 * `"unknown"` when git cannot run.
 *
 * @returns The commit.
 *
 * @example
 * ```ts ignore
 * const commit = await gitCommit(); // "9d69fef1a2b3" or "9d69fef1a2b3+dirty"
 * ```
 */
export async function gitCommit(): Promise<string> {
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", { args, stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  };
  try {
    const head = await git("rev-parse", "--short=12", "HEAD");
    if (head === undefined) return "unknown";
    const changed = await git(
      "status",
      "--porcelain",
      "--untracked-files=no",
      "--",
      ":/",
      ":(top,exclude)experiments/results",
    );
    return changed ? `${head}+dirty` : head;
  } catch {
    return "unknown";
  }
}

async function readJson<T>(url: URL): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(url)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The result of a table run. */
export interface TableRun {
  /** The jobs' results by key. */
  readonly results: Record<string, JobResult>;
  /** Whether the results were read from an existing run (same configuration and code). */
  readonly skipped: boolean;
  /**
   * Whether every model has a result and the files are written; `false` when
   * another process still trains some of them (it writes the files).
   */
  readonly finished: boolean;
  /** The CSV and JSON written (or found). */
  readonly csv: URL;
}

/**
 * Runs a table's jobs with checkpoints, then writes its results.
 *
 * @param table The table.
 * @param mode Full or quick.
 * @param config The table's configuration (hashed with the code to decide whether to rerun).
 * @param jobs The models to train and test.
 * @param runJob Trains and tests one model.
 * @param rows Turns the results into CSV rows (before the paper's numbers are attached).
 * @param options Force, data and results locations, quiet.
 */
export async function runTable(
  table: TableName,
  mode: Mode,
  config: unknown,
  jobs: readonly Job[],
  runJob: (job: Job, onEpoch: (info: EpochInfo) => void) => Promise<JobResult>,
  rows: (results: Record<string, JobResult>) => ResultRow[],
  options: RunOptions = {},
): Promise<TableRun> {
  const dir = options.resultsDir ?? RESULTS;
  await Deno.mkdir(new URL(".partial/", dir), { recursive: true });
  const suffix = mode === "quick" ? ".quick" : "";
  const csv = new URL(`${table}${suffix}.csv`, dir), json = new URL(`${table}${suffix}.json`, dir);
  const partial = new URL(`.partial/${table}${suffix}.json`, dir);
  const code = await codeVersion();
  const configHash = sha(JSON.stringify(config));
  const existing = await readJson<
    { configHash: string; codeVersion: string; jobs: Record<string, JobResult> }
  >(json);
  if (!options.force && existing?.configHash === configHash) {
    if (!options.quiet) {
      const codeNote = existing.codeVersion === code
        ? "and code"
        : `(computed by code version ${existing.codeVersion}, current ${code})`;
      console.error(
        `${table}${suffix}: results exist for this configuration ${codeNote}; skipped (--force reruns)`,
      );
    }
    return { results: existing.jobs, skipped: true, finished: true, csv };
  }
  type Checkpoint = {
    configHash: string;
    codeVersion: string;
    gitCommits?: string[];
    results: Record<string, JobResult>;
  };
  const results: Record<string, JobResult> = {};
  const gitCommits = new Set<string>();
  // Other processes may run this table's other models (see _claims.ts): take
  // their finished results from the checkpoint before each job and at the end.
  // A process that finishes the table's last model writes the results and
  // removes the checkpoint: results written since this run began count too.
  const startedAt = Date.now();
  const mergeCheckpoint = async (): Promise<void> => {
    const saved = await readJson<Checkpoint>(partial);
    if (saved?.configHash === configHash && saved.codeVersion === code) {
      for (const [key, r] of Object.entries(saved.results)) results[key] ??= r;
      for (const c of saved.gitCommits ?? []) gitCommits.add(c);
      return;
    }
    const written = await readJson<
      { configHash: string; codeVersion: string; jobs: Record<string, JobResult> }
    >(json);
    const writtenAt = (await Deno.stat(json).catch(() => null))?.mtime?.getTime() ?? 0;
    if (
      written?.configHash === configHash && written.codeVersion === code && writtenAt >= startedAt
    ) {
      for (const [key, r] of Object.entries(written.jobs)) results[key] ??= r;
    }
  };
  await mergeCheckpoint();
  // The commits whose code ran the jobs, taken when each run starts (not when it ends).
  gitCommits.add(await gitCommit());
  const claims = new URL(`.partial/${table}${suffix}.claims/`, dir);
  const lock = new URL(`.partial/${table}${suffix}.lock`, dir);
  await Deno.mkdir(claims, { recursive: true });
  const start = performance.now();
  for (const [i, job] of jobs.entries()) {
    await withLock(lock, mergeCheckpoint);
    if (results[job.key] !== undefined) {
      if (!options.quiet) console.error(`${table}${suffix}: ${job.key} already finished`);
      continue;
    }
    if (options.models !== undefined && !options.models.includes(job.key.split("/")[0]!)) {
      continue;
    }
    const claimUrl = new URL(claimFileName(job.key), claims);
    const claim = await tryClaim(claimUrl);
    if (claim === null) {
      if (!options.quiet) {
        console.error(
          `${table}${suffix}: ${job.key} is being trained by another process ` +
            `(if that process is gone, its claim is taken over 15 min after its last refresh, ` +
            `or at once when ${claimUrl.pathname} is deleted)`,
        );
      }
      continue;
    }
    // Another process may have finished this model between the merge above and the claim: it
    // writes the checkpoint before it releases its claim, so a merge now sees that result.
    await withLock(lock, mergeCheckpoint);
    if (results[job.key] !== undefined) {
      await claim.release();
      continue;
    }
    const label = `${table}${suffix} [${i + 1}/${jobs.length}] ${job.key}`;
    const show = options.quiet
      ? () => {}
      : epochProgress({ label, maxEpochs: job.maxEpochs, write: console.error, everySeconds: 10 });
    // The claim is given up only once the result is in the checkpoint (or the job failed).
    try {
      results[job.key] = await runJob(job, (info) => {
        show(info);
        void claim.refresh();
      });
      if (!options.quiet) {
        if (Deno.stderr.isTerminal()) console.error("");
        const r = results[job.key]!;
        console.error(
          `${label}: ${
            Object.entries(r.metrics).slice(0, 1).map(([k, v]) => `${k} ${v.toFixed(4)}`)
          } ` +
            `(${r.epochs} epochs, ${r.seconds.toFixed(0)} s)`,
        );
      }
      await withLock(lock, async () => {
        await mergeCheckpoint();
        await writeAtomically(
          partial,
          JSON.stringify({ configHash, codeVersion: code, gitCommits: [...gitCommits], results }),
        );
      });
    } finally {
      await claim.release();
    }
  }
  const finished = await withLock(lock, async () => {
    await mergeCheckpoint();
    const missing = jobs.filter((job) => results[job.key] === undefined);
    if (missing.length === 0 && (await readJson<Checkpoint>(partial)) === undefined) {
      return true; // another process wrote the results
    }
    if (missing.length > 0) {
      if (!options.quiet) {
        console.error(
          `${table}${suffix}: ${missing.length} model(s) left to another process or a later run ` +
            `(checkpoint ${partial.pathname}): ${missing.map((j) => j.key).join(", ")}`,
        );
      }
      return false;
    }
    await writeResults(results);
    await Deno.remove(partial).catch(() => {});
    return true;
  });
  if (finished) await Deno.remove(claims, { recursive: true }).catch(() => {});
  return { results, skipped: false, finished, csv };

  async function writeResults(results: Record<string, JobResult>): Promise<void> {
    const info = backendInfo();
    const all = rows(results).map((row) => attachPaper(table, row));
    await writeAtomically(csv, toCsv(all));
    await writeAtomically(
      json,
      JSON.stringify(
        {
          table,
          mode,
          configHash,
          codeVersion: code,
          config,
          environment: {
            deno: Deno.version.deno,
            v8: Deno.version.v8,
            typescript: Deno.version.typescript,
            tfjs: info.tfjsVersion,
            backend: info.backend,
            os: `${Deno.build.os}-${Deno.build.arch}`,
            gitCommit: [...gitCommits].join(" "),
          },
          seeds: [...new Set(jobs.map((j) => j.seed))],
          wallSecondsThisRun: Math.round((performance.now() - start) / 1000),
          trainingSeconds: Math.round(Object.values(results).reduce((n, r) => n + r.seconds, 0)),
          jobs: Object.fromEntries(jobs.map((j) => [j.key, results[j.key]!])),
        },
        null,
        1,
      ) + "\n",
    );
  }
}

/** The claim file of a job: its key with every run of other characters than `[a-z0-9=.-]` as `_`. */
export function claimFileName(key: string): string {
  return key.replaceAll(/[^a-z0-9=.-]+/gi, "_");
}

function attachPaper(table: TableName, row: ResultRow): ResultRow {
  const variant = row.variant.replace(/(^|,)seed=\d+$/, "");
  const p = paperNumber(table, row.model as "efa" | "fm", row.direction, variant, row.metric);
  if (p === undefined) return row;
  return {
    ...row,
    paper: p.paper,
    delta: row.value - p.paper,
    tolerance: p.relative ? p.tolerance * Math.abs(p.paper) : p.tolerance,
    within: withinTolerance(p, row.value),
  };
}

const COLUMNS = [
  "table",
  "dataset",
  "model",
  "direction",
  "variant",
  "metric",
  "value",
  "paper",
  "delta",
  "tolerance",
  "within",
];

/** CSV text of rows: sorted, fixed decimals. */
export function toCsv(rows: readonly ResultRow[]): string {
  const num = (v: number | undefined): string => (v === undefined ? "" : v.toFixed(6));
  const cell = (s: string): string => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const lines = rows.map((r) =>
    [
      r.table,
      r.dataset,
      r.model,
      r.direction,
      r.variant,
      r.metric,
      num(r.value),
      num(r.paper),
      num(r.delta),
      num(r.tolerance),
      r.within === undefined ? "" : String(r.within),
    ]
      .map((c) => cell(String(c))).join(",")
  ).sort();
  return [COLUMNS.join(","), ...lines].join("\n") + "\n";
}

/**
 * Rows for a metric over seeds: the mean (compared with the paper), the
 * standard deviation (`<metric>_sd`) when there are several seeds, and one row
 * per seed.
 */
export function seedRows(
  base: Omit<ResultRow, "metric" | "value" | "variant">,
  variant: string,
  metric: string,
  values: readonly { seed: number; value: number }[],
): ResultRow[] {
  const mean = values.reduce((a, v) => a + v.value, 0) / values.length;
  const out: ResultRow[] = [{ ...base, variant, metric, value: mean }];
  if (values.length > 1) {
    const sd = Math.sqrt(
      values.reduce((a, v) => a + (v.value - mean) ** 2, 0) / (values.length - 1),
    );
    out.push({ ...base, variant, metric: `${metric}_sd`, value: sd });
    for (const v of values) {
      out.push({
        ...base,
        variant: variant === "" ? `seed=${v.seed}` : `${variant},seed=${v.seed}`,
        metric,
        value: v.value,
      });
    }
  }
  return out;
}
