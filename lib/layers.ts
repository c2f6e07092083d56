/**
 * The building blocks of the EFA and FM models, written with functional tfjs
 * ops over a flat record of named parameters: Keras-compatible initialisers,
 * dense layers, embedding lookups, multi-head scaled dot-product attention
 * and layer normalisation.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfTensor, TfVariable } from "./_types.ts";
import type { SeedStream } from "./random.ts";
import { checkShapes, type Tensor } from "./shapes.ts";

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
 * import { SeedStream, uniformVariable } from "@efa/efa";
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
 * import { glorotVariable, SeedStream } from "@efa/efa";
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
 * import { constantVariable } from "@efa/efa";
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
 * import { constantVariable, countParameters } from "@efa/efa";
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
 * import { embeddingLookup } from "@efa/efa";
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

const lookupRows: (table: TfTensor, ids: TfTensor) => TfTensor = tf.customGrad(
  ((table: TfTensor, ids: TfTensor, save: tf.GradSaveFunc) => {
    save([ids]);
    const shape = table.shape as number[];
    return {
      value: tf.gather(table, ids), // [n, dim]
      gradFunc: (dy: TfTensor | TfTensor[], saved: TfTensor[]) => {
        const flat = saved[0]!;
        return [
          tf.scatterND(tf.reshape(flat, [-1, 1]), dy as TfTensor, shape),
          tf.zerosLike(flat),
        ];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as (table: TfTensor, ids: TfTensor) => TfTensor;

/**
 * A dense layer on the last axis: `x W + b` (the bias when present).
 *
 * @param params The parameters; reads `${name}.kernel` `[in, out]` and `${name}.bias` `[out]`.
 * @param name The layer's name.
 * @param x The input, `[..., in]`.
 * @returns The output, `[..., out]`.
 *
 * @example A dense layer on a batch of vectors
 * ```ts
 * import { dense } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const params = { "d.kernel": tf.variable(tf.tensor2d([[1], [2]])), "d.bias": tf.variable(tf.tensor1d([1])) };
 * assert.deepEqual(Array.from(dense(params, "d", tf.tensor2d([[1, 1]])).dataSync()), [4]);
 * ```
 */
export function dense(params: ModelParameters, name: string, x: TfTensor): TfTensor {
  return tf.tidy(() => {
    const kernel = param(params, `${name}.kernel`); // [in, out]
    const [inDim, outDim] = kernel.shape as [number, number];
    const lead = x.shape.slice(0, -1);
    let y = tf.matMul(tf.reshape(x, [-1, inDim]), kernel); // [n, out]
    const bias = params[`${name}.bias`];
    if (bias !== undefined) y = tf.add(y, bias);
    return tf.reshape(y, [...lead, outDim]); // [..., out]
  });
}

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
 * import { addDense, SeedStream } from "@efa/efa";
 * import type { ModelParameters } from "@efa/efa";
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
 * import { constantVariable, param } from "@efa/efa";
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
 * Scaled dot-product attention: `softmax(q k^T * scale + maskBias) v`.
 * Masked keys (mask 0) get a logit of -1e9, as Keras' masked softmax.
 *
 * @param query Queries, `[batch, query, key_dim]`.
 * @param keys Keys, `[batch, kv, key_dim]`.
 * @param values Values, `[batch, kv, value_dim]`.
 * @param options The scale (default `1 / sqrt(key_dim)`) and a 0/1 mask `[batch, query, kv]`.
 * @returns The output `[batch, query, value_dim]` and the weights `[batch, query, kv]`.
 *
 * @example Attention over two keys
 * ```ts
 * import { named, scaledDotProductAttention } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const q = named(tf.tensor3d([[[0]]]), "batch query key_dim");
 * const k = named(tf.tensor3d([[[1], [2]]]), "batch kv key_dim");
 * const { output, weights } = scaledDotProductAttention(q, k, named(k, "batch kv value_dim"));
 * assert.deepEqual(Array.from(weights.dataSync()), [0.5, 0.5]);
 * assert.deepEqual(Array.from(output.dataSync()), [1.5]);
 * ```
 */
