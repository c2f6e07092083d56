/**
 * Figures of the paper's analyses with Observable Plot: pure builders that
 * take rows and return Plot options, and {@link renderSvg}, which renders
 * options to one standalone SVG document (title, legend, plot and caption
 * in a single `<svg>`) with a DOM implementation the caller passes in. The
 * package never imports a DOM implementation itself: the experiments use
 * `linkedom`, a browser page can pass `window.document`.
 *
 * @example Render a learning curve headlessly
 * ```ts
 * import { learningCurvesFigure, renderSvg } from "@efa/efa/plot";
 * import { parseHTML } from "linkedom";
 * import assert from "node:assert/strict";
 *
 * // linkedom's types describe a browser window; only its document is needed.
 * const { document } = parseHTML("<html><body></body></html>") as unknown as { document: unknown };
 * const rows = [1, 2, 3].flatMap((epoch) => [
 *   { model: "EFA", epoch, split: "train" as const, loss: 3 - epoch / 10 },
 *   { model: "EFA", epoch, split: "validation" as const, loss: 3.1 - epoch / 20 },
 * ]);
 * const svg = renderSvg(learningCurvesFigure(rows, { title: "Demo", metric: "Loss (nats)" }), { document });
 * assert.ok(svg.startsWith("<svg") && svg.includes("Demo"));
 * ```
 *
 * @module
 */
import * as Plot from "@observablehq/plot";

/** The options of an Observable Plot figure, as every `...Figure` function here returns them (re-exported from `@observablehq/plot`). */
export type PlotOptions = Plot.PlotOptions;

/** Options every figure builder takes. */
export interface FigureText {
  /** The title above the plot. */
  readonly title: string;
  /** A line under the title (default none). */
  readonly subtitle?: string;
  /** A note under the plot: data source, settings (default none). */
  readonly caption?: string;
}

/** Tableau-10's first colours, the series colours of every figure. */
const SERIES = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
] as const;

function text(t: FigureText): Pick<PlotOptions, "title" | "subtitle" | "caption"> {
  return {
    title: t.title,
    ...(t.subtitle === undefined ? {} : { subtitle: t.subtitle }),
    ...(t.caption === undefined ? {} : { caption: t.caption }),
  };
}

/** Lays out `count` facets in a grid of `columns`: the facet's column and row. */
function grid(index: number, columns: number): { col: number; row: number } {
  return { col: index % columns, row: Math.floor(index / columns) };
}

/** One point of a learning curve. */
export interface LearningCurveRow {
  /** The model (one facet per model). */
  readonly model: string;
  /** The epoch, from 1. */
  readonly epoch: number;
  /** Which loss. */
  readonly split: "train" | "validation";
  /** The mean loss per prediction. */
  readonly loss: number;
  /** The seed when several runs are drawn (one line each; default 1). */
  readonly seed?: number;
}

/**
 * Train and validation loss per epoch, one panel per model (a grid of
 * `columns`), one line per seed and split.
 *
 * @param rows The curves.
 * @param options Title, the loss's axis label, columns (default 3), and the
 *   scales of the epoch and loss axes (default `"linear"`; `"log"` when the
 *   models train for very different numbers of epochs, or the first epochs'
 *   loss dwarfs the rest).
 * @returns The Plot options.
 *
 * @example Two models
 * ```ts
 * import { learningCurvesFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const rows = ["EFA", "FM"].flatMap((model) =>
 *   [1, 2].map((epoch) => ({ model, epoch, split: "train" as const, loss: 1 / epoch }))
 * );
 * const options = learningCurvesFigure(rows, { title: "Curves", metric: "MSE" });
 * assert.equal(options.title, "Curves");
 * ```
 */
