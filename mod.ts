/**
 * # Exponential Family Attention
 *
 * A TypeScript implementation, on tfjs, of Exponential Family Attention (EFA;
 * Wibisono & Wang, arXiv 2501.16790): self-attention as a probabilistic model
 * of sequential, spatial and spatio-temporal data of mixed types. Each
 * observation is modelled by an exponential-family distribution (Gaussian,
 * Poisson, Bernoulli, categorical) whose natural parameter comes from attention
 * over the other observations, its context.
 *
 * Conventions: every tensor carries an explicit leading `batch` axis; shapes
 * are named in types (`Tensor<"batch time">`) and checked at public
 * boundaries; every random choice draws from an explicit seed. Importing this
 * module selects the wasm backend (cpu as fallback), see {@link useBackend}.
 *
 * @example Fit a bidirectional categorical EFA to baskets
 * ```ts
 * import { createEfa, disposeModel, efaConfig, evaluate, train } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const baskets = { items: [[1, 2, 3], [2, 3, 4], [1, 2, 4], [3, 4, 1]] };
 * const model = createEfa(efaConfig({ numItems: 4, maxLength: 3 }), { seed: 1 });
 * await train(model, baskets, { epochs: 5, learningRate: 0.01, seed: 1 });
 * const { loss, count } = evaluate(model, baskets);
 * assert.equal(count, 12);
 * assert.ok(loss < Math.log(4));
 * disposeModel(model);
 * ```
 *
 * @module
 */
export * from "./lib/backend.ts";
export * from "./lib/random.ts";
export * from "./lib/numpy_random.ts";
export * from "./lib/shapes.ts";
export * from "./lib/families.ts";
export * from "./lib/layers.ts";
export * from "./lib/data.ts";
export * from "./lib/model.ts";
export * from "./lib/fm.ts";
export * from "./lib/objective.ts";
export * from "./lib/adam.ts";
export * from "./lib/fast.ts";
export * from "./lib/train.ts";
export * from "./lib/evaluate.ts";
export * from "./lib/serialize.ts";
export * from "./lib/identifiability.ts";
export * from "./lib/api.ts";
