// deno-lint-ignore-file no-console -- a command-line experiment
/**
 * `deno task fm-readings`: which reading of the paper's lost temperature FM
 * reproduces its published curve (test MSE against k, the number of nearest
 * cities in the context; `docs/EFA.md` 1.3 and 3.4)?
 *
 * The FM predicts a city's temperature on a day from its k nearest cities
 * on the same day, `mu = rho_c . u + b_c` with `u = (1/k) sum_j y_j alpha_j`
 * (the table's reading: `lib/fm.ts`, no intercept, raw temperatures). The
 * readings vary what the authors' code might have done:
 *
 * - the context: the mean over the k neighbours, or their sum;
 * - a per-city intercept `b_c`, or none;
 * - raw temperatures (°F), or standardised (the fit set's mean and standard
 *   deviation; errors are always reported in °F²);
 * - an L2 penalty on the embeddings (Keras' `embeddings_regularizer`);
 * - the training: the notebooks' no-lag protocol (full batch, lr 1e-3, 2,000
 *   epochs, best validation weights), or the table's FM protocol (steps of
 *   128 examples drawn at random, at most 200 epochs, patience 10).
 *
 * Beside them, what a reading tends to when trained to its optimum (least
 * squares of each city on its k neighbours, with and without an intercept)
 * and the plain mean of the k neighbours' temperatures.
 *
 * The model is linear in the temperatures, so a full-batch step needs only
 * each city's sums of products of its neighbours' temperatures (a k x k
 * matrix per city): the loss and gradients are the per-example ones summed
 * in another order (checked against them at start). Steps of 128 examples go
 * example by example. Float64 throughout, Keras' Adam and its embeddings'
 * initialiser (uniform in +-0.05); this is the FM of `lib/fm.ts` written out
 * by hand, not the package's training path, so that 2,000 full-batch epochs
 * take a second.
 *
 *   deno task fm-readings [--seeds=3] [--out=experiments/results]
 *
 * Writes `temperature_fm_readings.csv` (reading, k, seed, test MSE, the
 * paper's, epochs) and `.json` (configuration, environment, per reading the
 * mean over seeds, its RMS log ratio to the paper's curve and the k within
 * the table's 15% tolerance).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadTemperature } from "../data/load.ts";
import { SeedStream } from "../mod.ts";
import { writeAtomically } from "../lib/_io.ts";
import { gitCommit } from "./_harness.ts";
import { nearestCities } from "./paper_models.ts";
import { paperNumber } from "./paper.ts";
import { FM_K } from "./tables.ts";

/** The embedding width of the FM (the paper's D). */
const DIM = 32;

/** One reading of the FM. */
export interface Reading {
  readonly name: string;
  readonly context: "mean" | "sum";
  readonly intercept: boolean;
  readonly scale: "raw" | "standardised";
  /** L2 penalty per squared embedding weight, added to the mean loss. */
  readonly l2: number;
  readonly protocol: "full-batch" | "batch-128";
}

/** The temperatures of one split: `days[d][city]` (NaN where a city has no reading), in units of `scale` °F. */
export interface Days {
  readonly days: readonly Float64Array[];
  readonly scale: number;
}

/** The fitted parameters of one FM. */
export interface FmParameters {
  readonly rho: Float64Array; // [cities, DIM]
  readonly alpha: Float64Array; // [cities, DIM]
  readonly bias: Float64Array; // [cities]
}

/**
 * Each target city's sums over the days of a split: its neighbours'
 * temperatures' products `G` (k x k), their sums `m`, their products with
 * the target `h`, the target's sum `s` and sum of squares `q`, and the days `n`.
 */
export interface CityMoments {
  readonly city: number;
  readonly neighbors: readonly number[];
  readonly G: Float64Array;
  readonly m: Float64Array;
  readonly h: Float64Array;
  readonly s: number;
  readonly q: number;
  readonly n: number;
}

