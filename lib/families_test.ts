import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import {
  bernoulli,
  categorical,
  type ExponentialFamily,
  familyFromSpec,
  gaussian,
  gaussianLearnedVariance,
  logGamma,
  poisson,
} from "./families.ts";
import { SeedStream } from "./random.ts";

function values(t: tf.Tensor): number[] {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

function close(actual: number, expected: number, tol = 1e-5, what = ""): void {
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what} expected ${expected}, got ${actual}`,
  );
}

const LOG_2PI = Math.log(2 * Math.PI);

Deno.test("logGamma() matches factorials and Gamma(1/2)", () => {
  for (let n = 1; n <= 20; n++) {
    let f = 1;
    for (let k = 2; k < n; k++) f *= k;
    close(logGamma(n), Math.log(f), 1e-12, `logGamma(${n})`);
  }
  close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-12);
});

Deno.test("gaussian() log-likelihood, mean, partition and loss match the closed form", () => {
  const f = gaussian({ variance: 2 });
  // y = 1.5, mu = 0.5, sigma^2 = 2: eta = mu / sigma^2 = 0.25.
  const eta = f.naturalParameter(tf.tensor2d([[0.5]]));
  close(values(tf.clone(eta))[0]!, 0.25);
  const y = tf.tensor1d([1.5]);
  close(
    values(f.logLikelihood(y, eta))[0]!,
    -0.5 * Math.log(2 * Math.PI * 2) - (1.5 - 0.5) ** 2 / 4,
  );
  close(values(f.mean(eta))[0]!, 0.5);
  close(values(f.logPartition(eta))[0]!, (2 * 0.25 ** 2) / 2);
  close(values(f.loss(y, eta))[0]!, 1); // squared error, the paper's MSE
  tf.dispose([eta, y]);
});

Deno.test("gaussianLearnedVariance() matches N(m, exp(s)) and its loss drops only log(2 pi)/2", () => {
  const f = gaussianLearnedVariance();
  const m = 2, s = Math.log(3), yv = 4;
  const eta = f.naturalParameter(tf.tensor2d([[m, s]]));
  const y = tf.tensor1d([yv]);
  const expected = -0.5 * LOG_2PI - 0.5 * Math.log(3) - (yv - m) ** 2 / 6;
  close(values(f.logLikelihood(y, eta))[0]!, expected);
  close(values(f.loss(y, eta))[0]!, -expected - 0.5 * LOG_2PI);
  close(values(f.mean(eta))[0]!, m);
  tf.dispose([eta, y]);
});

Deno.test("poisson() variants match hand computations", () => {
  const y = tf.tensor1d([3]);
  // standard: y = 3, lambda = 2.
  const std = poisson();
  const eta = tf.tensor2d([[Math.log(2)]]);
  close(values(std.logLikelihood(y, eta))[0]!, 3 * Math.log(2) - 2 - Math.log(6));
  close(values(std.loss(y, eta))[0]!, 2 - 3 * Math.log(2));
  close(values(std.mean(eta))[0]!, 2);
  // shifted-count (v1): y - 1 = 2 ~ Poisson(2); loss lambda - (y-1) log(lambda + 1e-8).
  const v1 = poisson("shifted-count");
  close(values(v1.logLikelihood(y, eta))[0]!, 2 * Math.log(2) - 2 - Math.log(2));
  close(values(v1.loss(y, eta))[0]!, 2 - 2 * Math.log(2 + 1e-8));
  close(values(v1.mean(eta))[0]!, 3);
  // shifted-rate (v2): output f = log 2, so y ~ Poisson(3); loss 1 + e^f - y log(1 + e^f).
  const v2 = poisson("shifted-rate");
  const eta2 = v2.naturalParameter(tf.tensor2d([[Math.log(2)]]));
  close(values(tf.clone(eta2))[0]!, Math.log(3));
  close(values(v2.logLikelihood(y, eta2))[0]!, 3 * Math.log(3) - 3 - Math.log(6));
  close(values(v2.loss(y, eta2))[0]!, 3 - 3 * Math.log(3));
  close(values(v2.mean(eta2))[0]!, 3);
  tf.dispose([y, eta, eta2]);
});

Deno.test("bernoulli() and categorical() match hand computations", () => {
  const b = bernoulli();
  const eta = tf.tensor2d([[Math.log(3)]]); // p = 0.75
  close(values(b.logLikelihood(tf.tensor1d([1]), eta))[0]!, Math.log(0.75));
  close(values(b.logLikelihood(tf.tensor1d([0]), eta))[0]!, Math.log(0.25));
  close(values(b.mean(eta))[0]!, 0.75);
  const c = categorical(3);
  const logits = tf.tensor2d([[1, 2, 3]]);
  const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  close(values(c.logLikelihood(tf.tensor1d([1], "int32"), logits))[0]!, 2 - lse);
  close(values(c.loss(tf.tensor1d([2], "int32"), logits))[0]!, lse - 3);
  close(values(c.logPartition(logits))[0]!, lse);
  tf.dispose([eta, logits]);
});

const scalarFamilies: [string, ExponentialFamily, number][] = [
  ["gaussian", gaussian(), 0.7],
  ["poisson", poisson(), 3],
  ["poisson-shifted-count", poisson("shifted-count"), 3],
  ["poisson-shifted-rate", poisson("shifted-rate"), 3],
  ["bernoulli", bernoulli(), 1],
];

Deno.test("grad A(eta) equals E[t(y)] and the log-likelihood gradient is t(y) - mean", () => {
  for (const [name, f, y] of scalarFamilies) {
    for (const e of [-1.3, 0.2, 1.1]) {
      const eta = tf.tensor2d([[e]]);
      const gradA = values(tf.grad((x: tf.Tensor) => tf.sum(f.logPartition(x)))(eta))[0]!;
      const meanT = values(f.sufficientStatistic(tf.tensor1d([0])))[0]!; // t(0) gives the shift
      const expectedMean = values(f.mean(eta))[0]! + meanT; // E[t(y)] = E[y] - shift
      close(gradA, expectedMean, 1e-4, `${name} at ${e}`);
      const gradLL = values(
        tf.grad((x: tf.Tensor) => tf.sum(f.logLikelihood(tf.tensor1d([y]), x)))(eta),
      )[0]!;
      close(
        gradLL,
        values(f.sufficientStatistic(tf.tensor1d([y])))[0]! - gradA,
        1e-4,
        `${name} score`,
      );
      eta.dispose();
    }
  }
});

Deno.test("every family stays finite and correct at natural parameters of +-80", () => {
  const eta = tf.tensor2d([[-80], [80]]);
  const y = tf.tensor1d([1, 1]);
  for (const [name, f] of scalarFamilies) {
    for (const fn of ["logLikelihood", "loss"] as const) {
      const v = values(f[fn](y, eta));
      assert.ok(v.every(Number.isFinite), `${name}.${fn} not finite: ${v}`);
    }
  }
  // Poisson at eta = 80: log p(1) = 80 - e^80 (finite in float32: e^80 < 3.4e38).
  close(values(poisson().logLikelihood(y, eta))[1]!, 80 - Math.exp(80), 1e-5);
  // Bernoulli: log p(1 | -80) = -80, log p(1 | 80) = 0.
  const ll = values(bernoulli().logLikelihood(y, eta));
  close(ll[0]!, -80, 1e-5);
  close(ll[1]!, 0, 1e-6);
  // Categorical with logits (80, -80): log p(0) = 0, log p(1) = -160.
  const c = categorical(2);
  const logits = tf.tensor2d([[80, -80], [80, -80]]);
  const cl = values(c.logLikelihood(tf.tensor1d([0, 1], "int32"), logits));
  close(cl[0]!, 0, 1e-6);
  close(cl[1]!, -160, 1e-6);
  tf.dispose([eta, y, logits]);
});

Deno.test("sample() is seeded and matches the mean", () => {
  const n = 20_000;
  const cases: [ExponentialFamily, number[], number][] = [
    [gaussian(), [1.5], 1.5],
    [poisson(), [Math.log(4)], 4],
    [poisson(), [Math.log(50)], 50], // the rejection sampler
    [poisson("shifted-count"), [Math.log(2)], 3],
    [poisson("shifted-rate"), [Math.log(2)], 2], // eta is natural: y ~ Poisson(e^eta)
    [bernoulli(), [Math.log(3)], 0.75],
    [gaussianLearnedVariance(), [2 / 3, -1 / 6], 2],
  ];
  for (const [f, row, mean] of cases) {
    const eta = tf.tile(tf.tensor2d([row]), [n, 1]);
    const draws = values(f.sample(eta, new SeedStream(11)));
    const again = values(f.sample(eta, new SeedStream(11)));
    assert.deepEqual(draws, again);
    const m = draws.reduce((a, b) => a + b, 0) / n;
    close(m, mean, 0.03, f.name);
    eta.dispose();
  }
  const c = categorical(3);
  const logits = tf.tile(tf.tensor2d([[0, Math.log(2), Math.log(7)]]), [n, 1]);
  const counts = [0, 0, 0];
  for (const k of values(c.sample(logits, new SeedStream(2)))) counts[k]!++;
  close(counts[2]! / n, 0.7, 0.03);
  logits.dispose();
});

Deno.test("validate() refuses values the family cannot take", () => {
  assert.throws(() => poisson().validate([1, -1], "fit", "values"), {
    name: "RangeError",
    message: "fit(): expected values to hold integer counts >= 0, got -1 at index 1",
  });
  assert.throws(() => poisson().validate([1.5], "fit", "values"), /integer counts >= 0, got 1.5/);
  assert.throws(
    () => poisson("shifted-count").validate([0], "fit", "values"),
    /integer counts >= 1, got 0/,
  );
  assert.throws(
    () => gaussian().validate([NaN], "fit", "values"),
    /expected values to be finite, got NaN at index 0/,
  );
  assert.throws(() => bernoulli().validate([2], "fit", "y"), /hold 0 or 1, got 2/);
  assert.throws(() => categorical(3).validate([3], "fit", "y"), /class ids in \[0, 3\), got 3/);
  assert.throws(() => categorical(1), RangeError);
  assert.throws(() => gaussian({ variance: -1 }), RangeError);
  assert.throws(() => poisson("log" as never), RangeError);
  assert.equal(familyFromSpec({ name: "categorical", options: { classes: 5 } }).naturalDim, 5);
});

Deno.test("family ops do not leak tensors", () => {
  const eta = tf.tensor2d([[0.3]]);
  const y = tf.tensor1d([2]);
  const before = tf.memory().numTensors;
  for (const [, f] of scalarFamilies) {
    for (
      const t of [
        f.logLikelihood(y, eta),
        f.loss(y, eta),
        f.mean(eta),
        f.logPartition(eta),
        f.logBaseMeasure(y),
      ]
    ) {
      t.dispose();
    }
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([eta, y]);
});
