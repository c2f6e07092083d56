// deno-lint-ignore-file no-console -- progress and results of command-line runs
/**
 * Runs a table (`tables.ts` defines the six): trains and tests each model for
 * each seed with a checkpoint after each (an interrupted table resumes from
 * its last finished model), skips a table whose results exist for the same
 * configuration and code, shows progress on the terminal, and writes
 * `results/<table>.csv` (or `.quick.csv`) with the paper's numbers beside ours
 * and `<table>.json` with the configuration, the environment and each model's
 * learning curve. `runTable` is the table's run; `runJobs` is the engine under
 * it (checkpoints, claims, results files), which the tests drive with stand-in
 * jobs.
 */
import { createHash } from "node:crypto";
import {
  backendInfo,
  countParameters,
  disposeModel,
  type EpochInfo,
  evaluate,
  type Model,
  saveModel,
  type Sequences,
  train,
  type TrainCheckpoint,
} from "../mod.ts";
import type { PreparedDataset } from "../data/prepared.ts";
import type { PaperModel, PaperTraining } from "./paper_models.ts";
import { tryClaim, withLock } from "./_claims.ts";
import { epochProgress, writeAtomically } from "../lib/_io.ts";
import { paperNumber, type TableName, withinTolerance } from "./paper.ts";

/**
 * Full (the paper's setting, as practical), quick (CI), or protocol: the
 * notebooks' own training where `full` takes a documented shortcut (tables
 * with a `protocol` configuration; results in `<table>.protocol.csv`).
 */
export type Mode = "full" | "quick" | "protocol";

/**
 * A table's configuration under a mode.
 *
 * @throws {RangeError} When the table has none for the mode (only some have a protocol one).
 */
export function configOf(table: TableDefinition, mode: Mode): TableConfig {
  const config = table[mode];
  if (config === undefined) {
    throw new RangeError(
      `${table.name}: has no ${mode} configuration (its full one is the notebooks' protocol already)`,
    );
  }
  return config;
}

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
  /** Wall time in seconds (of every sitting, when it was resumed). */
  readonly seconds: number;
  /** The epoch after which its training was resumed from a checkpoint, if it was. */
  readonly resumedAfterEpoch?: number;
  /** Train and validation loss per epoch. */
  readonly history: readonly {
    readonly epoch: number;
    readonly train: number;
    readonly validation?: number;
  }[];
  /** What the figures draw of the trained model (see `TableDefinition.figureData`). */
  readonly figureData?: unknown;
}

/**
 * A job's training checkpoint (see `TrainOptions.resume`): the state a
 * killed run of the same configuration and code left, and where to save it.
 */