/** The moments of every target city over a split's days. */
export function cityMoments(
  split: Days,
  neighbors: readonly (readonly number[])[],
  cities: readonly number[],
): CityMoments[] {
  return cities.map((city) => {
    const nb = neighbors[city]!, k = nb.length;
    const G = new Float64Array(k * k), m = new Float64Array(k), h = new Float64Array(k);
    let s = 0, q = 0, n = 0;
    for (const day of split.days) {
      const y = day[city]!;
      if (Number.isNaN(y)) continue;
      n++;
      s += y;
      q += y * y;
      for (let a = 0; a < k; a++) {
        const ya = day[nb[a]!]!;
        m[a]! += ya;
        h[a]! += ya * y;
        for (let b = 0; b < k; b++) G[a * k + b]! += ya * day[nb[b]!]!;
      }
    }
    return { city, neighbors: nb, G, m, h, s, q, n };
  });
}

/** The pairwise weights `W[c][j] = rho_c . alpha_j / k` (mean) or `rho_c . alpha_j` (sum) of a city's neighbours. */
function pairWeights(p: FmParameters, c: CityMoments, reading: Reading): Float64Array {
  const k = c.neighbors.length, w = new Float64Array(k);
  const scale = reading.context === "mean" ? 1 / k : 1;
  for (let a = 0; a < k; a++) {
    let dot = 0;
    for (let d = 0; d < DIM; d++) {
      dot += p.rho[c.city * DIM + d]! * p.alpha[c.neighbors[a]! * DIM + d]!;
    }
    w[a] = dot * scale;
  }
  return w;
}

/**
 * The sum of squared errors over a split from its moments, and (when `grad`
 * is given) the gradient of half of it added into `grad` per parameter.
 */
export function momentLoss(
  p: FmParameters,
  moments: readonly CityMoments[],
  reading: Reading,
  grad?: FmParameters,
): { sse: number; n: number } {
  let sse = 0, n = 0;
  for (const c of moments) {
    const k = c.neighbors.length, w = pairWeights(p, c, reading);
    const b = reading.intercept ? p.bias[c.city]! : 0;
    // sum_d (w.y_d + b - y_dc)^2 = w'Gw + 2b w'm + n b^2 - 2 w'h - 2 b s + q
    const Gw = new Float64Array(k);
    let wGw = 0, wm = 0, wh = 0;
    for (let a = 0; a < k; a++) {
      let row = 0;
      for (let bb = 0; bb < k; bb++) row += c.G[a * k + bb]! * w[bb]!;
      Gw[a] = row;
      wGw += w[a]! * row;
      wm += w[a]! * c.m[a]!;
      wh += w[a]! * c.h[a]!;
    }
    sse += wGw + 2 * b * wm + c.n * b * b - 2 * wh - 2 * b * c.s + c.q;
    n += c.n;
    if (grad === undefined) continue;
    // d(half sse)/dw_a = (Gw)_a + b m_a - h_a; d/db = w'm + n b - s
    const scale = reading.context === "mean" ? 1 / k : 1;
    for (let a = 0; a < k; a++) {
      const dw = (Gw[a]! + b * c.m[a]! - c.h[a]!) * scale;
      const j = c.neighbors[a]!;
      for (let d = 0; d < DIM; d++) {
        grad.rho[c.city * DIM + d]! += dw * p.alpha[j * DIM + d]!;
        grad.alpha[j * DIM + d]! += dw * p.rho[c.city * DIM + d]!;
      }
    }
    if (reading.intercept) grad.bias[c.city]! += wm + c.n * b - c.s;
  }
  return { sse, n };
}

/** One example: a target city on a day of a split. */
interface Example {
  readonly day: Float64Array;
  readonly city: number;
}

