import assert from "node:assert/strict";
import {
  cityMoments,
  type Days,
  exampleLoss,
  type FmParameters,
  leastSquaresMse,
  momentLoss,
  neighbourMeanMse,
  type Reading,
  READINGS,
} from "./temperature_fm_readings.ts";
import { SeedStream } from "../mod.ts";

const DIM = 32;

/** Four cities (ids 1-4) over `count` days of random temperatures. */
function randomDays(count: number, seed: number): Days {
  const rng = new SeedStream(seed);
  return {
    scale: 1,
    days: Array.from({ length: count }, () => {
      const day = new Float64Array(5).fill(NaN);
      for (let c = 1; c <= 4; c++) day[c] = 50 + 10 * rng.normal();
      return day;
    }),
  };
}

const NEIGHBORS = [[], [2, 3], [1, 3], [4, 1], [3, 2]];
const CITIES = [1, 2, 3, 4];

function randomParameters(seed: number): FmParameters {
  const rng = new SeedStream(seed);
  const draw = (n: number) => Float64Array.from({ length: n }, () => 0.1 * rng.normal());
  return { rho: draw(5 * DIM), alpha: draw(5 * DIM), bias: draw(5) };
}

const zeros = (): FmParameters => ({
  rho: new Float64Array(5 * DIM),
  alpha: new Float64Array(5 * DIM),
  bias: new Float64Array(5),
});

const examplesOf = (split: Days) =>
  split.days.flatMap((day) => CITIES.map((city) => ({ day, city })));

Deno.test("fm-readings: the moments give the per-example loss and gradient, for every context and intercept", () => {
  const split = randomDays(30, 1), p = randomParameters(2);
  const moments = cityMoments(split, NEIGHBORS, CITIES);
  for (const reading of READINGS.filter((r) => r.protocol === "full-batch" && r.l2 === 0)) {
    const g1 = zeros(), g2 = zeros();
    const half = momentLoss(p, moments, reading, g1).sse / 2;
    const expected = exampleLoss(p, examplesOf(split), NEIGHBORS, reading, g2);
    assert.ok(Math.abs(half - expected) <= 1e-9 * expected, `${reading.name}: loss`);
    for (const key of ["rho", "alpha", "bias"] as const) {
      g1[key].forEach((x, i) =>
        assert.ok(
          Math.abs(x - g2[key][i]!) <= 1e-7 * (1 + Math.abs(g2[key][i]!)),
          `${reading.name}: ${key}[${i}]`,
        )
      );
    }
  }
});

Deno.test("fm-readings: the gradient matches finite differences of the loss", () => {
  const split = randomDays(20, 3), p = randomParameters(4);
  const moments = cityMoments(split, NEIGHBORS, CITIES);
  const reading: Reading = READINGS.find((r) => r.context === "mean" && r.intercept)!;
  const grad = zeros();
  momentLoss(p, moments, reading, grad);
  const half = () => momentLoss(p, moments, reading).sse / 2;
  for (const [key, i] of [["rho", 1 * DIM + 3], ["alpha", 2 * DIM + 7], ["bias", 4]] as const) {
    const h = 1e-5, at = p[key][i]!;
    p[key][i] = at + h;
    const up = half();
    p[key][i] = at - h;
    const down = half();
    p[key][i] = at;
    const numeric = (up - down) / (2 * h);
    assert.ok(Math.abs(numeric - grad[key][i]!) <= 1e-5 * (1 + Math.abs(numeric)), `${key}[${i}]`);
  }
});

Deno.test("fm-readings: least squares recovers an exact linear rule; the neighbours' mean by hand", () => {
  // City 1 is 0.5 * city 2 + 0.25 * city 3 + 4 on every day: zero error with an intercept.
  const fit = randomDays(12, 5), test = randomDays(6, 6);
  for (const split of [fit, test]) {
    for (const day of split.days) day[1] = 0.5 * day[2]! + 0.25 * day[3]! + 4;
  }
  const only1 = [1];
  assert.ok(leastSquaresMse({ fit, test }, NEIGHBORS, only1, true) < 1e-18);
  assert.ok(leastSquaresMse({ fit, test }, NEIGHBORS, only1, false) > 1e-6);
  const day = test.days[0]!;
  const expected = ((day[2]! + day[3]!) / 2 - day[1]!) ** 2;
  assert.ok(
    Math.abs(neighbourMeanMse({ scale: 1, days: [day] }, NEIGHBORS, only1) - expected) <=
      1e-12 * expected,
  );
});