export function learningCurvesFigure(
  rows: readonly LearningCurveRow[],
  options: FigureText & {
    readonly metric: string;
    readonly columns?: number;
    readonly epochScale?: "linear" | "log";
    readonly lossScale?: "linear" | "log";
  },
): PlotOptions {
  const models = [...new Set(rows.map((r) => r.model))];
  const columns = Math.min(options.columns ?? 3, models.length);
  const place = new Map(models.map((m, i) => [m, grid(i, columns)]));
  const data = rows.map((r) => ({
    ...r,
    series: `${r.split} ${r.seed ?? 1}`,
    col: place.get(r.model)!.col,
    row: place.get(r.model)!.row,
  }));
  const labels = models.map((m) => ({ model: m, ...place.get(m)! }));
  const rowsOfFacets = Math.ceil(models.length / columns);
  return {
    ...text(options),
    width: 220 * columns + 80,
    height: 170 * rowsOfFacets + 60,
    marginLeft: 56,
    marginTop: 24,
    fx: { axis: null, padding: 0.12 },
    fy: { axis: null, padding: 0.18 },
    x: { label: "Epoch", grid: true, type: options.epochScale ?? "linear" },
    y: options.lossScale === "log"
      ? { label: `${options.metric}, log scale`, grid: true, type: "log" }
      : { label: options.metric, grid: true, zero: false },
    color: {
      domain: ["train", "validation"],
      range: [SERIES[0], SERIES[1]],
      legend: true,
      label: "Loss",
    },
    marks: [
      Plot.frame({ stroke: "#ddd" }),
      Plot.line(data, {
        x: "epoch",
        y: "loss",
        z: "series",
        stroke: "split",
        strokeWidth: 1.2,
        fx: "col",
        fy: "row",
      }),
      Plot.text(labels, {
        fx: "col",
        fy: "row",
        text: "model",
        frameAnchor: "top-right",
        dx: -4,
        dy: 4,
        fontWeight: "bold",
      }),
    ],
  };
}

/** Mean prediction for one true value (MovieLens experiment 2: per true rating). */
export interface PredictedByTruthRow {
  /** A panel column (e.g. the Poisson variant, `v1`). */
  readonly panel: string;
  /** A panel row (e.g. the direction). */
  readonly group: string;
  /** The model (colour). */
  readonly model: string;
  /** The true value. */
  readonly truth: number;
  /** Our mean prediction (over test examples and seeds). */
  readonly predicted: number;
  /** Standard deviation over seeds (default 0: no error bar). */
  readonly sd?: number;
  /** The paper's mean prediction, drawn as an open circle, when known. */
  readonly paper?: number;
}

/**
 * Mean predicted value against the true value, per model, with the paper's
 * numbers as open circles and the diagonal of a perfect predictor.
 *
 * @param rows One row per panel, group, model and true value.
 * @param options Title and axis labels.
 * @returns The Plot options.
 *
 * @example One panel
 * ```ts
 * import { predictedByTruthFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const rows = [1, 2, 3].map((truth) => ({
 *   panel: "v1", group: "unidirectional", model: "EFA", truth, predicted: 1.8 + truth / 10,
 * }));
 * const options = predictedByTruthFigure(rows, { title: "Ratings", x: "True rating", y: "Predicted" });
 * assert.equal(options.marks!.length > 0, true);
 * ```
 */
export function predictedByTruthFigure(
  rows: readonly PredictedByTruthRow[],
  options: FigureText & { readonly x: string; readonly y: string },
): PlotOptions {
  const models = [...new Set(rows.map((r) => r.model))];
  const truths = [...new Set(rows.map((r) => r.truth))].sort((a, b) => a - b);
  const lo = truths[0] ?? 0, hi = truths[truths.length - 1] ?? 1;
  const diagonal = [...new Set(rows.map((r) => `${r.panel}\u0000${r.group}`))].flatMap((k) => {
    const [panel, group] = k.split("\u0000");
    return [{ panel, group, x: lo, y: lo }, { panel, group, x: hi, y: hi }];
  });
  const paper = rows.filter((r) => r.paper !== undefined);
  return {
    ...text(options),
    width: 640,
    height: 460,
    marginRight: 110,
    x: { label: options.x, ticks: truths, tickFormat: "d", inset: 20 },
    y: { label: options.y, grid: true },
    fy: { label: null },
    fx: { label: null },
    color: { domain: models, range: SERIES.slice(0, models.length), legend: true },
    marks: [
      Plot.frame({ stroke: "#ddd" }),
      Plot.line(diagonal, {
        x: "x",
        y: "y",
        fx: "panel",
        fy: "group",
        stroke: "#bbb",
        strokeDasharray: "4 3",
      }),
      Plot.ruleX(rows.filter((r) => (r.sd ?? 0) > 0), {
        x: "truth",
        y1: (r: PredictedByTruthRow) => r.predicted - r.sd!,
        y2: (r: PredictedByTruthRow) => r.predicted + r.sd!,
        stroke: "model",
        fx: "panel",
        fy: "group",
      }),
      Plot.line(rows, { x: "truth", y: "predicted", stroke: "model", fx: "panel", fy: "group" }),
      Plot.dot(rows, {
        x: "truth",
        y: "predicted",
        fill: "model",
        r: 3.5,
        fx: "panel",
        fy: "group",
      }),
      Plot.dot(paper, {
        x: "truth",
        y: "paper",
        stroke: "model",
        r: 6,
        fx: "panel",
        fy: "group",
      }),
    ],
  };
}

