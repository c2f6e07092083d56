/**
 * The paper's baselines, exponential family embeddings (Rudolph et al., 2016),
 * called "FM" (factor models) in the authors' code (`docs/EFA.md` section 1.3). They
 * are EFA with the attention replaced by a fixed, uniform context weighting.
 *
 * - Categorical FM (`target: "item"`): a CBOW-like sum of the context's item
 *   embeddings, `s_i = sum_{j in c_i} alpha(x_j)` (plus the mask token's
 *   embedding `alpha(M)` when `maskToken`, as in the unidirectional
 *   notebooks), then logits `W^T s_i`.
 * - Value FM (`target: "value"`): separate center and context tables,
 *   `eta_i = rho(x_i) . (1/|c_i|) sum_{j in c_i} y_j alpha(x_j)` (`|c_i|` taken
 *   as 1 when the context is empty).
 *
 * The context `c_i` is the previous observations (`"unidirectional"`), all
 * other observations (`"bidirectional"`), or the observations whose items are
 * the `k` nearest neighbours of the target's item (`"neighbors"`, the
 * temperature baseline).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfTensor } from "./_types.ts";
import { checkBatch, type PaddedBatch } from "./data.ts";
import { type ExponentialFamily, familyFromSpec, type FamilySpec } from "./families.ts";
import { addDense, embeddingLookup, type ModelParameters, param, uniformVariable } from "./_ops.ts";
import { SeedStream } from "./random.ts";
import type { CreateOptions, ModelOutput } from "./model.ts";

/** Every setting of an FM baseline; see {@link fmConfig} for defaults. */
export interface FmConfig {
  /** Number of distinct items J; ids are 1..J (0 pads). */
  readonly numItems: number;
  /** What is predicted: the item (categorical) or its value. */
  readonly target: "item" | "value";
  /** The value family (for `"value"`); `null` for `"item"`. */
  readonly family: FamilySpec | null;
  /** Which observations form the context. */
  readonly context: "unidirectional" | "bidirectional" | "neighbors";
  /** For `"neighbors"`: the context items of each item id (row 0 unused). */
  readonly neighbors: readonly (readonly number[])[] | null;
  /** Embedding width K. */
  readonly dim: number;
  /** Add a learned mask-token embedding to the categorical context sum (the unidirectional notebooks). */
  readonly maskToken: boolean;
}

/** Defaults: the bidirectional categorical FM of the Instacart notebooks. */
export const DEFAULT_FM_CONFIG: FmConfig = {
  numItems: 63, // Instacart
  target: "item",
  family: null,
  context: "bidirectional",
  neighbors: null,
  dim: 32, // the paper's D = 32
  maskToken: false, // only the unidirectional categorical FM has one
};

/** A config with every field optional, as {@link fmConfig} accepts. */
export type FmConfigInput = { readonly [K in keyof FmConfig]?: FmConfig[K] };

/**
 * Completes and validates an FM config.
 *
 * @param overrides The settings that differ from {@link DEFAULT_FM_CONFIG}.
 * @returns The full config.
 * @throws {RangeError} When a setting is out of range or settings contradict each other.
 *
 * @example The unidirectional Instacart FM
 * ```ts
 * import { fmConfig } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * assert.equal(fmConfig({ context: "unidirectional", maskToken: true }).dim, 32);
 * ```
 */
export function fmConfig(overrides: FmConfigInput = {}): FmConfig {
  const config = { ...DEFAULT_FM_CONFIG, ...overrides } as FmConfig;
  const fn = "fmConfig";
  for (const key of ["numItems", "dim"] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1) {
      throw new RangeError(`${fn}(): expected ${key} to be a positive integer, got ${config[key]}`);
    }
  }
  if (!["unidirectional", "bidirectional", "neighbors"].includes(config.context)) {
    throw new RangeError(
      `${fn}(): expected context to be "unidirectional", "bidirectional" or "neighbors", got ${
        JSON.stringify(config.context)
      }`,
    );
  }
  if (config.target === "item" && config.family !== null) {
    throw new RangeError(
      `${fn}(): expected family to be null when target is "item", got ${config.family.name}`,
    );
  }
  if (config.target === "value") {
    if (config.family === null) {
      throw new RangeError(`${fn}(): expected a value family when target is "value"`);
    }
    familyFromSpec(config.family);
  } else if (config.target !== "item") {
    throw new RangeError(
      `${fn}(): expected target to be "item" or "value", got ${JSON.stringify(config.target)}`,
    );
  }
  if (config.context === "neighbors") {
    if (config.neighbors === null || config.neighbors.length !== config.numItems + 1) {
      throw new RangeError(
        `${fn}(): expected neighbors to list the context items of each of the ${config.numItems} items (numItems + 1 rows), got ${
          config.neighbors?.length ?? "none"
        }`,
      );
    }
  }
  return config;
}

/** An FM baseline: its config and named parameters. */
export interface FmModel {
  /** Always `"fm"`. */
  readonly kind: "fm";
  /** The settings. */
  readonly config: FmConfig;
  /** The trainable parameters by name. */
  readonly params: ModelParameters;
  /** The value family, or `null` for the categorical FM. */
  readonly family: ExponentialFamily | null;
  /** For `"neighbors"`: the 0/1 context matrix `[numItems + 1, numItems + 1]`. */
  readonly neighborMatrix: TfTensor | null;
}