/** Half the sum of squared errors of some examples, its gradient added into `grad`. */
export function exampleLoss(
  p: FmParameters,
  examples: readonly Example[],
  neighbors: readonly (readonly number[])[],
  reading: Reading,
  grad?: FmParameters,
): number {
  let half = 0;
  const u = new Float64Array(DIM);
  for (const { day, city } of examples) {
    const nb = neighbors[city]!, scale = reading.context === "mean" ? 1 / nb.length : 1;
    u.fill(0);
    for (const j of nb) {
      for (let d = 0; d < DIM; d++) u[d]! += day[j]! * p.alpha[j * DIM + d]! * scale;
    }
    let mu = reading.intercept ? p.bias[city]! : 0;
    for (let d = 0; d < DIM; d++) mu += p.rho[city * DIM + d]! * u[d]!;
    const r = mu - day[city]!;
    half += r * r / 2;
    if (grad === undefined) continue;
    for (let d = 0; d < DIM; d++) grad.rho[city * DIM + d]! += r * u[d]!;
    for (const j of nb) {
      for (let d = 0; d < DIM; d++) {
        grad.alpha[j * DIM + d]! += r * day[j]! * scale * p.rho[city * DIM + d]!;
      }
    }
    if (reading.intercept) grad.bias[city]! += r;
  }
  return half;
}