/** One point of the FM-against-k curve. */
export interface ErrorByKRow {
  /** Nearest neighbours in the context. */
  readonly k: number;
  /** Test error (mean over seeds). */
  readonly error: number;
  /** The paper's error at this k, drawn as open circles when given. */
  readonly paper?: number;
}

/** A horizontal reference line (e.g. an EFA's error). */
export interface ReferenceLine {
  /** What the line marks, drawn beside it. */
  readonly label: string;
  /** Where it is drawn, in the y axis' units. */
  readonly value: number;
}

/**
 * The FM's test error against the number of nearest cities k, with
 * horizontal reference lines (the EFA models' errors) and, where rows carry
 * it, the paper's error per k (open circles, dashed line).
 *
 * @param rows The FM's error per k.
 * @param references The reference lines.
 * @param options Title and axis labels.
 * @returns The Plot options.
 *
 * @example
 * ```ts
 * import { errorByKFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const options = errorByKFigure(
 *   [{ k: 1, error: 30 }, { k: 5, error: 20 }, { k: 40, error: 25 }],
 *   [{ label: "EFA, 1 layer", value: 15 }],
 *   { title: "FM against k", x: "k", y: "MSE" },
 * );
 * assert.equal(options.x!.label, "k");
 * ```
 */
export function errorByKFigure(
  rows: readonly ErrorByKRow[],
  references: readonly ReferenceLine[],
  options: FigureText & { readonly x: string; readonly y: string },
): PlotOptions {
  return {
    ...text(options),
    width: 640,
    height: 400,
    marginRight: 120,
    x: { label: options.x, grid: true },
    y: { label: options.y, grid: true, zero: true },
    marks: [
      Plot.ruleY(references, { y: "value", stroke: SERIES[1], strokeDasharray: "5 3" }),
      Plot.text(spreadLabels(references, rows), {
        y: "labelY",
        text: "label",
        frameAnchor: "right",
        textAnchor: "start",
        dx: 6,
        fill: SERIES[1],
      }),
      ...paperSeries(rows.filter((r) => r.paper !== undefined)),
      Plot.line(rows, { x: "k", y: "error", stroke: SERIES[0] }),
      Plot.dot(rows, { x: "k", y: "error", fill: SERIES[0], r: 3.5 }),
      endLabel(rows, "error", "FM"),
    ],
  };
}

/** One point of a named curve against k (see {@link curvesByKFigure}). */
export interface CurvePoint {
  /** The curve's name (its colour and legend entry). */
  readonly curve: string;
  /** Nearest neighbours in the context. */
  readonly k: number;
  /** Test error. */
  readonly error: number;
}

/**
 * Several curves of test error against k in one frame, coloured by name with
 * a legend, and a reference curve (the paper's) in black, dashed, with open
 * circles; a log scale for the error.
 *
 * @param curves The points of every curve.
 * @param reference The reference curve's points and its name.
 * @param options Title and axis labels.
 * @returns The Plot options.
 *
 * @example
 * ```ts
 * import { curvesByKFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const options = curvesByKFigure(
 *   [{ curve: "mean", k: 1, error: 30 }, { curve: "mean", k: 5, error: 20 }],
 *   { name: "paper", points: [{ k: 1, error: 37 }, { k: 5, error: 23 }] },
 *   { title: "Readings against k", x: "k", y: "MSE" },
 * );
 * assert.equal(options.y!.type, "log");
 * ```
 */
export function curvesByKFigure(
  curves: readonly CurvePoint[],
  reference: { readonly name: string; readonly points: readonly { k: number; error: number }[] },
  options: FigureText & { readonly x: string; readonly y: string },
): PlotOptions {
  const names = [...new Set(curves.map((c) => c.curve))];
  return {
    ...text(options),
    width: 640,
    height: 440,
    x: { label: options.x, grid: true },
    y: { label: options.y, grid: true, type: "log" },
    color: { domain: names, range: SERIES.slice(0, names.length), legend: true },
    marks: [
      Plot.line(reference.points, { x: "k", y: "error", stroke: "black", strokeDasharray: "4 3" }),
      Plot.dot(reference.points, { x: "k", y: "error", stroke: "black", fill: "white", r: 3.5 }),
      Plot.text(reference.points.slice(-1), {
        x: "k",
        y: "error",
        text: () => reference.name,
        dx: -8,
        dy: -10,
        textAnchor: "end",
      }),
      Plot.line(curves, { x: "k", y: "error", stroke: "curve" }),
      Plot.dot(curves, { x: "k", y: "error", fill: "curve", r: 2.5 }),
    ],
  };
}

