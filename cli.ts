/**
 * The `efa` command line: fit EFA to a CSV of observations, evaluate it,
 * predict, and show where its attention goes.
 *
 *   deno run -A jsr:@efa/efa/cli fit --data rows.csv --sequence user --item movie --value rating --out model.json
 *   deno run -A jsr:@efa/efa/cli evaluate --model model.json --data test.csv --sequence user --item movie --value rating
 *   deno run -A jsr:@efa/efa/cli predict --model model.json --data test.csv ... --out predictions.csv
 *   deno run -A jsr:@efa/efa/cli attention --model model.json --data test.csv ... --id 42 [--position 3]
 *
 * Exit codes: 0 success, 1 a failure while running, 2 bad usage or bad input
 * (unknown flags, missing or misspelt columns, values the model cannot take).
 *
 * @module
 */
import { parseArgs } from "node:util";
// @ts-types="@types/d3-dsv"
import { csvFormat } from "d3-dsv";
import { detectDelimiter, parseTable, type Table } from "./lib/_csv.ts";
import {
  type BaselineScore,
  compare,
  type Comparison,
  fit,
  type FitFamily,
  type FitOptions,
  type FittedEfa,
  type HeldOutReport,
  loadFitted,
  type Observation,
  type RankingResult,
} from "./mod.ts";
import { epochProgress, stepProgress, writeAtomically } from "./lib/_io.ts";
import { comparisonFigure, learningCurvesFigure, renderSvg } from "./lib/plot.ts";
import { parseHTML } from "linkedom";

/** A usage or input error: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong and what was expected.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const COLUMN_FLAGS = {
  data: { type: "string" },
  sequence: { type: "string", default: "sequence" },
  item: { type: "string", default: "item" },
  value: { type: "string" },
  position: { type: "string" },
  delimiter: { type: "string" },
} as const;

const HELP: Record<string, string> = {
  fit: `efa fit --data FILE.csv --out MODEL.json [options]
  Fits EFA to the observations in FILE.csv, writes the model, and prints the held-out
  (validation) loss beside the simple baselines on the same sequences (means, neighbours,
  frequencies, co-occurrence counts), with a warning when one does as well as EFA, and how
  spread out each head's attention is (normalised entropy over up to 20 sequences, with a
  warning when every head is nearly uniform or collapsed onto one observation);
  --show-attention adds the attention of the first sequence with its last observation masked.
  --data FILE          CSV with one observation per row (required)
  --sequence COL       column of the sequence id (default "sequence")
  --item COL           column of the item (default "item")
  --value COL          column of the value (modelled when given)
  --position COL       column of the position within the sequence (default: row order)
  --delimiter D        , ; tab or | (default: detected from the header line)
  --family F           categorical | gaussian | poisson | bernoulli | joint-<family>
                       (default: categorical without --value, gaussian with it)
  --direction D        bidirectional (default) | unidirectional
  --epochs N           maximum epochs (default 200); --patience N (default 20)
  --validation SHARE   share of sequences held out for early stopping (default 0.2)
  --seed N             seed of the split, initialisation and batch order (default 0)
  --threads N          1 or 2 threads per training step; the same numbers either way
                       (default 2 on a machine with two or more cores)
  --learning-rate R    Adam's learning rate (default 0.001; 0.003 for categorical); --batch-size N
                       (default 256)
  --dim N              embedding width (default 32); --layers N (default 2; 1 for categorical);
                       --heads N (default 2)
  --max-length N       longest sequence the model accepts (default: the longest in the data)
  --min-item-count N   items seen fewer than N times share one item, "(unknown)", which also
                       stands for items first met by predict, evaluate and attention (default 2;
                       1 keeps every item, and an unseen item is then an error)
  --raw-values         train on Gaussian values as given (default: standardised inside the
                       model; every loss and prediction is in the data's units either way)
  --show-attention     print the attention of the first sequence after fitting
  --plot FILE.svg      draw the training and validation loss per epoch
  --quiet              no progress lines, only the summary
  --out FILE           where to write the model (required)
  Ctrl-C stops training after the current step and writes the best model so far.`,
  compare: `efa compare --data FILE.csv [--config "NAME key=value ..."]... [options]
  Fits each configuration on the same training sequences and prints its held-out loss beside the
  paper's FM baseline (fixed, uniform context weights instead of attention; trained with the first
  configuration's settings) and the simple baselines on the same held-out sequences, with paired
  bootstrap intervals over sequences for each loss and for each difference to the best (an
  interval that excludes 0: a real gap).
  --config "NAME k=v ..."  a configuration, repeatable; keys: layers, heads, dim, direction,
                       epochs, patience, learning-rate, batch-size, feed-forward, min-item-count
                       (default: "1 layer layers=1", "2 layers layers=2", "4 layers layers=4")
  --test SHARE         share of sequences held out for the comparison (default 0.2)
  --samples N          bootstrap resamples (default 1000); --level L (default 0.95)
  --family, --direction, --epochs, --patience, --seed, --threads, --raw-values: as for fit,
                       for every configuration (a configuration's own keys win)
  --out FILE.csv       the table: name, kind, loss, low, high, difference, difference_low,
                       difference_high, seconds
  --plot FILE.svg      the losses with their intervals
  --no-fm              leave out the FM
  --quiet              no progress lines`,
  evaluate:
    `efa evaluate --model MODEL.json --data FILE.csv [--top K] [--exclude-context] [column options]
  Prints the mean loss, log-likelihood and (for values) MSE per prediction, every position predicted.
  --top K              also Recall@K, NDCG@K and MRR of the observed items (categorical and joint
                       families); K is one cut-off or a comma-separated list, e.g. 1,5,10
  --exclude-context    rank without the items of each prediction's context (as recommender
                       evaluations leave out items already in the basket)`,
  predict:
    `efa predict --model MODEL.json --data FILE.csv --out PREDICTIONS.csv [--top K] [--exclude-context] [column options]
  Writes one row per observation: sequence, position (the CSV's own ids and positions, so the rows
  join back to the input), item, value, mean, top_item, item_probability.
  --top K              also the K most likely items, most likely first: columns top1_item,
                       top1_probability, ..., topK_item, topK_probability
  --exclude-context    list only items that are not in the prediction's context`,
  attention:
    `efa attention --model MODEL.json --data FILE.csv --id SEQUENCE [--mask P] [--out FILE.csv] [column options]
  Shows the head-averaged attention of every layer for one sequence with one observation masked, as a
  shaded grid on the terminal (at most the 40 observations around the masked one); --out writes every
  layer and head as CSV (layer, head, query, key, weight; query and key count observations in order).
  --mask P             the masked observation: its value in the --position column, or without one
                       its 0-based order in the sequence (default: the first observation)`,
};

const USAGE = `efa <command> [options]   (efa <command> --help for details)
commands: fit, compare, evaluate, predict, attention`;

/** The delimiters `--delimiter` accepts, by name. */
const DELIMITER_NAMES: Record<string, string> = {
  ",": ",",
  comma: ",",
  ";": ";",
  semicolon: ";",
  tab: "\t",
  "\\t": "\t",
  "\t": "\t",
  "|": "|",
  pipe: "|",
};

