// deno-lint-ignore-file no-console -- a command-line experiment
/**
 * `deno task latent-posterior`: does attention infer a latent posterior, as
 * the latent-variable theory of attention says (Zhang et al., seed `003_*`:
 * the approximation error falls with the input size; the learned map
 * generalises across lengths)?
 *
 *   deno task latent-posterior [--quick] [--out=PREFIX]
 *
 * Exchangeable sequences with a computable posterior: each sequence draws a
 * latent class z = +1 or -1 (probability 1/2 each), then every value
 * independently y_j ~ N(2z, 1). The exact posterior predictive mean of a
 * masked value given the n - 1 others is 2 tanh(2 S) with S the sum of the
 * others (the log-odds of z = +1 are 4 S), so the Bayes predictor depends on
 * the context's size, not only its mean, and concentrates on +-2 as n grows.
 *
 * A bidirectional Gaussian EFA without position embeddings (the tokens are
 * exchangeable, and a model without positions takes any length) is trained
 * on 4,000 sequences of length n = 16 (and, as the reference, one model per
 * evaluation length trained at that length on as many values: 64,000 in
 * 64,000 / length sequences), then evaluated on fresh
 * sequences of lengths 4 ... 128. Reported per length: the mean squared gap
 * between the model's predictive mean and the exact posterior predictive
 * mean, the model's and the Bayes predictor's squared error against the
 * masked value, and the same gap for the mean of the other values (the
 * plug-in estimate a user would try, 2 z approximated by the sample mean).
 *
 * Writes `experiments/results/latent_posterior[.quick].csv`, `.json` (config,
 * environment, times) and `figures/latent_posterior[.quick].svg`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import {
  backendInfo,
  createEfa,
  disposeModel,
  efaConfig,
  predict,
  SeedStream,
  type Sequences,
  train,
} from "../mod.ts";
import { renderSvg } from "../lib/plot.ts";
import { codeVersion, gitCommit } from "./_harness.ts";

/** The experiment's size: `quick` for CI, `full` for the committed results. */
export interface LatentPosteriorConfig {
  /** The length the main model trains at. */
  readonly trainLength: number;
  /** The lengths it is evaluated at. */
  readonly lengths: readonly number[];
  /** Training sequences at the training length. */
  readonly trainSequences: number;
  /** Test sequences per length. */
  readonly testSequences: number;
  /** Maximum epochs (patience 10). */
  readonly epochs: number;
  /** Train a reference model at every evaluation length too. */
  readonly references: boolean;
}

/** The two sizes of the experiment. */
export const CONFIGS: Readonly<Record<"quick" | "full", LatentPosteriorConfig>> = {
  quick: {
    trainLength: 8,
    lengths: [4, 8, 16],
    trainSequences: 200,
    testSequences: 60,
    epochs: 3,
    references: false,
  },
  full: {
    trainLength: 16,
    lengths: [4, 8, 16, 32, 64, 128],
    trainSequences: 4000,
    testSequences: 400,
    epochs: 60,
    references: true,
  },
};
const MODEL = { dim: 32, layers: 2, heads: 2, learningRate: 1e-3, batchSize: 256, patience: 10 };
const SEED = 0;

/** `count` sequences of `length` values from the two-class model, and each one's class. */
export function simulate(
  count: number,
  length: number,
  rng: SeedStream,
): Sequences & { z: number[] } {
  const z = Array.from({ length: count }, () => (rng.random() < 0.5 ? 1 : -1));
  return {
    items: z.map(() => new Array(length).fill(1)),
    values: z.map((c) => Array.from({ length }, () => 2 * c + rng.normal())),
    z,
  };
}

/** The exact posterior predictive mean of value `i` given the others: 2 tanh(2 S). */
export function posteriorMean(values: ArrayLike<number>, i: number): number {
  let sum = 0;
  for (let j = 0; j < values.length; j++) if (j !== i) sum += values[j]!;
  return 2 * Math.tanh(2 * sum);
}