/** One model of a comparison (see `compare`): its held-out loss and interval. */
export interface ComparisonRow {
  /** The model's name (a row of the figure). */
  readonly name: string;
  /** `"efa"`, `"fm"` or `"baseline"` (drawn in three colours). */
  readonly kind: "efa" | "fm" | "baseline";
  /** Its held-out loss. */
  readonly loss: number;
  /** The lower end of its interval. */
  readonly low: number;
  /** The upper end of its interval. */
  readonly high: number;
}

/**
 * Held-out loss per model with its confidence interval, one row per model
 * in the order given (best first), EFA, the FM and the simple baselines in three colours.
 *
 * @param rows The models.
 * @param options Title and the loss's label.
 * @returns The Plot options.
 *
 * @example
 * ```ts
 * import { comparisonFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const options = comparisonFigure([
 *   { name: "2 layers", kind: "efa", loss: 3.1, low: 2.9, high: 3.4 },
 *   { name: "mean", kind: "baseline", loss: 5.2, low: 4.8, high: 5.5 },
 * ], { title: "Held-out loss", x: "squared error" });
 * assert.equal(options.x!.label, "squared error");
 * ```
 */
export function comparisonFigure(
  rows: readonly ComparisonRow[],
  options: FigureText & { readonly x: string },
): PlotOptions {
  return {
    ...text(options),
    width: 640,
    height: 60 + 28 * rows.length,
    marginLeft: 140,
    x: { label: options.x, grid: true },
    y: { label: null, domain: rows.map((r) => r.name) },
    color: {
      domain: ["efa", "fm", "baseline"],
      range: [SERIES[0], SERIES[2], SERIES[1]],
      legend: true,
    },
    marks: [
      Plot.ruleY(rows, { y: "name", x1: "low", x2: "high", stroke: "kind", strokeWidth: 2 }),
      Plot.dot(rows, { y: "name", x: "loss", fill: "kind", r: 4 }),
    ],
  };
}

/**
 * The reference lines with a label position `labelY`: their values, pushed
 * apart upwards so that labels are at least 12 px apart on the 400-px plot
 * (whose y axis runs from 0 to the largest value drawn).
 */
function spreadLabels(
  references: readonly ReferenceLine[],
  rows: readonly ErrorByKRow[],
): (ReferenceLine & { labelY: number })[] {
  const top = Math.max(
    ...references.map((r) => r.value),
    ...rows.map((r) => r.error),
    ...rows.map((r) => r.paper ?? 0),
  );
  const gap = (12 / 340) * top; // 340 px: the frame's height at 400 px with the default margins
  const sorted = [...references].sort((a, b) => a.value - b.value);
  const out: (ReferenceLine & { labelY: number })[] = [];
  for (const r of sorted) {
    const below = out.at(-1)?.labelY;
    out.push({ ...r, labelY: below === undefined ? r.value : Math.max(r.value, below + gap) });
  }
  return out;
}

/** A curve's name, written to the right of its last point. */
function endLabel(rows: readonly ErrorByKRow[], y: "error" | "paper", label: string): Plot.Markish {
  return Plot.text(rows.slice(-1), {
    x: "k",
    y,
    text: () => label,
    dx: 8,
    textAnchor: "start",
    fill: SERIES[0],
  });
}

/** The paper's FM curve of {@link errorByKFigure}: open circles on a dashed line, labelled at its end. */
function paperSeries(rows: readonly ErrorByKRow[]): Plot.Markish[] {
  if (rows.length === 0) return [];
  const style = { x: "k", y: "paper", stroke: SERIES[0], strokeOpacity: 0.6 };
  return [
    Plot.line(rows, { ...style, strokeDasharray: "2 3" }),
    Plot.dot(rows, { ...style, r: 3.5, fill: "white" }),
    endLabel(rows, "paper", "FM, paper"),
  ];
}

/** Options of {@link heatmapFigure}. */
export interface HeatmapOptions extends FigureText {
  /** Column labels (default: column indices, and no ticks when `ticks` is false). */
  readonly columns?: readonly string[];
  /** Row labels (default: row indices). */
  readonly rows?: readonly string[];
  /** Axis label of the columns. */
  readonly x: string;
  /** Axis label of the rows. */
  readonly y: string;
  /** The colour legend's label. */
  readonly color: string;
  /** Upper end of the colour scale: larger values get its colour (default: the maximum). */
  readonly clip?: number;
  /** Diverging scale centred on 0 (embeddings) instead of sequential from 0 (weights). */
  readonly diverging?: boolean;
  /** Draw tick labels (default true). */
  readonly ticks?: boolean;
  /** Cell size in pixels (default 28). */
  readonly cell?: number;
}

