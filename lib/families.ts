/**
 * Exponential families: the distributions EFA puts on each observation.
 *
 * Every family writes its density as
 * `p(y | eta) = h(y) exp(eta . t(y) - A(eta))` and provides the link from the
 * network's output to the natural parameter `eta`, the mean `E[y]`, the
 * sufficient statistic `t(y)`, the log-partition `A(eta)`, the log base measure
 * `log h(y)`, the full log-likelihood, the paper's training loss (which drops
 * the terms that do not depend on `eta`, exactly as the authors' Keras code
 * computes it), and seeded sampling.
 *
 * Shapes: a batch of natural parameters is `[batch, natural]` (`natural` is 1
 * for scalar families, 2 for the Gaussian with learned variance and the number
 * of classes for the categorical); observations are `[batch]`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfTensor } from "./_types.ts";
import { logSumExpLast } from "./_ops.ts";
import type { SeedStream } from "./random.ts";

/** The names of the families this package implements. */
export type FamilyName =
  | "gaussian"
  | "gaussian-learned-variance"
  | "poisson"
  | "poisson-shifted-count"
  | "poisson-shifted-rate"
  | "bernoulli"
  | "categorical";

/** A family of distributions in natural-parameter form. */
export interface ExponentialFamily {
  /** The family's name. */
  readonly name: FamilyName;
  /** The width of the natural parameter of one observation. */
  readonly naturalDim: number;
  /** The dtype of observations: `int32` class ids for categorical, else `float32`. */
  readonly valueDtype: "float32" | "int32";
  /** The family's fixed settings (variance, number of classes), for saving. */
  readonly options: Readonly<Record<string, number>>;
  /**
   * Maps the network's unconstrained output `[batch, natural]` to the natural
   * parameter `[batch, natural]` (the identity except where a variant
   * reparameterises, e.g. `softplus` for `y ~ Poisson(1 + exp(f))`).
   */
  naturalParameter(output: TfTensor): TfTensor;
  /** `E[y]` for natural parameters `[batch, natural]`: `[batch]` (`[batch, classes]` for categorical). */
  mean(eta: TfTensor): TfTensor;
  /** `t(y)` for observations `[batch]`: `[batch, natural]`. */
  sufficientStatistic(y: TfTensor): TfTensor;
  /** `A(eta)`: `[batch]`. */
  logPartition(eta: TfTensor): TfTensor;
  /** `log h(y)`: `[batch]`. */
  logBaseMeasure(y: TfTensor): TfTensor;
  /** `log p(y | eta)`, all constants included: `[batch]`. */
  logLikelihood(y: TfTensor, eta: TfTensor): TfTensor;
  /** The paper's per-prediction training loss: `[batch]`. */
  loss(y: TfTensor, eta: TfTensor): TfTensor;
  /** Draws one observation per row of `eta` from the stream: `[batch]`. */
  sample(eta: TfTensor, rng: SeedStream): TfTensor;
  /**
   * Throws a `RangeError` naming `fn` and `arg` when a value cannot be an
   * observation of this family (NaN, negative or fractional counts, ...).
   */
  validate(values: ArrayLike<number>, fn: string, arg: string): void;
}

const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);
const LANCZOS = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/**
 * `log Gamma(x)` in float64 (Lanczos, g = 7), for `x > 0`.
 *
 * @param x A positive number.
 * @returns `log Gamma(x)`.
 *
 * @example Factorials
 * ```ts
 * import { logGamma } from "./families.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(Math.abs(logGamma(6) - Math.log(120)) < 1e-12);
 * ```
 */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return HALF_LOG_TWO_PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** `log Gamma(x)` elementwise on a float32 tensor with `x >= 0.5` (Lanczos, g = 7). */
function logGammaTensor(x: TfTensor): TfTensor {
  return tf.tidy(() => {
    const z = tf.sub(x, 1);
    let a: TfTensor = tf.fill(x.shape, LANCZOS[0]!);
    for (let i = 1; i < 9; i++) a = tf.add(a, tf.div(LANCZOS[i]!, tf.add(z, i)));
    const t = tf.add(z, 7.5);
    return tf.add(tf.sub(tf.mul(tf.add(z, 0.5), tf.log(t)), t), tf.add(tf.log(a), HALF_LOG_TWO_PI));
  });
}

