/**
 * Exponential Family Attention (EFA), the model of Wibisono & Wang
 * (arXiv 2501.16790), built exactly as the authors' Keras notebooks build it.
 *
 * Each observation `i` of a sequence is an item `x_i` (an attribute: product,
 * movie, city) with an optional value `y_i` (rating, count, temperature). To
 * predict observation `i`, EFA masks it, embeds every token, runs `L` layers of
 * multi-head self-attention with residual connections over the context, takes
 * the representation at position `i` and maps it to the natural parameter of
 * an exponential family:
 *
 * ```text
 * token_j = [alpha(x_j); beta(y_j); lag_j] (-> mixer MLP) + p_j       [B, T, W]
 * h       = x + MHA(x)  (-> LayerNorm, + FFN, -> LayerNorm)  x L      [B, T, W]
 * eta_i   = unembed(h_i)                                              [B, natural]
 * ```
 *
 * One config covers every model of the paper (`docs/EFA.md` section 1.2): the
 * categorical EFA (`target: "item"`, Instacart and MovieLens exp-1), the value
 * EFA (`target: "value"`: synthetic Gaussian, MovieLens exp-2 Poisson), the
 * spatial EFA (coordinates as attributes through an MLP, no positions,
 * post-LN blocks, optional lag tokens: temperature) and the joint mixed-type
 * model `p(x_i, y_i | context) = p(x_i | context) p(y_i | x_i, context)`
 * (`target: "joint"`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfTensor } from "./_types.ts";
import {
  addDense,
  addLayerNorm,
  constantVariable,
  dense,
  embeddingLookup,
  glorotVariable,
  layerNorm,
  linear,
  type ModelParameters,
  param,
  softmaxOver,
  uniformVariable,
} from "./_ops.ts";
import { fastKernelsActive } from "./_kernels.ts";
import { byLength, fusedLayerNorm, streamsAttention, targetAttention } from "./_fused_ops.ts";
import { checkBatch, type PaddedBatch, type RowsBatch, type TokenRows } from "./data.ts";
import { type ExponentialFamily, familyFromSpec, type FamilySpec } from "./families.ts";
import { SeedStream } from "./random.ts";
import { checkShapes, type Tensor } from "./shapes.ts";

/** How item ids become vectors. */
export type ItemEmbedding =
  /** A learned table (rows: 0 = padding, 1..J = items, J+1 = mask token when items are predicted). */
  | { readonly kind: "table"; readonly dim: number }
  /** An MLP `Dense(hidden, relu) -> Dense(dim)` on fixed item features (e.g. city latitude, longitude). */
  | {
    readonly kind: "mlp";
    readonly features: readonly (readonly number[])[];
    readonly hidden: number;
    readonly dim: number;
  };

/** How values become vectors. */
export type ValueEmbedding =
  /** No values (the categorical EFA). */
  | { readonly kind: "none" }
  /**
   * A table indexed by the value truncated toward zero, negative indices
   * wrapping around as in Keras 3; the target's value is replaced by `maskIndex`.
   */
  | {
    readonly kind: "table";
    readonly size: number;
    readonly dim: number;
    readonly maskIndex: number;
  }
  /** An MLP `Dense(hidden, relu) -> Dense(dim)` on the scalar value; the target's vector is replaced by a learned mask vector. */
  | { readonly kind: "mlp"; readonly hidden: number; readonly dim: number };

/** Every setting of an EFA model; see {@link efaConfig} for defaults. */
export interface EfaConfig {
  /** Number of distinct items J; ids are 1..J (0 pads, J+1 masks). */
  readonly numItems: number;
  /** Longest sequence the model accepts; the size of the positional table. */
  readonly maxLength: number;
  /** What is predicted at a masked position: the item, its value, or both (joint). */
  readonly target: "item" | "value" | "joint";
  /** The family of the value (for `"value"` and `"joint"`); `null` for `"item"`. */
  readonly family: FamilySpec | null;
  /** Unidirectional: previous observations only. Bidirectional: all other observations. */
  readonly direction: "unidirectional" | "bidirectional";
  /**
   * How unidirectional context is enforced: `"causal"` masks each token's
   * future (the paper's categorical EFA); `"prefix"` keeps the tokens up to the
   * target, which attend to each other freely (the paper's value EFA).
   */
  readonly unidirectionalMask: "causal" | "prefix";
  /** The attribute embedding. */
  readonly itemEmbedding: ItemEmbedding;
  /** The value embedding. */
  readonly valueEmbedding: ValueEmbedding;
  /** Number of lag groups (0: no lag tokens; temperature lag 1: 2 groups). */
  readonly lagGroups: number;
  /** Width of the lag-group embedding, concatenated to each token. */
  readonly lagDim: number;
  /** `Dense(hidden, relu) -> Dense(dim)` applied to the concatenated token (temperature), or `null`. */
  readonly tokenMixer: { readonly hidden: number; readonly dim: number } | null;
  /** Add a learned positional embedding (sequences: yes; cities: no). */
  readonly positionEmbedding: boolean;
  /** Number of attention layers L. */
  readonly layers: number;
  /** Heads per layer. */
  readonly heads: number;
  /** Width of each head (Keras `key_dim`); logits are scaled by `1/sqrt(keyDim)`. */
  readonly keyDim: number;
  /** Post-LN blocks: `LN(x + MHA(x))`, as the temperature model. */
  readonly layerNorm: boolean;
  /** LayerNorm epsilon (Keras default 1e-3). */
  readonly layerNormEpsilon: number;
  /** Hidden width of the feed-forward block `Dense(h, relu) -> Dense(W)`; 0 for none. */
  readonly feedForward: number;
  /** Hidden ReLU widths between the target's representation and the value output (`[32]`, `[128, 16]`). */
  readonly head: readonly number[];
}

