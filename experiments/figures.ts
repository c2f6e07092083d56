/**
 * Every figure of the paper's analyses (docs/EFA.md section 4), drawn from the
 * committed results: the tables' CSV and JSON files, the saved first-seed
 * models in `results/models/`, and the identifiability CSV. Writes
 * `experiments/results/figures/<name>.svg` (normalised, so the files are
 * also the snapshots `tests/figures_test.ts` compares against) and the
 * Instacart top-5 similar items as `instacart_similar_items.md`. A figure
 * whose inputs do not exist yet is listed as skipped.
 *
 *   deno task figures [--only=NAME] [--data-dir=DIR]
 */
import { parseArgs } from "node:util";
import { parseHTML } from "linkedom";
import { feature } from "topojson-client";
import states from "us-atlas/states-10m.json" with { type: "json" };
import type * as Plot from "@observablehq/plot";
import { csvParse as parseCsv } from "d3-dsv";
import {
  alignmentFigure,
  curvesByKFigure,
  errorByKFigure,
  heatmapFigure,
  learningCurvesFigure,
  mapFigure,
  normalizeSvg,
  predictedByTruthFigure,
  renderSvg,
  ruleFigure,
} from "../lib/plot.ts";
import { attentionWeights, disposeModel, loadModel, type Model } from "../mod.ts";
import { param } from "../lib/_ops.ts";
import { loadDataset, type LoadOptions, loadTemperature } from "../data/load.ts";
import { MissingDataError } from "../data/source.ts";
import { writeAtomically } from "../lib/_io.ts";
import { savedModelUrl } from "./_harness.ts";
import type { CityError, RuleSummary } from "./tables.ts";

const RESULTS = new URL("./results/", import.meta.url);
/** Where the figures are written. */
export const FIGURES_DIR = new URL("./results/figures/", import.meta.url);

/** A figure: an SVG from Plot options, or a generated markdown table. */
export type FigureOutput =
  | { readonly kind: "svg"; readonly options: Plot.PlotOptions }
  | { readonly kind: "markdown"; readonly text: string };

/** One figure of the package: its file name and how to build it (`null` when its inputs are missing). */
export interface FigureDefinition {
  readonly name: string;
  /** Whether it reads a data set that has to be downloaded (Instacart's product names). */
  readonly readsDownloadedData?: boolean;
  readonly build: (options: LoadOptions) => Promise<FigureOutput | null>;
}

const TABLE_TITLES: Record<string, string> = {
  synthetic: "Synthetic Gaussian ratings",
  instacart: "Instacart baskets",
  movielens_exp1: "MovieLens, experiment 1 (which movie)",
  movielens_exp2_v1: "MovieLens, experiment 2 v1 (ratings, Poisson of y − 1)",
  movielens_exp2_v2: "MovieLens, experiment 2 v2 (ratings, Poisson of rate 1 + λ)",
  temperature: "U.S. city temperatures",
};
const METRICS: Record<string, string> = {
  synthetic: "MSE",
  instacart: "Cross-entropy (nats)",
  movielens_exp1: "Cross-entropy (nats)",
  movielens_exp2_v1: "Poisson loss",
  movielens_exp2_v2: "Poisson loss",
  temperature: "MSE (°F²)",
};

/** `efa_unidirectional` → `EFA uni`, `fm_k5` → `FM k=5`, `efa_4_layers_lag1` → `EFA 4 layers lag 1`. */
export function modelLabel(name: string): string {
  return name
    .replace(/^efa/, "EFA").replace(/^fm/, "FM")
    .replace("_unidirectional", " uni").replace("_bidirectional", " bi")
    .replace(/_k(\d+)$/, " k=$1").replace(
      /_(\d+)_layers?/,
      (_, n) => ` ${n} layer${n === "1" ? "" : "s"}`,
    )
    .replace(/_lag(\d)/, " lag $1");
}