function column(eta: TfTensor): TfTensor {
  return tf.reshape(eta, [eta.shape[0]!]); // [batch, 1] -> [batch]
}

function checkFinite(values: ArrayLike<number>, fn: string, arg: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new RangeError(`${fn}(): expected ${arg} to be finite, got ${values[i]} at index ${i}`);
    }
  }
}

function checkCounts(values: ArrayLike<number>, fn: string, arg: string, min: number): void {
  checkFinite(values, fn, arg);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min || !Number.isInteger(v)) {
      throw new RangeError(
        `${fn}(): expected ${arg} to hold integer counts >= ${min}, got ${v} at index ${i}`,
      );
    }
  }
}

function samplePoisson(lambda: number, rng: SeedStream): number {
  if (!(lambda >= 0)) return NaN;
  if (lambda === 0) return 0;
  if (lambda < 30) { // Knuth: multiply uniforms until below exp(-lambda)
    const limit = Math.exp(-lambda);
    let k = 0, p = rng.random();
    while (p > limit) {
      k++;
      p *= rng.random();
    }
    return k;
  }
  if (lambda > 1e7) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * rng.normal()));
  // Hörmann (1993) transformed rejection with squeeze (PTRS).
  const slam = Math.sqrt(lambda), loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng.random() - 0.5, v = rng.random();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor((2 * a / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (
      Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <=
        -lambda + k * loglam - logGamma(k + 1)
    ) return k;
  }
}

function sampleScalar(
  eta: TfTensor,
  draw: (eta: number) => number,
): TfTensor {
  const values = eta.dataSync();
  const out = new Float32Array(eta.shape[0]!);
  for (let i = 0; i < out.length; i++) out[i] = draw(values[i]!);
  return tf.tensor1d(out, "float32");
}

/** Options of the Gaussian family. */
export interface GaussianOptions {
  /** The fixed variance sigma^2 (default 1, the paper's synthetic data). */
  variance?: number;
}

/**
 * The Gaussian with fixed variance: `y ~ N(mu, sigma^2)`, `eta = mu / sigma^2`,
 * `t(y) = y`, `A(eta) = sigma^2 eta^2 / 2`. The network outputs the mean `mu`
 * (so with `sigma^2 = 1`, as in the paper, `eta = mu`). The loss is the
 * squared error `(y - mu)^2`, the paper's `mean_squared_error`.
 *
 * @param options The variance.
 * @returns The family.
 *
 * @example Log-likelihood of a standard normal at its mean
 * ```ts
 * import { gaussian } from "./families.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const ll = gaussian().logLikelihood(tf.tensor1d([0]), tf.tensor2d([[0]])).dataSync()[0]!;
 * assert.ok(Math.abs(ll + 0.5 * Math.log(2 * Math.PI)) < 1e-6);
 * ```
 */
export function gaussian(options: GaussianOptions = {}): ExponentialFamily {
  const variance = options.variance ?? 1;
  if (!(variance > 0) || !Number.isFinite(variance)) {
    throw new RangeError(`gaussian(): expected variance to be a positive number, got ${variance}`);
  }
  return {
    name: "gaussian",
    naturalDim: 1,
    valueDtype: "float32",
    options: { variance },
    naturalParameter: (output) => tf.div(output, variance),
    mean: (eta) => tf.tidy(() => tf.mul(column(eta), variance)),
    sufficientStatistic: (y) => tf.reshape(y, [y.shape[0]!, 1]),
    logPartition: (eta) => tf.tidy(() => tf.mul(tf.square(column(eta)), variance / 2)),
    logBaseMeasure: (y) =>
      tf.tidy(() =>
        tf.sub(tf.div(tf.square(y), -2 * variance), 0.5 * Math.log(2 * Math.PI * variance))
      ),
    logLikelihood: (y, eta) =>
      tf.tidy(() =>
        tf.sub(
          tf.sub(tf.mul(column(eta), y), tf.mul(tf.square(column(eta)), variance / 2)),
          tf.add(tf.div(tf.square(y), 2 * variance), 0.5 * Math.log(2 * Math.PI * variance)),
        )
      ),
    loss: (y, eta) => tf.tidy(() => tf.square(tf.sub(y, tf.mul(column(eta), variance)))),
    sample: (eta, rng) =>
      sampleScalar(eta, (e) => e * variance + Math.sqrt(variance) * rng.normal()),
    validate: checkFinite,
  };
}