export function scaledDotProductAttention(
  query: Tensor<"batch query key_dim">,
  keys: Tensor<"batch kv key_dim">,
  values: Tensor<"batch kv value_dim">,
  options: { scale?: number; mask?: Tensor<"batch query kv"> } = {},
): { output: Tensor<"batch query value_dim">; weights: Tensor<"batch query kv"> } {
  const dims = checkShapes("scaledDotProductAttention", {
    query: [query, "batch query key_dim", "float32"],
    keys: [keys, "batch kv key_dim", "float32"],
    values: [values, "batch kv value_dim", "float32"],
  });
  if (options.mask !== undefined) {
    checkShapes("scaledDotProductAttention", { mask: [options.mask, "batch query kv"] }, dims);
  }
  const scale = options.scale ?? 1 / Math.sqrt(dims["key_dim"]!);
  return tf.tidy(() => {
    let logits = tf.mul(tf.matMul(query, keys, false, true), scale); // [batch, query, kv]
    if (options.mask !== undefined) logits = tf.add(logits, maskBias(options.mask));
    const weights = tf.softmax(logits); // [batch, query, kv]
    const output = tf.matMul(weights, values); // [batch, query, value_dim]
    return {
      output: output as Tensor<"batch query value_dim">,
      weights: weights as Tensor<"batch query kv">,
    };
  });
}

/** `(1 - mask) * -1e9`: the additive logit bias of Keras' masked softmax. */
export function maskBias(mask: TfTensor): TfTensor {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.cast(mask, "float32")), -1e9));
}

/**
 * Creates the parameters of a Keras `MultiHeadAttention` layer with
 * `value_dim = key_dim`, stored as 2-D kernels (`[width, heads*key_dim]`) but
 * initialised with the fans Keras computes for its 3-D `EinsumDense` kernels.
 *
 * @param params The record to add to.
 * @param name The layer's name.
 * @param width The model width.
 * @param heads The number of heads.
 * @param keyDim The width of each head.
 * @param rng The seed stream.
 *
 * @example The paper's 2-head, key_dim 16 layer at width 32 has 4,224 parameters
 * ```ts
 * import { addMultiHeadAttention, countParameters, SeedStream } from "@efa/efa";
 * import type { ModelParameters } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const params: ModelParameters = {};
 * addMultiHeadAttention(params, "mha", 32, 2, 16, new SeedStream(1));
 * assert.equal(countParameters(params), 4224);
 * ```
 */
export function addMultiHeadAttention(
  params: ModelParameters,
  name: string,
  width: number,
  heads: number,
  keyDim: number,
  rng: SeedStream,
): void {
  for (const proj of ["query", "key", "value"]) {
    // Keras kernel shape (width, heads, key_dim): fan_in = heads*width, fan_out = key_dim*width.
    params[`${name}.${proj}.kernel`] = glorotVariable(
      [width, heads * keyDim],
      [heads * width, keyDim * width],
      rng,
      `${name}.${proj}.kernel`,
    );
    params[`${name}.${proj}.bias`] = constantVariable([heads * keyDim], 0, `${name}.${proj}.bias`);
  }
  // Keras kernel shape (heads, key_dim, width): fan_in = key_dim*heads, fan_out = width*heads.
  params[`${name}.output.kernel`] = glorotVariable(
    [heads * keyDim, width],
    [keyDim * heads, width * heads],
    rng,
    `${name}.output.kernel`,
  );
  params[`${name}.output.bias`] = constantVariable([width], 0, `${name}.output.bias`);
}

