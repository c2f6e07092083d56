/**
 * Small configurations of every model family the paper uses, and random data
 * for them, shared by the tests of the layouts and of the model.
 *
 * @module
 */
import type { Sequences } from "../lib/data.ts";
import type { EfaConfigInput } from "../lib/model.ts";
import type { SeedStream } from "../lib/random.ts";

/** One small config per model family of the paper. */
export const CONFIGS: Record<string, EfaConfigInput> = {
  "categorical bidirectional (Instacart)": {
    numItems: 7,
    maxLength: 9,
    itemEmbedding: { kind: "table", dim: 8 },
    keyDim: 4,
  },
  "categorical bidirectional, one layer": {
    numItems: 7,
    maxLength: 9,
    itemEmbedding: { kind: "table", dim: 8 },
    keyDim: 4,
    layers: 1,
  },
  "categorical unidirectional causal (Instacart)": {
    numItems: 7,
    maxLength: 9,
    direction: "unidirectional",
    itemEmbedding: { kind: "table", dim: 8 },
    keyDim: 4,
    layers: 3,
  },
  "value bidirectional Gaussian (synthetic)": {
    numItems: 7,
    maxLength: 9,
    target: "value",
    family: { name: "gaussian" },
    unidirectionalMask: "prefix",
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 12, dim: 4, maskIndex: 9 },
    keyDim: 4,
    head: [6],
  },
  "value unidirectional prefix Poisson (MovieLens exp-2)": {
    numItems: 7,
    maxLength: 9,
    target: "value",
    family: { name: "poisson-shifted-count" },
    direction: "unidirectional",
    unidirectionalMask: "prefix",
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 12, dim: 4, maskIndex: 9 },
    keyDim: 4,
    head: [6],
  },
  "spatial with lags, LayerNorm and feed-forward (temperature)": {
    numItems: 7,
    maxLength: 14,
    target: "value",
    family: { name: "gaussian" },
    itemEmbedding: {
      kind: "mlp",
      features: [[0, 0], [1, 2], [2, 1], [0.5, 0.3], [3, 3], [1, 1], [2, 0.4], [0.2, 2.5]],
      hidden: 6,
      dim: 4,
    },
    valueEmbedding: { kind: "mlp", hidden: 6, dim: 4 },
    lagGroups: 2,
    lagDim: 3,
    tokenMixer: { hidden: 7, dim: 8 },
    positionEmbedding: false,
    layerNorm: true,
    feedForward: 9,
    layers: 3,
    keyDim: 4,
    head: [6, 3],
  },
  "joint bidirectional": {
    numItems: 7,
    maxLength: 9,
    target: "joint",
    family: { name: "poisson" },
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 12, dim: 4, maskIndex: 9 },
    keyDim: 4,
  },
  "joint unidirectional causal": {
    numItems: 7,
    maxLength: 9,
    target: "joint",
    family: { name: "poisson" },
    direction: "unidirectional",
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 12, dim: 4, maskIndex: 9 },
    keyDim: 4,
  },
};

/** Random sequences for a config of {@link CONFIGS}: lengths 3..9, some with a subset of targets. */
export function randomData(name: string, rng: SeedStream): Sequences {
  const spatial = name.startsWith("spatial");
  const count = 9;
  const items: number[][] = [],
    values: number[][] = [],
    lags: number[][] = [],
    targets: number[][] = [];
  for (let s = 0; s < count; s++) {
    if (spatial) {
      const day = [1, 2, 3, 4, 5, 6, 7];
      items.push([...day, ...day]);
      values.push(Array.from({ length: 14 }, () => 50 + 10 * rng.normal()));
      lags.push([...day.map(() => 0), ...day.map(() => 1)]);
      targets.push(day.map((_, i) => i));
    } else {
      const n = 3 + rng.integer(7); // lengths 3..9, several batches of each
      items.push(Array.from({ length: n }, () => 1 + rng.integer(7)));
      values.push(Array.from({ length: n }, () => 1 + rng.integer(3)));
      // Some sequences predict a subset of their positions (as per-example validation splits do), some a
      // single one: bidirectional batches then use both whole masked copies and single rows.
      const all = Array.from({ length: n }, (_, i) => i);
      targets.push(
        s % 3 === 0 ? all : s % 3 === 1 ? all.filter((i) => (i + s) % 3 !== 0) : [n - 1],
      );
    }
  }
  return { items, values, ...(spatial ? { lags } : {}), targets };
}