/**
 * Reads the observations of a CSV, checking the named columns. Files as
 * spreadsheets export them work: a byte-order mark, CRLF line ends, trailing
 * blank lines, `;`, tab or `|` separators (detected from the header unless
 * given) and spaces around fields. Malformed files are refused with the file
 * and line: an unbalanced quote, a row with too many or too few fields, an
 * empty sequence id or item, a position given twice in one sequence.
 *
 * @param text The file's text.
 * @param file The file's name, used in errors.
 * @param columns The columns of the sequence id, item, value and position.
 * @param delimiter The separator, or `undefined` to detect it.
 * @returns One observation per data row, in file order.
 * @throws {UsageError} Naming the file, the line and what is wrong.
 */
export function readObservations(
  text: string,
  file: string,
  columns: {
    sequence: string;
    item: string;
    value?: string | undefined;
    position?: string | undefined;
  },
  delimiter?: string,
): Observation[] {
  let table: Table;
  try {
    table = parseTable(text, {
      file,
      delimiter: delimiter ?? detectDelimiter(text),
      singleLineFields: true,
    });
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) {
      throw new UsageError(error.message);
    }
    throw error;
  }
  const present = table.columns;
  for (const [flag, name] of Object.entries(columns)) {
    if (name !== undefined && !present.includes(name)) {
      throw new UsageError(
        `${file}: no column "${name}" (--${flag}); the columns are ${
          present.map((c) => `"${c}"`).join(", ")
        }`,
      );
    }
  }
  const index = new Map(present.map((name, j) => [name, j]));
  const seen = new Map<string, number>(); // "sequence\0position" -> line
  return table.rows.map((row, i) => {
    const line = table.firstLine + i;
    const cell = (col: string): string => row[index.get(col)!]!.trim();
    const text = (col: string, flag: string): string => {
      const v = cell(col);
      if (v === "") {
        throw new UsageError(`${file}:${line}: empty ${flag} in column "${col}"`);
      }
      return v;
    };
    const number = (col: string): number => {
      const raw = cell(col);
      const v = raw === "" ? NaN : Number(raw);
      if (!Number.isFinite(v)) {
        throw new UsageError(
          `${file}:${line}: expected a number in column "${col}", got ${JSON.stringify(raw)}`,
        );
      }
      return v;
    };
    const sequence = text(columns.sequence, "sequence id");
    const position = columns.position === undefined ? undefined : number(columns.position);
    if (position !== undefined) {
      const key = `${sequence}\u0000${position}`;
      const first = seen.get(key);
      if (first !== undefined) {
        throw new UsageError(
          `${file}:${line}: sequence "${sequence}" has position ${position} twice (lines ${first} and ${line})`,
        );
      }
      seen.set(key, line);
    }
    const observation: Observation = {
      sequence,
      item: text(columns.item, "item"),
      // An empty value cell: the observation is unobserved (value families leave it out).
      ...(columns.value === undefined || cell(columns.value) === ""
        ? {}
        : { value: number(columns.value) }),
      ...(position === undefined ? {} : { position }),
    };
    LINES.set(observation, `${file}:${line}`);
    return observation;
  });
}

/** Where each observation read by {@link readObservations} came from: `file:line`. */
const LINES = new WeakMap<Observation, string>();

/**
 * A data error of the library as the command line reports it: with the CSV
 * line of the row it names (its `row` property), else with the file.
 */