/**
 * Multi-head self-attention over a batch of token sequences, Keras-style
 * (biases on every projection, scale `1 / sqrt(key_dim)`, no dropout).
 *
 * @param params The parameters (see {@link addMultiHeadAttention}).
 * @param name The layer's name.
 * @param x Tokens, `[batch, time, width]`.
 * @param mask Which keys each query may attend to, 0/1 `[batch, time, time]`.
 * @param heads The number of heads.
 * @returns The output `[batch, time, width]` and the weights `[batch, heads, time, time]`.
 *
 * @example Self-attention keeps the shape
 * ```ts
 * import { addMultiHeadAttention, multiHeadAttention, SeedStream } from "@efa/efa";
 * import type { ModelParameters } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const params: ModelParameters = {};
 * addMultiHeadAttention(params, "mha", 8, 2, 4, new SeedStream(1));
 * const { output, weights } = multiHeadAttention(params, "mha", tf.ones([1, 3, 8]), tf.ones([1, 3, 3]), 2);
 * assert.deepEqual(output.shape, [1, 3, 8]);
 * assert.deepEqual(weights.shape, [1, 2, 3, 3]);
 * ```
 */
export function multiHeadAttention(
  params: ModelParameters,
  name: string,
  x: TfTensor,
  mask: TfTensor,
  heads: number,
): { output: TfTensor; weights: TfTensor } {
  return tf.tidy(() => {
    const [B, T] = x.shape as [number, number, number]; // x: [B, T, W]
    const split = (t: TfTensor): TfTensor => {
      const K = t.shape[2]! / heads;
      return tf.transpose(tf.reshape(t, [B, T, heads, K]), [0, 2, 1, 3]); // [B, H, T, K]
    };
    const q = split(dense(params, `${name}.query`, x)); // [B, H, T, K]
    const k = split(dense(params, `${name}.key`, x)); // [B, H, T, K]
    const v = split(dense(params, `${name}.value`, x)); // [B, H, T, K]
    const K = q.shape[3]!;
    const logits = tf.add(
      tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(K)), // [B, H, T, T]
      tf.expandDims(maskBias(mask), 1), // [B, 1, T, T]
    );
    const weights = tf.softmax(logits); // [B, H, T, T]
    const heads_ = tf.matMul(weights, v); // [B, H, T, K]
    const merged = tf.reshape(tf.transpose(heads_, [0, 2, 1, 3]), [B, T, heads * K]); // [B, T, H*K]
    return { output: dense(params, `${name}.output`, merged), weights }; // [B, T, W]
  });
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
 * import { constantVariable, layerNorm } from "@efa/efa";
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

