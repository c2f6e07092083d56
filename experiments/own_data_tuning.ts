// deno-lint-ignore-file no-console -- a command-line experiment
/**
 * How `fit()`'s defaults were chosen: variants of its options on the
 * own-data sets (`own_data_sets.ts`), each judged by `fit()`'s own
 * validation loss (the 20% of the training sequences it holds out), never
 * by the held-out test sequences, which it prints only beside.
 *
 *   deno run -A experiments/own_data_tuning.ts DATASETS [VARIANTS]
 *
 * DATASETS: comma-separated names; VARIANTS: comma-separated, each a
 * `+`-joined list of the parts below (default
 * `defaults,patience20,lr3e-3+patience20`). A line per fit:
 * `DATASET VARIANT validation=V test=T epochs=E best=B s=S`. `EFA_THREADS=1`
 * trains on one thread (default 2, the same numbers). The runs behind
 * the current defaults are in `experiments/results/own_data_tuning.txt`.
 *
 * @module
 */
import { fit, type FitOptions } from "../mod.ts";
import { loadSplit } from "./own_data_sets.ts";

/** The parts a variant combines (each sets one option of fit()). */
const VARIANTS: Record<string, FitOptions> = {
  defaults: {},
  patience10: { patience: 10 },
  "lr1e-3": { learningRate: 1e-3 },
  "lr3e-3": { learningRate: 3e-3 },
  patience20: { patience: 20 },
  dim64: { dim: 64 },
  dim16: { dim: 16 },
  layers1: { layers: 1 },
  layers4: { layers: 4 },
  heads4: { heads: 4 },
  ffn64: { feedForward: 64 },
  plateau5: { reduceOnPlateau: { factor: 0.5, patience: 5 } },
  plateau3: { reduceOnPlateau: { factor: 0.3, patience: 3 } },
  patience30: { patience: 30 },
  batch128: { batchSize: 128 },
  epochs400: { epochs: 400 },
};
const variants: [string, FitOptions][] = (Deno.args[1] ?? "defaults,patience20,lr3e-3+patience20")
  .split(",").map((v) => [v, Object.assign({}, ...v.split("+").map((part) => VARIANTS[part]!))]);
for (const name of (Deno.args[0] ?? "temperature,instacart,movielens").split(",")) {
  const { train, test, target } = await loadSplit(name);
  for (const [v, options] of variants) {
    const t = performance.now();
    const threads = Deno.env.get("EFA_THREADS") === "1" ? 1 : 2;
    const fitted = await fit(train, { seed: 0, threads, ...options });
    const p = fitted.predict(test);
    const testLoss = target === "item"
      ? -p.reduce((a, q) => a + Math.log(q.itemProbability!), 0) / p.length
      : p.reduce((a, q) => a + (q.value! - q.mean!) ** 2, 0) / p.length;
    console.log(
      `${name} ${v} validation=${fitted.heldOut!.result.loss.toFixed(4)} test=${
        testLoss.toFixed(4)
      } epochs=${fitted.training!.history.length} best=${fitted.training!.bestEpoch} s=${
        ((performance.now() - t) / 1000).toFixed(0)
      }`,
    );
    fitted.dispose();
  }
}
