// deno-lint-ignore-file no-console -- an exploratory command
// Exploratory: fit() variants on the own-data sets, chosen by fit's own validation loss.
import { fit, type FitOptions } from "../mod.ts";
const mod = await import("./own_data_sets.ts");
const VARIANTS: Record<string, FitOptions> = {
  defaults: {},
  "lr3e-3": { learningRate: 3e-3 },
  patience20: { patience: 20 },
  dim64: { dim: 64 },
  ffn64: { feedForward: 64 },
};
const variants: [string, FitOptions][] = (Deno.args[1] ?? "defaults,patience20,lr3e-3+patience20")
  .split(",").map((v) => [v, Object.assign({}, ...v.split("+").map((part) => VARIANTS[part]!))]);
for (const name of (Deno.args[0] ?? "temperature,instacart,movielens").split(",")) {
  const { train, test, target } = await mod.loadSplit(name);
  for (const [v, options] of variants) {
    const t = performance.now();
    const fitted = await fit(train, { seed: 0, threads: 2, ...options });
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