/**
 * The defaults: the paper's categorical EFA (Instacart, 63 items, baskets of
 * at most 24): width 32, 2 layers of 2 heads with key_dim 16, residual only,
 * learned positions, causal unidirectional masking.
 */
export const DEFAULT_EFA_CONFIG: EfaConfig = {
  numItems: 63, // Instacart's 63 frequent products
  maxLength: 24, // the longest Instacart basket
  target: "item", // predict which item sits at the masked position
  family: null, // items are categorical; a value family is only needed for values
  direction: "bidirectional", // the paper's better-scoring direction on every data set
  unidirectionalMask: "causal", // the categorical notebooks use Keras' use_causal_mask
  itemEmbedding: { kind: "table", dim: 32 }, // D = 32 throughout the paper
  valueEmbedding: { kind: "none" },
  lagGroups: 0,
  lagDim: 32,
  tokenMixer: null,
  positionEmbedding: true, // keras_nlp PositionEmbedding
  layers: 2, // two attention layers everywhere except the temperature ablation
  heads: 2, // num_heads=2
  keyDim: 16, // key_dim=16, so the logits scale is 1/4
  layerNorm: false, // residual only, except the temperature model
  layerNormEpsilon: 1e-3, // Keras LayerNormalization default
  feedForward: 0,
  head: [], // the unembedding reads the attention output directly
};

/** A config with every field optional, as {@link efaConfig} accepts. */
export type EfaConfigInput = { readonly [K in keyof EfaConfig]?: EfaConfig[K] };

/**
 * Completes and validates a config: defaults from {@link DEFAULT_EFA_CONFIG}.
 *
 * @param overrides The settings that differ from the defaults.
 * @returns The full config.
 * @throws {RangeError} When a setting is out of range or settings contradict each other.
 *
 * @example The paper's MovieLens exp-2 value EFA (Poisson v1)
 * ```ts
 * import { efaConfig } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const config = efaConfig({
 *   numItems: 50, maxLength: 44, target: "value",
 *   family: { name: "poisson-shifted-count" }, unidirectionalMask: "prefix",
 *   valueEmbedding: { kind: "table", size: 5, dim: 32, maskIndex: 4 }, head: [32],
 * });
 * assert.equal(config.layers, 2);
 * ```
 */