/** The EFA of the experiment: bidirectional, Gaussian, no position embeddings. */
export function createModel(maxLength: number): ReturnType<typeof createEfa> {
  return createEfa(
    efaConfig({
      numItems: 1,
      maxLength,
      target: "value",
      family: { name: "gaussian" },
      direction: "bidirectional",
      itemEmbedding: { kind: "table", dim: MODEL.dim },
      valueEmbedding: { kind: "mlp", hidden: 2 * MODEL.dim, dim: MODEL.dim },
      positionEmbedding: false,
      layers: MODEL.layers,
      heads: MODEL.heads,
      head: [MODEL.dim],
    }),
    { seed: SEED },
  );
}

/** Trains a model on sequences of `length`, as many as make the same number of values as at the training length. */
async function trainAt(
  CONFIG: LatentPosteriorConfig,
  length: number,
  maxLength: number,
  rng: SeedStream,
): Promise<
  { model: ReturnType<typeof createModel>; epochs: number; bestEpoch: number; seconds: number }
> {
  const model = createModel(maxLength);
  const start = performance.now();
  const count = Math.round(CONFIG.trainSequences * CONFIG.trainLength / length);
  const result = await train(model, simulate(count, length, rng), {
    epochs: CONFIG.epochs,
    learningRate: MODEL.learningRate,
    batchSize: MODEL.batchSize,
    patience: MODEL.patience,
    validation: simulate(Math.round(count / 5), length, rng),
    seed: SEED,
    threads: 2,
  });
  return {
    model,
    epochs: result.history.length,
    bestEpoch: result.bestEpoch,
    seconds: (performance.now() - start) / 1000,
  };
}

/** Mean squared gaps and errors of a model's predictive means on `data`. */
export function score(model: ReturnType<typeof createModel>, data: Sequences): {
  gap: number;
  error: number;
  bayes: number;
  plugInGap: number;
  count: number;
} {
  const p = predict(model, data);
  let gap = 0, error = 0, bayes = 0, plugGap = 0;
  p.examples.forEach(([s, i], k) => {
    const values = data.values![s]!;
    const exact = posteriorMean(values, i);
    const mean = p.valueMean![k]!;
    const y = values[i]!;
    let others = 0;
    for (let j = 0; j < values.length; j++) if (j !== i) others += values[j]!;
    const plugIn = others / (values.length - 1);
    gap += (mean - exact) ** 2;
    error += (mean - y) ** 2;
    bayes += (exact - y) ** 2;
    plugGap += (plugIn - exact) ** 2;
  });
  const n = p.examples.length;
  return { gap: gap / n, error: error / n, bayes: bayes / n, plugInGap: plugGap / n, count: n };
}

/**
 * Runs the experiment and writes its CSV, JSON and figure.
 *
 * @param argv `--quick` (the CI size) and `--out=PREFIX` (default
 *   `experiments/results/latent_posterior[.quick]`; the figure goes to
 *   `PREFIX.svg` when given, else to `results/figures/`).
 * @returns The rows of the CSV.
 */