/** Keras' Adam (lr 1e-3, beta 0.9 / 0.999, epsilon 1e-7) over flat float64 parameters. */
class Adam {
  readonly #m: Float64Array[];
  readonly #v: Float64Array[];
  #t = 0;
  constructor(readonly params: readonly Float64Array[], readonly lr = 1e-3) {
    this.#m = params.map((p) => new Float64Array(p.length));
    this.#v = params.map((p) => new Float64Array(p.length));
  }
  step(grads: readonly Float64Array[]): void {
    this.#t++;
    const alpha = this.lr * Math.sqrt(1 - 0.999 ** this.#t) / (1 - 0.9 ** this.#t);
    this.params.forEach((w, i) => {
      const g = grads[i]!, m = this.#m[i]!, v = this.#v[i]!;
      for (let x = 0; x < w.length; x++) {
        m[x]! += (g[x]! - m[x]!) * 0.1;
        v[x]! += (g[x]! * g[x]! - v[x]!) * 0.001;
        w[x]! -= alpha * m[x]! / (Math.sqrt(v[x]!) + 1e-7);
      }
    });
  }
}

function zeros(cities: number): FmParameters {
  return {
    rho: new Float64Array(cities * DIM),
    alpha: new Float64Array(cities * DIM),
    bias: new Float64Array(cities),
  };
}

function copy(p: FmParameters): FmParameters {
  return { rho: p.rho.slice(), alpha: p.alpha.slice(), bias: p.bias.slice() };
}

/** Adds the L2 penalty's gradient (`l2 * sum w^2`, of the mean loss times `count`) into `grad`. */
function addPenalty(p: FmParameters, grad: FmParameters, l2: number, count: number): number {
  let sum = 0;
  for (const [w, g] of [[p.rho, grad.rho], [p.alpha, grad.alpha]] as const) {
    for (let i = 0; i < w.length; i++) {
      sum += w[i]! * w[i]!;
      g[i]! += 2 * l2 * w[i]! * count;
    }
  }
  return l2 * sum;
}

/** The result of training one reading at one k. */
export interface ReadingRun {
  readonly testMse: number;
  readonly epochs: number;
  readonly bestEpoch: number;
}

/**
 * Trains one reading's FM at one k and returns its test MSE in °F² (the best
 * validation epoch's weights).
 */
export function trainReading(
  reading: Reading,
  splits: { fit: Days; validation: Days; test: Days },
  neighbors: readonly (readonly number[])[],
  cities: readonly number[],
  seed: number,
): ReadingRun {
  const fitMoments = cityMoments(splits.fit, neighbors, cities);
  const validationMoments = cityMoments(splits.validation, neighbors, cities);
  const rng = new SeedStream(seed);
  const size = Math.max(...cities) + 1;
  const p = zeros(size);
  for (const w of [p.rho, p.alpha]) {
    for (let i = 0; i < w.length; i++) w[i] = (rng.random() - 0.5) * 0.1;
  }
  const adam = new Adam([p.rho, p.alpha, p.bias]);
  const examples: Example[] = splits.fit.days.flatMap((day) =>
    cities.filter((c) => !Number.isNaN(day[c]!)).map((city) => ({ day, city }))
  );
  const full = reading.protocol === "full-batch";
  const maxEpochs = full ? 2000 : 200, patience = full ? Infinity : 10;
  let best = { loss: Infinity, epoch: 0, params: copy(p) };
  let epoch = 0;
  for (epoch = 1; epoch <= maxEpochs; epoch++) {
    if (full) {
      const grad = zeros(size);
      const { n } = momentLoss(p, fitMoments, reading, grad);
      addPenalty(p, grad, reading.l2, n);
      const scale = 1 / n; // the mean loss's gradient
      adam.step([grad.rho, grad.alpha, grad.bias].map((g) => g.map((x) => x * scale)));
    } else {
      const order = examples.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.integer(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (let start = 0; start < order.length; start += 128) {
        const batch = order.slice(start, start + 128).map((i) => examples[i]!);
        const grad = zeros(size);
        exampleLoss(p, batch, neighbors, reading, grad);
        addPenalty(p, grad, reading.l2, batch.length);
        const scale = 1 / batch.length;
        adam.step([grad.rho, grad.alpha, grad.bias].map((g) => g.map((x) => x * scale)));
      }
    }
    const { sse, n } = momentLoss(p, validationMoments, reading);
    if (sse / n < best.loss) best = { loss: sse / n, epoch, params: copy(p) };
    else if (epoch - best.epoch >= patience) break;
  }
  const { sse, n } = momentLoss(best.params, cityMoments(splits.test, neighbors, cities), reading);
  const unit = splits.test.scale ** 2; // back to °F²
  return { testMse: (sse / n) * unit, epochs: Math.min(epoch, maxEpochs), bestEpoch: best.epoch };
}

/** Least squares of each city on its k neighbours (with an intercept when asked): the optimum the readings tend to. */
export function leastSquaresMse(
  splits: { fit: Days; test: Days },
  neighbors: readonly (readonly number[])[],
  cities: readonly number[],
  intercept: boolean,
): number {
  let sse = 0, n = 0;
  for (const city of cities) {
    const rows = (split: Days) =>
      split.days.filter((d) => !Number.isNaN(d[city]!)).map((d) => ({
        x: [...neighbors[city]!.map((j) => d[j]!), ...(intercept ? [1] : [])],
        y: d[city]!,
      }));
    const fit = rows(splits.fit), k = fit[0]!.x.length;
    const A = Array.from({ length: k }, () => new Float64Array(k + 1));
    for (const { x, y } of fit) {
      for (let a = 0; a < k; a++) {
        for (let b = 0; b < k; b++) A[a]![b]! += x[a]! * x[b]!;
        A[a]![k]! += x[a]! * y;
      }
    }
    const w = solve(A);
    for (const { x, y } of rows(splits.test)) {
      const e = x.reduce((s, xi, i) => s + xi * w[i]!, 0) - y;
      sse += e * e;
      n++;
    }
  }
  return sse / n;
}

/** Solves the augmented system `[A | b]` by Gaussian elimination with partial pivoting. */
function solve(M: Float64Array[]): number[] {
  const k = M.length;
  for (let c = 0; c < k; c++) {
    let pivot = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[pivot]![c]!)) pivot = r;
    [M[c], M[pivot]] = [M[pivot]!, M[c]!];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let x = c; x <= k; x++) M[r]![x]! -= f * M[c]![x]!;
    }
  }
  return M.map((row, i) => row[k]! / row[i]!);
}

