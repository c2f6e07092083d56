/**
 * The paper's models and training settings, per table (docs/EFA.md sections 1.2,
 * 1.3 and 3), built on the library's configs. The experiment scripts and the
 * benchmarks take their models from here.
 */
import {
  createEfa,
  createFm,
  efaConfig,
  type EfaConfigInput,
  fmConfig,
  type FmConfigInput,
  type Model,
} from "../mod.ts";

/** A direction of context. */
export type Direction = "unidirectional" | "bidirectional";

/** How the notebooks train a model. */
export interface PaperTraining {
  /** Adam's learning rate. */
  readonly learningRate: number;
  /** Predictions per step. */
  readonly batchSize: number;
  /** Maximum epochs. */
  readonly epochs: number;
  /** Early-stopping patience (epochs without a better validation loss); `Infinity` for none. */
  readonly patience: number;
  /** What a step of the automatic layouts draws (`TrainOptions.draw`; default whole sequences). */
  readonly draw?: "sequences" | "examples";
}

/** A model of a table: how to build it and how the notebooks trained it. */
export interface PaperModel {
  /** `efa` or `fm`. */
  readonly model: "efa" | "fm";
  /** A short label, e.g. `efa_bidirectional`. */
  readonly name: string;
  /** Builds the model from a seed. */
  readonly create: (seed: number) => Model;
  /** The notebooks' training settings. */
  readonly training: PaperTraining;
}

function efa(name: string, config: EfaConfigInput, training: PaperTraining): PaperModel {
  const full = efaConfig(config);
  return { model: "efa", name, create: (seed) => createEfa(full, { seed }), training };
}

function fm(name: string, config: FmConfigInput, training: PaperTraining): PaperModel {
  const full = fmConfig(config);
  return { model: "fm", name, create: (seed) => createFm(full, { seed }), training };
}

const DIRECTIONS: readonly Direction[] = ["unidirectional", "bidirectional"];

/** Synthetic Gaussian ratings: value EFA and value FM (docs/EFA.md 3.1). */
export function syntheticModels(): PaperModel[] {
  const training = { learningRate: 1e-4, batchSize: 256, epochs: 1000, patience: 10 };
  return DIRECTIONS.flatMap((direction) => [
    efa(`efa_${direction}`, {
      numItems: 5,
      maxLength: 5,
      target: "value",
      family: { name: "gaussian" },
      direction,
      unidirectionalMask: "prefix",
      // Embedding(#unique ratings + 2) indexed by int(rating); mask = int(max + 1) = 9 (docs/EFA.md 1.2 B).
      valueEmbedding: { kind: "table", size: 50_002, dim: 32, maskIndex: 9 },
      head: [32],
    }, training),
    fm(`fm_${direction}`, {
      numItems: 5,
      target: "value",
      family: { name: "gaussian" },
      context: direction,
    }, training),
  ]);
}

/** The Instacart EFA (docs/EFA.md 3.2) before its direction is chosen. */
export const INSTACART_EFA: EfaConfigInput = { numItems: 63, maxLength: 24 };

/** The MovieLens experiment-2 EFA, v1 or v2 (docs/EFA.md 3.3), before its direction is chosen. */
export function movielensExp2Efa(variant: "v1" | "v2"): EfaConfigInput {
  return {
    numItems: 50,
    maxLength: 44,
    target: "value",
    family: { name: variant === "v1" ? "poisson-shifted-count" : "poisson-shifted-rate" },
    unidirectionalMask: "prefix",
    valueEmbedding: { kind: "table", size: 5, dim: 32, maskIndex: 4 }, // ratings 1..3, pad 0, mask 4
    head: [32],
  };
}

/** Instacart baskets: categorical EFA and CBOW FM (docs/EFA.md 3.2). */
export function instacartModels(): PaperModel[] {
  const training = { learningRate: 1e-4, batchSize: 256, epochs: 1000, patience: Infinity };
  return DIRECTIONS.flatMap((direction) => [
    efa(`efa_${direction}`, { ...INSTACART_EFA, direction }, training),
    fm(`fm_${direction}`, {
      numItems: 63,
      context: direction,
      maskToken: direction === "unidirectional",
    }, training),
  ]);
}