/**
 * The Gaussian with learned variance. The network outputs two numbers per
 * observation, the mean `m` and the log-variance `s`; the natural parameter is
 * `eta = (m / sigma^2, -1 / (2 sigma^2))` with `sigma^2 = exp(s)`, `t(y) = (y, y^2)`
 * and `A(eta) = -eta1^2 / (4 eta2) - log(-2 eta2) / 2`. The loss is the full
 * negative log-likelihood without the constant `log(2 pi) / 2`.
 *
 * @returns The family.
 *
 * @example The mean is the first output
 * ```ts
 * import { gaussianLearnedVariance } from "./families.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const f = gaussianLearnedVariance();
 * const eta = f.naturalParameter(tf.tensor2d([[3, Math.log(4)]]));
 * assert.ok(Math.abs(f.mean(eta).dataSync()[0]! - 3) < 1e-5);
 * ```
 */
export function gaussianLearnedVariance(): ExponentialFamily {
  const split = (eta: TfTensor): [TfTensor, TfTensor] => {
    const [e1, e2] = tf.split(eta, 2, 1); // 2 x [batch, 1]
    return [column(e1!), column(e2!)];
  };
  const family: ExponentialFamily = {
    name: "gaussian-learned-variance",
    naturalDim: 2,
    valueDtype: "float32",
    options: {},
    naturalParameter: (output) =>
      tf.tidy(() => {
        const [m, s] = tf.split(output, 2, 1); // [batch, 1] each
        const precision = tf.exp(tf.neg(s!));
        return tf.concat([tf.mul(m!, precision), tf.mul(precision, -0.5)], 1); // [batch, 2]
      }),
    mean: (eta) =>
      tf.tidy(() => {
        const [e1, e2] = split(eta);
        return tf.div(e1, tf.mul(e2, -2));
      }),
    sufficientStatistic: (y) => tf.tidy(() => tf.stack([y, tf.square(y)], 1)),
    logPartition: (eta) =>
      tf.tidy(() => {
        const [e1, e2] = split(eta);
        return tf.sub(tf.div(tf.square(e1), tf.mul(e2, -4)), tf.mul(tf.log(tf.mul(e2, -2)), 0.5));
      }),
    logBaseMeasure: (y) => tf.fill([y.shape[0]!], -HALF_LOG_TWO_PI),
    logLikelihood: (y, eta) =>
      tf.tidy(() =>
        tf.add(
          family.logBaseMeasure(y),
          tf.sub(tf.sum(tf.mul(eta, family.sufficientStatistic(y)), 1), family.logPartition(eta)),
        )
      ),
    loss: (y, eta) =>
      tf.tidy(() =>
        tf.sub(family.logPartition(eta), tf.sum(tf.mul(eta, family.sufficientStatistic(y)), 1))
      ),
    sample: (eta, rng) => {
      const values = eta.dataSync();
      const out = new Float32Array(eta.shape[0]!);
      for (let i = 0; i < out.length; i++) {
        const e1 = values[2 * i]!, e2 = values[2 * i + 1]!;
        const variance = -1 / (2 * e2);
        out[i] = e1 * variance + Math.sqrt(variance) * rng.normal();
      }
      return tf.tensor1d(out, "float32");
    },
    validate: checkFinite,
  };
  return family;
}

/** The Poisson variants of the paper. */
export type PoissonVariant = "standard" | "shifted-count" | "shifted-rate";

/**
 * The Poisson family and the paper's two shifted variants (MovieLens
 * experiment 2, where ratings are 1, 2, 3):
 *
 * - `"standard"`: `y ~ Poisson(lambda)`, `eta = log lambda`, `t(y) = y`,
 *   `A = exp(eta)`, `log h(y) = -log y!`; loss `lambda - y eta`.
 * - `"shifted-count"` (v1): `y - 1 ~ Poisson(lambda)`, `eta = log lambda`,
 *   `t(y) = y - 1`, mean `1 + lambda`; loss `lambda - (y - 1) log(lambda + 1e-8)`
 *   exactly as the authors' Keras code.
 * - `"shifted-rate"` (v2): `y ~ Poisson(1 + exp(f))` for network output `f`, so
 *   `eta = log(1 + exp(f)) = softplus(f)`, `t(y) = y`, mean `1 + exp(f)`; loss
 *   `1 + exp(f) - y log(1 + exp(f))`.
 *
 * @param variant Which variant (default `"standard"`).
 * @returns The family.
 *
 * @example The shifted-count mean adds one
 * ```ts
 * import { poisson } from "./families.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const mean = poisson("shifted-count").mean(tf.tensor2d([[Math.log(2)]])).dataSync()[0]!;
 * assert.ok(Math.abs(mean - 3) < 1e-5);
 * ```
 */
