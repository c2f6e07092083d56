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
// The stable API, by concept. Ops (`lib/_ops.ts`), the blocks of the forward
// pass and the planners (`lib/plan.ts`) stay private, as in Deno std and equinox.
export { type BackendInfo, backendInfo, type BackendName, useBackend } from "./lib/backend.ts";
export { setFastKernels } from "./lib/_kernels.ts";
export { SeedStream } from "./lib/random.ts";
export { type axesBrand, named, type Tensor } from "./lib/shapes.ts";
export {
  type ExponentialFamily,
  familyFromSpec,
  type FamilyName,
  type FamilySpec,
} from "./lib/families.ts";
export {
  type Batch,
  disposeBatch,
  type Example,
  type Labels,
  type Layout,
  listExamples,
  type PaddedBatch,
  type RowsBatch,
  type Sequences,
  type SequencesBatch,
  type TokenRows,
} from "./lib/data.ts";
export { makeBatch, type MakeBatchOptions } from "./lib/plan.ts";
export { countParameters, type ModelParameters } from "./lib/_ops.ts";
export {
  attend,
  createEfa,
  type CreateOptions,
  type EfaConfig,
  efaConfig,
  type EfaConfigInput,
  efaForward,
  type EfaModel,
  type ItemEmbedding,
  type ModelOutput,
  type ValueEmbedding,
} from "./lib/model.ts";
export {
  createFm,
  type FmConfig,
  fmConfig,
  type FmConfigInput,
  fmForward,
  type FmModel,
} from "./lib/fm.ts";
export { disposeModel, meanLoss, type Model, validateData } from "./lib/objective.ts";
export { clearLayoutCache } from "./lib/_whole_sequences.ts";
export { type SampleOptions, sampleSequences } from "./lib/sample.ts";
export { type PlateauSchedule } from "./lib/schedule.ts";
export {
  type EpochInfo,
  type StepInfo,
  train,
  type TrainCheckpoint,
  type TrainOptions,
  type TrainResult,
} from "./lib/train.ts";
export {
  attentionWeights,
  evaluate,
  type EvaluateOptions,
  type EvaluateResult,
  predict,
  type Predictions,
} from "./lib/evaluate.ts";
export {
  type RankingOptions,
  type RankingResult,
  rankItems,
  type TopItems,
  topK,
} from "./lib/ranking.ts";
export { loadModel, saveModel } from "./lib/serialize.ts";
export {
  type Alignment,
  type AlignmentOptions,
  type Fit,
  linearAlignment,
  type Matrix,
} from "./lib/identifiability.ts";
export {
  fit,
  type FitFamily,
  type FitOptions,
  type FittedEfa,
  type HeldOutReport,
  loadFitted,
  type Observation,
  type Prediction,
  type PredictOptions,
  type ValueFamilyName,
  type ValueScale,
} from "./lib/api.ts";
export { type BaselineOptions, type BaselineScore, baselineScores } from "./lib/baselines.ts";
export {
  compare,
  type ComparedModel,
  type CompareOptions,
  type Comparison,
} from "./lib/compare.ts";