export interface JobCheckpoint {
  /** The checkpoint to resume from, if an earlier run of this job left one. */
  readonly resume?: TrainCheckpoint;
  /** Saves a checkpoint (atomically). */
  readonly save: (checkpoint: TrainCheckpoint) => Promise<void>;
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
  /** Download missing data files that have a public source (default true; `--offline`: false). */
  readonly download?: boolean;
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
  /**
   * Train only these jobs (`model/seed=S`, `--jobs`; none: `--merge`) in this
   * process, as {@link models} does for whole models.
   */
  readonly jobs?: readonly string[];
  /**
   * Threads per training process (`--threads`, default 1; `TrainOptions.threads`):
   * 2 computes part of each step in a worker, the same numbers to the bit.
   * One process on two cores: 2; two processes: 1 each.
   */
  readonly threads?: 1 | 2;
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
  "bench_vs.ts",
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
 * @param runJob Trains and tests one model, resuming its training from the
 *   checkpoint it is given when there is one and saving into it (one file per
 *   job in `results/.partial/<table>.models/`, removed once the job's result
 *   is in the table's checkpoint).
 * @param rows Turns the results into CSV rows (before the paper's numbers are attached).
 * @param options Force, data and results locations, quiet.
 */
export async function runJobs(
  table: TableName,
  mode: Mode,
  config: unknown,
  jobs: readonly Job[],
  runJob: (
    job: Job,
    onEpoch: (info: EpochInfo) => void,
    checkpoint: JobCheckpoint,
  ) => Promise<JobResult>,
  rows: (results: Record<string, JobResult>) => ResultRow[],
  options: RunOptions = {},
): Promise<TableRun> {
  const dir = options.resultsDir ?? RESULTS;
  await Deno.mkdir(new URL(".partial/", dir), { recursive: true });
  const suffix = mode === "full" ? "" : `.${mode}`;
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
  const modelCheckpoints = new URL(`.partial/${table}${suffix}.models/`, dir);
  await Deno.mkdir(modelCheckpoints, { recursive: true });
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
    if (options.jobs !== undefined && !options.jobs.includes(job.key)) continue;
    const claimUrl = new URL(claimFileName(job.key), claims);
    const claim = await tryClaim(claimUrl);
    if (claim === null) {
      if (!options.quiet) {
        console.error(
          `${table}${suffix}: ${job.key} is being trained by another running process ` +
            `(its claim: ${claimUrl.pathname})`,
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
    // The job's own training checkpoint: a killed run goes on from its last saved epoch.
    const modelCheckpoint = new URL(`${claimFileName(job.key)}.json`, modelCheckpoints);
    const left = await readJson<
      { configHash: string; codeVersion: string; key: string; checkpoint: TrainCheckpoint }
    >(modelCheckpoint);
    const resume = left?.configHash === configHash && left.codeVersion === code &&
        left.key === job.key
      ? left.checkpoint
      : undefined;
    if (resume !== undefined && !options.quiet) {
      console.error(`${label}: resuming after epoch ${resume.epoch} (${modelCheckpoint.pathname})`);
    }
    const checkpoint: JobCheckpoint = {
      ...(resume === undefined ? {} : { resume }),
      save: async (c) => {
        await writeAtomically(
          modelCheckpoint,
          JSON.stringify({ configHash, codeVersion: code, key: job.key, checkpoint: c }),
        );
      },
    };
    // The claim is given up only once the result is in the checkpoint (or the job failed).
    try {
      results[job.key] = await runJob(job, show, checkpoint);
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
      await Deno.remove(modelCheckpoint).catch(() => {}); // the result is safe in the table's checkpoint
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
  if (finished) {
    await Deno.remove(claims, { recursive: true }).catch(() => {});
    await Deno.remove(modelCheckpoints, { recursive: true }).catch(() => {});
  }
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

// ---------------------------------------------------------------------------
// A table: its models, trained and tested for every seed
// ---------------------------------------------------------------------------

/** How a table trains its models (the paper's settings unless overridden, see the README). */
export interface TableConfig {
  /** Seeds; each model is trained once per seed. */
  readonly seeds: readonly number[];
  /** Other seeds for single models by name (for example one seed of a model that trains for hours). */
  readonly seedsByModel?: Readonly<Record<string, readonly number[]>>;
  /** Maximum epochs (`null`: the paper's). */
  readonly epochs: number | null;
  /** Early-stopping patience (`null`: the paper's). */
  readonly patience: number | null;
  /** Learning rate (`null`: the paper's). */
  readonly learningRate: number | null;
  /** Use only the first sequences of each split (quick runs), or `null` for all. */
  readonly subset:
    | { readonly fit: number; readonly validation: number; readonly test: number }
    | null;
  /** Which of the table's models to run (by name), or `null` for all. */
  readonly models: readonly string[] | null;
  /**
   * Training settings of single models by name, applied over the paper's
   * and over the table-wide `epochs`, `patience` and `learningRate` (the
   * README says which tables use them and why).
   */
  readonly overrides?: Readonly<Record<string, Partial<PaperTraining>>>;
}

/** The seeds a model is trained with under a configuration. */
export function seedsOf(config: TableConfig, name: string): readonly number[] {
  return config.seedsByModel?.[name] ?? config.seeds;
}

/** The training settings of one model under a configuration. */
export function trainingOf(config: TableConfig, spec: PaperModel): PaperTraining {
  return {
    learningRate: config.learningRate ?? spec.training.learningRate,
    batchSize: spec.training.batchSize,
    epochs: config.epochs ?? spec.training.epochs,
    patience: config.patience ?? spec.training.patience,
    ...(spec.training.draw === undefined ? {} : { draw: spec.training.draw }),
    ...config.overrides?.[spec.name],
  };
}

/** A model of the table together with its job fields. */
export interface TableModel {
  /** The paper model (how to build and train it). */
  readonly spec: PaperModel;
  /** Its variant (layers, lag, k), `""` when none. */
  readonly variant: string;
  /** Its direction, `""` when none. */
  readonly direction: string;
  /** The data it trains and is tested on. */
  readonly data: PreparedDataset;
}

/** What defines a table: its data, models and metrics, and its full and quick configurations. */
export interface TableDefinition {
  readonly name: TableName;
  readonly dataset: string;
  /** The full configuration (`deno task reproduce`). */
  readonly full: TableConfig;
  /** The quick configuration (`--quick`, CI). */
  readonly quick: TableConfig;
  /** The notebooks' own training, where `full` takes a shortcut (`--protocol`). */
  readonly protocol?: TableConfig;
  /** Loads the data and lists the models. */
  readonly models: (options: RunOptions) => Promise<TableModel[]>;
  /** Extra metrics of a trained model beyond its test loss (e.g. mean predicted rating). */
  readonly extraMetrics?: (model: Model, data: PreparedDataset) => Record<string, number>;
  /** The name of the test-loss metric. */
  readonly metric: string;
  /** Maps the test evaluation to the metric's value (default: the mean test loss). */
  readonly metricOf?: (result: ReturnType<typeof evaluate>) => number;
  /** Small summaries of a trained model that the figures draw (kept in the results JSON). */
  readonly figureData?: (model: Model, data: PreparedDataset) => unknown;
}

/**
 * Full runs save the first seed's trained models up to this many parameters
 * to `results/models/<table>/<model>[_<variant>].json` (the figures read
 * them; the 1.6M-parameter synthetic EFA keeps its figure data in the JSON
 * instead).
 */
export const MAX_SAVED_PARAMETERS = 100_000;

/**
 * Where a table's saved model lives: `<resultsDir>/models/<table>/<model>[_<variant>].json`.
 *
 * @param resultsDir The results directory (default `experiments/results/`).
 */
export function savedModelUrl(
  table: string,
  model: string,
  variant: string,
  resultsDir: URL = new URL("./results/", import.meta.url),
): URL {
  const suffix = variant === "" ? "" : `_${variant.replaceAll(/[^a-z0-9]+/gi, "-")}`;
  return new URL(`models/${table}/${model}${suffix}.json`, resultsDir);
}

/**
 * The first `count` sequences of a data set (all of them when it has fewer).
 *
 * @param data The sequences.
 * @param count How many to keep.
 * @returns The sequences with their values, lags and targets.
 */
export function subset(data: Sequences, count: number): Sequences {
  const n = Math.min(count, data.items.length);
  return {
    items: data.items.slice(0, n),
    ...(data.values === undefined ? {} : { values: data.values.slice(0, n) }),
    ...(data.lags === undefined ? {} : { lags: data.lags.slice(0, n) }),
    ...(data.targets === undefined ? {} : { targets: data.targets.slice(0, n) }),
  };
}

/** The jobs of a configuration: each model once per seed, keyed `model/seed=S`. */
function jobsOf(
  config: TableConfig,
  models: readonly TableModel[],
): (Job & { readonly tableModel: TableModel })[] {
  return models.flatMap((m) =>
    seedsOf(config, m.spec.name).map((seed) => ({
      key: `${m.spec.name}/seed=${seed}`,
      model: m.spec.model,
      direction: m.direction,
      variant: m.variant,
      seed,
      maxEpochs: trainingOf(config, m.spec).epochs,
      tableModel: m,
    }))
  );
}

/**
 * The keys of a table's jobs under a mode (`model/seed=S`, in the order
 * {@link runTable} trains them), for `reproduce --list-jobs`.
 */
export async function tableJobKeys(
  table: TableDefinition,
  mode: Mode,
  options: RunOptions = {},
): Promise<string[]> {
  const config = configOf(table, mode);
  const models = (await table.models(options)).filter((m) =>
    config.models === null || config.models.includes(m.spec.name)
  );
  return jobsOf(config, models).map((j) => j.key);
}

/**
 * Runs a table in full or quick mode: trains every model for every seed,
 * tests it, writes the results (see `runJobs`).
 *
 * @param table The table (see `tables.ts`).
 * @param mode `full` or `quick`.
 * @param options Force, data and results locations, models to run.
 * @returns Where the results are and whether this process finished the table.
 */
export async function runTable(
  table: TableDefinition,
  mode: Mode,
  options: RunOptions = {},
): Promise<TableRun> {
  const config = configOf(table, mode);
  const all = await table.models(options);
  const names = new Set(all.map((m) => m.spec.name));
  const named = [
    ...Object.keys(config.overrides ?? {}),
    ...Object.keys(config.seedsByModel ?? {}),
    ...config.models ?? [],
    ...options.models ?? [],
  ];
  for (const name of named) {
    if (!names.has(name)) {
      throw new RangeError(
        `${table.name}: the configuration or --models names model "${name}", which the table does not have ` +
          `(expected one of ${[...names].join(", ")})`,
      );
    }
  }
  const models = all.filter((m) => config.models === null || config.models.includes(m.spec.name));
  const jobs = jobsOf(config, models);
  const keys = new Set(jobs.map((j) => j.key));
  for (const key of options.jobs ?? []) {
    if (!keys.has(key)) {
      throw new RangeError(
        `${table.name}: --jobs names job "${key}", which the table's ${mode} configuration does not have ` +
          `(expected one of ${[...keys].join(", ")})`,
      );
    }
  }
  const runJob = async (
    job: Job,
    onEpoch: (info: EpochInfo) => void,
    checkpoint: JobCheckpoint,
  ): Promise<JobResult> => {
    const { spec, data } = (job as typeof jobs[number]).tableModel;
    const fit = config.subset === null ? data.fit : subset(data.fit, config.subset.fit);
    const validation = config.subset === null
      ? data.validation
      : subset(data.validation, config.subset.validation);
    const test = config.subset === null ? data.test : subset(data.test, config.subset.test);
    const model = spec.create(job.seed);
    const start = performance.now();
    const training = trainingOf(config, spec);
    const result = await train(model, fit, {
      epochs: training.epochs,
      batchSize: training.batchSize,
      learningRate: training.learningRate,
      patience: training.patience,
      ...(training.draw === undefined ? {} : { draw: training.draw }),
      seed: job.seed,
      validation,
      onEpoch,
      threads: options.threads ?? 1,
      // A killed run loses at most a minute of training (and always keeps its last epoch).
      checkpoint: { save: checkpoint.save, everySeconds: 60 },
      ...(checkpoint.resume === undefined ? {} : { resume: checkpoint.resume }),
    });
    // Training time over every sitting: the epochs of earlier ones are in the history.
    const earlier = checkpoint.resume?.history.reduce((n, h) => n + h.seconds, 0) ?? 0;
    const tested = evaluate(model, test);
    const metrics: Record<string, number> = {
      [table.metric]: table.metricOf?.(tested) ?? tested.loss,
      ...table.extraMetrics?.(model, { ...data, test }),
    };
    const figureData = table.figureData?.(model, { ...data, test });
    const save = mode === "full" && job.seed === seedsOf(config, spec.name)[0] &&
      countParameters(model.params) <= MAX_SAVED_PARAMETERS;
    if (save) {
      const url = savedModelUrl(table.name, spec.name, job.variant, options.resultsDir);
      await Deno.mkdir(new URL(".", url), { recursive: true });
      await writeAtomically(url, saveModel(model) + "\n");
    }
    disposeModel(model);
    return {
      metrics,
      ...(figureData === undefined ? {} : { figureData }),
      epochs: result.history.length,
      bestEpoch: result.bestEpoch,
      seconds: earlier + (performance.now() - start) / 1000,
      ...(checkpoint.resume === undefined ? {} : { resumedAfterEpoch: checkpoint.resume.epoch }),
      history: result.history.map((h) => ({
        epoch: h.epoch,
        train: h.trainLoss,
        ...(h.validationLoss === undefined ? {} : { validation: h.validationLoss }),
      })),
    };
  };
  const rows = (results: Record<string, JobResult>): ResultRow[] =>
    models.flatMap((m) => {
      const runs = seedsOf(config, m.spec.name).map((seed) => ({
        seed,
        result: results[`${m.spec.name}/seed=${seed}`]!,
      }));
      const metricNames = Object.keys(runs[0]!.result.metrics);
      return metricNames.flatMap((name) => {
        const [metric, at] = name.split("@") as [string, string | undefined];
        const variant = [m.variant, at].filter((v) => v !== undefined && v !== "").join(",");
        return seedRows(
          {
            table: table.name,
            dataset: table.dataset,
            model: m.spec.model,
            direction: m.direction,
          },
          variant,
          metric,
          runs.map((r) => ({ seed: r.seed, value: r.result.metrics[name]! })),
        );
      });
    });
  return await runJobs(
    table.name,
    mode,
    { ...config, table: table.name },
    jobs,
    runJob,
    rows,
    options,
  );
}