/**
 * A matrix as a grid of coloured cells: attention weights (rows = the masked
 * query, columns = the attended items, colour clipped at `clip`) or
 * embeddings (rows = items, columns = dimensions, diverging colours).
 *
 * @param matrix Rows of equal length.
 * @param options Labels and colour scale.
 * @returns The Plot options.
 *
 * @example A 2x2 attention matrix
 * ```ts
 * import { heatmapFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const options = heatmapFigure([[0.9, 0.1], [0.4, 0.6]], {
 *   title: "Attention", rows: ["a", "b"], columns: ["a", "b"], x: "Key", y: "Query",
 *   color: "Weight", clip: 0.25,
 * });
 * assert.deepEqual((options.color as { domain: number[] }).domain, [0, 0.25]);
 * ```
 */
export function heatmapFigure(
  matrix: readonly (readonly number[])[],
  options: HeatmapOptions,
): PlotOptions {
  const n = matrix.length, m = matrix[0]?.length ?? 0;
  if (n === 0 || m === 0 || matrix.some((r) => r.length !== m)) {
    throw new RangeError(
      `heatmapFigure(): expected matrix to be non-empty with rows of equal length, got row lengths ${
        matrix.map((r) => r.length).join(", ") || "none"
      }`,
    );
  }
  const rowLabels = options.rows ?? Array.from({ length: n }, (_, i) => String(i + 1));
  const columnLabels = options.columns ?? Array.from({ length: m }, (_, j) => String(j + 1));
  const cells = matrix.flatMap((r, i) =>
    r.map((value, j) => ({ row: rowLabels[i]!, column: columnLabels[j]!, value }))
  );
  const values = cells.map((c) => c.value);
  const max = Math.max(...values), min = Math.min(...values);
  const cell = options.cell ?? 28;
  const ticks = options.ticks ?? true;
  const bound = Math.max(Math.abs(min), Math.abs(max));
  // Square cells; at least 440 px wide so that titles, legend and caption fit (the rest is right margin).
  const marginLeft = ticks ? 90 : 40;
  const width = Math.max(440, cell * m + (ticks ? 110 : 60));
  return {
    ...text(options),
    width,
    height: cell * n + (ticks ? 90 : 60),
    marginLeft,
    marginRight: width - marginLeft - cell * m,
    marginBottom: ticks ? 60 : 30,
    padding: 0,
    x: {
      label: options.x,
      domain: columnLabels,
      ...(ticks ? { tickRotate: -45 } : { ticks: [] }),
    },
    y: { label: options.y, domain: rowLabels, ...(ticks ? {} : { ticks: [] }) },
    color: options.diverging === true
      ? {
        type: "linear",
        scheme: "RdBu",
        domain: [-bound, bound],
        nice: true, // ticks inside the ramp, not a clipped label at its left end
        legend: true,
        label: options.color,
      }
      : {
        type: "linear",
        scheme: "Blues",
        domain: [0, options.clip ?? max],
        clamp: true,
        legend: true,
        label: options.color,
      },
    marks: [
      Plot.cell(cells, { x: "column", y: "row", fill: "value", inset: 0.5 }),
    ],
  };
}

/** A city (or any located unit) with a value to colour it by. */
export interface LocatedValue {
  /** Its name (a tooltip and the label of the largest values). */
  readonly name: string;
  /** Longitude in degrees east. */
  readonly longitude: number;
  /** Latitude in degrees north. */
  readonly latitude: number;
  /** The value its colour shows. */
  readonly value: number;
}

/**
 * A map of the United States (an Albers equal-area projection with Alaska
 * and Hawaii inset) with points coloured by value. Every point is drawn;
 * where names would overlap, only the point with the larger value is named.
 *
 * @param points The located values.
 * @param states The states' boundaries as GeoJSON (e.g. from `us-atlas`).
 * @param options Title and the colour legend's label.
 * @returns The Plot options.
 *
 * @example
 * ```ts
 * import { mapFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const states = { type: "FeatureCollection", features: [] };
 * const options = mapFigure(
 *   [{ name: "Denver", longitude: -104.99, latitude: 39.74, value: 25 }],
 *   states,
 *   { title: "Test MSE by city", color: "MSE" },
 * );
 * assert.equal((options.projection as { type: string }).type, "albers-usa");
 * ```
 */