export function efaConfig(overrides: EfaConfigInput = {}): EfaConfig {
  const config = { ...DEFAULT_EFA_CONFIG, ...overrides } as EfaConfig;
  const fn = "efaConfig";
  const positive = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${fn}(): expected ${name} to be a positive integer, got ${v}`);
    }
  };
  for (const key of ["numItems", "maxLength", "layers", "heads", "keyDim", "lagDim"] as const) {
    positive(key, config[key]);
  }
  positive("itemEmbedding.dim", config.itemEmbedding.dim);
  if (!Number.isInteger(config.lagGroups) || config.lagGroups < 0) {
    throw new RangeError(
      `${fn}(): expected lagGroups to be an integer >= 0, got ${config.lagGroups}`,
    );
  }
  if (!Number.isInteger(config.feedForward) || config.feedForward < 0) {
    throw new RangeError(
      `${fn}(): expected feedForward to be an integer >= 0, got ${config.feedForward}`,
    );
  }
  config.head.forEach((w, i) => positive(`head[${i}]`, w));
  if (!["item", "value", "joint"].includes(config.target)) {
    throw new RangeError(
      `${fn}(): expected target to be "item", "value" or "joint", got ${
        JSON.stringify(config.target)
      }`,
    );
  }
  if (!["unidirectional", "bidirectional"].includes(config.direction)) {
    throw new RangeError(
      `${fn}(): expected direction to be "unidirectional" or "bidirectional", got ${
        JSON.stringify(config.direction)
      }`,
    );
  }
  if (!["causal", "prefix"].includes(config.unidirectionalMask)) {
    throw new RangeError(
      `${fn}(): expected unidirectionalMask to be "causal" or "prefix", got ${
        JSON.stringify(config.unidirectionalMask)
      }`,
    );
  }
  if (config.target === "item" && config.family !== null) {
    throw new RangeError(
      `${fn}(): expected family to be null when target is "item", got ${config.family.name}`,
    );
  }
  if (config.target !== "item") {
    if (config.family === null) {
      throw new RangeError(`${fn}(): expected a value family when target is "${config.target}"`);
    }
    if (config.valueEmbedding.kind === "none") {
      throw new RangeError(
        `${fn}(): expected a value embedding when target is "${config.target}", got kind "none"`,
      );
    }
    familyFromSpec(config.family);
  }
  if (config.itemEmbedding.kind === "mlp") {
    if (config.target !== "value") {
      throw new RangeError(
        `${fn}(): expected target "value" with an MLP item embedding (items cannot be masked), got "${config.target}"`,
      );
    }
    if (config.itemEmbedding.features.length !== config.numItems + 1) {
      throw new RangeError(
        `${fn}(): expected itemEmbedding.features to have numItems + 1 = ${
          config.numItems + 1
        } rows (row 0 for padding), got ${config.itemEmbedding.features.length}`,
      );
    }
  }
  const value = config.valueEmbedding;
  if (value.kind === "table") {
    positive("valueEmbedding.size", value.size);
    if (
      !Number.isInteger(value.maskIndex) || value.maskIndex < 0 || value.maskIndex >= value.size
    ) {
      throw new RangeError(
        `${fn}(): expected valueEmbedding.maskIndex in 0..${
          value.size - 1
        }, got ${value.maskIndex}`,
      );
    }
  }
  return config;
}

/** A trained or freshly initialised EFA model: its config and named parameters. */
export interface EfaModel {
  /** Always `"efa"`. */
  readonly kind: "efa";
  /** The settings. */
  readonly config: EfaConfig;
  /** The trainable parameters by name. */
  readonly params: ModelParameters;
  /** The value family, or `null` when only items are predicted. */
  readonly family: ExponentialFamily | null;
  /** Fixed (non-trainable) item features for an MLP item embedding, `[numItems + 1, features]`. */
  readonly itemFeatures: TfTensor | null;
}

/** Options of {@link createEfa}. */
export interface CreateOptions {
  /** Seed of the initialisation (the same seed gives the same parameters). */
  readonly seed?: number;
}

/** The width of the tokens entering the attention layers. */
function modelWidth(config: EfaConfig): number {
  if (config.tokenMixer !== null) return config.tokenMixer.dim;
  const value = config.valueEmbedding.kind === "none" ? 0 : config.valueEmbedding.dim;
  return config.itemEmbedding.dim + value + (config.lagGroups > 0 ? config.lagDim : 0);
}

/**
 * Creates an EFA model with Keras' default initialisation (uniform ±0.05
 * embeddings, Glorot-uniform kernels and positions, zero biases), drawn from a
 * seed.
 *
 * @param config The settings (use {@link efaConfig} to fill in defaults).
 * @param options The seed.
 * @returns The model.
 *
 * @example The paper's Instacart EFA has 13,312 parameters
 * ```ts
 * import { countParameters, createEfa, disposeModel, efaConfig } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 63, maxLength: 24 }), { seed: 1 });
 * assert.equal(countParameters(model.params), 13312);
 * disposeModel(model);
 * ```
 */
export function createEfa(config: EfaConfig, options: CreateOptions = {}): EfaModel {
  config = efaConfig(config);
  const rng = new SeedStream(options.seed ?? 0);
  const params: ModelParameters = {};
  const J = config.numItems;
  const item = config.itemEmbedding;
  let itemFeatures: TfTensor | null = null;
  if (item.kind === "table") {
    const rows = config.target === "value" ? J + 1 : J + 2; // pad, items (, mask)
    params["item.embedding"] = uniformVariable([rows, item.dim], 0.05, rng, "item.embedding");
  } else {
    itemFeatures = tf.tensor2d(item.features.map((r) => [...r]), undefined, "float32");
    addDense(params, "item.hidden", itemFeatures.shape[1]!, item.hidden, rng);
    addDense(params, "item.output", item.hidden, item.dim, rng);
  }
  const value = config.valueEmbedding;
  if (value.kind === "table") {
    params["value.embedding"] = uniformVariable(
      [value.size, value.dim],
      0.05,
      rng,
      "value.embedding",
    );
  } else if (value.kind === "mlp") {
    addDense(params, "value.hidden", 1, value.hidden, rng);
    addDense(params, "value.output", value.hidden, value.dim, rng);
    params["value.mask"] = uniformVariable([2, value.dim], 0.05, rng, "value.mask"); // Keras Embedding(2, dim); row 1 is used
  }
  if (config.lagGroups > 0) {
    params["lag.embedding"] = uniformVariable(
      [config.lagGroups, config.lagDim],
      0.05,
      rng,
      "lag.embedding",
    );
  }
  const concatWidth = item.dim + (value.kind === "none" ? 0 : value.dim) +
    (config.lagGroups > 0 ? config.lagDim : 0);
  if (config.tokenMixer !== null) {
    addDense(params, "mixer.hidden", concatWidth, config.tokenMixer.hidden, rng);
    addDense(params, "mixer.output", config.tokenMixer.hidden, config.tokenMixer.dim, rng);
  }
  const W = modelWidth(config);
  if (config.positionEmbedding) {
    params["position.embedding"] = glorotVariable(
      [config.maxLength, W],
      [config.maxLength, W],
      rng,
      "position.embedding",
    );
  }
  for (let l = 0; l < config.layers; l++) {
    addMultiHeadAttention(params, `layer${l}.attention`, W, config.heads, config.keyDim, rng);
    if (config.layerNorm) addLayerNorm(params, `layer${l}.norm1`, W);
    if (config.feedForward > 0) {
      addDense(params, `layer${l}.ffn.hidden`, W, config.feedForward, rng);
      addDense(params, `layer${l}.ffn.output`, config.feedForward, W, rng);
      if (config.layerNorm) addLayerNorm(params, `layer${l}.norm2`, W);
    }
  }
  if (config.target !== "value") addDense(params, "itemOutput", W, J, rng, false); // the unembedding, no bias
  const family = config.family === null ? null : familyFromSpec(config.family);
  if (family !== null) {
    let width = W;
    config.head.forEach((hidden, i) => {
      addDense(params, `head${i}`, width, hidden, rng);
      width = hidden;
    });
    addDense(params, "valueOutput", width, family.naturalDim, rng);
  }
  return { kind: "efa", config, params, family, itemFeatures };
}

/**
 * Frees the tensors of an EFA model (see `disposeModel` for either kind).
 *
 * @param model The model.
 */
export function disposeEfa(model: EfaModel): void {
  Object.values(model.params).forEach((p) => p.dispose());
  model.itemFeatures?.dispose();
}

/**
 * Creates the parameters of a Keras `MultiHeadAttention` layer with
 * `value_dim = key_dim`, stored as 2-D kernels (`[width, heads*key_dim]`) but
 * initialised with the fans Keras computes for its 3-D `EinsumDense` kernels.
 */
function addMultiHeadAttention(
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

// ---------------------------------------------------------------------------
// The forward pass, top to bottom: tokens, attention, block, encoder, heads.
// ---------------------------------------------------------------------------

/** What one forward pass of a model (EFA or FM) returns: natural parameters per example. */
export interface ModelOutput {
  /** Natural parameters (logits) of the masked item, `[example, numItems]`, for `"item"` and `"joint"`. */
  readonly itemEta?: TfTensor;
  /** Natural parameters of the masked value, `[example, natural]`, for `"value"` and `"joint"`. */
  readonly valueEta?: TfTensor;
  /** Attention weights of each layer, `[example, heads, time, time]` (padded EFA batches only; item pass for `"joint"`). */
  readonly attention?: TfTensor[];
}

/**
 * 1. Tokens: the vectors of rows of observations, `[R, T, W]`: the attribute
 * embedding, the value embedding and the lag embedding, concatenated, mixed
 * (when configured) and added to the positional embedding.
 *
 * @param model The model.
 * @param rows Item ids, values and lags, `[R, T]`.
 * @param maskAt Which positions are masked (bool `[R, T]`), or `null` for none.
 * @param maskItem Whether a masked position also hides its item (item prediction).
 * @returns The tokens, `[R, T, W]`.
 */
export function embedTokens(
  model: EfaModel,
  rows: TokenRows,
  maskAt: TfTensor | null,
  maskItem: boolean,
): TfTensor {
  const { config, params } = model;
  return tf.tidy(() => {
    const [R, T] = rows.items.shape as [number, number];
    const parts: TfTensor[] = [];

    // Attribute embedding alpha(x_j); a masked item becomes the mask token J+1.
    const item = config.itemEmbedding;
    if (item.kind === "table") {
      const ids = maskItem && maskAt !== null
        ? tf.where(maskAt, tf.fill([R, T], config.numItems + 1, "int32"), rows.items)
        : rows.items; // [R, T]
      parts.push(embeddingLookup(param(params, "item.embedding"), ids)); // [R, T, Di]
    } else {
      const features = tf.gather(model.itemFeatures!, rows.items); // [R, T, F]
      parts.push(dense(params, "item.output", tf.relu(dense(params, "item.hidden", features)))); // [R, T, Di]
    }

    // Value embedding beta(y_j); a masked value is replaced by the mask.
    const value = config.valueEmbedding;
    if (value.kind !== "none") {
      const y = rows.values!; // [R, T]
      if (value.kind === "table") {
        const truncated = tf.cast(tf.mul(tf.sign(y), tf.floor(tf.abs(y))), "int32"); // int(y), toward zero
        let ids = tf.where(
          tf.less(truncated, 0),
          tf.add(truncated, tf.scalar(value.size, "int32")),
          truncated,
        ); // Keras 3 take()
        if (maskAt !== null) ids = tf.where(maskAt, tf.fill([R, T], value.maskIndex, "int32"), ids); // [R, T]
        parts.push(embeddingLookup(param(params, "value.embedding"), ids)); // [R, T, Dv]
      } else {
        let v = dense(
          params,
          "value.output",
          tf.relu(dense(params, "value.hidden", tf.expandDims(y, 2))),
        ); // [R, T, Dv]
        if (maskAt !== null) {
          const maskRow = tf.slice(param(params, "value.mask"), [1, 0], [1, value.dim]); // [1, Dv]
          const m = tf.expandDims(tf.cast(maskAt, "float32"), 2); // [R, T, 1]
          v = tf.add(tf.mul(v, tf.sub(1, m)), tf.mul(maskRow, m)); // [R, T, Dv]
        }
        parts.push(v);
      }
    }

    // Lag-group embedding (spatio-temporal tokens from earlier days).
    if (config.lagGroups > 0) {
      parts.push(embeddingLookup(param(params, "lag.embedding"), rows.lags!)); // [R, T, Dl]
    }

    let x = parts.length === 1 ? parts[0]! : tf.concat(parts, 2); // [R, T, Di+Dv+Dl]
    if (config.tokenMixer !== null) {
      x = dense(params, "mixer.output", tf.relu(dense(params, "mixer.hidden", x))); // [R, T, W]
    }
    if (config.positionEmbedding) {
      const table = param(params, "position.embedding"); // [maxLength, W]
      x = tf.add(
        x,
        rows.positions === undefined
          ? tf.slice(table, [0, 0], [T, -1]) // [T, W]: each token at its column
          : embeddingLookup(table, rows.positions), // [R, T, W]: packed sequences
      ); // [R, T, W]
    }
    return x;
  });
}

/**
 * Attention weights from logits: the softmax over the key axis (the last one
 * unless `axis` says otherwise). Every layout turns its logits into weights
 * here, so that a change to the weights (dropout, a temperature) is made once.
 *
 * @param logits The attention logits, `[..., key]`.
 * @param axis The key axis (default the last).
 * @returns The weights, shaped like `logits`, summing to one over `axis`.
 */
export function weightsOverKeys(logits: TfTensor, axis = -1): TfTensor {
  return axis === -1 || axis === logits.rank - 1 ? tf.softmax(logits) : softmaxOver(logits, axis);
}

/** The additive logit bias of a key that may not be attended to (Keras' masked softmax). */
export const MASKED_LOGIT = -1e9;

/**
 * 2. The one attention kernel, every layout's:
 * `softmax(q k^T / sqrt(key_dim) + bias) v`, heads folded into the batch axis.
 * A bias of {@link MASKED_LOGIT} hides a key.
 *
 * @param query Queries, `[batch, query, key_dim]`.
 * @param keys Keys, `[batch, key, key_dim]`.
 * @param values Values, `[batch, key, value_dim]`.
 * @param bias Added to the logits, `[batch, query, key]` or `[query, key]` for every batch row.
 * @returns The output `[batch, query, value_dim]` and the weights `[batch, query, key]`.
 * @throws {TypeError} When the shapes do not agree.
 *
 * @example Attention over two keys, the second hidden by the bias
 * ```ts
 * import { attend, named } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const q = named(tf.tensor3d([[[0]]]), "batch query key_dim");
 * const k = named(tf.tensor3d([[[1], [2]]]), "batch key key_dim");
 * const even = attend(q, k, named(k, "batch key value_dim"));
 * assert.deepEqual(Array.from(even.weights.dataSync()), [0.5, 0.5]);
 * assert.deepEqual(Array.from(even.output.dataSync()), [1.5]);
 * const bias = named(tf.tensor2d([[0, -1e9]]), "query key");
 * assert.deepEqual(Array.from(attend(q, k, named(k, "batch key value_dim"), bias).output.dataSync()), [1]);
 * ```
 */
export function attend(
  query: Tensor<"batch query key_dim">,
  keys: Tensor<"batch key key_dim">,
  values: Tensor<"batch key value_dim">,
  bias?: Tensor<"batch query key"> | Tensor<"query key">,
): { output: Tensor<"batch query value_dim">; weights: Tensor<"batch query key"> } {
  const dims = checkShapes("attend", {
    query: [query, "batch query key_dim", "float32"],
    keys: [keys, "batch key key_dim", "float32"],
    values: [values, "batch key value_dim", "float32"],
  });
  if (bias !== undefined) {
    checkShapes(
      "attend",
      { bias: [bias, bias.rank === 2 ? "query key" : "batch query key"] },
      dims,
    );
  }
  return tf.tidy(() => {
    let logits = tf.mul(tf.matMul(query, keys, false, true), 1 / Math.sqrt(dims["key_dim"]!)); // [batch, query, key]
    if (bias !== undefined) logits = tf.add(logits, bias);
    const weights = weightsOverKeys(logits); // [batch, query, key]
    const output = tf.matMul(weights, values); // [batch, query, value_dim]
    return {
      output: output as Tensor<"batch query value_dim">,
      weights: weights as Tensor<"batch query key">,
    };
  });
}

/**
 * `[R, T, H*K] -> [R*H, T, K]`: heads into the batch axis (3-D batched matmuls are faster in tfjs).
 *
 * @param t Per-token projections of all heads, `[R, T, H*K]`.
 * @param heads The number of heads H.
 * @returns `[R*H, T, K]`.
 */
export function headsAsBatch(t: TfTensor, heads: number): TfTensor {
  const [R, T, HK] = t.shape as [number, number, number];
  return tf.reshape(tf.transpose(tf.reshape(t, [R, T, heads, HK / heads]), [0, 2, 1, 3]), [
    R * heads,
    T,
    HK / heads,
  ]); // [R*H, T, K]
}

/**
 * `[R*H, T, K] -> [R, T, H*K]`, the inverse of {@link headsAsBatch}.
 *
 * @param t Per-head outputs, `[R*H, T, K]`.
 * @param heads The number of heads H.
 * @returns `[R, T, H*K]`.
 */
export function batchAsHeads(t: TfTensor, heads: number): TfTensor {
  const [RH, T, K] = t.shape as [number, number, number];
  return tf.reshape(tf.transpose(tf.reshape(t, [RH / heads, heads, T, K]), [0, 2, 1, 3]), [
    RH / heads,
    T,
    heads * K,
  ]); // [R, T, H*K]
}

/**
 * Layer `l`'s query, key and value weights fused into one kernel `[W, k*H*K]`
 * and bias (one matmul instead of three; the same values).
 *
 * @param model The model.
 * @param l The layer.
 * @param parts Which projections, in order.
 * @returns The fused kernel and bias.
 */
export function fusedProjection(
  model: EfaModel,
  l: number,
  parts: readonly ("query" | "key" | "value")[],
): [TfTensor, TfTensor] {
  const p = model.params, name = `layer${l}.attention`;
  return [
    tf.concat(parts.map((q) => param(p, `${name}.${q}.kernel`)), 1), // [W, k*HK]
    tf.concat(parts.map((q) => param(p, `${name}.${q}.bias`)), 0), // [k*HK]
  ];
}

/**
 * Multi-head attention of layer `l`, Keras-style (biases on every projection,
 * no dropout): the tokens `x` attend to each other, or, given `query`, those
 * queries attend to `x`.
 *
 * @param model The model.
 * @param l The layer.
 * @param x The tokens giving keys and values, `[R, T, W]`.
 * @param options `query`: other query tokens `[R, Q, W]` (default `x`); `bias`: `[R*H, Q, T]` or `[Q, T]`.
 * @returns The output `[R, Q, W]` and the weights `[R*H, Q, T]`.
 */
export function multiHeadAttention(
  model: EfaModel,
  l: number,
  x: TfTensor,
  options: { readonly query?: TfTensor; readonly bias?: TfTensor } = {},
): { output: TfTensor; weights: TfTensor } {
  const { heads, keyDim } = model.config;
  const HK = heads * keyDim;
  const name = `layer${l}.attention`;
  let q: TfTensor, k: TfTensor, v: TfTensor;
  if (options.query === undefined) {
    const [w, b] = fusedProjection(model, l, ["query", "key", "value"]);
    [q, k, v] = tf.split(linear(x, w, b), [HK, HK, HK], 2).map((t) => headsAsBatch(t, heads)) as [
      TfTensor,
      TfTensor,
      TfTensor,
    ]; // [R*H, T, K] each
  } else {
    const [w, b] = fusedProjection(model, l, ["key", "value"]);
    [k, v] = tf.split(linear(x, w, b), [HK, HK], 2).map((t) => headsAsBatch(t, heads)) as [
      TfTensor,
      TfTensor,
    ]; // [R*H, T, K] each
    q = headsAsBatch(dense(model.params, `${name}.query`, options.query), heads); // [R*H, Q, K]
  }
  const { output, weights } = attend(
    q as Tensor<"batch query key_dim">,
    k as Tensor<"batch key key_dim">,
    v as Tensor<"batch key value_dim">,
    options.bias as Tensor<"batch query key"> | undefined,
  ); // [R*H, Q, K], [R*H, Q, T]
  return {
    output: dense(model.params, `${name}.output`, batchAsHeads(output, heads)), // [R, Q, W]
    weights,
  };
}

/** LayerNorm `name` of `h`, `[..., W]`: the fused kernels when they run (W a multiple of 4), else tfjs's operations. */
function normalise(model: EfaModel, name: string, h: TfTensor): TfTensor {
  const { params, config } = model;
  if (fastKernelsActive() && h.shape.at(-1)! % 4 === 0) {
    const gamma = param(params, `${name}.gamma`), beta = param(params, `${name}.beta`);
    return fusedLayerNorm(h, gamma, beta, config.layerNormEpsilon);
  }
  return layerNorm(params, name, h, config.layerNormEpsilon);
}

/**
 * 3. The rest of layer `l` after attention: `x + attention`, then (when
 * configured) LayerNorm, the feed-forward block with its residual, and
 * LayerNorm again (post-LN, as the temperature model).
 *
 * @param model The model.
 * @param l The layer.
 * @param x The layer's input, `[..., W]`.
 * @param attention The attention output, `[..., W]`.
 * @returns The layer's output, `[..., W]`.
 */
export function block(model: EfaModel, l: number, x: TfTensor, attention: TfTensor): TfTensor {
  const { config, params } = model;
  return tf.tidy(() => {
    let h = tf.add(x, attention); // [..., W]
    if (config.layerNorm) h = normalise(model, `layer${l}.norm1`, h);
    if (config.feedForward > 0) {
      const ffn = dense(
        params,
        `layer${l}.ffn.output`,
        tf.relu(dense(params, `layer${l}.ffn.hidden`, h)),
      ); // [..., W]
      h = tf.add(h, ffn);
      if (config.layerNorm) h = normalise(model, `layer${l}.norm2`, h);
    }
    return h;
  });
}

/**
 * 4. The encoder: `L` layers of attention and block over rows of tokens.
 * With `bias`, padding and (unidirectional) hidden keys are masked; with
 * `lastLayerAt` (one 1 per row, `[R, T]`), the last layer runs only at that
 * position (its keys and values still come from every token), which is all
 * the heads read.
 *
 * @param model The model.
 * @param x The tokens, `[R, T, W]`.
 * @param options The attention bias `[R*H, T, T]` and the last layer's position.
 * @returns Every token after the last layer `[R, T, W]` (or the one at `lastLayerAt`, `[R, W]`) and each layer's weights `[R*H, T, T]` (all but the last with `lastLayerAt`).
 */
export function encode(
  model: EfaModel,
  x: TfTensor,
  options: { readonly bias?: TfTensor; readonly lastLayerAt?: TfTensor } = {},
): { hidden: TfTensor; attention: TfTensor[] } {
  const L = model.config.layers;
  const attention: TfTensor[] = [];
  const bias = options.bias === undefined ? {} : { bias: options.bias };
  for (let l = 0; l < L; l++) {
    if (l === L - 1 && options.lastLayerAt !== undefined) {
      const xt = tf.sum(tf.mul(x, tf.expandDims(options.lastLayerAt, 2)), 1); // [R, W] the target rows
      const [R, W] = xt.shape as [number, number];
      const { output } = multiHeadAttention(model, l, x, {
        query: tf.reshape(xt, [R, 1, W]),
        ...bias,
      }); // [R, 1, W]
      return { hidden: block(model, l, xt, tf.reshape(output, [R, W])), attention }; // [R, W]
    }
    const { output, weights } = multiHeadAttention(model, l, x, bias); // [R, T, W]
    attention.push(weights); // [R*H, T, T]
    x = block(model, l, x, output); // [R, T, W]
  }
  return { hidden: x, attention };
}

/** The longest rows of one length that the rows layout computes with the fused kernels. */
const FUSED_ROWS_MAX_LENGTH = 64;

/**
 * The encoder on packed rows (the `"rows"` layout): tokens `[N, W]` of rows
 * of any lengths one after another; returns the last layer at each row's
 * masked position, `[rows, W]`. With the package's kernels the rows are
 * computed together (self-attention within each row, then one query per
 * row); otherwise one length at a time through {@link encode}.
 */
function encodeRows(model: EfaModel, x: TfTensor, batch: RowsBatch): TfTensor {
  const { layers: L, heads: H, keyDim: K } = model.config;
  const W = x.shape[1]!;
  // Long rows all of one length have nothing to pack, and there tfjs's batched products (the
  // package's BatchMatMul) beat the fused kernel: 119 against 136 ms per temperature lag-2 step
  // (rows of 132 tokens), while at 44 tokens the fused kernel is ahead (deno task profile).
  const oneLongLength = batch.lengths.every((n) => n === batch.lengths[0]) &&
    batch.lengths[0]! > FUSED_ROWS_MAX_LENGTH;
  if (!fastKernelsActive() || K % 4 !== 0 || oneLongLength) {
    const mask = tf.reshape(batch.maskAt.float, [-1, 1]); // [N, 1]
    return byLength(
      [x, mask],
      batch.lengths,
      (n) => n,
      ([xs, ms], n, count) =>
        encode(model, tf.reshape(xs!, [count, n, W]), {
          lastLayerAt: tf.reshape(ms!, [count, n]),
        }).hidden,
      () => 1,
    ); // [rows, W]
  }
  const attrs = { heads: H, keyDim: K, scale: 1 / Math.sqrt(K), lengths: batch.lengths };
  const p = model.params;
  for (let l = 0; l < L - 1; l++) {
    const [w, b] = fusedProjection(model, l, ["query", "key", "value"]);
    const attended = streamsAttention(linear(x, w, b), null, {
      ...attrs,
      keyOffset: 0,
      valueOffset: 0,
      causal: false,
    }); // [N, HK]: each token over its row
    x = block(model, l, x, dense(p, `layer${l}.attention.output`, attended)); // [N, W]
  }
  // The last layer at each row's masked position only.
  const target = embeddingLookup(x, batch.target); // [rows, W]
  const q = dense(p, `layer${L - 1}.attention.query`, target); // [rows, HK]
  const [w, b] = fusedProjection(model, L - 1, ["key", "value"]);
  const [k, v] = tf.split(linear(x, w, b), 2, 1); // [N, HK] each
  const out = targetAttention(q, k!, v!, attrs); // [rows, HK]
  return block(model, L - 1, target, dense(p, `layer${L - 1}.attention.output`, out)); // [rows, W]
}

/**
 * The rows of `x` `[S, n, W]` at flat positions `s*n + i` (`[E]`; every row, in order, when `null`).
 *
 * @param x The tokens, `[S, n, W]`.
 * @param flat The flat positions, `[E]` int32, or `null`.
 * @returns `[E, W]`.
 */
export function rowsAt(x: TfTensor, flat: TfTensor | null): TfTensor {
  const [S, n, W] = x.shape as [number, number, number];
  const rows = tf.reshape(x, [S * n, W]); // [S*n, W]
  return flat === null ? rows : embeddingLookup(rows, flat); // [E, W]
}

/**
 * 5. The heads: the unembedding of the masked item (logits `[E, J]`), and
 * the value head (hidden ReLU layers, then the family's natural parameter
 * `[E, natural]`).
 *
 * @param model The model.
 * @param h The representation at each target, `[E, W]`.
 * @param what Which head.
 * @returns The natural parameters.
 */
export function head(model: EfaModel, h: TfTensor, what: "item" | "value"): TfTensor {
  if (what === "item") return dense(model.params, "itemOutput", h); // [E, J]
  let x = h; // [E, W]
  model.config.head.forEach((_, i) => (x = tf.relu(dense(model.params, `head${i}`, x)))); // [E, hidden]
  return model.family!.naturalParameter(dense(model.params, "valueOutput", x)); // [E, natural]
}

/**
 * Which keys each query may see, as an additive bias `[B*H, T, T]`: keys must
 * be real tokens; unidirectional models also hide the future (`"causal"`) or
 * everything after the target (`"prefix"`).
 */
function attentionBias(model: EfaModel, batch: PaddedBatch): TfTensor {
  const { config } = model;
  return tf.tidy(() => {
    const [B, T] = batch.items.shape as [number, number];
    const keyPos = tf.reshape(tf.range(0, T, 1, "int32"), [1, 1, T]); // [1, 1, T]
    const queryPos = tf.reshape(tf.range(0, T, 1, "int32"), [1, T, 1]); // [1, T, 1]
    let allowed = tf.less(keyPos, tf.reshape(batch.lengths, [-1, 1, 1])); // [B, 1, T]
    if (config.direction === "unidirectional") {
      const visible = config.unidirectionalMask === "causal"
        ? tf.lessEqual(keyPos, queryPos) // [1, T, T]
        : tf.lessEqual(keyPos, tf.reshape(batch.target, [-1, 1, 1])); // [B, 1, T]
      allowed = tf.logicalAnd(allowed, visible);
    }
    const mask = tf.cast(tf.broadcastTo(allowed, [B, T, T]), "float32"); // [B, T, T]
    const bias = tf.mul(tf.sub(1, mask), MASKED_LOGIT); // [B, T, T]
    const H = config.heads;
    return tf.reshape(tf.broadcastTo(tf.expandDims(bias, 1), [B, H, T, T]), [B * H, T, T]); // [B*H, T, T]
  });
}

/**
 * The forward pass of EFA on a padded batch (one row per example, the
 * notebooks' layout, see `makeBatch`) or on packed rows (the `"rows"`
 * layout of the training plan): the natural parameters of each row's masked
 * observation. Masked copies and two streams are `forward`'s (`_whole_sequences.ts`).
 *
 * @param model The model.
 * @param batch The batch.
 * @returns Item logits and/or value natural parameters (padded batches: and the attention weights).
 * @throws {TypeError} When the batch has the wrong shapes or lacks values or lags the model needs.
 * @throws {RangeError} When the rows are longer than the model's `maxLength`.
 *
 * @example Natural parameters of three masked items
 * ```ts
 * import { createEfa, disposeBatch, disposeModel, efaConfig, efaForward, makeBatch } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 5, maxLength: 4 }), { seed: 1 });
 * const batch = makeBatch({ items: [[1, 2, 3]] }, [[0, 0], [0, 1], [0, 2]]);
 * const out = efaForward(model, batch);
 * assert.deepEqual(out.itemEta!.shape, [3, 5]);
 * assert.deepEqual(out.attention![0]!.shape, [3, 2, 3, 3]);
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function efaForward(model: EfaModel, batch: PaddedBatch | RowsBatch): ModelOutput {
  const { config } = model;
  const { batch: B, time: T } = checkBatch(batch, "efaForward");
  const longest = batch.layout === "rows" ? Math.max(0, ...batch.lengths) : T;
  if (longest > config.maxLength) {
    throw new RangeError(
      `efaForward(): expected sequences of at most ${config.maxLength} tokens, got ${longest}`,
    );
  }
  if (config.valueEmbedding.kind !== "none" && batch.values === undefined) {
    throw new TypeError("efaForward(): expected batch.values, because the model embeds values");
  }
  if (config.lagGroups > 0 && batch.lags === undefined) {
    throw new TypeError("efaForward(): expected batch.lags, because the model has lag groups");
  }
  const H = config.heads;
  const out: { itemEta?: TfTensor; valueEta?: TfTensor; attention?: TfTensor[] } = {};
  const pass = (what: "item" | "value"): TfTensor[] =>
    tf.tidy(() => {
      if (batch.layout === "rows") {
        const x = tf.reshape(embedTokens(model, batch, batch.maskAt.bool, what === "item"), [
          T,
          -1,
        ]); // [N, W]
        return [head(model, encodeRows(model, x, batch), what)]; // the rows' targets [B', W]
      }
      const isTarget = tf.cast(tf.oneHot(batch.target, T), "bool"); // [B, T]
      const x = embedTokens(model, batch, isTarget, what === "item"); // [B, T, W]
      const { hidden, attention } = encode(model, x, { bias: attentionBias(model, batch) }); // [B, T, W]
      const flat = tf.add(tf.mul(tf.range(0, B, 1, "int32"), tf.scalar(T, "int32")), batch.target); // [B]
      const weights = attention.map((w) => tf.reshape(w, [B, H, T, T])); // [B, H, T, T] each
      return [head(model, rowsAt(hidden, flat), what), ...weights];
    });
  if (config.target !== "value") {
    const [eta, ...attention] = pass("item");
    out.itemEta = eta!;
    if (attention.length > 0) out.attention = attention;
  }
  if (config.target !== "item") {
    const [eta, ...attention] = pass("value");
    out.valueEta = eta!;
    if (out.attention === undefined && attention.length > 0) out.attention = attention;
    else tf.dispose(attention);
  }
  return out;
}