export function poisson(variant: PoissonVariant = "standard"): ExponentialFamily {
  if (variant !== "standard" && variant !== "shifted-count" && variant !== "shifted-rate") {
    throw new RangeError(
      `poisson(): expected variant to be "standard", "shifted-count" or "shifted-rate", got ${
        JSON.stringify(variant)
      }`,
    );
  }
  const shift = variant === "shifted-count" ? 1 : 0;
  const family: ExponentialFamily = {
    name: variant === "standard"
      ? "poisson"
      : variant === "shifted-count"
      ? "poisson-shifted-count"
      : "poisson-shifted-rate",
    naturalDim: 1,
    valueDtype: "float32",
    options: {},
    naturalParameter: (
      output,
    ) => (variant === "shifted-rate" ? tf.softplus(output) : tf.clone(output)),
    mean: (eta) => tf.tidy(() => tf.add(tf.exp(column(eta)), shift)),
    sufficientStatistic: (y) => tf.tidy(() => tf.reshape(tf.sub(y, shift), [y.shape[0]!, 1])),
    logPartition: (eta) => tf.tidy(() => tf.exp(column(eta))),
    logBaseMeasure: (y) => tf.tidy(() => tf.neg(logGammaTensor(tf.add(tf.sub(y, shift), 1)))),
    logLikelihood: (y, eta) =>
      tf.tidy(() =>
        tf.add(
          family.logBaseMeasure(y),
          tf.sub(tf.mul(column(eta), tf.sub(y, shift)), family.logPartition(eta)),
        )
      ),
    loss: (y, eta) =>
      tf.tidy(() => {
        const e = column(eta); // [batch]
        const lambda = tf.exp(e);
        if (variant === "shifted-count") {
          return tf.sub(lambda, tf.mul(tf.sub(y, 1), tf.log(tf.add(lambda, 1e-8))));
        }
        return tf.sub(lambda, tf.mul(y, e));
      }),
    sample: (eta, rng) => sampleScalar(eta, (e) => shift + samplePoisson(Math.exp(e), rng)),
    validate: (values, fn, arg) => checkCounts(values, fn, arg, shift),
  };
  return family;
}

/**
 * The Bernoulli family: `eta` is the log-odds, `t(y) = y`,
 * `A(eta) = log(1 + exp(eta))`, mean `sigmoid(eta)`; loss = binary
 * cross-entropy.
 *
 * @returns The family.
 *
 * @example The mean is the sigmoid
 * ```ts
 * import { bernoulli } from "./families.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * assert.ok(Math.abs(bernoulli().mean(tf.tensor2d([[0]])).dataSync()[0]! - 0.5) < 1e-7);
 * ```
 */
export function bernoulli(): ExponentialFamily {
  const family: ExponentialFamily = {
    name: "bernoulli",
    naturalDim: 1,
    valueDtype: "float32",
    options: {},
    naturalParameter: (output) => tf.clone(output),
    mean: (eta) => tf.tidy(() => tf.sigmoid(column(eta))),
    sufficientStatistic: (y) => tf.reshape(y, [y.shape[0]!, 1]),
    logPartition: (eta) => tf.tidy(() => tf.softplus(column(eta))),
    logBaseMeasure: (y) => tf.zeros([y.shape[0]!]),
    logLikelihood: (y, eta) =>
      tf.tidy(() => tf.sub(tf.mul(column(eta), y), family.logPartition(eta))),
    loss: (y, eta) => tf.tidy(() => tf.sub(family.logPartition(eta), tf.mul(column(eta), y))),
    sample: (eta, rng) => sampleScalar(eta, (e) => (rng.random() < 1 / (1 + Math.exp(-e)) ? 1 : 0)),
    validate: (values, fn, arg) => {
      for (let i = 0; i < values.length; i++) {
        if (values[i] !== 0 && values[i] !== 1) {
          throw new RangeError(
            `${fn}(): expected ${arg} to hold 0 or 1, got ${values[i]} at index ${i}`,
          );
        }
      }
    },
  };
  return family;
}

