/**
 * The private ops under the EFA and FM models, written with functional tfjs
 * ops over a flat record of named parameters: Keras-compatible initialisers,
 * the one dense layer (a hand-written gradient), embedding lookups, layer
 * normalisation, softmax over any axis and log-sum-exp. Attention is the
 * model's own and lives in `model.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fastKernelsActive, oneBlockProduct } from "./_kernels.ts";
import type { TfTensor, TfVariable } from "./_types.ts";
import type { SeedStream } from "./random.ts";

/** The backward pass of a {@link customGrad} op: the upstream gradient and the saved tensors. */
type GradFunc = (dy: TfTensor, saved: TfTensor[]) => TfTensor[];

/**
 * A typed `tf.customGrad`: `forward(...inputs, save)` returns the value and
 * its gradient function. tfjs types the op loosely (`dy` may be a list, the
 * inputs are untyped), so the one cast of this package lives here.
 *
 * @param forward The op: inputs, then tfjs's `save` callback.
 * @returns The op with the hand-written gradient.
 */
export function customGrad<Inputs extends TfTensor[]>(
  forward: (...args: [...Inputs, tf.GradSaveFunc]) => { value: TfTensor; gradFunc: GradFunc },
): (...inputs: Inputs) => TfTensor {
  const op = tf.customGrad(
    ((...args: [...Inputs, tf.GradSaveFunc]) => {
      const { value, gradFunc } = forward(...args);
      return {
        value,
        gradFunc: (dy: TfTensor | TfTensor[], saved: TfTensor[]) =>
          gradFunc(Array.isArray(dy) ? dy[0]! : dy, saved),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return op as unknown as (...inputs: Inputs) => TfTensor;
}

/** Trainable parameters by name, e.g. `"layer0.attention.query.kernel"`. */
export type ModelParameters = Record<string, TfVariable>;

function uniformValues(size: number, limit: number, rng: SeedStream): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (2 * rng.random() - 1) * limit;
  return out;
}

/**
 * Creates a variable drawn from `U(-limit, limit)`, Keras' `RandomUniform`
 * (limit 0.05 is the `Embedding` default).
 *
 * @param shape The variable's shape.
 * @param limit The half-width of the interval.
 * @param rng The seed stream.
 * @param name The parameter's name.
 * @returns The variable.
 *
 * @example A seeded uniform table
 * ```ts
 * import { uniformVariable } from "./_ops.ts";
 * import { SeedStream } from "./random.ts";
 * import assert from "node:assert/strict";
 *
 * const v = uniformVariable([3, 2], 0.05, new SeedStream(1), "t");
 * assert.ok(Array.from(v.dataSync()).every((x) => Math.abs(x) <= 0.05));
 * v.dispose();
 * ```
 */
export function uniformVariable(
  shape: number[],
  limit: number,
  rng: SeedStream,
  name: string,
): TfVariable {
  const size = shape.reduce((a, b) => a * b, 1);
  return variableFrom(tf.tensor(uniformValues(size, limit, rng), shape, "float32"), name);
}

/**
 * Creates a Glorot-uniform variable, `U(-sqrt(6 / (fanIn + fanOut)), +...)`,
 * with the fans given explicitly so that Keras' conventions for
 * `EinsumDense` kernels can be matched.
 *
 * @param shape The variable's shape.
 * @param fans The fan-in and fan-out.
 * @param rng The seed stream.
 * @param name The parameter's name.
 * @returns The variable.
 *
 * @example A Glorot kernel
 * ```ts
 * import { glorotVariable } from "./_ops.ts";
 * import { SeedStream } from "./random.ts";
 * import assert from "node:assert/strict";
 *
 * const v = glorotVariable([4, 2], [4, 2], new SeedStream(1), "k");
 * assert.ok(Array.from(v.dataSync()).every((x) => Math.abs(x) <= 1));
 * v.dispose();
 * ```
 */
export function glorotVariable(
  shape: number[],
  fans: readonly [number, number],
  rng: SeedStream,
  name: string,
): TfVariable {
  return uniformVariable(shape, Math.sqrt(6 / (fans[0] + fans[1])), rng, name);
}

/**
 * Creates a variable filled with a constant (zeros for biases, ones for
 * LayerNorm scales).
 *
 * @param shape The variable's shape.
 * @param value The constant.
 * @param name The parameter's name.
 * @returns The variable.
 *
 * @example A zero bias
 * ```ts
 * import { constantVariable } from "./_ops.ts";
 * import assert from "node:assert/strict";
 *
 * const b = constantVariable([3], 0, "b");
 * assert.deepEqual(Array.from(b.dataSync()), [0, 0, 0]);
 * b.dispose();
 * ```
 */
export function constantVariable(shape: number[], value: number, name: string): TfVariable {
  return variableFrom(tf.fill(shape, value), name);
}

/** A trainable variable holding `initial`, which is disposed (the variable keeps its own copy). */
function variableFrom(initial: TfTensor, name: string): TfVariable {
  const variable = tf.variable(initial, true, uniqueName(name));
  initial.dispose();
  return variable;
}

let variableCounter = 0;
function uniqueName(name: string): string {
  variableCounter++;
  return `efa/${name}/${variableCounter}`;
}

/**
 * The number of trainable scalars in a parameter record.
 *
 * @param params The parameters.
 * @returns Their total size.
 *
 * @example Count a 3x2 kernel and a bias
 * ```ts
 * import { constantVariable, countParameters } from "./_ops.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { k: constantVariable([3, 2], 0, "k"), b: constantVariable([2], 0, "b") };
 * assert.equal(countParameters(params), 8);
 * Object.values(params).forEach((p) => p.dispose());
 * ```
 */
export function countParameters(params: ModelParameters): number {
  return Object.values(params).reduce((n, p) => n + p.size, 0);
}

/**
 * Looks up rows of an embedding table. The gradient is a scatter-add
 * (`tf.scatterND`), because tfjs's own `gather` gradient
 * (`UnsortedSegmentSum`) is not registered on the wasm backend.
 *
 * @param table The table, `[rows, dim]`.
 * @param ids Row ids of any shape, int32.
 * @returns The rows, `[...ids.shape, dim]`.
 *
 * @example Look up two rows
 * ```ts
 * import { embeddingLookup } from "./_ops.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const rows = embeddingLookup(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor1d([1, 1], "int32"));
 * assert.deepEqual(Array.from(rows.dataSync()), [3, 4, 3, 4]);
 * ```
 */
export function embeddingLookup(table: TfTensor, ids: TfTensor): TfTensor {
  const dim = table.shape[1]!;
  const flatIds = tf.reshape(ids, [-1]); // [n]
  const rows = lookupRows(table, flatIds); // [n, dim]
  flatIds.dispose();
  const out = tf.reshape(rows, [...ids.shape, dim]);
  rows.dispose();
  return out;
}

const lookupRows = customGrad<[table: TfTensor, ids: TfTensor]>((table, ids, save) => {
  save([ids]);
  const shape = table.shape as number[];
  return {
    value: tf.gather(table, ids), // [n, dim]
    gradFunc: (dy, saved) => {
      const flat = saved[0]!;
      return [tf.scatterND(tf.reshape(flat, [-1, 1]), dy, shape), tf.zerosLike(flat)];
    },
  };
});

/**
 * Creates the parameters of a dense layer (Glorot-uniform kernel, zero bias).
 *
 * @param params The record to add to.
 * @param name The layer's name.
 * @param inDim The input width.
 * @param outDim The output width.
 * @param rng The seed stream.
 * @param bias Whether the layer has a bias.
 *
 * @example Add a dense layer's parameters
 * ```ts
 * import { addDense, type ModelParameters } from "./_ops.ts";
 * import { SeedStream } from "./random.ts";
 * import assert from "node:assert/strict";
 *
 * const params: ModelParameters = {};
 * addDense(params, "d", 4, 3, new SeedStream(1));
 * assert.deepEqual(Object.keys(params), ["d.kernel", "d.bias"]);
 * ```
 */
export function addDense(
  params: ModelParameters,
  name: string,
  inDim: number,
  outDim: number,
  rng: SeedStream,
  bias = true,
): void {
  params[`${name}.kernel`] = glorotVariable(
    [inDim, outDim],
    [inDim, outDim],
    rng,
    `${name}.kernel`,
  );
  if (bias) params[`${name}.bias`] = constantVariable([outDim], 0, `${name}.bias`);
}

/**
 * Reads a parameter, throwing a clear error when it is missing.
 *
 * @param params The parameters.
 * @param name The parameter's name.
 * @returns The variable.
 *
 * @example Read a parameter
 * ```ts
 * import { constantVariable, param } from "./_ops.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(param({ w: constantVariable([1], 0, "w") }, "w").size, 1);
 * assert.throws(() => param({}, "w"), RangeError);
 * ```
 */
export function param(params: ModelParameters, name: string): TfVariable {
  const p = params[name];
  if (p === undefined) {
    throw new RangeError(`Cannot find parameter "${name}": the model has no such parameter`);
  }
  return p;
}

/**
 * Layer normalisation over the last axis with a learned scale and offset.
 *
 * @param params Reads `${name}.gamma` and `${name}.beta`, `[width]`.
 * @param name The layer's name.
 * @param x The input, `[..., width]`.
 * @param epsilon Added to the variance.
 * @returns The normalised input, `[..., width]`.
 *
 * @example Normalise a vector
 * ```ts
 * import { constantVariable, layerNorm } from "./_ops.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const params = { "n.gamma": constantVariable([2], 1, "g"), "n.beta": constantVariable([2], 0, "b") };
 * const y = layerNorm(params, "n", tf.tensor2d([[1, 3]]), 0).dataSync();
 * assert.ok(Math.abs(y[0]! + 1) < 1e-6 && Math.abs(y[1]! - 1) < 1e-6);
 * ```
 */
export function layerNorm(
  params: ModelParameters,
  name: string,
  x: TfTensor,
  epsilon: number,
): TfTensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const { mean, variance } = tf.moments(x, axis, true); // [..., 1]
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon))); // [..., W]
    return tf.add(tf.mul(normed, param(params, `${name}.gamma`)), param(params, `${name}.beta`));
  });
}