const linearWithBias: (x: TfTensor, w: TfTensor, b: TfTensor) => TfTensor = tf.customGrad(
  ((x: TfTensor, w: TfTensor, b: TfTensor, save: tf.GradSaveFunc) => {
    save([x, w]);
    return {
      value: tf.add(tf.matMul(x, w), b), // [n, out]
      gradFunc: (dy: TfTensor | TfTensor[], saved: TfTensor[]) => {
        const [xs, ws] = saved as [TfTensor, TfTensor];
        const g = dy as TfTensor;
        // Explicit transposes: tfjs's transposeA/transposeB matmuls are about 8x slower on wasm.
        return [tf.matMul(g, tf.transpose(ws)), tf.matMul(tf.transpose(xs), g), tf.sum(g, 0)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as (x: TfTensor, w: TfTensor, b: TfTensor) => TfTensor;

const linearNoBias: (x: TfTensor, w: TfTensor) => TfTensor = tf.customGrad(
  ((x: TfTensor, w: TfTensor, save: tf.GradSaveFunc) => {
    save([x, w]);
    return {
      value: tf.matMul(x, w), // [n, out]
      gradFunc: (dy: TfTensor | TfTensor[], saved: TfTensor[]) => {
        const [xs, ws] = saved as [TfTensor, TfTensor];
        const g = dy as TfTensor;
        return [tf.matMul(g, tf.transpose(ws)), tf.matMul(tf.transpose(xs), g)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as (x: TfTensor, w: TfTensor) => TfTensor;

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
 * import { linear } from "@efa/efa";
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
 * The same dense layer as {@link dense}, with a hand-written gradient that
 * avoids tfjs's transposed matmuls (`transposeA`/`transposeB`), which run
 * about 8x slower than a plain matmul on the wasm backend. Used by the fast
 * training path; values and gradients equal {@link dense}'s up to float32
 * rounding.
 *
 * @param params The parameters; reads `${name}.kernel` `[in, out]` and `${name}.bias` `[out]`.
 * @param name The layer's name.
 * @param x The input, `[..., in]`.
 * @returns The output, `[..., out]`.
 *
 * @example Same values as dense()
 * ```ts
 * import { dense, fastDense } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const params = { "d.kernel": tf.variable(tf.tensor2d([[1], [2]])), "d.bias": tf.variable(tf.tensor1d([1])) };
 * const x = tf.tensor2d([[1, 1], [2, 0]]);
 * assert.deepEqual(fastDense(params, "d", x).dataSync(), dense(params, "d", x).dataSync());
 * ```
 */
export function fastDense(params: ModelParameters, name: string, x: TfTensor): TfTensor {
  return linear(x, param(params, `${name}.kernel`), params[`${name}.bias`]);
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
 * import { softmaxOver } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const y = softmaxOver(tf.tensor2d([[0, 1], [0, 1]]), 0).dataSync();
 * assert.ok(Math.abs(y[0]! - 0.5) < 1e-6 && Math.abs(y[1]! + y[3]! - 1) < 1e-6);
 * ```
 */
export function softmaxOver(x: TfTensor, axis: number): TfTensor {
  const op = tf.customGrad(
    ((logits: TfTensor, save: tf.GradSaveFunc) => {
      const y = tf.tidy(() => {
        const shifted = tf.exp(tf.sub(logits, tf.max(logits, axis, true)));
        return tf.div(shifted, tf.sum(shifted, axis, true));
      });
      save([y]);
      return {
        value: y,
        gradFunc: (dy: TfTensor | TfTensor[], saved: TfTensor[]) => {
          const [ys] = saved as [TfTensor];
          const g = dy as TfTensor;
          return [tf.mul(ys, tf.sub(g, tf.sum(tf.mul(g, ys), axis, true)))];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as (x: TfTensor) => TfTensor;
  return op(x);
}

/**
 * `log sum exp(x)` over the last axis with the gradient `softmax(x)` written
 * out (tfjs's own `logSumExp` backpropagates through the max it subtracts).
 *
 * @param x The values, `[..., n]`.
 * @returns `[...]`.
 *
 * @example log(e^0 + e^0) = log 2
 * ```ts
 * import { logSumExpLast } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * assert.ok(Math.abs(logSumExpLast(tf.tensor2d([[0, 0]])).dataSync()[0]! - Math.log(2)) < 1e-6);
 * ```
 */
export function logSumExpLast(x: TfTensor): TfTensor {
  return logSumExpOp(x);
}

const logSumExpOp: (x: TfTensor) => TfTensor = tf.customGrad(
  ((x: TfTensor, save: tf.GradSaveFunc) => {
    const axis = x.rank - 1;
    const value = tf.tidy(() => {
      const max = tf.max(x, axis, true);
      return tf.add(tf.squeeze(max, [axis]), tf.log(tf.sum(tf.exp(tf.sub(x, max)), axis)));
    });
    save([x, value]);
    return {
      value,
      gradFunc: (dy: TfTensor | TfTensor[], saved: TfTensor[]) => {
        const [xs, v] = saved as [TfTensor, TfTensor];
        const a = xs.rank - 1;
        return [tf.mul(tf.exp(tf.sub(xs, tf.expandDims(v, a))), tf.expandDims(dy as TfTensor, a))];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as (x: TfTensor) => TfTensor;