function dataError(
  error: RangeError | TypeError,
  rows: readonly Observation[],
  file: string,
): UsageError {
  const row = (error as { row?: unknown }).row;
  const at = typeof row === "number" ? LINES.get(rows[row]!) : undefined;
  return new UsageError(`${at ?? file}: ${error.message}`);
}

/** The separator a `--delimiter` value names, or `undefined` to detect it. */
function delimiterOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const d = DELIMITER_NAMES[raw];
  if (d === undefined) {
    throw new UsageError(
      `--delimiter: expected one of ",", ";", tab, "|" (or comma, semicolon, pipe), got ${
        JSON.stringify(raw)
      }`,
    );
  }
  return d;
}

/** Refuses an output path that cannot be written, before any work is done. */
async function checkWritable(path: string, flag: string): Promise<void> {
  const info = await Deno.stat(path).catch(() => null);
  if (info?.isDirectory) throw new UsageError(`--${flag}: ${path} is a directory, not a file`);
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const parent = await Deno.stat(dir).catch(() => null);
  if (parent === null || !parent.isDirectory) {
    throw new UsageError(`--${flag}: the folder ${dir} of ${path} does not exist`);
  }
}

function required(value: string | undefined, flag: string, command: string): string {
  if (value === undefined || value === "") {
    throw new UsageError(`efa ${command}: --${flag} is required\n\n${HELP[command]}`);
  }
  return value;
}