// Explicit transposes in the gradients: tfjs's transposeA/transposeB matmuls are about 8x slower on wasm.
/**
 * The gradients of `x W` with respect to x `[n, in]` and W `[in, out]`:
 * `g W^T` and `x^T g`, as plain products of transposed copies (tfjs's
 * transposed products are slow and sum differently), or, with the package's
 * kernels, the one-block products that give the same bits without the copies.
 */
function linearGrads(g: TfTensor, x: TfTensor, w: TfTensor): [TfTensor, TfTensor] {
  if (fastKernelsActive()) {
    return [oneBlockProduct(g, w, false, true), oneBlockProduct(x, g, true, false)];
  }
  return [tf.matMul(g, tf.transpose(w)), tf.matMul(tf.transpose(x), g)]; // [n, in], [in, out]
}

const linearWithBias = customGrad<[x: TfTensor, w: TfTensor, b: TfTensor]>((x, w, b, save) => {
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x, w), b), // [n, out]
    gradFunc: (g, [xs, ws]) => [...linearGrads(g, xs!, ws!), tf.sum(g, 0)], // [n, in], [in, out], [out]
  };
});

const linearNoBias = customGrad<[x: TfTensor, w: TfTensor]>((x, w, save) => {
  save([x, w]);
  return {
    value: tf.matMul(x, w), // [n, out]
    gradFunc: (g, [xs, ws]) => linearGrads(g, xs!, ws!),
  };
});

