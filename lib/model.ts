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
 * One config covers every model of the paper (EFA.md section 1.2): the
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
import { afterAttention, embedTokens } from "./_efa_parts.ts";
import { type Batch, checkBatch } from "./data.ts";
import { type ExponentialFamily, familyFromSpec, type FamilySpec } from "./families.ts";
import {
  addDense,
  addMultiHeadAttention,
  constantVariable,
  dense,
  embeddingLookup,
  glorotVariable,
  type ModelParameters,
  multiHeadAttention,
  uniformVariable,
} from "./layers.ts";
import { SeedStream } from "./random.ts";

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

function addLayerNorm(params: ModelParameters, name: string, width: number): void {
  params[`${name}.gamma`] = constantVariable([width], 1, `${name}.gamma`);
  params[`${name}.beta`] = constantVariable([width], 0, `${name}.beta`);
}

/** What one forward pass of EFA returns for a batch. */
export interface EfaOutput {
  /** Natural parameters (logits) of the masked item, `[batch, numItems]`, for `"item"` and `"joint"`. */
  readonly itemEta?: TfTensor;
  /** Natural parameters of the masked value, `[batch, natural]`, for `"value"` and `"joint"`. */
  readonly valueEta?: TfTensor;
  /** Attention weights of each layer, `[batch, heads, time, time]` (item pass for `"joint"`). */
  readonly attention: TfTensor[];
}

/**
 * Which keys each query may attend to, `[B, T, T]` (1 = allowed): keys must be
 * real tokens; unidirectional models also hide the future.
 */
function attentionMask(
  config: EfaConfig,
  lengths: TfTensor,
  target: TfTensor,
  T: number,
): TfTensor {
  return tf.tidy(() => {
    const keyPos = tf.reshape(tf.range(0, T, 1, "int32"), [1, 1, T]); // [1, 1, T]
    const queryPos = tf.reshape(tf.range(0, T, 1, "int32"), [1, T, 1]); // [1, T, 1]
    let allowed = tf.less(keyPos, tf.reshape(lengths, [-1, 1, 1])); // [B, 1, T]
    if (config.direction === "unidirectional") {
      const visible = config.unidirectionalMask === "causal"
        ? tf.lessEqual(keyPos, queryPos) // [1, T, T]
        : tf.lessEqual(keyPos, tf.reshape(target, [-1, 1, 1])); // [B, 1, T]
      allowed = tf.logicalAnd(allowed, visible);
    }
    return tf.cast(tf.broadcastTo(allowed, [lengths.shape[0]!, T, T]), "float32"); // [B, T, T]
  });
}

/**
 * Runs the attention stack on a batch with the target position masked, and
 * returns the final representation of every token.
 *
 * @param model The model.
 * @param batch The batch.
 * @param maskItem Whether the target's item is hidden (item prediction) or shown (value prediction).
 * @returns The tokens after the last layer, `[batch, time, width]`, and the attention weights.
 */
function encode(
  model: EfaModel,
  batch: Batch,
  maskItem: boolean,
): { hidden: TfTensor; attention: TfTensor[] } {
  const { config, params } = model;
  const T = batch.items.shape[1]!;
  const attention: TfTensor[] = [];
  const hidden = tf.tidy(() => {
    // 1. Tokens: [alpha(x_j); beta(y_j); lag_j] (-> mixer) + p_j, with the target masked.
    const isTarget = tf.cast(tf.oneHot(batch.target, T), "bool"); // [B, T]
    let x = embedTokens(model, batch, isTarget, maskItem, dense); // [B, T, W]

    // 2. L attention layers with residual connections (post-LN and FFN when configured).
    const mask = attentionMask(config, batch.lengths, batch.target, T); // [B, T, T]
    for (let l = 0; l < config.layers; l++) {
      const { output, weights } = multiHeadAttention(
        params,
        `layer${l}.attention`,
        x,
        mask,
        config.heads,
      );
      attention.push(tf.keep(weights)); // [B, H, T, T]
      x = afterAttention(model, l, x, output, dense); // [B, T, W]
    }
    return x; // [B, T, W]
  });
  return { hidden, attention };
}

/** The representation at each row's target position: `[B, T, W] -> [B, W]`. */
function atTarget(hidden: TfTensor, target: TfTensor): TfTensor {
  return tf.tidy(() => {
    const [B, T, W] = hidden.shape as [number, number, number];
    const rows = tf.add(tf.mul(tf.range(0, B, 1, "int32"), tf.scalar(T, "int32")), target); // [B] flat row of each target
    return embeddingLookup(tf.reshape(hidden, [B * T, W]), rows); // [B, W]
  });
}

/** The value head: hidden ReLU layers, then the natural parameter of the family. */
function valueHead(model: EfaModel, h: TfTensor): TfTensor {
  return tf.tidy(() => {
    let x = h; // [B, W]
    model.config.head.forEach((_, i) => (x = tf.relu(dense(model.params, `head${i}`, x)))); // [B, hidden]
    return model.family!.naturalParameter(dense(model.params, "valueOutput", x)); // [B, natural]
  });
}

/**
 * The forward pass of the reference (one padded row per example) path: the
 * natural parameters of each row's masked observation.
 *
 * @param model The model.
 * @param batch The batch (see {@link makeBatch}).
 * @returns Item logits and/or value natural parameters, and the attention weights.
 * @throws {TypeError} When the batch has the wrong shapes or lacks values or lags the model needs.
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
 * assert.deepEqual(out.attention[0]!.shape, [3, 2, 3, 3]);
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function efaForward(model: EfaModel, batch: Batch): EfaOutput {
  const { config } = model;
  const { time } = checkBatch(batch, "efaForward");
  if (time > config.maxLength) {
    throw new RangeError(
      `efaForward(): expected sequences of at most ${config.maxLength} tokens, got ${time}`,
    );
  }
  if (config.valueEmbedding.kind !== "none" && batch.values === undefined) {
    throw new TypeError("efaForward(): expected batch.values, because the model embeds values");
  }
  if (config.lagGroups > 0 && batch.lags === undefined) {
    throw new TypeError("efaForward(): expected batch.lags, because the model has lag groups");
  }
  const out: { itemEta?: TfTensor; valueEta?: TfTensor; attention: TfTensor[] } = {
    attention: [],
  };
  if (config.target !== "value") {
    const { hidden, attention } = encode(model, batch, true);
    out.itemEta = tf.tidy(() => dense(model.params, "itemOutput", atTarget(hidden, batch.target))); // [B, J]
    hidden.dispose();
    out.attention = attention;
  }
  if (config.target !== "item") {
    const { hidden, attention } = encode(model, batch, false);
    out.valueEta = tf.tidy(() => valueHead(model, atTarget(hidden, batch.target))); // [B, natural]
    hidden.dispose();
    if (out.attention.length === 0) out.attention = attention;
    else attention.forEach((a) => a.dispose());
  }
  return out;
}

/**
 * Frees the tensors of a model.
 *
 * @param model The model.
 *
 * @example Create and free a model
 * ```ts
 * import { createEfa, disposeModel, efaConfig } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const before = tf.memory().numTensors;
 * disposeModel(createEfa(efaConfig(), { seed: 1 }));
 * assert.equal(tf.memory().numTensors, before);
 * ```
 */
export function disposeModel(model: {
  readonly params: ModelParameters;
  readonly itemFeatures?: TfTensor | null;
  readonly neighborMatrix?: TfTensor | null;
}): void {
  Object.values(model.params).forEach((p) => p.dispose());
  model.itemFeatures?.dispose();
  model.neighborMatrix?.dispose();
}
