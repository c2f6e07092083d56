/**
 * A table script in a few lines: its data, its models, its metrics; the
 * harness does the rest (checkpoints, skipping, results files). Every table
 * exports `full` and `quick` configurations and a typed `run()`.
 */
import { parseArgs } from "node:util";
import {
  countParameters,
  disposeModel,
  evaluate,
  type Model,
  saveModel,
  type Sequences,
  train,
} from "../mod.ts";
import type { PreparedDataset } from "../data/prepared.ts";
import { writeAtomically } from "../lib/_io.ts";
import {
  type Job,
  type JobResult,
  type Mode,
  type ResultRow,
  type RunOptions,
  runTable,
  seedRows,
  type TableRun,
} from "./_harness.ts";
import type { TableName } from "./paper.ts";
import type { PaperModel, PaperTraining } from "./paper_models.ts";

/** How a table trains its models (the paper's settings unless overridden, see the README). */
export interface TableConfig {
  /** Seeds; each model is trained once per seed. */
  readonly seeds: readonly number[];
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

/** The training settings of one model under a configuration. */
export function trainingOf(config: TableConfig, spec: PaperModel): PaperTraining {
  return {
    learningRate: config.learningRate ?? spec.training.learningRate,
    batchSize: spec.training.batchSize,
    epochs: config.epochs ?? spec.training.epochs,
    patience: config.patience ?? spec.training.patience,
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

/** What defines a table. */
export interface TableDefinition {
  readonly name: TableName;
  readonly dataset: string;
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

function subset(data: Sequences, count: number): Sequences {
  const n = Math.min(count, data.items.length);
  return {
    items: data.items.slice(0, n),
    ...(data.values === undefined ? {} : { values: data.values.slice(0, n) }),
    ...(data.lags === undefined ? {} : { lags: data.lags.slice(0, n) }),
    ...(data.targets === undefined ? {} : { targets: data.targets.slice(0, n) }),
  };
}

/** Runs a table: trains every model for every seed, tests it, writes the results. */
export async function runDefinedTable(
  table: TableDefinition,
  mode: Mode,
  config: TableConfig,
  options: RunOptions = {},
): Promise<TableRun> {
  const all = await table.models(options);
  const names = new Set(all.map((m) => m.spec.name));
  const named = [
    ...Object.keys(config.overrides ?? {}),
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
  const jobs: (Job & { readonly tableModel: TableModel })[] = models.flatMap((m) =>
    config.seeds.map((seed) => ({
      key: `${m.spec.name}/seed=${seed}`,
      model: m.spec.model,
      direction: m.direction,
      variant: m.variant,
      seed,
      maxEpochs: trainingOf(config, m.spec).epochs,
      tableModel: m,
    }))
  );
  const runJob = async (
    job: Job,
    onEpoch: (info: Parameters<NonNullable<Parameters<typeof train>[2]["onEpoch"]>>[0]) => void,
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
    });
    const tested = evaluate(model, test);
    const metrics: Record<string, number> = {
      [table.metric]: table.metricOf?.(tested) ?? tested.loss,
      ...table.extraMetrics?.(model, { ...data, test }),
    };
    const figureData = table.figureData?.(model, { ...data, test });
    const save = mode === "full" && job.seed === config.seeds[0] &&
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
      seconds: (performance.now() - start) / 1000,
      history: result.history.map((h) => ({
        epoch: h.epoch,
        train: h.trainLoss,
        ...(h.validationLoss === undefined ? {} : { validation: h.validationLoss }),
      })),
    };
  };
  const rows = (results: Record<string, JobResult>): ResultRow[] =>
    models.flatMap((m) => {
      const runs = config.seeds.map((seed) => ({
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
  return await runTable(
    table.name,
    mode,
    { ...config, table: table.name },
    jobs,
    runJob,
    rows,
    options,
  );
}

/** The command line of a table script: `--quick`, `--force`, `--data-dir=DIR`. */
export async function tableMain(
  table: TableDefinition,
  configs: { full: TableConfig; quick: TableConfig },
): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      "data-dir": { type: "string" },
      models: { type: "string" },
    },
  });
  const mode: Mode = values.quick ? "quick" : "full";
  const run = await runDefinedTable(table, mode, configs[mode], {
    force: values.force,
    ...(values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] }),
    ...(values.models === undefined ? {} : { models: values.models.split(",") }),
  });
  const state = !run.finished ? "left to another process" : run.skipped ? "unchanged" : "written";
  // deno-lint-ignore no-console -- the script's result
  console.log(`${table.name}: ${state} ${run.csv.pathname}`);
}