/**
 * `x W + b` on the last axis with a hand-written gradient that avoids tfjs's
 * transposed matmuls (`transposeA`/`transposeB`), which run about 8x slower
 * than a plain matmul on the wasm backend.
 *
 * @param x The input, `[..., in]`.
 * @param kernel The weights, `[in, out]`.
 * @param bias The bias, `[out]`, if any.
 * @returns The output, `[..., out]`.
 *
 * @example A 2-by-1 kernel
 * ```ts
 * import { linear } from "./_ops.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const y = linear(tf.tensor2d([[1, 2]]), tf.tensor2d([[1], [1]]), tf.tensor1d([0.5]));
 * assert.deepEqual(Array.from(y.dataSync()), [3.5]);
 * ```
 */
export function linear(x: TfTensor, kernel: TfTensor, bias?: TfTensor): TfTensor {
  return tf.tidy(() => {
    const [inDim, outDim] = kernel.shape as [number, number];
    const lead = x.shape.slice(0, -1);
    const x2 = tf.reshape(x, [-1, inDim]); // [n, in]
    const y = bias === undefined ? linearNoBias(x2, kernel) : linearWithBias(x2, kernel, bias); // [n, out]
    return tf.reshape(y, [...lead, outDim]); // [..., out]
  });
}

/**
 * The dense layer of every model: `x W + b` on the last axis through
 * {@link linear} (its hand-written gradient).
 *
 * @param params The parameters; reads `${name}.kernel` `[in, out]` and `${name}.bias` `[out]` (when present).
 * @param name The layer's name.
 * @param x The input, `[..., in]`.
 * @returns The output, `[..., out]`.
 *
 * @example A dense layer on a batch of vectors
 * ```ts
 * import { dense } from "./_ops.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const params = { "d.kernel": tf.variable(tf.tensor2d([[1], [2]])), "d.bias": tf.variable(tf.tensor1d([1])) };
 * assert.deepEqual(Array.from(dense(params, "d", tf.tensor2d([[1, 1]])).dataSync()), [4]);
 * ```
 */