export async function main(argv: readonly string[]): Promise<Record<string, number | string>[]> {
  const { values: args } = parseArgs({
    args: [...argv],
    options: { quick: { type: "boolean", default: false }, out: { type: "string" } },
  });
  const quick = args.quick;
  const CONFIG = quick ? CONFIGS.quick : CONFIGS.full;
  const prefix = args.out ??
    new URL(`./results/latent_posterior${quick ? ".quick" : ""}`, import.meta.url).pathname;
  const figureFile = args.out !== undefined ? `${args.out}.svg` : new URL(
    `./results/figures/latent_posterior${quick ? ".quick" : ""}.svg`,
    import.meta.url,
  ).pathname;
  const maxLength = Math.max(...CONFIG.lengths);
  const rng = new SeedStream(SEED);
  const started = performance.now();
  console.log(
    `latent posterior${quick ? " (quick)" : ""}: training at length ${CONFIG.trainLength}, ` +
      `${CONFIG.trainSequences} sequences, up to ${CONFIG.epochs} epochs`,
  );
  const short = await trainAt(CONFIG, CONFIG.trainLength, maxLength, rng);
  console.log(
    `  trained in ${short.seconds.toFixed(0)} s (${short.epochs} epochs, best ${short.bestEpoch})`,
  );
  const testRng = new SeedStream(SEED + 1);
  const tests = CONFIG.lengths.map((length) => ({
    length,
    data: simulate(CONFIG.testSequences, length, testRng),
  }));

  interface Line {
    length: number;
    model: string;
    gap: number;
    error: number;
    bayes_error: number;
    plug_in_gap: number;
    predictions: number;
    train_seconds: number;
    epochs: number;
  }
  const lines: Line[] = [];
  for (const { length, data } of tests) {
    const s = score(short.model, data);
    lines.push({
      length,
      model: `trained at ${CONFIG.trainLength}`,
      gap: s.gap,
      error: s.error,
      bayes_error: s.bayes,
      plug_in_gap: s.plugInGap,
      predictions: s.count,
      train_seconds: short.seconds,
      epochs: short.epochs,
    });
    console.log(
      `  length ${length}: gap ${s.gap.toFixed(4)}, error ${s.error.toFixed(4)} (Bayes ${
        s.bayes.toFixed(4)
      }), sample mean's gap ${s.plugInGap.toFixed(4)}`,
    );
    if (CONFIG.references && length !== CONFIG.trainLength) {
      const own = await trainAt(CONFIG, length, maxLength, rng);
      const r = score(own.model, data);
      disposeModel(own.model);
      lines.push({
        length,
        model: "trained at this length",
        gap: r.gap,
        error: r.error,
        bayes_error: r.bayes,
        plug_in_gap: r.plugInGap,
        predictions: r.count,
        train_seconds: own.seconds,
        epochs: own.epochs,
      });
      console.log(
        `    trained at ${length}: gap ${r.gap.toFixed(4)}, error ${r.error.toFixed(4)} (${
          own.seconds.toFixed(0)
        } s, ${own.epochs} epochs)`,
      );
    } else if (CONFIG.references) {
      lines.push({ ...lines.at(-1)!, model: "trained at this length" });
    }
  }
  disposeModel(short.model);

  const columns = Object.keys(lines[0]!) as (keyof Line)[];
  const csv = [
    columns.join(","),
    ...lines.map((l) =>
      columns.map((c) => typeof l[c] === "number" ? Number((l[c] as number).toPrecision(6)) : l[c])
        .join(",")
    ),
  ].join("\n") + "\n";
  await Deno.writeTextFile(`${prefix}.csv`, csv);
  await Deno.writeTextFile(
    `${prefix}.json`,
    JSON.stringify(
      {
        experiment: "latent_posterior",
        quick,
        config: { ...CONFIG, model: MODEL, seed: SEED },
        generator:
          "z = +-1 with probability 1/2; y_j ~ N(2z, 1); exact E[y_i | y_-i] = 2 tanh(2 sum_{j != i} y_j)",
        environment: {
          backend: backendInfo(),
          deno: Deno.version.deno,
          commit: await gitCommit(),
          code: await codeVersion(),
        },
        seconds: (performance.now() - started) / 1000,
        results: lines,
      },
      null,
      2,
    ) + "\n",
  );

  const curves = lines.flatMap((l) => [
    { length: l.length, gap: l.gap, curve: `EFA ${l.model}` },
    ...(l.model.startsWith("trained at ") && !l.model.endsWith("length")
      ? [{ length: l.length, gap: l.plug_in_gap, curve: "mean of the other values" }]
      : []),
  ]);
  const { document } = parseHTML("<html><body></body></html>") as unknown as { document: unknown };
  await Deno.writeTextFile(
    figureFile,
    renderSvg({
      title: "Attention and the latent posterior",
      subtitle: `Mean squared gap to the exact posterior predictive mean, by sequence length (EFA ${
        quick ? "quick run" : `trained at ${CONFIG.trainLength}`
      })`,
      width: 640,
      height: 420,
      x: { type: "log", label: "Sequence length", grid: true, ticks: CONFIG.lengths },
      y: { type: "log", label: "Squared gap to the posterior mean", grid: true },
      color: { legend: true },
      marks: [
        Plot.line(curves, { x: "length", y: "gap", stroke: "curve" }),
        Plot.dot(curves, { x: "length", y: "gap", fill: "curve", r: 3 }),
      ],
    }, { document }),
  );
  console.log(`wrote ${prefix}.csv, ${prefix}.json and ${figureFile}`);
  return lines as unknown as Record<string, number | string>[];
}

if (import.meta.main) await main(Deno.args);