/**
 * Creates an FM baseline with Keras' default initialisation, drawn from a seed.
 *
 * @param config The settings (use {@link fmConfig} to fill in defaults).
 * @param options The seed.
 * @returns The model.
 *
 * @example The paper's MovieLens exp-2 FM has 3,264 parameters
 * ```ts
 * import { countParameters, createFm, disposeModel, fmConfig } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const config = fmConfig({ numItems: 50, target: "value", family: { name: "poisson-shifted-count" } });
 * const model = createFm(config, { seed: 1 });
 * assert.equal(countParameters(model.params), 3264);
 * disposeModel(model);
 * ```
 */
export function createFm(config: FmConfig, options: CreateOptions = {}): FmModel {
  config = fmConfig(config);
  const rng = new SeedStream(options.seed ?? 0);
  const params: ModelParameters = {};
  const J = config.numItems;
  if (config.target === "item") {
    params["alpha"] = uniformVariable(
      [config.maskToken ? J + 2 : J + 1, config.dim],
      0.05,
      rng,
      "alpha",
    );
    addDense(params, "itemOutput", config.dim, J, rng, false);
  } else {
    params["rho"] = uniformVariable([J + 1, config.dim], 0.05, rng, "rho");
    params["alpha"] = uniformVariable([J + 1, config.dim], 0.05, rng, "alpha");
  }
  let neighborMatrix: TfTensor | null = null;
  if (config.context === "neighbors") {
    const m = new Float32Array((J + 1) * (J + 1));
    config.neighbors!.forEach((row, i) => row.forEach((j) => (m[i * (J + 1) + j] = 1)));
    neighborMatrix = tf.tensor2d(m, [J + 1, J + 1]);
  }
  const family = config.family === null ? null : familyFromSpec(config.family);
  return { kind: "fm", config, params, family, neighborMatrix };
}

/** The 0/1 weight of each token in each row's context, `[B, T]`. */
function contextWeights(model: FmModel, batch: PaddedBatch): TfTensor {
  return tf.tidy(() => {
    const [B, T] = batch.items.shape as [number, number];
    const pos = tf.reshape(tf.range(0, T, 1, "int32"), [1, T]); // [1, T]
    const target = tf.reshape(batch.target, [B, 1]); // [B, 1]
    const real = tf.less(pos, tf.reshape(batch.lengths, [B, 1])); // [B, T]
    if (model.config.context === "unidirectional") {
      return tf.cast(tf.logicalAnd(real, tf.less(pos, target)), "float32");
    }
    let w = tf.cast(tf.logicalAnd(real, tf.notEqual(pos, target)), "float32"); // [B, T]
    if (model.config.context === "neighbors") {
      const targetItem = tf.sum(tf.mul(batch.items, tf.oneHot(batch.target, T, 1, 0, "int32")), 1); // [B]
      const rows = tf.gather(model.neighborMatrix!, targetItem); // [B, J+1]
      const isNeighbor = tf.sum(
        tf.mul(tf.expandDims(rows, 1), tf.oneHot(batch.items, model.config.numItems + 1)),
        2,
      ); // [B, T]
      w = tf.mul(w, isNeighbor);
    }
    return w; // [B, T]
  });
}

/**
 * The forward pass of an FM baseline: the natural parameters of each row's
 * masked observation (same output shape as EFA's, without attention).
 *
 * @param model The model.
 * @param batch A padded batch (see `makeBatch`).
 * @returns Item logits or value natural parameters.
 * @throws {TypeError} When the batch has the wrong shapes or lacks values.
 *
 * @example The bidirectional categorical FM on one basket
 * ```ts
 * import { createFm, disposeBatch, disposeModel, fmConfig, fmForward, makeBatch } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 5 }), { seed: 1 });
 * const batch = makeBatch({ items: [[1, 2, 3]] }, [[0, 1]]);
 * assert.deepEqual(fmForward(model, batch).itemEta!.shape, [1, 5]);
 * disposeBatch(batch);
 * disposeModel(model);
 * ```
 */
export function fmForward(model: FmModel, batch: PaddedBatch): ModelOutput {
  checkBatch(batch, "fmForward");
  const { config, params } = model;
  if (config.target === "value" && batch.values === undefined) {
    throw new TypeError("fmForward(): expected batch.values, because the model predicts values");
  }
  return tf.tidy(() => {
    const w = contextWeights(model, batch); // [B, T]
    const alpha = embeddingLookup(param(params, "alpha"), batch.items); // [B, T, K]
    if (config.target === "item") {
      let s = tf.sum(tf.mul(alpha, tf.expandDims(w, 2)), 1); // [B, K]
      if (config.maskToken) {
        s = tf.add(s, tf.slice(param(params, "alpha"), [config.numItems + 1, 0], [1, -1]));
      }
      // W^T s_i as a plain matmul: tfjs's own gradient, which the committed FM results were trained with.
      return { itemEta: tf.matMul(s, param(params, "itemOutput.kernel")) }; // [B, J]
    }
    const wy = tf.mul(w, batch.values!); // [B, T]
    const count = tf.maximum(tf.sum(w, 1, true), 1); // [B, 1]
    const context = tf.div(tf.sum(tf.mul(alpha, tf.expandDims(wy, 2)), 1), count); // [B, K]
    const T = batch.items.shape[1]!;
    const targetItem = tf.sum(tf.mul(batch.items, tf.oneHot(batch.target, T, 1, 0, "int32")), 1); // [B]
    const rho = embeddingLookup(param(params, "rho"), targetItem); // [B, K]
    const eta = tf.sum(tf.mul(rho, context), 1, true); // [B, 1]
    return { valueEta: model.family!.naturalParameter(eta) };
  });
}

/**
 * Frees the tensors of an FM baseline (see `disposeModel` for either kind).
 *
 * @param model The model.
 */
export function disposeFm(model: FmModel): void {
  Object.values(model.params).forEach((p) => p.dispose());
  model.neighborMatrix?.dispose();
}