/**
 * The categorical family over `classes` outcomes `0..classes-1`: `eta` are the
 * logits, `t(y)` is one-hot, `A(eta) = logsumexp(eta)`, mean = softmax; loss =
 * cross-entropy (Keras' `sparse_categorical_crossentropy`).
 *
 * @param classes The number of outcomes.
 * @returns The family.
 *
 * @example Uniform logits give log(classes)
 * ```ts
 * import { categorical } from "./families.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const loss = categorical(63).loss(tf.tensor1d([5], "int32"), tf.zeros([1, 63])).dataSync()[0]!;
 * assert.ok(Math.abs(loss - Math.log(63)) < 1e-5);
 * ```
 */
export function categorical(classes: number): ExponentialFamily {
  if (!Number.isInteger(classes) || classes < 2) {
    throw new RangeError(`categorical(): expected classes to be an integer >= 2, got ${classes}`);
  }
  const family: ExponentialFamily = {
    name: "categorical",
    naturalDim: classes,
    valueDtype: "int32",
    options: { classes },
    naturalParameter: (output) => tf.clone(output),
    mean: (eta) => tf.softmax(eta),
    sufficientStatistic: (y) => tf.oneHot(tf.cast(y, "int32"), classes),
    logPartition: (eta) => logSumExpLast(eta),
    logBaseMeasure: (y) => tf.zeros([y.shape[0]!]),
    logLikelihood: (y, eta) =>
      tf.tidy(() =>
        tf.sub(tf.sum(tf.mul(eta, family.sufficientStatistic(y)), 1), family.logPartition(eta))
      ),
    loss: (y, eta) => tf.tidy(() => tf.neg(family.logLikelihood(y, eta))),
    sample: (eta, rng) => {
      const logits = eta.dataSync();
      const out = new Int32Array(eta.shape[0]!);
      for (let i = 0; i < out.length; i++) {
        let max = -Infinity;
        for (let k = 0; k < classes; k++) max = Math.max(max, logits[i * classes + k]!);
        let total = 0;
        for (let k = 0; k < classes; k++) total += Math.exp(logits[i * classes + k]! - max);
        let u = rng.random() * total, k = 0;
        for (; k < classes - 1; k++) {
          u -= Math.exp(logits[i * classes + k]! - max);
          if (u < 0) break;
        }
        out[i] = k;
      }
      return tf.tensor1d(out, "int32");
    },
    validate: (values, fn, arg) => {
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (!Number.isInteger(v) || v < 0 || v >= classes) {
          throw new RangeError(
            `${fn}(): expected ${arg} to hold class ids in [0, ${classes}), got ${v} at index ${i}`,
          );
        }
      }
    },
  };
  return family;
}

/** A family written as plain data, for configs and saved models. */
export interface FamilySpec {
  /** The family's name. */
  readonly name: FamilyName;
  /** Its fixed settings (variance, number of classes). */
  readonly options?: Readonly<Record<string, number>>;
}

/**
 * Builds a family from its plain-data description (as stored in configs and
 * saved models).
 *
 * @param spec The name and options.
 * @returns The family.
 *
 * @example Round-trip a family through its spec
 * ```ts
 * import { familyFromSpec } from "@efa/efa";
 * import { poisson } from "./families.ts";
 * import assert from "node:assert/strict";
 *
 * const f = poisson("shifted-rate");
 * assert.equal(familyFromSpec({ name: f.name, options: f.options }).name, "poisson-shifted-rate");
 * ```
 */
export function familyFromSpec(spec: FamilySpec): ExponentialFamily {
  switch (spec.name) {
    case "gaussian":
      return gaussian(
        spec.options?.variance === undefined ? {} : { variance: spec.options.variance },
      );
    case "gaussian-learned-variance":
      return gaussianLearnedVariance();
    case "poisson":
      return poisson("standard");
    case "poisson-shifted-count":
      return poisson("shifted-count");
    case "poisson-shifted-rate":
      return poisson("shifted-rate");
    case "bernoulli":
      return bernoulli();
    case "categorical":
      return categorical(spec.options?.classes ?? NaN);
    default:
      throw new RangeError(
        `familyFromSpec(): unknown family ${JSON.stringify((spec as FamilySpec).name)}`,
      );
  }
}