/** The mean of the k neighbours' temperatures as the prediction. */
export function neighbourMeanMse(
  test: Days,
  neighbors: readonly (readonly number[])[],
  cities: readonly number[],
): number {
  let sse = 0, n = 0;
  for (const day of test.days) {
    for (const city of cities) {
      if (Number.isNaN(day[city]!)) continue;
      const nb = neighbors[city]!;
      const e = nb.reduce((s, j) => s + day[j]!, 0) / nb.length - day[city]!;
      sse += e * e;
      n++;
    }
  }
  return sse / n;
}

/** The readings tried. */
export const READINGS: readonly Reading[] = (() => {
  const out: Reading[] = [];
  for (const protocol of ["full-batch", "batch-128"] as const) {
    for (const scale of ["raw", "standardised"] as const) {
      for (const context of ["mean", "sum"] as const) {
        for (const intercept of [false, true]) {
          const name = [context, intercept ? "intercept" : "no intercept", scale, protocol].join(
            ", ",
          );
          out.push({ name, context, intercept, scale, l2: 0, protocol });
        }
      }
    }
  }
  for (const l2 of [1e-3, 1e-2]) {
    out.push({
      name: `mean, no intercept, raw, full-batch, L2 ${l2}`,
      context: "mean",
      intercept: false,
      scale: "raw",
      l2,
      protocol: "full-batch",
    });
  }
  return out;
})();