function positiveInteger(raw: string | undefined, flag: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) {
    throw new UsageError(`--${flag}: expected a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return v;
}

function positiveNumber(raw: string, flag: string): number {
  const v = Number(raw);
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new UsageError(`--${flag}: expected a positive number, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** `{ [key]: n }` for a flag given as a positive integer, `{}` when it is absent. */
function optionalInteger<K extends string>(
  raw: string | undefined,
  flag: string,
  key: K,
): { [P in K]?: number } {
  if (raw === undefined) return {};
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) {
    throw new UsageError(`--${flag}: expected a positive integer, got ${JSON.stringify(raw)}`);
  }
  return { [key]: v } as { [P in K]?: number };
}

/** `--top` of evaluate: one cut-off or a comma-separated list of them. */
function topCutoffs(raw: string): number[] {
  const k = raw.split(",").map((part) => Number(part.trim()));
  if (!k.every((c) => Number.isInteger(c) && c >= 1)) {
    throw new UsageError(
      `--top: expected a positive integer or a comma-separated list of them, got ${
        JSON.stringify(raw)
      }`,
    );
  }
  return k;
}

/** `--top` of predict: how many items to list, at most the model's items. */
function topCount(raw: string, items: number): number {
  const k = Number(raw);
  if (!Number.isInteger(k) || k < 1 || k > items) {
    throw new UsageError(
      `--top: expected an integer from 1 to ${items} (the model's items), got ${
        JSON.stringify(raw)
      }`,
    );
  }
  return k;
}

/** The lines evaluate prints for `--top`: `recall@K`, `ndcg@K` per cut-off, then `mrr`. */
function rankingReport(r: RankingResult): string[] {
  return [
    ...r.k.flatMap((k, i) => [
      `recall@${k} ${r.recall[i]!.toFixed(6)}`,
      `ndcg@${k} ${r.ndcg[i]!.toFixed(6)}`,
    ]),
    `mrr ${r.mrr.toFixed(6)}${r.excludeContext ? " (context items excluded)" : ""}`,
  ];
}

async function readText(path: string, what: string): Promise<string> {
  const info = await Deno.stat(path).catch(() => null);
  if (info === null) throw new UsageError(`${what} ${path} does not exist`);
  if (info.isDirectory) throw new UsageError(`${what} ${path} is a directory, not a file`);
  return await Deno.readTextFile(path);
}

async function loadModelFile(path: string): Promise<FittedEfa> {
  try {
    return loadFitted(await readText(path, "the model file"));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${path}: ${error instanceof Error ? error.message : error}`);
  }
}

/** Shades of the attention grid: below 0.05, 0.15, 0.3, 0.5, and above. */
function shade(weight: number): string {
  return weight < 0.05
    ? "  "
    : weight < 0.15
    ? "░░"
    : weight < 0.3
    ? "▒▒"
    : weight < 0.5
    ? "▓▓"
    : "██";
}

/** Prints each layer's head-averaged attention as a shaded grid (rows: queries, columns: keys). */

/** The training curve of a fit as an SVG file's text, in the data's units where there is one scale. */
/** Refuses a `--direction` other than bidirectional or unidirectional. */
function checkDirection(raw: string | undefined): void {
  if (raw !== undefined && raw !== "bidirectional" && raw !== "unidirectional") {
    throw new UsageError(
      `--direction: expected bidirectional or unidirectional, got ${JSON.stringify(raw)}`,
    );
  }
}

/** `--threads`: 1 or 2 (default 2 on a machine with two or more cores). */
function threadsOf(raw: string | undefined): 1 | 2 {
  const threads = raw === undefined ? (navigator.hardwareConcurrency >= 2 ? 2 : 1) : Number(raw);
  if (threads !== 1 && threads !== 2) {
    throw new UsageError(`--threads: expected 1 or 2, got ${JSON.stringify(raw)}`);
  }
  return threads;
}

/** The keys a `--config` may set, with the `fit` option each one sets. */
const CONFIG_KEYS: Record<string, keyof FitOptions & string> = {
  layers: "layers",
  heads: "heads",
  dim: "dim",
  epochs: "epochs",
  patience: "patience",
  "batch-size": "batchSize",
  "feed-forward": "feedForward",
  "min-item-count": "minItemCount",
  "learning-rate": "learningRate",
  direction: "direction",
};

/** The `--config` flags as named `fit` options (the default three depths when none). */
function compareConfigurations(specs: readonly string[]): Record<string, FitOptions> {
  if (specs.length === 0) {
    return { "1 layer": { layers: 1 }, "2 layers": { layers: 2 }, "4 layers": { layers: 4 } };
  }
  const configurations: Record<string, FitOptions> = {};
  for (const spec of specs) {
    const words = spec.trim().split(/\s+/);
    const at = words.findIndex((w) => w.includes("="));
    const name = (at < 0 ? words : words.slice(0, at)).join(" ");
    if (name === "") {
      throw new UsageError(
        `--config: expected "NAME key=value ...", got ${JSON.stringify(spec)} (no name)`,
      );
    }
    if (name in configurations) throw new UsageError(`--config: the name "${name}" is used twice`);
    const options: Record<string, unknown> = {};
    for (const word of at < 0 ? [] : words.slice(at)) {
      const [key, raw] = word.split("=", 2) as [string, string | undefined];
      const option = CONFIG_KEYS[key];
      if (option === undefined || raw === undefined || raw === "") {
        throw new UsageError(
          `--config "${name}": expected key=value with a key among ${
            Object.keys(CONFIG_KEYS).join(", ")
          }, got ${JSON.stringify(word)}`,
        );
      }
      if (option === "direction") {
        if (raw !== "bidirectional" && raw !== "unidirectional") {
          throw new UsageError(
            `--config "${name}": expected direction=bidirectional or unidirectional, got ${
              JSON.stringify(raw)
            }`,
          );
        }
        options[option] = raw;
      } else if (option === "learningRate") {
        options[option] = positiveNumber(raw, `config "${name}" learning-rate`);
      } else {
        options[option] = positiveInteger(raw, `config "${name}" ${key}`, 0);
      }
    }
    configurations[name] = options as FitOptions;
  }
  return configurations;
}

/** `efa compare`: the configurations and the baselines on one split, with paired intervals. */
async function runCompare(
  rows: Observation[],
  dataPath: string,
  configurations: Record<string, FitOptions>,
  v: {
    family?: string;
    direction?: string;
    epochs?: string;
    patience?: string;
    seed?: string;
    threads?: string;
    test?: string;
    samples?: string;
    level?: string;
    out?: string;
    plot?: string;
    quiet?: boolean;
    "raw-values"?: boolean;
    "no-fm"?: boolean;
  },
  out: (s: string) => void,
  err: (s: string) => void,
  signal: AbortSignal | undefined,
): Promise<number> {
  checkDirection(v.direction);
  const threads = threadsOf(v.threads);
  const testShare = v.test === undefined ? 0.2 : Number(v.test);
  if (!(testShare > 0 && testShare < 1)) {
    throw new UsageError(`--test: expected a share in (0, 1), got ${JSON.stringify(v.test)}`);
  }
  const level = v.level === undefined ? 0.95 : Number(v.level);
  if (!(level > 0 && level < 1)) {
    throw new UsageError(`--level: expected a number in (0, 1), got ${JSON.stringify(v.level)}`);
  }
  const shared: FitOptions = {
    ...(v.family === undefined ? {} : { family: v.family as FitFamily }),
    ...(v.direction === undefined ? {} : { direction: v.direction as "bidirectional" }),
    ...optionalInteger(v.epochs, "epochs", "epochs"),
    ...optionalInteger(v.patience, "patience", "patience"),
    threads,
    ...(v["raw-values"] ? { standardize: false } : {}),
    ...(signal === undefined ? {} : { signal }),
  };
  const all = Object.fromEntries(
    Object.entries(configurations).map(([name, c]) => [name, { ...shared, ...c }]),
  );
  let result: Comparison;
  try {
    result = await compare(rows, all, {
      testShare,
      seed: positiveInteger(v.seed, "seed", 0),
      samples: v.samples === undefined ? 1000 : positiveInteger(v.samples, "samples", 1000),
      level,
      fm: !v["no-fm"],
      ...(v.quiet ? {} : {
        onModel: (name: string, i: number, total: number) =>
          err(`fitting ${name} (${i + 1} of ${total})`),
      }),
    });
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) {
      throw dataError(error, rows, dataPath);
    }
    throw error;
  }
  const percent = Math.round(result.level * 100);
  out(
    `held-out ${result.metric} per prediction: ${result.sequences} sequences, ${result.predictions} predictions; ` +
      `${percent}% paired bootstrap intervals over sequences (${result.samples} resamples)`,
  );
  const width = Math.max(...result.models.map((m) => m.name.length), 5);
  const f = (x: number) => x.toFixed(4);
  const interval = (lo: number, hi: number) => `[${f(lo)}, ${f(hi)}]`;
  const spans = result.models.map((m) => interval(m.low, m.high));
  const spanWidth = Math.max(...spans.map((x) => x.length), 8);
  out(
    `  ${"model".padEnd(width)}  ${"loss".padEnd(6)}  ${
      "interval".padEnd(spanWidth)
    }  minus the best`,
  );
  result.models.forEach((m, i) => {
    const gap = i === 0
      ? "best"
      : `+${f(m.difference)} ${interval(m.differenceLow, m.differenceHigh)}${
        m.differenceLow > 0 ? "" : " (not clearly worse)"
      }`;
    out(
      `  ${m.name.padEnd(width)}  ${f(m.loss)}  ${spans[i]!.padEnd(spanWidth)}  ${gap}${
        m.kind === "baseline"
          ? "  (baseline)"
          : m.kind === "fm"
          ? "  (the paper's FM baseline)"
          : ""
      }`,
    );
  });
  const best = result.models[0]!;
  if (best.kind !== "efa") {
    out(
      `  warning: the best is a baseline (${best.name}); try more epochs (--epochs, --patience) or other configurations`,
    );
  }
  if (v.out !== undefined) {
    await writeAtomically(
      v.out,
      csvFormat(result.models.map((m) => ({
        name: m.name,
        kind: m.kind,
        loss: m.loss,
        low: m.low,
        high: m.high,
        difference: m.difference,
        difference_low: m.differenceLow,
        difference_high: m.differenceHigh,
        seconds: m.seconds ?? "",
      }))) + "\n",
    );
    out(`wrote the table to ${v.out}`);
  }
  if (v.plot !== undefined) {
    const { document } = parseHTML("<html><body></body></html>") as unknown as {
      document: unknown;
    };
    await writeAtomically(
      v.plot,
      renderSvg(
        comparisonFigure(result.models, {
          title: `efa compare: held-out ${result.metric}`,
          subtitle:
            `${result.sequences} held-out sequences; ${percent}% paired bootstrap intervals`,
          x: `${result.metric} per prediction`,
        }),
        { document },
      ),
    );
    out(`wrote the figure to ${v.plot}`);
  }
  return 0;
}

function trainingCurveSvg(fitted: FittedEfa): string {
  const scale = fitted.valueScale;
  // Squared errors of standardised values times scale^2 are in the data's units (value families only).
  const factor = scale !== null && fitted.family === "gaussian" ? scale.scale ** 2 : 1;
  const metric = fitted.family === "categorical"
    ? "cross-entropy per prediction"
    : scale === null
    ? "loss per prediction"
    : fitted.family === "gaussian"
    ? "squared error per prediction"
    : "loss per prediction (standardised values)";
  const rows = fitted.training!.history.flatMap((e) => [
    { model: "EFA", epoch: e.epoch, split: "train" as const, loss: e.trainLoss * factor },
    ...(e.validationLoss === undefined ? [] : [{
      model: "EFA",
      epoch: e.epoch,
      split: "validation" as const,
      loss: e.validationLoss * factor,
    }]),
  ]);
  const { document } = parseHTML("<html><body></body></html>") as unknown as { document: unknown };
  return renderSvg(
    learningCurvesFigure(rows, {
      title: `efa fit: ${fitted.family}, best epoch ${fitted.training!.bestEpoch}`,
      metric,
      columns: 1,
    }),
    { document },
  );
}

/**
 * How spread out each layer's and head's attention is, over the masked last
 * observation of up to `sequences` sequences of two or more observations:
 * the entropy of the masked query's weights divided by the log of the number
 * of keys it can see (0: all on one observation, 1: uniform), averaged over
 * the sequences. The last observation, as a unidirectional model's first
 * one sees nothing but itself.
 *
 * @param fitted The fitted model.
 * @param rows Observations, grouped by their `sequence`.
 * @param sequences How many sequences to average over (default 20, the first ones met).
 * @returns `spread[layer][head]` in [0, 1] and the number of sequences used.
 *
 * @example
 * ```ts
 * import { attentionSpread } from "./cli.ts";
 * import { fit } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const rows = [1, 2, 3].flatMap((s) =>
 *   ["tea", "cake", "jam"].map((item, position) => ({ sequence: s, item, position }))
 * );
 * const fitted = await fit(rows, { epochs: 1, layers: 1, heads: 2, dim: 4, validationShare: 0 });
 * const { spread, used } = attentionSpread(fitted, rows);
 * assert.equal(used, 3);
 * assert.equal(spread[0]!.length, 2);
 * fitted.dispose();
 * ```
 */
export function attentionSpread(
  fitted: FittedEfa,
  rows: readonly Observation[],
  sequences = 20,
): { spread: number[][]; used: number } {
  const bySequence = new Map<string, Observation[]>();
  for (const r of rows) {
    const key = String(r.sequence);
    (bySequence.get(key) ?? bySequence.set(key, []).get(key)!).push(r);
  }
  const sums: number[][] = [], counts: number[][] = [];
  let used = 0;
  const withValues = fitted.family !== "categorical";
  for (const [key, all] of bySequence) {
    if (used === sequences) break;
    // Rows without a value are unobserved in a value family: not in the sequence at all.
    const own = withValues ? all.filter((r) => r.value !== undefined && r.value !== null) : all;
    if (own.length < 2) continue;
    const last = own[0]!.position === undefined
      ? own.length - 1
      : Math.max(...own.map((r) => r.position!));
    const { positions, weights } = fitted.attention(own, key, last);
    const masked = positions.length - 1; // the rows come back in position order
    weights.forEach((layer, l) =>
      layer.forEach((head, h) => {
        const seen = head[masked]!.filter((x) => x > 0); // the keys this query can see
        if (seen.length < 2) return;
        const entropy = -seen.reduce((a, x) => a + x * Math.log(x), 0);
        (sums[l] ??= [])[h] = (sums[l]![h] ?? 0) + entropy / Math.log(seen.length);
        (counts[l] ??= [])[h] = (counts[l]![h] ?? 0) + 1;
      })
    );
    used++;
  }
  return { spread: sums.map((layer, l) => layer.map((x, h) => x / counts[l]![h]!)), used };
}

/** Prints {@link attentionSpread}, with a warning when every head is near either end. */
function showAttentionSpread(
  fitted: FittedEfa,
  rows: readonly Observation[],
  out: (s: string) => void,
): void {
  const { spread, used } = attentionSpread(fitted, rows);
  const all = spread.flat();
  if (all.length === 0) return;
  out(
    `attention spread of the masked last observation (0: on one observation, 1: uniform; ` +
      `${used} sequences): ` +
      spread.flatMap((layer, l) =>
        layer.map((m, h) => `layer ${l + 1} head ${h + 1} ${m.toFixed(2)}`)
      ).join(", "),
  );
  if (all.every((m) => m > 0.95)) {
    out(
      "  warning: attention is nearly uniform in every head: the model weighs its context evenly",
    );
  } else if (all.every((m) => m < 0.05)) {
    out("  warning: attention has collapsed onto single observations in every head");
  }
}

/** The validation loss beside the simple baselines on the same sequences, so a user sees whether EFA learned. */
function showBaselines(
  held: HeldOutReport,
  family: FitFamily,
  out: (s: string) => void,
): void {
  const valueLoss = family.endsWith("poisson")
    ? "Poisson loss"
    : family.endsWith("bernoulli")
    ? "binary cross-entropy"
    : "squared error";
  const parts: [string, number | undefined, readonly BaselineScore[] | undefined][] = [
    ["items, cross-entropy", held.result.itemLoss, held.itemBaselines],
    [`values, ${valueLoss}`, held.result.valueLoss, held.valueBaselines],
  ];
  for (const [what, loss, baselines] of parts) {
    if (baselines === undefined || loss === undefined) continue;
    out(`validation ${what} per prediction (${held.result.count} predictions):`);
    const width = Math.max(...baselines.map((b) => b.name.length), 3);
    out(`  ${"EFA".padEnd(width)}  ${loss.toFixed(4)}`);
    for (const b of baselines) {
      out(`  ${b.name.padEnd(width)}  ${b.loss.toFixed(4)}  ${b.description}`);
    }
    const beaten = baselines.filter((b) => b.loss <= loss);
    if (beaten.length > 0) {
      out(
        `  warning: ${
          beaten.map((b) => b.name).join(", ")
        } did as well as EFA; try more epochs (--epochs, --patience) or another --learning-rate`,
      );
    }
  }
}

/** At most this many observations of a sequence are drawn (those around the masked one). */
const ATTENTION_WINDOW = 40;

function showAttention(
  items: readonly string[],
  positions: readonly number[],
  weights: number[][][][],
  masked: number,
  out: (line: string) => void,
): void {
  const n = items.length;
  const from = Math.max(0, Math.min(masked - (ATTENTION_WINDOW >> 1), n - ATTENTION_WINDOW));
  const to = Math.min(n, from + ATTENTION_WINDOW);
  const labels = items.map((item, i) => `${positions[i]} ${item}`);
  const width = Math.max(...labels.slice(from, to).map((s) => s.length));
  weights.forEach((layer, l) => {
    out(
      `layer ${l + 1}, heads averaged, position ${positions[masked]} (${
        items[masked]
      }) masked; rows: queries, columns: keys` +
        (to - from < n ? `; observations ${from + 1}-${to} of ${n}, around the masked one` : ""),
    );
    for (let q = from; q < to; q++) {
      const row: number[] = [];
      for (let k = from; k < to; k++) {
        row.push(layer.reduce((a, head) => a + head[q]![k]!, 0) / layer.length);
      }
      out(`${labels[q]!.padStart(width)} |${row.map(shade).join("")}|`);
    }
  });
}

/**
 * Runs the command line on arguments and returns its exit code; output goes
 * to `out` (results) and `err` (progress and errors).
 *
 * @param args The arguments after the program name.
 * @param out Where results are written.
 * @param err Where progress and errors are written.
 * @returns 0 on success, 1 on a failure while running, 2 on bad usage or input.
 *
 * @example Help
 * ```ts
 * import { main } from "@efa/efa/cli";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * assert.equal(await main(["fit", "--help"], (s) => lines.push(s), () => {}), 0);
 * assert.match(lines.join("\n"), /efa fit --data/);
 * ```
 */
export async function main(
  args: readonly string[],
  out: (line: string) => void,
  err: (line: string) => void,
  options: { readonly signal?: AbortSignal } = {},
): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === undefined || command === "--help" || command === "-h") {
      out(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (!(command in HELP)) {
      throw new UsageError(`efa: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    }
    let parsed;
    try {
      parsed = parseArgs({
        args: rest as string[],
        options: {
          ...COLUMN_FLAGS,
          help: { type: "boolean", short: "h" },
          model: { type: "string" },
          out: { type: "string" },
          family: { type: "string" },
          direction: { type: "string" },
          epochs: { type: "string" },
          patience: { type: "string" },
          validation: { type: "string" },
          seed: { type: "string" },
          threads: { type: "string" },
          "learning-rate": { type: "string" },
          "batch-size": { type: "string" },
          dim: { type: "string" },
          layers: { type: "string" },
          heads: { type: "string" },
          "max-length": { type: "string" },
          "show-attention": { type: "boolean", default: false },
          "raw-values": { type: "boolean", default: false },
          plot: { type: "string" },
          "min-item-count": { type: "string" },
          quiet: { type: "boolean", default: false },
          id: { type: "string" },
          mask: { type: "string" },
          config: { type: "string", multiple: true },
          test: { type: "string" },
          samples: { type: "string" },
          level: { type: "string" },
          top: { type: "string" },
          "exclude-context": { type: "boolean", default: false },
          "no-fm": { type: "boolean", default: false },
        },
        strict: true,
      });
    } catch (error) {
      throw new UsageError(
        `efa ${command}: ${error instanceof Error ? error.message : error}\n\n${HELP[command]}`,
      );
    }
    const v = parsed.values;
    if (v.help) {
      out(HELP[command]!);
      return 0;
    }
    const dataPath = required(v.data, "data", command);
    const columns = {
      sequence: v.sequence!,
      item: v.item!,
      value: v.value,
      position: v.position,
    };
    if (command === "fit" || command === "predict") {
      await checkWritable(required(v.out, "out", command), "out");
      if (command === "fit" && v.plot !== undefined) await checkWritable(v.plot, "plot");
    } else if ((command === "attention" || command === "compare") && v.out !== undefined) {
      await checkWritable(v.out, "out");
    }
    if (command === "compare" && v.plot !== undefined) await checkWritable(v.plot, "plot");
    const configurations = command === "compare" ? compareConfigurations(v.config ?? []) : {};
    const rows = readObservations(
      await readText(dataPath, "the data file"),
      dataPath,
      columns,
      delimiterOf(v.delimiter),
    );
    const missing = columns.value === undefined
      ? 0
      : rows.filter((r) => r.value === undefined).length;
    if (missing > 0 && !v.quiet) {
      err(
        `${dataPath}: ${missing} of ${rows.length} rows have an empty "${columns.value}" cell; ` +
          "value families treat them as unobserved (neither predicted nor in any context)",
      );
    }
    if (command === "compare") {
      return await runCompare(rows, dataPath, configurations, v, out, err, options.signal);
    }
    if (command === "fit") {
      const outPath = required(v.out, "out", command);
      const epochs = positiveInteger(v.epochs, "epochs", 200);
      const share = v.validation === undefined ? 0.2 : Number(v.validation);
      if (!(share >= 0 && share < 1)) {
        throw new UsageError(
          `--validation: expected a share in [0, 1), got ${JSON.stringify(v.validation)}`,
        );
      }
      checkDirection(v.direction);
      const threads = threadsOf(v.threads);
      if (
        !v.quiet && !v["raw-values"] &&
        (v.family ?? (v.value === undefined ? "categorical" : "gaussian")).endsWith("gaussian")
      ) {
        err(
          "training on standardised values (--raw-values: as given): the epoch losses below are in standard units, the summary in yours",
        );
      }
      let fitted: FittedEfa;
      try {
        fitted = await fit(rows, {
          ...(v.family === undefined ? {} : { family: v.family as FitFamily }),
          ...(v.direction === undefined ? {} : { direction: v.direction as "bidirectional" }),
          epochs,
          patience: positiveInteger(v.patience, "patience", 20),
          validationShare: share,
          seed: positiveInteger(v.seed, "seed", 0),
          threads,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(v["learning-rate"] === undefined
            ? {}
            : { learningRate: positiveNumber(v["learning-rate"], "learning-rate") }),
          ...optionalInteger(v["batch-size"], "batch-size", "batchSize"),
          ...optionalInteger(v.dim, "dim", "dim"),
          ...optionalInteger(v.layers, "layers", "layers"),
          ...optionalInteger(v.heads, "heads", "heads"),
          ...optionalInteger(v["max-length"], "max-length", "maxLength"),
          ...optionalInteger(v["min-item-count"], "min-item-count", "minItemCount"),
          ...(v["raw-values"] ? { standardize: false } : {}),
          ...(v.quiet ? {} : {
            onEpoch: epochProgress({ maxEpochs: epochs, write: err }),
            onStep: stepProgress({ maxEpochs: epochs, write: err }),
          }),
        });
      } catch (error) {
        if (error instanceof RangeError || error instanceof TypeError) {
          throw dataError(error, rows, dataPath);
        }
        throw error;
      }
      if (Deno.stderr.isTerminal() && !v.quiet) err("");
      const t = fitted.training!;
      if (t.interrupted && t.history.length === 0) {
        fitted.dispose();
        err(`interrupted before the first epoch finished: nothing written to ${outPath}`);
        return 1;
      }
      await writeAtomically(outPath, fitted.save());
      if (t.interrupted) {
        err(
          `interrupted after epoch ${t.history.length}: wrote the best model so far (epoch ${t.bestEpoch})`,
        );
      }
      // Without held-out sequences (--validation 0) early stopping watched the training loss.
      const held = fitted.heldOut;
      const best = held !== null
        ? `best validation loss ${held.result.loss.toFixed(4)}`
        : `best training loss ${t.bestLoss.toFixed(4)}${
          fitted.valueScale === null ? "" : " (on standardised values)"
        }`;
      out(
        `fitted ${fitted.family} EFA on ${
          fitted.family === "categorical" ? rows.length : rows.length - missing
        } observations (${fitted.items.length - 1} items): ` +
          `${t.history.length} epochs, ${best} at epoch ${t.bestEpoch}; wrote ${outPath}`,
      );
      if (held !== null) showBaselines(held, fitted.family, out);
      if (v.plot !== undefined) {
        await writeAtomically(v.plot, trainingCurveSvg(fitted));
        out(`wrote the training curve to ${v.plot}`);
      }
      showAttentionSpread(fitted, rows, out);
      if (v["show-attention"]) {
        const first = String(rows[0]!.sequence);
        const own = rows.filter((r) => String(r.sequence) === first);
        // The last observation: the highest position, or the last row without a position column.
        const last = own[0]!.position === undefined
          ? own.length - 1
          : Math.max(...own.map((r) => r.position!));
        const { items, positions, weights } = fitted.attention(rows, first, last);
        out(`attention in sequence ${first} (efa attention draws any other):`);
        showAttention(items, positions, weights, positions.length - 1, out);
      }
      fitted.dispose();
      return 0;
    }
    const fitted = await loadModelFile(required(v.model, "model", command));
    try {
      const exclude = v["exclude-context"] === true;
      if (command === "evaluate") {
        const cutoffs = v.top === undefined ? undefined : topCutoffs(v.top);
        const rankingLines = cutoffs === undefined ? [] : rankingReport(
          fitted.rank(rows, { k: cutoffs, excludeContext: exclude }),
        );
        const r = fitted.evaluate(rows);
        out(
          `predictions ${r.count}\nloss ${r.loss.toFixed(6)}\nlog_likelihood ${
            r.logLikelihood.toFixed(6)
          }` +
            (r.mse === undefined ? "" : `\nmse ${r.mse.toFixed(6)}`) +
            rankingLines.map((line) => `\n${line}`).join(""),
        );
      } else if (command === "predict") {
        const outPath = required(v.out, "out", command);
        const top = v.top === undefined ? undefined : topCount(v.top, fitted.items.length - 1);
        const predictions = fitted.predict(rows, {
          ...(top === undefined ? {} : { top }),
          excludeContext: exclude,
        }).map((p) => ({
          sequence: p.sequence,
          position: p.position,
          item: p.item,
          value: p.value ?? "",
          mean: p.mean ?? "",
          top_item: p.topItem ?? "",
          item_probability: p.itemProbability ?? "",
          ...Object.fromEntries(
            Array.from({ length: top ?? 0 }, (_, r) => [
              [`top${r + 1}_item`, p.top?.[r]?.item ?? ""],
              [`top${r + 1}_probability`, p.top?.[r]?.probability ?? ""],
            ]).flat(),
          ),
        }));
        await writeAtomically(outPath, csvFormat(predictions) + "\n");
        out(`wrote ${predictions.length} predictions to ${outPath}`);
      } else {
        const id = required(v.id, "id", command);
        const mask = v.mask === undefined ? undefined : Number(v.mask);
        if (mask !== undefined && !Number.isFinite(mask)) {
          throw new UsageError(
            `--mask: expected a position (a number), got ${JSON.stringify(v.mask)}`,
          );
        }
        const { items, positions, weights } = fitted.attention(rows, id, mask);
        if (v.out !== undefined) {
          const cells = weights.flatMap((layer, l) =>
            layer.flatMap((head, h) =>
              head.flatMap((row, q) =>
                row.map((w, k) => ({ layer: l + 1, head: h + 1, query: q, key: k, weight: w }))
              )
            )
          );
          await writeAtomically(v.out, csvFormat(cells) + "\n");
        }
        showAttention(
          items,
          positions,
          weights,
          mask === undefined ? 0 : positions.indexOf(mask),
          out,
        );
        if (v.out !== undefined) out(`wrote the weights to ${v.out}`);
      }
    } catch (error) {
      if (error instanceof RangeError || error instanceof TypeError) {
        throw dataError(error, rows, dataPath);
      }
      throw error;
    } finally {
      fitted.dispose();
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof RangeError || error instanceof TypeError) {
      err(`error: ${error.message}`);
      return 2;
    }
    err(
      `error: ${
        error instanceof Error ? error.message : error
      } (an internal error: please report it)`,
    );
    return 1;
  }
}

if (import.meta.main) {
  // Ctrl-C stops training after the current step and keeps the best epoch; a second one quits.
  const interrupt = new AbortController();
  const onInterrupt = (): void => {
    interrupt.abort();
    Deno.removeSignalListener("SIGINT", onInterrupt);
  };
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGINT", onInterrupt);
  // deno-lint-ignore no-console -- the command line's output
  const code = await main(Deno.args, (s) => console.log(s), (s) => console.error(s), {
    signal: interrupt.signal,
  });
  Deno.exit(code);
}