interface TableJson {
  readonly mode: string;
  readonly config: {
    readonly seeds: readonly number[];
    readonly seedsByModel?: Readonly<Record<string, readonly number[]>>;
  };
  readonly environment: { readonly backend: string; readonly gitCommit: string };
  readonly jobs: Record<
    string,
    {
      readonly history: readonly { epoch: number; train: number; validation?: number }[];
      readonly figureData?: unknown;
    }
  >;
}

async function readText(url: URL): Promise<string | null> {
  try {
    return await Deno.readTextFile(url);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function tableJson(table: string): Promise<TableJson | null> {
  const text = await readText(new URL(`${table}.json`, RESULTS));
  return text === null ? null : JSON.parse(text) as TableJson;
}

interface CsvRow {
  readonly model: string;
  readonly direction: string;
  readonly variant: string;
  readonly metric: string;
  readonly value: number;
  readonly paper: number | null;
}

async function tableCsv(table: string): Promise<CsvRow[] | null> {
  const text = await readText(new URL(`${table}.csv`, RESULTS));
  if (text === null) return null;
  return parseCsv(text).map((r) => ({
    model: r.model!,
    direction: r.direction!,
    variant: r.variant!,
    metric: r.metric!,
    value: Number(r.value),
    paper: r.paper === "" ? null : Number(r.paper),
  }));
}

/** Mean and standard deviation over the seed rows of one model, direction and variant. */
function overSeeds(
  rows: readonly CsvRow[],
): Map<string, { rows: CsvRow[]; mean: number; sd: number }> {
  const groups = new Map<string, CsvRow[]>();
  for (const r of rows) {
    const variant = r.variant.replace(/(^|,)seed=\d+$/, "");
    const key = [r.model, r.direction, variant, r.metric].join("|");
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(r);
  }
  return new Map([...groups].map(([k, rs]) => {
    const mean = rs.reduce((a, r) => a + r.value, 0) / rs.length;
    const sd = rs.length > 1
      ? Math.sqrt(rs.reduce((a, r) => a + (r.value - mean) ** 2, 0) / (rs.length - 1))
      : 0;
    return [k, { rows: rs, mean, sd }];
  }));
}

function provenance(json: TableJson): string {
  const count = (n: number): string => `${n} seed${n === 1 ? "" : "s"}`;
  const others = Object.entries(json.config.seedsByModel ?? {}).map(([name, seeds]) =>
    `${modelLabel(name)}: ${seeds.length}`
  );
  const commits = json.environment.gitCommit.split(" ").map((c) =>
    c.slice(0, 7) + (c.endsWith("+dirty") ? "+dirty" : "")
  );
  return `${count(json.config.seeds.length)}${
    others.length === 0 ? "" : ` (${others.join(", ")})`
  }; ${json.environment.backend} backend; commit${commits.length === 1 ? "" : "s"} ${
    commits.join(", ")
  }`;
}

function learningCurves(table: string): FigureDefinition {
  return {
    name: `learning_curves_${table}`,
    build: async () => {
      const json = await tableJson(table);
      if (json === null) return null;
      const rows = Object.entries(json.jobs).flatMap(([key, job]) => {
        const [name, seedPart] = key.split("/");
        const seed = Number(seedPart!.replace("seed=", ""));
        return job.history.flatMap((h) => [
          {
            model: modelLabel(name!),
            epoch: h.epoch,
            split: "train" as const,
            loss: h.train,
            seed,
          },
          ...(h.validation === undefined ? [] : [{
            model: modelLabel(name!),
            epoch: h.epoch,
            split: "validation" as const,
            loss: h.validation,
            seed,
          }]),
        ]);
      });
      return {
        kind: "svg",
        options: learningCurvesFigure(rows, {
          title: `Learning curves: ${TABLE_TITLES[table]}`,
          subtitle:
            "Mean loss per prediction on the fit and validation sets after each epoch; one line per seed",
          metric: METRICS[table]!,
          columns: table === "temperature" ? 4 : 2,
          // The 1-layer EFA trains 2,000 full-batch epochs, the others at most
          // 200, and the first epochs' MSE is in the thousands.
          ...(table === "temperature" ? { epochScale: "log", lossScale: "log" } as const : {}),
          caption: `experiments/results/${table}.json (${provenance(json)})`,
        }),
      };
    },
  };
}

const movielensRatings: FigureDefinition = {
  name: "movielens_exp2_predicted_rating",
  build: async () => {
    const rows: Parameters<typeof predictedByTruthFigure>[0][number][] = [];
    for (const version of ["v1", "v2"] as const) {
      const csv = await tableCsv(`movielens_exp2_${version}`);
      if (csv === null) return null;
      const groups = overSeeds(csv.filter((r) => r.metric === "mean_predicted_rating"));
      for (const { rows: rs, mean, sd } of groups.values()) {
        const r = rs[0]!;
        rows.push({
          panel: version,
          group: r.direction,
          model: r.model.toUpperCase(),
          truth: Number(/rating=(\d)/.exec(r.variant)![1]),
          predicted: mean,
          sd,
          ...(r.paper === null ? {} : { paper: r.paper }),
        });
      }
    }
    return {
      kind: "svg",
      options: predictedByTruthFigure(rows, {
        title: "MovieLens experiment 2: mean predicted rating by true rating",
        subtitle:
          "Test set; filled dots: ours (mean ± sd over seeds), open circles: the paper's runs; " +
          "dashed: a perfect predictor",
        x: "True rating (3★ → 1, 4★ → 2, 5★ → 3)",
        y: "Mean predicted rating",
        caption: "experiments/results/movielens_exp2_v1.csv and movielens_exp2_v2.csv",
      }),
    };
  },
};

const temperatureByK: FigureDefinition = {
  name: "temperature_fm_by_k",
  build: async () => {
    const csv = await tableCsv("temperature");
    if (csv === null) return null;
    const groups = [...overSeeds(csv.filter((r) => r.metric === "test_mse")).values()];
    const fm = groups.filter((g) => g.rows[0]!.model === "fm").map((g) => ({
      k: Number(/k=(\d+)/.exec(g.rows[0]!.variant)![1]),
      error: g.mean,
      ...(g.rows[0]!.paper === null ? {} : { paper: g.rows[0]!.paper }),
    })).sort((a, b) => a.k - b.k);
    const efa = groups.filter((g) => g.rows[0]!.model === "efa" && !/lag/.test(g.rows[0]!.variant))
      .map((g) => {
        const layers = /layers=(\d)/.exec(g.rows[0]!.variant)![1];
        return { label: `EFA, ${layers} layer${layers === "1" ? "" : "s"}`, value: g.mean };
      });
    return {
      kind: "svg",
      options: errorByKFigure(fm, efa, {
        title: "Temperature: the FM's test error against the number of nearest cities",
        subtitle: "Each city's temperature predicted from its k nearest cities on the same day; " +
          "filled dots: our FM, open circles: the paper's; dashed lines: our EFAs",
        x: "Nearest cities in the context (k)",
        y: "Test MSE (°F²)",
        caption: "experiments/results/temperature.csv",
      }),
    };
  },
};

/** The readings of the lost temperature FM drawn against the paper's curve (`deno task fm-readings`). */
const FM_READINGS_DRAWN = [
  "mean of the k neighbours (no training)",
  "mean, no intercept, raw, batch-128",
  "mean, no intercept, raw, full-batch",
  "sum, no intercept, raw, full-batch",
  "mean, intercept, standardised, full-batch",
  "least squares on the k neighbours, intercept (optimum)",
];

const temperatureFmReadings: FigureDefinition = {
  name: "temperature_fm_readings",
  build: async () => {
    const text = await readText(new URL("temperature_fm_readings.csv", RESULTS));
    if (text === null) return null;
    const rows = parseCsv(text);
    const sums = new Map<string, { sum: number; n: number }>();
    for (const r of rows.filter((r) => FM_READINGS_DRAWN.includes(r.reading!))) {
      const key = `${r.reading}|${r.k}`;
      const g = sums.get(key) ?? sums.set(key, { sum: 0, n: 0 }).get(key)!;
      g.sum += Number(r.test_mse);
      g.n++;
    }
    const curves = [...sums].map(([key, g]) => {
      const [curve, k] = key.split("|");
      return { curve: curve!, k: Number(k), error: g.sum / g.n };
    }).sort((a, b) =>
      FM_READINGS_DRAWN.indexOf(a.curve) - FM_READINGS_DRAWN.indexOf(b.curve) || a.k - b.k
    );
    const paper = [...new Map(rows.map((r) => [Number(r.k), Number(r.paper)]))].map((
      [k, error],
    ) => ({ k, error })).sort((a, b) => a.k - b.k);
    return {
      kind: "svg",
      options: curvesByKFigure(curves, { name: "the paper's FM", points: paper }, {
        title: "Temperature: readings of the paper's lost FM against its published curve",
        subtitle: "Test MSE of each city's temperature from its k nearest cities on the same day " +
          "(trained readings: mean over seeds); none reproduces the paper's curve",
        x: "Nearest cities in the context (k)",
        y: "Test MSE (°F², log scale)",
        caption: "experiments/results/temperature_fm_readings.csv (deno task fm-readings)",
      }),
    };
  },
};

const temperatureMap: FigureDefinition = {
  name: "temperature_map",
  build: async (options) => {
    const json = await tableJson("temperature");
    const job = json?.jobs["efa_4_layers/seed=1"];
    if (json === null || job?.figureData === undefined) return null;
    const { cities } = await loadTemperature(0, options); // by city id, as the error rows
    const points = (job.figureData as CityError[]).map((e) => {
      const city = cities[e.city]!;
      return { name: city.city, longitude: city.longitude, latitude: city.latitude, value: e.mse };
    });
    const topology = states as unknown as Parameters<typeof feature>[0];
    return {
      kind: "svg",
      options: mapFigure(points, feature(topology, topology.objects["states"]!), {
        title: "Temperature: test error of the 4-layer EFA by city",
        subtitle: "Mean squared error of each city's October temperatures, 2017-2019, " +
          "predicted from the other 43 cities on the same day",
        color: "Test MSE (°F²)",
        caption: "experiments/results/temperature.json (seed 1); state boundaries: us-atlas " +
          "(U.S. Census Bureau), Albers equal-area projection",
      }),
    };
  },
};

function syntheticRules(direction: "unidirectional" | "bidirectional"): FigureDefinition {
  return {
    name: `synthetic_rules_${direction}`,
    build: async () => {
      const json = await tableJson("synthetic");
      if (json === null) return null;
      const rows = (["efa", "fm"] as const).flatMap((model) => {
        const data = json.jobs[`${model}_${direction}/seed=1`]?.figureData as
          | RuleSummary[]
          | undefined;
        return (data ?? []).map((g) => ({
          panel: `movie ${g.movie}`,
          model: model.toUpperCase(),
          truth: g.truth,
          mean: g.mean,
          low: g.q10,
          high: g.q90,
        }));
      });
      if (rows.length === 0) return null;
      return {
        kind: "svg",
        options: ruleFigure(rows, {
          title: `Synthetic ratings: predicted against true conditional mean (${direction})`,
          subtitle:
            "Test predictions grouped by movie and by the rule that set the rating's mean; " +
            "dot: mean prediction, bar: 10-90% of predictions, grey tick: the true mean",
          x: "True conditional mean",
          y: "Predicted mean",
          caption:
            "Rules: movie 2 after movie 1 → 1, else 5; 4 right after 3 → 1; 3 right after 4 → 1; " +
            "5 watched last → 5; otherwise 3. experiments/results/synthetic.json (seed 1)",
        }),
      };
    },
  };
}

/** The two test baskets of the attention figures: test examples 15-24 and 50-59 (docs/EFA.md 3.2). */
const ATTENTION_EXAMPLES = [15, 50] as const;

/** The Instacart data with product names, loaded once for all its figures. */
const instacartData = new Map<string, ReturnType<typeof loadDataset>>();
function instacartWithNames(options: LoadOptions): ReturnType<typeof loadDataset> {
  const key = options.dataDir ?? "";
  if (!instacartData.has(key)) {
    instacartData.set(key, loadDataset("instacart", { ...options, productNames: true }));
  }
  return instacartData.get(key)!;
}

async function instacartModel(name: string): Promise<Model | null> {
  // Only a finished table's models: a checkpointed run also saves its first models.
  if ((await tableJson("instacart")) === null) return null;
  const text = await readText(savedModelUrl("instacart", name, ""));
  return text === null ? null : loadModel(text);
}

/**
 * Short labels as in the viz notebook: initials, `Organic` → `O`; a
 * parenthesised note is left out ("Organic Garnet Sweet Potato (Yam)" → "OGSP").
 */
export function abbreviate(name: string): string {
  return name.replace(/\([^)]*\)/g, " ").split(/[^\p{L}\p{N}]+/u).filter((w) => w !== "")
    .map((w) => w[0]!.toUpperCase()).join("");
}

function instacartAttention(basket: 0 | 1, layer: 0 | 1): FigureDefinition {
  return {
    name: `instacart_attention_basket${basket === 0 ? "A" : "B"}_layer${layer + 1}`,
    readsDownloadedData: true,
    build: async (options) => {
      const model = await instacartModel("efa_unidirectional");
      if (model === null) return null;
      const data = await instacartWithNames(options);
      // The sequence holding test example `first` (examples are numbered sequence by sequence).
      let first: number = ATTENTION_EXAMPLES[basket], s = 0;
      while (first >= data.test.items[s]!.length) first -= data.test.items[s++]!.length;
      const items = Array.from(data.test.items[s]!);
      const names = items.map((id) => data.itemNames?.[id] ?? `item ${id}`);
      const matrix = items.map((_, position) => {
        const w = attentionWeights(model, data.test, s, position)[layer]!; // [head][query][key]
        return items.map((_, key) =>
          w.reduce((sum, head) => sum + head[position]![key]!, 0) / w.length
        );
      });
      disposeModel(model);
      const labels = names.map(abbreviate);
      return {
        kind: "svg",
        options: heatmapFigure(matrix, {
          title: `Instacart: attention of the unidirectional EFA, basket ${
            basket === 0 ? "A" : "B"
          }, layer ${layer + 1}`,
          subtitle: `Row i: the basket with item i masked; weights averaged over the two heads. ${
            names.map((n, i) => `${labels[i]} = ${n}`).join(", ")
          }`,
          rows: labels.map((l, i) => `${i + 1} ${l}`),
          columns: labels.map((l, i) => `${i + 1} ${l}`),
          x: "Attended position",
          y: "Masked query",
          color: "Attention weight (clipped at 0.25)",
          clip: 0.25,
          caption: "experiments/results/models/instacart/efa_unidirectional.json (seed 1); " +
            `test examples ${ATTENTION_EXAMPLES[basket]}-${ATTENTION_EXAMPLES[basket] + 9}`,
        }),
      };
    },
  };
}

function instacartEmbedding(part: "query" | "key" | "value", head: 0 | 1): FigureDefinition {
  return {
    name: `instacart_${part}_embeddings_head${head + 1}`,
    build: async () => {
      const model = await instacartModel("efa_unidirectional");
      if (model === null) return null;
      if (model.kind !== "efa") throw new TypeError("expected the saved Instacart EFA");
      const { keyDim, numItems } = model.config;
      const alpha = param(model.params, "item.embedding").arraySync() as number[][]; // [J+2, W]
      const kernel = param(model.params, `layer0.attention.${part}.kernel`)
        .arraySync() as number[][]; // [W, H*K]
      const bias = param(model.params, `layer0.attention.${part}.bias`).arraySync() as number[]; // [H*K]
      disposeModel(model);
      const matrix = Array.from(
        { length: numItems },
        (_, j) =>
          Array.from({ length: keyDim }, (_, d) => {
            const c = head * keyDim + d;
            return alpha[j + 1]!.reduce((sum, a, w) => sum + a * kernel[w]![c]!, bias[c]!);
          }),
      );
      const ordinal = head === 0 ? "1st" : "2nd";
      return {
        kind: "svg",
        options: heatmapFigure(matrix, {
          title: `${part[0]!.toUpperCase()}${
            part.slice(1)
          } embeddings (${ordinal} head, 1st layer)`,
          subtitle:
            `Instacart unidirectional EFA: α W + b for the 63 items (rows) and the head's 16 dimensions`,
          x: "Dimension",
          y: "Item",
          color: "Value",
          diverging: true,
          ticks: false,
          cell: 8,
          caption: "experiments/results/models/instacart/efa_unidirectional.json (seed 1)",
        }),
      };
    },
  };
}

const instacartSimilarItems: FigureDefinition = {
  name: "instacart_similar_items",
  readsDownloadedData: true,
  build: async (options) => {
    const data = await instacartWithNames(options);
    const sections: string[] = [];
    for (
      const name of [
        "efa_unidirectional",
        "efa_bidirectional",
        "fm_unidirectional",
        "fm_bidirectional",
      ]
    ) {
      const model = await instacartModel(name);
      if (model === null) return null;
      const top = similarItems(model, 5);
      disposeModel(model);
      const label = (id: number) => data.itemNames?.[id] ?? `item ${id}`;
      sections.push(
        `### ${modelLabel(name)}\n\n| Item | Top 5 most similar |\n| --- | --- |\n` +
          top.map((t, j) => `| ${label(j + 1)} | ${t.map(label).join("; ")} |`).join("\n"),
      );
    }
    return {
      kind: "markdown",
      text: "# Instacart: top-5 most similar items\n\n" +
        "Generated by `deno task figures` from the first-seed models in `experiments/results/models/instacart/`. " +
        "Similarity `S = αW + (αW)ᵀ` with α the item rows of the input embedding (pad and mask excluded) " +
        "and W the unembedding (the FM's context and output embeddings); the diagonal is excluded.\n\n" +
        sections.join("\n\n") + "\n",
    };
  },
};

/**
 * The `count` most similar items of every item under `S = αW + (αW)^T`,
 * diagonal excluded: item ids (1-based) per item.
 */
export function similarItems(model: Model, count: number): number[][] {
  const alphaName = model.kind === "efa" ? "item.embedding" : "alpha";
  const wName = "itemOutput.kernel";
  const alphaAll = param(model.params, alphaName).arraySync() as number[][]; // [J+2 or J+1, D]
  const w = param(model.params, wName).arraySync() as number[][]; // [D, J]
  const J = w[0]!.length;
  const alpha = alphaAll.slice(1, J + 1); // items 1..J
  const aw = alpha.map((a) => w[0]!.map((_, k) => a.reduce((s, v, d) => s + v * w[d]![k]!, 0)));
  return aw.map((_, i) =>
    aw.map((_, j) => ({ j, s: aw[i]![j]! + aw[j]![i]! }))
      .filter(({ j }) => j !== i)
      .sort((a, b) => b.s - a.s)
      .slice(0, count)
      .map(({ j }) => j + 1)
  );
}

const identifiability: FigureDefinition = {
  name: "identifiability",
  build: async () => {
    const text = await readText(new URL("identifiability.csv", RESULTS));
    if (text === null) return null;
    const rows = parseCsv(text).map((r) => ({
      block: `${r.block} (${r.family})`,
      comparison: r.comparison!.replaceAll("_", " "),
      sequences: Number(r.n_sequences),
      r2: Number(r.r2),
    }));
    return {
      kind: "svg",
      options: alignmentFigure(rows, {
        title: "Identifiability: trained EFA parameters against the truth, up to a linear map",
        subtitle: "R² of the least-squares affine map from a learned block onto the true one " +
          "(natural parameters: as they are); points: seeds, lines: their mean; " +
          "below 0: worse than predicting the mean",
        caption: "experiments/results/identifiability.csv",
      }),
    };
  },
};

/** Every figure, in the order `deno task figures` writes them. */
export const FIGURES: readonly FigureDefinition[] = [
  ...Object.keys(TABLE_TITLES).map(learningCurves),
  movielensRatings,
  temperatureByK,
  temperatureFmReadings,
  temperatureMap,
  syntheticRules("unidirectional"),
  syntheticRules("bidirectional"),
  instacartAttention(0, 0),
  instacartAttention(0, 1),
  instacartAttention(1, 0),
  instacartAttention(1, 1),
  ...(["query", "key", "value"] as const).flatMap((
    p,
  ) => [instacartEmbedding(p, 0), instacartEmbedding(p, 1)]),
  instacartSimilarItems,
  identifiability,
];

/** Renders one figure to its file contents (normalised SVG or markdown), or `null` when its inputs are missing. */
export async function renderFigure(
  figure: FigureDefinition,
  options: LoadOptions = {},
): Promise<string | null> {
  const out = await figure.build(options);
  if (out === null) return null;
  if (out.kind === "markdown") return out.text;
  const { document } = parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as {
    document: unknown;
  };
  return normalizeSvg(renderSvg(out.options, { document }));
}

/** The file a figure is written to. */
export function figureFile(figure: FigureDefinition): URL {
  const text = figure.name === "instacart_similar_items" ? ".md" : ".svg";
  return new URL(`${figure.name}${text}`, FIGURES_DIR);
}

/**
 * Writes every figure whose inputs exist (or only the one named) to
 * `experiments/results/figures/`, removing stale `-changed` files; prints one
 * line per figure.
 */
export async function writeFigures(options: LoadOptions = {}, only?: string): Promise<void> {
  await Deno.mkdir(FIGURES_DIR, { recursive: true });
  for (const figure of FIGURES) {
    if (only !== undefined && figure.name !== only) continue;
    const start = performance.now();
    let out: string | null;
    try {
      out = await renderFigure(figure, options);
    } catch (error) {
      if (!(error instanceof MissingDataError)) throw error;
      // deno-lint-ignore no-console -- progress of the script
      console.log(`skipped ${figure.name}: ${error.message}`);
      continue;
    }
    const file = figureFile(figure);
    if (out === null) {
      // deno-lint-ignore no-console -- progress of the script
      console.log(`skipped ${figure.name}: its results do not exist yet`);
      continue;
    }
    await writeAtomically(file, out);
    await Deno.remove(new URL(file.href.replace(/\.(svg|md)$/, "-changed.$1"))).catch(() => {});
    // deno-lint-ignore no-console -- progress of the script
    console.log(`wrote ${file.pathname} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { only: { type: "string" }, "data-dir": { type: "string" } },
  });
  if (values.only !== undefined && !FIGURES.some((f) => f.name === values.only)) {
    // deno-lint-ignore no-console -- usage error
    console.error(
      `figures: unknown figure ${JSON.stringify(values.only)}; expected one of ${
        FIGURES.map((f) => f.name).join(", ")
      }`,
    );
    Deno.exit(2);
  }
  await writeFigures(
    values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] },
    values.only,
  );
}