/** A split's days as `[city]` temperature arrays, optionally standardised. */
function daysOf(
  split: { items: readonly ArrayLike<number>[]; values?: readonly ArrayLike<number>[] },
  size: number,
  center: number,
  scale: number,
): Days {
  return {
    scale,
    days: split.items.map((items, d) => {
      const day = new Float64Array(size).fill(NaN);
      Array.from(items).forEach((c, j) => (day[c] = (split.values![d]![j]! - center) / scale));
      return day;
    }),
  };
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    options: {
      seeds: { type: "string", default: "3" },
      out: { type: "string", default: "experiments/results" },
    },
  });
  const seeds = Number(args.seeds);
  if (!Number.isInteger(seeds) || seeds < 1) {
    throw new RangeError(
      `fm-readings: expected --seeds to be a positive integer, got ${args.seeds}`,
    );
  }
  const started = performance.now();
  const data = await loadTemperature(0);
  const cities = [...new Set(data.fit.items.flatMap((row) => Array.from(row)))].sort((a, b) =>
    a - b
  );
  const size = Math.max(...cities) + 1;
  const fitValues = data.fit.values!.flatMap((row) => Array.from(row));
  const mean = fitValues.reduce((a, b) => a + b, 0) / fitValues.length;
  const sd = Math.sqrt(fitValues.reduce((a, b) => a + (b - mean) ** 2, 0) / fitValues.length);
  const splitsOf = (standardised: boolean) => {
    const [c, s] = standardised ? [mean, sd] : [0, 1];
    return {
      fit: daysOf(data.fit, size, c, s),
      validation: daysOf(data.validation, size, c, s),
      test: daysOf(data.test, size, c, s),
    };
  };
  const raw = splitsOf(false), standardised = splitsOf(true);

  // The moments give the per-example loss and gradient, summed in another order.
  {
    const nb = nearestCities(data.itemFeatures, 5);
    const rng = new SeedStream(99);
    const p = zeros(size), g1 = zeros(size), g2 = zeros(size);
    for (const w of [p.rho, p.alpha, p.bias]) {
      for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.1;
    }
    const reading = READINGS.find((r) => r.intercept && r.context === "sum")!;
    const examples = standardised.fit.days.flatMap((day) => cities.map((city) => ({ day, city })));
    const viaMoments = momentLoss(p, cityMoments(standardised.fit, nb, cities), reading, g1).sse /
      2;
    const viaExamples = exampleLoss(p, examples, nb, reading, g2);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
    let worst = rel(viaMoments, viaExamples);
    for (const key of ["rho", "alpha", "bias"] as const) {
      g1[key].forEach((
        x,
        i,
      ) => (worst = Math.max(worst, Math.abs(x - g2[key][i]!) / (1e-9 + Math.abs(g2[key][i]!)))));
    }
    if (!(worst < 1e-6)) throw new Error(`fm-readings: moments and examples disagree (${worst})`);
    console.error(
      `fm-readings: full-batch moments match the per-example loss and gradient (worst ${
        worst.toExponential(1)
      })`,
    );
  }

  const lines = ["reading,k,seed,test_mse,paper,epochs,best_epoch"];
  const summary: Record<string, { mse: number[]; rmsLogRatio: number; withinTolerance: number[] }> =
    {};
  const paperAt = FM_K.map((k) =>
    paperNumber("temperature", "fm", "", `k=${k}`, "test_mse")!.paper
  );
  const record = (name: string, perK: number[]) => {
    summary[name] = {
      mse: perK,
      rmsLogRatio: Math.sqrt(
        perK.reduce((s, x, i) => s + Math.log(x / paperAt[i]!) ** 2, 0) / perK.length,
      ),
      withinTolerance: FM_K.filter((_, i) => Math.abs(perK[i]! / paperAt[i]! - 1) <= 0.15),
    };
  };
  const reference = [
    [
      "least squares on the k neighbours, no intercept (optimum)",
      (nb: number[][]) => leastSquaresMse(raw, nb, cities, false),
    ],
    [
      "least squares on the k neighbours, intercept (optimum)",
      (nb: number[][]) => leastSquaresMse(raw, nb, cities, true),
    ],
    [
      "mean of the k neighbours (no training)",
      (nb: number[][]) => neighbourMeanMse(raw.test, nb, cities),
    ],
  ] as const;
  for (const [name, mse] of reference) {
    const perK = FM_K.map((k, i) => {
      const value = mse(nearestCities(data.itemFeatures, k));
      lines.push(`"${name}",${k},,${value},${paperAt[i]},,`);
      return value;
    });
    record(name, perK);
  }
  for (const reading of READINGS) {
    const t = performance.now();
    const splits = reading.scale === "raw" ? raw : standardised;
    const readingSeeds = reading.protocol === "full-batch" ? seeds : 1;
    const perK = FM_K.map((k, i) => {
      const nb = nearestCities(data.itemFeatures, k);
      let sum = 0;
      for (let seed = 1; seed <= readingSeeds; seed++) {
        const run = trainReading(reading, splits, nb, cities, seed);
        lines.push(
          `"${reading.name}",${k},${seed},${run.testMse},${
            paperAt[i]
          },${run.epochs},${run.bestEpoch}`,
        );
        sum += run.testMse;
      }
      return sum / readingSeeds;
    });
    record(reading.name, perK);
    console.error(
      `fm-readings: ${reading.name}: ${perK.map((x) => x.toFixed(1)).join(" ")} (rms log ratio ${
        summary[reading.name]!.rmsLogRatio.toFixed(3)
      }, ${((performance.now() - t) / 1000).toFixed(0)} s)`,
    );
  }
  const dir = args.out.endsWith("/") ? args.out : `${args.out}/`;
  await writeAtomically(`${dir}temperature_fm_readings.csv`, lines.join("\n") + "\n");
  await writeAtomically(
    `${dir}temperature_fm_readings.json`,
    JSON.stringify(
      {
        config: { k: FM_K, seeds, dim: DIM, standardisation: { mean, sd }, readings: READINGS },
        environment: {
          deno: Deno.version.deno,
          os: `${Deno.build.os}-${Deno.build.arch}`,
          gitCommit: await gitCommit(),
        },
        wallSeconds: Math.round((performance.now() - started) / 1000),
        paper: paperAt,
        summary,
      },
      null,
      1,
    ) + "\n",
  );
  const ranked = Object.entries(summary).sort((a, b) => a[1].rmsLogRatio - b[1].rmsLogRatio);
  for (const [name, s] of ranked) {
    console.log(
      `${s.rmsLogRatio.toFixed(3)}  ${s.withinTolerance.length}/12 within 15%  ${name}`,
    );
  }
}