/** MovieLens experiment 1: which movie, categorical EFA and FM (docs/EFA.md 3.3). */
export function movielensExp1Models(): PaperModel[] {
  const training = { learningRate: 1e-4, batchSize: 256, epochs: 2000, patience: 10 };
  return DIRECTIONS.flatMap((direction) => [
    efa(`efa_${direction}`, { numItems: 50, maxLength: 44, direction }, training),
    fm(`fm_${direction}`, {
      numItems: 50,
      context: direction,
      maskToken: direction === "unidirectional",
    }, training),
  ]);
}

/** MovieLens experiment 2: ratings as shifted Poisson counts, v1 or v2 (docs/EFA.md 3.3). */
export function movielensExp2Models(variant: "v1" | "v2"): PaperModel[] {
  const training = { learningRate: 1e-4, batchSize: 256, epochs: 1000, patience: 10 };
  const family = {
    name: variant === "v1" ? "poisson-shifted-count" : "poisson-shifted-rate",
  } as const;
  return DIRECTIONS.flatMap((direction) => [
    efa(`efa_${direction}`, { ...movielensExp2Efa(variant), direction }, training),
    fm(`fm_${direction}`, { numItems: 50, target: "value", family, context: direction }, training),
  ]);
}

/** The spatial EFA of the temperature table: `layers` blocks, `lag` previous days (docs/EFA.md 1.2 C). */
export function temperatureEfa(
  layers: number,
  lag: 0 | 1 | 2,
  features: readonly (readonly number[])[],
  training: PaperTraining,
): PaperModel {
  return efa(`efa_${layers}_layers${lag > 0 ? `_lag${lag}` : ""}`, {
    numItems: 44,
    maxLength: 44 * (lag + 1),
    target: "value",
    family: { name: "gaussian" },
    itemEmbedding: { kind: "mlp", features, hidden: 128, dim: 32 },
    valueEmbedding: { kind: "mlp", hidden: 128, dim: 32 },
    lagGroups: lag > 0 ? lag + 1 : 0,
    lagDim: 32,
    tokenMixer: { hidden: 64, dim: 32 },
    positionEmbedding: false,
    layers,
    layerNorm: true,
    feedForward: 64,
    head: [128, 16],
  }, training);
}

/** The temperature FM: Gaussian exponential family embeddings over the k nearest cities (inferred, docs/EFA.md 1.3). */
export function temperatureFm(
  k: number,
  neighbors: readonly (readonly number[])[],
  training: PaperTraining,
): PaperModel {
  return fm(`fm_k${k}`, {
    numItems: 44,
    target: "value",
    family: { name: "gaussian" },
    context: "neighbors",
    neighbors,
  }, training);
}

/** The notebooks' temperature training: full batch, lr 1e-3, 2,000 epochs (no lag); batches of 128 examples drawn at random (Keras' shuffled batches), 200 epochs (lags). */
export const TEMPERATURE_TRAINING = {
  noLag: { learningRate: 1e-3, batchSize: 10_000, epochs: 2000, patience: Infinity },
  lag: { learningRate: 1e-3, batchSize: 128, epochs: 200, patience: Infinity, draw: "examples" },
} as const satisfies Record<string, PaperTraining>;

/** The k nearest other cities of each city (great-circle distance), by city id; row 0 empty. */
export function nearestCities(features: readonly (readonly number[])[], k: number): number[][] {
  const rad = Math.PI / 180;
  const distance = (a: readonly number[], b: readonly number[]): number => {
    const [la1, lo1] = [a[0]! * rad, a[1]! * rad], [la2, lo2] = [b[0]! * rad, b[1]! * rad];
    const h = Math.sin((la2 - la1) / 2) ** 2 +
      Math.cos(la1) * Math.cos(la2) * Math.sin((lo2 - lo1) / 2) ** 2;
    return 2 * Math.asin(Math.sqrt(h));
  };
  return features.map((f, i) => {
    if (i === 0) return [];
    return features.map((g, j) => [j, distance(f, g)] as const).filter(([j]) => j !== 0 && j !== i)
      .sort((a, b) => a[1] - b[1] || a[0] - b[0]).slice(0, k).map(([j]) => j);
  });
}
