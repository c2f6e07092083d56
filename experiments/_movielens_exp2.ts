/** The two MovieLens experiment 2 tables (v1, v2) differ only in the Poisson variant. */
import { loadDataset } from "../data/load.ts";
import { type Model, predict } from "../mod.ts";
import type { PreparedDataset } from "../data/prepared.ts";
import type { TableConfig, TableDefinition } from "./_table.ts";
import { movielensExp2Models } from "./paper_models.ts";

/** The paper's setting: lr 1e-4, batch 256, patience 10, up to 1,000 epochs; three seeds. */
export const FULL: TableConfig = {
  seeds: [1, 2, 3],
  epochs: null,
  patience: null,
  learningRate: null,
  subset: null,
  models: null,
};
/** CI: a few users, two epochs. */
export const QUICK: TableConfig = {
  seeds: [1],
  epochs: 2,
  patience: null,
  learningRate: 1e-3,
  subset: { fit: 60, validation: 20, test: 40 },
  models: null,
};

/** The mean predicted rating of the test predictions, grouped by the true rating (1, 2, 3). */
function meanPredictedRating(model: Model, data: PreparedDataset): Record<string, number> {
  const p = predict(model, data.test);
  const sums = [0, 0, 0], counts = [0, 0, 0];
  p.examples.forEach(([s, pos], i) => {
    const r = data.test.values![s]![pos]!;
    sums[r - 1]! += p.valueMean![i]!;
    counts[r - 1]!++;
  });
  const out: Record<string, number> = {};
  for (let r = 1; r <= 3; r++) {
    if (counts[r - 1]! > 0) {
      out[`mean_predicted_rating@rating=${r}`] = sums[r - 1]! / counts[r - 1]!;
    }
  }
  return out;
}

/** The table of one variant. */
export function exp2Table(variant: "v1" | "v2"): TableDefinition {
  return {
    name: variant === "v1" ? "movielens_exp2_v1" : "movielens_exp2_v2",
    dataset: "movielens-100k",
    metric: "test_poisson_loss",
    extraMetrics: meanPredictedRating,
    models: async (options) => {
      const data = await loadDataset("movielens_exp2", options);
      return movielensExp2Models(variant).map((spec) => ({
        spec,
        variant: "",
        direction: spec.name.split("_")[1]!,
        data,
      }));
    },
  };
}