export function mapFigure(
  points: readonly LocatedValue[],
  states: unknown,
  options: FigureText & { readonly color: string },
): PlotOptions {
  return {
    ...text(options),
    width: 760,
    height: 480,
    projection: { type: "albers-usa" },
    color: { type: "linear", scheme: "YlOrRd", legend: true, label: options.color, zero: true },
    marks: [
      Plot.geo(states as Plot.GeoOptions["geometry"] & object, {
        fill: "#f4f4f4",
        stroke: "#999",
        strokeWidth: 0.6,
      }),
      Plot.dot(points, {
        x: "longitude",
        y: "latitude",
        fill: "value",
        r: 7,
        stroke: "#333",
        strokeWidth: 0.6,
      }),
      Plot.text(unclutteredLabels(points), {
        x: "longitude",
        y: "latitude",
        text: "name",
        dy: -11,
        fontSize: 8,
        fill: "#333",
      }),
    ],
  };
}

/**
 * The points that keep their label on the map: from the largest value down,
 * a point is labelled unless a labelled point lies within 1.3° of latitude
 * and 4° of longitude (a label's height and about its width at this scale).
 */
function unclutteredLabels(points: readonly LocatedValue[]): LocatedValue[] {
  const labelled: LocatedValue[] = [];
  for (const p of [...points].sort((a, b) => b.value - a.value)) {
    const near = labelled.some((q) =>
      Math.abs(q.latitude - p.latitude) < 1.3 && Math.abs(q.longitude - p.longitude) < 4
    );
    if (!near) labelled.push(p);
  }
  return labelled;
}

/** Predictions of one group (e.g. one rule of the synthetic data) by one model. */
export interface RuleRow {
  /** The panel (e.g. the movie). */
  readonly panel: string;
  /** The model (colour, offset side by side). */
  readonly model: string;
  /** The true conditional mean. */
  readonly truth: number;
  /** The mean prediction. */
  readonly mean: number;
  /** The 10th percentile of the predictions. */
  readonly low: number;
  /** The 90th percentile of the predictions. */
  readonly high: number;
}

/**
 * Predicted against true conditional mean, one panel per rule, models side
 * by side: the mean prediction and the 10-90% range of the predictions, the
 * true means as grey ticks.
 *
 * @param rows One row per panel, model and true mean.
 * @param options Title and axis labels.
 * @returns The Plot options.
 *
 * @example
 * ```ts
 * import { ruleFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const options = ruleFigure(
 *   [{ panel: "movie 2", model: "EFA", truth: 1, mean: 1.1, low: 0.8, high: 1.4 }],
 *   { title: "Rules", x: "True conditional mean", y: "Predicted mean" },
 * );
 * assert.equal(options.y!.label, "Predicted mean");
 * ```
 */
export function ruleFigure(
  rows: readonly RuleRow[],
  options: FigureText & { readonly x: string; readonly y: string },
): PlotOptions {
  const models = [...new Set(rows.map((r) => r.model))];
  const truths = [...new Set(rows.map((r) => r.truth))].sort((a, b) => a - b);
  const offset = (model: string): number =>
    (models.indexOf(model) - (models.length - 1) / 2) * 0.35;
  const data = rows.map((r) => ({ ...r, at: r.truth + offset(r.model) }));
  const ticks = [...new Set(rows.map((r) => `${r.panel}\u0000${r.truth}`))].map((k) => {
    const [panel, truth] = k.split("\u0000");
    return { panel, truth: Number(truth) };
  });
  return {
    ...text(options),
    width: 760,
    height: 360,
    marginBottom: 40,
    fx: { label: null },
    x: {
      label: options.x,
      ticks: truths,
      tickFormat: "d",
      domain: [truths[0]! - 1, truths[truths.length - 1]! + 1],
    },
    y: { label: options.y, grid: true },
    color: { domain: models, range: SERIES.slice(0, models.length), legend: true },
    marks: [
      Plot.frame({ stroke: "#ddd" }),
      Plot.ruleY(ticks, {
        x1: (t: { truth: number }) => t.truth - 0.45,
        x2: (t: { truth: number }) => t.truth + 0.45,
        y: "truth",
        fx: "panel",
        stroke: "#888",
        strokeWidth: 2,
      }),
      Plot.ruleX(data, { x: "at", y1: "low", y2: "high", stroke: "model", fx: "panel" }),
      Plot.dot(data, { x: "at", y: "mean", fill: "model", r: 3.5, fx: "panel" }),
    ],
  };
}

/** One comparison of the identifiability experiment. */
export interface AlignmentRow {
  /** The parameter block (one panel each). */
  readonly block: string;
  /** What was aligned with what (colour). */
  readonly comparison: string;
  /** Training sequences. */
  readonly sequences: number;
  /** R-squared of the best linear map. */
  readonly r2: number;
}

