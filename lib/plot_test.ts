import assert from "node:assert/strict";
import { parseHTML } from "linkedom";
import {
  errorByKFigure,
  heatmapFigure,
  learningCurvesFigure,
  mapFigure,
  normalizeSvg,
  predictedByTruthFigure,
  renderSvg,
} from "./plot.ts";

function newDocument(): unknown {
  return (parseHTML("<html><body></body></html>") as unknown as { document: unknown }).document;
}

Deno.test("renderSvg() draws title, categorical legend and plot in one escaped SVG document", () => {
  const rows = [1, 2, 3].flatMap((truth) => [
    { panel: "v1", group: "uni", model: "EFA & co", truth, predicted: 2 + truth / 10 },
    { panel: "v1", group: "uni", model: "FM", truth, predicted: 2 },
  ]);
  const svg = renderSvg(
    predictedByTruthFigure(rows, { title: "Ratings <test>", x: "True", y: "Predicted" }),
    { document: newDocument() },
  );
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="640" height="\d+"/);
  assert.ok(svg.includes("Ratings &lt;test&gt;"), "the title is escaped");
  // One swatch per model, in the scale's colours.
  assert.ok(svg.includes(">EFA &amp; co</text>") && svg.includes(">FM</text>"));
  assert.equal((svg.match(/<rect x="\d+" y="\d+" width="15" height="15"/g) ?? []).length, 2);
  assert.equal((svg.match(/<svg /g) ?? []).length, 2, "the plot is nested once");
});

Deno.test("renderSvg() refuses a missing document with a TypeError naming it", () => {
  assert.throws(
    () => renderSvg({ marks: [] }, { document: undefined }),
    (e: unknown) =>
      e instanceof TypeError &&
      /context\.document to be a DOM Document, got undefined/.test(e.message),
  );
});

Deno.test("heatmapFigure() clips the colour scale and refuses ragged or empty matrices", () => {
  const options = heatmapFigure([[0.9, 0.1], [0.4, 0.6]], {
    title: "A",
    x: "Key",
    y: "Query",
    color: "Weight",
    clip: 0.25,
  });
  assert.deepEqual((options.color as { domain: number[]; clamp: boolean }).domain, [0, 0.25]);
  assert.equal((options.color as { clamp: boolean }).clamp, true);
  const diverging = heatmapFigure([[-2, 1]], {
    title: "E",
    x: "Dimension",
    y: "Item",
    color: "Value",
    diverging: true,
  });
  assert.deepEqual((diverging.color as { domain: number[] }).domain, [-2, 2]);
  for (const bad of [[], [[1, 2], [3]]]) {
    assert.throws(
      () => heatmapFigure(bad, { title: "B", x: "x", y: "y", color: "c" }),
      (e: unknown) => e instanceof RangeError && /expected matrix to be non-empty/.test(e.message),
    );
  }
});

Deno.test("normalizeSvg() renumbers generated ids per kind and rounds long decimals", () => {
  const svg = '<clipPath id="plot-clip-9"/><clipPath id="plot-clip-4"/>' +
    '<g clip-path="url(#plot-clip-9)" d="M1.23456,-7.0000001 L2.5,3"/>';
  assert.equal(
    normalizeSvg(svg),
    '<clipPath id="plot-clip-1"/><clipPath id="plot-clip-2"/>' +
      '<g clip-path="url(#plot-clip-1)" d="M1.235,-7 L2.5,3"/>',
  );
});

Deno.test("renderSvg() draws a continuous colour legend as a ramp without a canvas", () => {
  const svg = renderSvg(
    heatmapFigure([[0, 0.1], [0.2, 0.3]], {
      title: "Weights",
      x: "Key",
      y: "Query",
      color: "Weight (clipped)",
      clip: 0.25,
    }),
    { document: newDocument() },
  );
  assert.ok(svg.includes(">Weight (clipped)</text>"));
  assert.equal((svg.match(/width="3.8" height="10"/g) ?? []).length, 64);
  // The ramp's ends are the clipped domain.
  assert.ok(svg.includes(">0</text>") && svg.includes(">0.25</text>"));
});

Deno.test("mapFigure() names only the larger of two cities whose names would overlap", () => {
  const points = [
    { name: "Boston", longitude: -71.06, latitude: 42.36, value: 30 },
    { name: "Providence", longitude: -71.41, latitude: 41.82, value: 40 },
    { name: "Denver", longitude: -104.99, latitude: 39.74, value: 10 },
  ];
  const options = mapFigure(points, { type: "FeatureCollection", features: [] }, {
    title: "Map",
    color: "MSE",
  });
  const svg = renderSvg(options, { document: newDocument() });
  assert.ok(svg.includes(">Providence</text>") && svg.includes(">Denver</text>"));
  assert.ok(!svg.includes(">Boston</text>"), "Boston's name would overlap Providence's");
  assert.equal((svg.match(/<circle /g) ?? []).length, 3, "every city keeps its dot");
});

Deno.test("errorByKFigure() draws the paper's curve and keeps close reference labels apart", () => {
  const rows = [1, 5, 40].map((k, i) => ({ k, error: [20, 10, 50][i]!, paper: [40, 25, 85][i]! }));
  const references = [
    { label: "EFA, 2 layers", value: 20 },
    { label: "EFA, 4 layers", value: 20.1 },
  ];
  const options = errorByKFigure(rows, references, { title: "By k", x: "k", y: "MSE" });
  const svg = renderSvg(options, { document: newDocument() });
  assert.ok(svg.includes(">FM, paper</text>") && svg.includes(">FM</text>"));
  const open = /fill="white" aria-label="dot">(.*?)<\/g>/s.exec(svg)?.[1] ?? "";
  assert.equal((open.match(/<circle /g) ?? []).length, 3, "one open circle per paper value");
  // The two labels' y positions (the text elements' transforms) differ by at least 12 px.
  const y = (label: string) =>
    Number(
      new RegExp(`transform="translate\\([\\d.]+,([\\d.]+)\\)"[^>]*>${label}<`).exec(svg)?.[1],
    );
  const gap = Math.abs(y("EFA, 2 layers") - y("EFA, 4 layers"));
  assert.ok(gap >= 11.9, `label gap ${gap} px`);
});

Deno.test("learningCurvesFigure() draws log epoch and loss axes on request, with 'log scale' in the label", () => {
  const rows = [
    ...[1, 10, 2000].map((epoch) => ({
      model: "long",
      epoch,
      split: "train" as const,
      loss: 3000 / epoch,
    })),
    ...[1, 10, 60].map((epoch) => ({
      model: "short",
      epoch,
      split: "train" as const,
      loss: 1000 / epoch,
    })),
  ];
  const linear = learningCurvesFigure(rows, { title: "t", metric: "MSE" });
  assert.equal((linear.x as { type: string }).type, "linear");
  assert.equal((linear.y as { label: string; type?: string }).label, "MSE");
  assert.equal((linear.y as { type?: string }).type, undefined);
  const log = learningCurvesFigure(rows, {
    title: "t",
    metric: "MSE",
    epochScale: "log",
    lossScale: "log",
  });
  assert.equal((log.x as { type: string }).type, "log");
  assert.deepEqual(log.y, { label: "MSE, log scale", grid: true, type: "log" });
  const svg = renderSvg(log, { document: newDocument() });
  // Log ticks: 1, 10, 100, 1k on the epoch axis.
  assert.ok(svg.includes(">1k</text>"), "a log axis labels its decades");
});