export function dense(params: ModelParameters, name: string, x: TfTensor): TfTensor {
  return linear(x, param(params, `${name}.kernel`), params[`${name}.bias`]);
}

/**
 * Creates the parameters of a LayerNorm (scale ones, offset zeros).
 *
 * @param params The record to add to.
 * @param name The layer's name.
 * @param width The normalised width.
 *
 * @example Add a LayerNorm's parameters
 * ```ts
 * import { addLayerNorm, type ModelParameters } from "./_ops.ts";
 * import assert from "node:assert/strict";
 *
 * const params: ModelParameters = {};
 * addLayerNorm(params, "n", 4);
 * assert.deepEqual(Object.keys(params), ["n.gamma", "n.beta"]);
 * ```
 */
export function addLayerNorm(params: ModelParameters, name: string, width: number): void {
  params[`${name}.gamma`] = constantVariable([width], 1, `${name}.gamma`);
  params[`${name}.beta`] = constantVariable([width], 0, `${name}.beta`);
}

/**
 * Softmax along one axis with a hand-written gradient,
 * `dx = y (dy - sum(dy y))`, which saves the gradient through the max
 * subtracted for stability (tfjs's `softmax` works on the last axis only).
 *
 * @param x The logits.
 * @param axis The axis to normalise over.
 * @returns The probabilities, shaped like `x`.
 *
 * @example Columns sum to one
 * ```ts
 * import { softmaxOver } from "./_ops.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const y = softmaxOver(tf.tensor2d([[0, 1], [0, 1]]), 0).dataSync();
 * assert.ok(Math.abs(y[0]! - 0.5) < 1e-6 && Math.abs(y[1]! + y[3]! - 1) < 1e-6);
 * ```
 */
export function softmaxOver(x: TfTensor, axis: number): TfTensor {
  let op = softmaxOps.get(axis);
  if (op === undefined) {
    op = customGrad<[logits: TfTensor]>((logits, save) => {
      const y = tf.tidy(() => {
        const shifted = tf.exp(tf.sub(logits, tf.max(logits, axis, true)));
        return tf.div(shifted, tf.sum(shifted, axis, true));
      });
      save([y]);
      return {
        value: y,
        gradFunc: (g, [ys]) => [tf.mul(ys!, tf.sub(g, tf.sum(tf.mul(g, ys!), axis, true)))],
      };
    });
    softmaxOps.set(axis, op);
  }
  return op(x);
}

/** One softmax op per axis, built on first use. */
const softmaxOps = new Map<number, (x: TfTensor) => TfTensor>();

/**
 * `log sum exp(x)` over the last axis with the gradient `softmax(x)` written
 * out (tfjs's own `logSumExp` backpropagates through the max it subtracts).
 *
 * @param x The values, `[..., n]`.
 * @returns `[...]`.
 *
 * @example log(e^0 + e^0) = log 2
 * ```ts
 * import { logSumExpLast } from "./_ops.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * assert.ok(Math.abs(logSumExpLast(tf.tensor2d([[0, 0]])).dataSync()[0]! - Math.log(2)) < 1e-6);
 * ```
 */
export function logSumExpLast(x: TfTensor): TfTensor {
  return logSumExpOp(x);
}

const logSumExpOp = customGrad<[x: TfTensor]>((x, save) => {
  const axis = x.rank - 1;
  const value = tf.tidy(() => {
    const max = tf.max(x, axis, true);
    return tf.add(tf.squeeze(max, [axis]), tf.log(tf.sum(tf.exp(tf.sub(x, max)), axis)));
  });
  save([x, value]);
  return {
    value,
    gradFunc: (dy, [xs, v]) => {
      const a = xs!.rank - 1;
      return [tf.mul(tf.exp(tf.sub(xs!, tf.expandDims(v!, a))), tf.expandDims(dy, a))];
    },
  };
});