/**
 * R-squared of the best linear alignment against the number of training
 * sequences, one panel per parameter block, one line per comparison
 * (points are seeds, the line their mean).
 *
 * @param rows The alignments.
 * @param options Title.
 * @returns The Plot options.
 *
 * @example
 * ```ts
 * import { alignmentFigure } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const options = alignmentFigure(
 *   [{ block: "unembedding", comparison: "trained vs truth", sequences: 1000, r2: 0.9 }],
 *   { title: "Identifiability" },
 * );
 * assert.equal((options.x as { type: string }).type, "log");
 * ```
 */
export function alignmentFigure(
  rows: readonly AlignmentRow[],
  options: FigureText,
): PlotOptions {
  const comparisons = [...new Set(rows.map((r) => r.comparison))];
  const lowest = Math.min(0, ...rows.map((r) => r.r2)); // an R² below 0: worse than the mean
  return {
    ...text(options),
    width: 760,
    height: 340,
    marginRight: 20,
    fx: { label: null },
    x: {
      type: "log",
      label: "Training sequences",
      grid: true,
      ticks: [...new Set(rows.map((r) => r.sequences))].sort((a, b) => a - b),
      tickFormat: "~s",
      inset: 12,
    },
    y: {
      label: "R² of the best linear map",
      domain: [Math.floor(lowest * 10) / 10, 1],
      grid: true,
    },
    color: { domain: comparisons, range: SERIES.slice(0, comparisons.length), legend: true },
    marks: [
      Plot.frame({ stroke: "#ddd" }),
      Plot.dot(rows, { x: "sequences", y: "r2", stroke: "comparison", fx: "block", r: 2.5 }),
      Plot.line(
        rows,
        Plot.groupX({ y: "mean" }, {
          x: "sequences",
          y: "r2",
          stroke: "comparison",
          z: "comparison",
          fx: "block",
        }),
      ),
    ],
  };
}

/** The DOM a figure is rendered with (`window.document` in a browser, linkedom's or jsdom's elsewhere). */
export interface RenderContext {
  /** A `Document`; typed loosely so that the package needs no DOM types. */
  readonly document: unknown;
}

interface Element {
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  readonly outerHTML: string;
}

/** A scale as `plot.scale(name)` returns it. */
interface MaterializedScale {
  readonly type: string;
  readonly domain: unknown[];
  readonly range?: unknown[];
  readonly label?: string;
}

interface RenderedPlot extends Element {
  scale(name: string): MaterializedScale | undefined;
}

/** A continuous colour legend: the label, a ramp of 64 cells 240 px wide, five tick values. */
function rampLegend(scale: MaterializedScale, label: string, top: number): string {
  const colour = Plot.scale({ color: scale as Plot.ScaleOptions });
  const [lo, hi] = scale.domain.map(Number) as [number, number];
  const cells = Array.from({ length: 64 }, (_, i) => {
    const v = lo + ((i + 0.5) / 64) * (hi - lo);
    return `<rect x="${8 + i * 3.75}" y="${top + 16}" width="3.8" height="10" fill="${
      String(colour.apply(v))
    }"/>`;
  });
  const ticks = Array.from({ length: 5 }, (_, i) => {
    const v = lo + (i / 4) * (hi - lo);
    const x = 8 + i * 60;
    const text = Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Number(v.toPrecision(2)).toString();
    return `<line x1="${x}" x2="${x}" y1="${top + 26}" y2="${top + 30}" stroke="#333"/>` +
      `<text x="${x}" y="${top + 40}" text-anchor="middle">${escapeXml(text)}</text>`;
  });
  return `<g font-size="10"><text x="8" y="${top + 11}" font-size="11" font-weight="bold">${
    escapeXml(label)
  }</text>${cells.join("")}${ticks.join("")}</g>`;
}

function escapeXml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** Splits `s` into lines of at most `width` pixels (a character is about 0.6 of the font size wide). */
function wrap(s: string, width: number, size: number): string[] {
  const max = Math.max(20, Math.floor(width / (0.6 * size)));
  const lines: string[] = [];
  let line = "";
  for (const word of s.split(/\s+/)) {
    if (line !== "" && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/**
 * Renders Plot options to one standalone SVG document: the title, subtitle,
 * colour legend, plot and caption that Plot would put in an HTML `<figure>`
 * are drawn in a single `<svg>` (categorical legends as swatches, continuous
 * ones as a ramp of cells, which needs no canvas), so the file opens anywhere.
 *
 * @param options Plot options (from a figure builder or your own).
 * @param context The document to render with.
 * @returns The SVG markup, starting with `<svg xmlns=...`.
 *
 * @example
 * ```ts
 * import { renderSvg } from "@efa/efa/plot";
 * import * as Plot from "@observablehq/plot";
 * import { parseHTML } from "linkedom";
 * import assert from "node:assert/strict";
 *
 * // linkedom's types describe a browser window; only its document is needed.
 * const { document } = parseHTML("<html><body></body></html>") as unknown as { document: unknown };
 * const svg = renderSvg({ title: "Dots", marks: [Plot.dot([[1, 2]])] }, { document });
 * assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
 * ```
 */
export function renderSvg(options: PlotOptions, context: RenderContext): string {
  if (typeof context?.document !== "object" || context.document === null) {
    throw new TypeError(
      `renderSvg(): expected context.document to be a DOM Document, got ${typeof context
        ?.document}`,
    );
  }
  const { title, subtitle, caption, ...rest } = options;
  // Legends are drawn here in SVG: Plot's continuous ramp needs a canvas, which headless DOMs lack.
  const colorOptions = options.color as { legend?: boolean; label?: string } | undefined;
  const plot = Plot.plot({
    ...rest,
    ...(colorOptions === undefined ? {} : { color: { ...colorOptions, legend: false } }),
    figure: false,
    document: context.document as PlotOptions["document"],
  }) as unknown as RenderedPlot;
  const width = Number(plot.getAttribute("width"));
  const plotHeight = Number(plot.getAttribute("height"));
  const parts: string[] = [];
  let y = 0;
  const line = (s: string, size: number, weight: string, fill: string) => {
    for (const l of wrap(s, width - 16, size)) {
      y += size + 6;
      parts.push(
        `<text x="8" y="${y}" font-size="${size}" font-weight="${weight}" fill="${fill}">${
          escapeXml(l)
        }</text>`,
      );
    }
  };
  if (typeof title === "string") line(title, 15, "bold", "#111");
  if (typeof subtitle === "string") line(subtitle, 12, "normal", "#444");
  const color = colorOptions?.legend === true ? plot.scale("color") : undefined;
  if (color !== undefined) {
    y += 8;
    if (color.type === "ordinal" || color.type === "categorical") {
      let x = 8;
      parts.push(`<g font-size="11">`);
      color.domain.forEach((d, i) => {
        const label = String(d);
        const w = Math.round(15 + 5 + label.length * 6.2 + 14);
        if (x + w > width - 8 && x > 8) {
          x = 8;
          y += 20;
        }
        const fill = String(color.range?.[i % color.range.length] ?? "#000");
        parts.push(
          `<rect x="${x}" y="${y}" width="15" height="15" fill="${fill}"/>` +
            `<text x="${x + 20}" y="${y + 12}">${escapeXml(label)}</text>`,
        );
        x += w;
      });
      parts.push(`</g>`);
      y += 22;
    } else {
      parts.push(rampLegend(color, colorOptions?.label ?? color.label ?? "", y));
      y += 44;
    }
  } else if (parts.length > 0) y += 6;
  plot.setAttribute("y", String(y));
  parts.push(plot.outerHTML);
  y += plotHeight;
  if (typeof caption === "string") {
    y += 4;
    line(caption, 11, "normal", "#555");
    y += 6;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" ` +
    `viewBox="0 0 ${width} ${y}" font-family="system-ui, sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join("")}</svg>\n`;
}

/**
 * Normalises a rendered SVG for snapshot comparison, as Plot's own test
 * harness does: generated ids renumbered in order of appearance, numbers with
 * four or more decimals rounded to three.
 *
 * @param svg SVG markup from {@link renderSvg}.
 * @returns The normalised markup.
 *
 * @example
 * ```ts
 * import { normalizeSvg } from "@efa/efa/plot";
 * import assert from "node:assert/strict";
 *
 * const svg = '<clipPath id="plot-clip-7"/><g clip-path="url(#plot-clip-7)" x="1.23456"/>';
 * assert.equal(normalizeSvg(svg), '<clipPath id="plot-clip-1"/><g clip-path="url(#plot-clip-1)" x="1.235"/>');
 * ```
 */
export function normalizeSvg(svg: string): string {
  const ids = new Map<string, string>();
  return svg
    .replaceAll(/plot-(clip|pattern|marker)-(\d+)/g, (id, kind: string) => {
      if (!ids.has(id)) {
        ids.set(
          id,
          `plot-${kind}-${[...ids.keys()].filter((k) => k.includes(kind)).length + 1}`,
        );
      }
      return ids.get(id)!;
    })
    .replaceAll(/-?\d+\.\d{4,}/g, (n) => String(Number(Number(n).toFixed(3))));
}
