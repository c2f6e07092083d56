// deno-lint-ignore-file no-console -- progress of a command-line experiment
/**
 * Identifiability: EFA's parameters are identifiable up to linear
 * transformations, so an EFA fitted to data from a known EFA should recover
 * the true parameters after the best linear map, improving with data, while
 * an untrained model and the FM baseline do not.
 *
 * A known unidirectional categorical EFA (30 items, width 8; weak positions,
 * sharp attention and a strong value path, so that its conditionals depend on
 * the context: {@link CATEGORICAL_TEACHER_SCALES}) generates sequences of 8
 * items ancestrally. Students with the same architecture are fitted from several
 * seeds; we compare, each up to an affine map ({@link linearAlignment}):
 *
 * - `unembedding`: the output weights, one row per item (`W^T`, `[30, 8]`);
 *   softmax logits are unchanged by a shift common to all items, hence affine;
 * - `natural_parameters`: the logits of a probe set of examples, centred per
 *   example (`[examples, 30]`), compared *without* a map: they lie in an
 *   8-dimensional subspace, and a model that is right has the same ones;
 * - `context`: the representation at the masked position of each probe example
 *   (`[examples, 8]`), recovered exactly from the logits through the
 *   unembedding's pseudo-inverse, minus its mean over the examples masked at
 *   the same position (otherwise the position embedding dominates and any two
 *   models, even untrained, align; the affine relation survives the centring).
 *
 * A known unidirectional Gaussian value EFA (the same width; items drawn
 * uniformly, each value drawn with unit variance around the mean the model
 * gives from the earlier items and values and the current item) is the second
 * family. Its natural parameter is a scalar per example, so the block the
 * theory identifies is `natural_parameters` itself (`[examples, 1]`, no map).
 *
 * Comparisons: trained vs truth, trained vs trained (pairs of seeds),
 * untrained vs truth, and the FM vs truth.
 *
 *   deno task identifiability [--quick]
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import {
  backendInfo,
  createEfa,
  createFm,
  disposeBatch,
  disposeModel,
  type EfaConfig,
  efaConfig,
  type EfaModel,
  fmConfig,
  linearAlignment,
  makeBatch,
  type Model,
  sampleSequences,
  SeedStream,
  type Sequences,
  train,
} from "../mod.ts";
import { paddedLayout } from "../lib/plan.ts";
import { forward } from "../lib/objective.ts";
import { gitCommit } from "./_harness.ts";
import { writeAtomically } from "../lib/_io.ts";

/** The experiment's settings. */
export interface IdentifiabilityConfig {
  /** The families simulated. */
  readonly families: readonly Family[];
  /** Numbers of training sequences, per family. */
  readonly sizes: Readonly<Record<Family, readonly number[]>>;
  /** Student seeds. */
  readonly seeds: readonly number[];
  /** Maximum epochs (early stopping on 10% held-out sequences, patience 5). */
  readonly epochs: number;
  /** Adam's learning rate. */
  readonly learningRate: number;
  /** Probe examples for the context and natural-parameter blocks. */
  readonly probe: number;
}

/**
 * The full experiment: 1,000, 10,000 and 100,000 categorical sequences, and
 * 100, 1,000 and 10,000 Gaussian ones (their natural parameters are
 * recovered almost exactly from a few thousand); three seeds.
 */
export const full: IdentifiabilityConfig = {
  families: ["categorical", "gaussian"],
  sizes: { categorical: [1_000, 10_000, 100_000], gaussian: [100, 1_000, 10_000] },
  seeds: [1, 2, 3],
  epochs: 60,
  learningRate: 5e-3,
  probe: 2_000,
};
/** CI: 16,000 categorical and 2,000 Gaussian sequences, two seeds. */
export const quick: IdentifiabilityConfig = {
  families: ["categorical", "gaussian"],
  sizes: { categorical: [16_000], gaussian: [2_000] },
  seeds: [1, 2],
  epochs: 30,
  learningRate: 1e-2,
  probe: 1_000,
};

const ITEMS = 30, LENGTH = 8, WIDTH = 8;

/** The two families of the experiment. */
export type Family = "categorical" | "gaussian";

/** The known model's architecture: one attention layer, unidirectional. */
export function modelConfig(family: Family): EfaConfig {
  return family === "categorical"
    ? efaConfig({
      numItems: ITEMS,
      maxLength: LENGTH,
      direction: "unidirectional",
      itemEmbedding: { kind: "table", dim: WIDTH },
      keyDim: 4,
      layers: 1,
    })
    : efaConfig({
      numItems: ITEMS,
      maxLength: LENGTH,
      direction: "unidirectional",
      unidirectionalMask: "prefix",
      target: "value",
      family: { name: "gaussian" },
      itemEmbedding: { kind: "table", dim: WIDTH },
      valueEmbedding: { kind: "mlp", hidden: WIDTH, dim: WIDTH / 2 },
      keyDim: 4,
      layers: 1,
    });
}

/**
 * How the categorical teacher's initial parameters are scaled (by name
 * prefix; `*` for the rest). Its conditionals must depend on the context, or
 * there is nothing about the context to identify: scaled uniformly by 2 (the
 * first version), the mutual information between the context and the next
 * item was 0.002 nats (conditional entropy 2.802, per-position marginal
 * 2.804), so the position embedding decided almost everything. Weak positions,
 * sharp attention and a strong value path raise it to 0.100 nats (measured
 * on the full run's 2,000 probe examples and recorded in the results JSON as
 * `categoricalTeacher`; 0.093 on the quick run's 1,000).
 */
export const CATEGORICAL_TEACHER_SCALES: Readonly<Record<string, number>> = {
  "position.": 0.25,
  "item.": 3,
  "layer0.attention.query.": 4,
  "layer0.attention.key.": 4,
  "layer0.attention.value.": 5,
  "layer0.attention.output.": 5,
  "itemOutput.": 1.5,
  "*": 2,
};

/**
 * The known EFA, its parameters scaled so that its conditionals are
 * informative and depend on the context ({@link CATEGORICAL_TEACHER_SCALES}).
 * The Gaussian model's parameters are scaled by 3 and its value embedding is
 * damped instead (x0.5): every value feeds the next mean, and at the common
 * scale the values grow without bound along a sequence (their standard
 * deviation at position 8 reached 10^9 at x3 and 460 at x2; with the damping
 * it stays near 2, and the means vary with standard deviation 1 to 2 around
 * the unit noise).
 */
export function teacher(family: Family = "categorical"): EfaModel {
  const model = createEfa(modelConfig(family), { seed: 1000 });
  for (const [name, p] of Object.entries(model.params)) {
    const prefix = Object.keys(CATEGORICAL_TEACHER_SCALES).find((k) => name.startsWith(k));
    const scale = family === "categorical"
      ? CATEGORICAL_TEACHER_SCALES[prefix ?? "*"]!
      : name.startsWith("value.")
      ? 0.5
      : 3;
    p.assign(tf.tidy(() => tf.mul(p, scale)));
  }
  return model;
}

/**
 * How much the categorical teacher's conditionals depend on the context, on
 * the probe examples: the mean entropy of the conditional, the entropy of the
 * mean conditional at each position (what a model of positions alone could
 * reach), and their difference, the mutual information between the context
 * and the item given the position (nats).
 */
export function contextInformation(
  logits: readonly (readonly number[])[],
  positions: readonly number[],
): { conditionalEntropy: number; positionEntropy: number; mutualInformation: number } {
  let conditional = 0;
  const sums = new Map<number, { n: number; p: number[] }>();
  logits.forEach((row, e) => {
    const max = Math.max(...row);
    const exp = row.map((v) => Math.exp(v - max));
    const z = exp.reduce((a, v) => a + v, 0);
    const p = exp.map((v) => v / z);
    conditional -= p.reduce((a, v) => a + (v > 0 ? v * Math.log(v) : 0), 0);
    const entry = sums.get(positions[e]!) ?? { n: 0, p: new Array<number>(p.length).fill(0) };
    entry.n++;
    p.forEach((v, k) => (entry.p[k]! += v));
    sums.set(positions[e]!, entry);
  });
  let position = 0;
  for (const { n, p } of sums.values()) {
    position -= n * p.reduce((a, v) => a + (v > 0 ? (v / n) * Math.log(v / n) : 0), 0);
  }
  conditional /= logits.length;
  position /= logits.length;
  return {
    conditionalEntropy: conditional,
    positionEntropy: position,
    mutualInformation: position - conditional,
  };
}

/** Samples `count` sequences of the experiment's length from a known model (see `sampleSequences`). */
export function simulate(model: EfaModel, count: number, rng: SeedStream): Sequences {
  return sampleSequences(model, { count, length: LENGTH, rng });
}

/**
 * The blocks of a model. Categorical: unembedding rows `[J, W]`, centred
 * logits `[N, J]`, contexts `[N, W]`. Gaussian: the natural parameter (the
 * mean) of every probe example `[N, 1]`.
 */
function blocks(model: Model, probe: Sequences): Record<string, number[][]> {
  if (probe.values !== undefined) {
    const examples = probe.items.flatMap((seq, s) => Array.from(seq, (_, i) => [s, i] as const));
    const batch = makeBatch(probe, examples, paddedLayout(model));
    const out = forward(model, batch);
    const eta = out.valueEta!.arraySync() as number[][]; // [N, 1]
    tf.dispose([out.valueEta!, ...(out.attention ?? [])]);
    disposeBatch(batch);
    return { natural_parameters: eta };
  }
  const kernel = model.params["itemOutput.kernel"]!; // [W, J]
  const W = kernel.arraySync() as number[][];
  const unembedding = W[0]!.map((_, k) => W.map((row) => row[k]!)); // [J, W]
  const examples = probe.items.flatMap((seq, s) => Array.from(seq, (_, i) => [s, i] as const));
  const batch = makeBatch(probe, examples, {
    truncateAfterTarget: model.kind === "fm" || model.config.direction === "unidirectional",
  });
  const out = forward(model, batch);
  const logits = out.itemEta!.arraySync() as number[][];
  tf.dispose([out.itemEta!, ...(out.attention ?? [])]);
  disposeBatch(batch);
  const centred = logits.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    return row.map((v) => v - mean);
  });
  // h = (W W^T)^-1 W eta, exactly, since eta = W^T h (the centring is a common shift of every logit).
  const d = W.length;
  const gram = W.map((a) => W.map((b) => a.reduce((s, v, k) => s + v * b[k]!, 0)));
  const inverse = invert(gram);
  const context = logits.map((eta) => {
    const projected = W.map((row) => row.reduce((s, v, k) => s + v * eta[k]!, 0)); // W eta
    return Array.from(
      { length: d },
      (_, i) => inverse[i]!.reduce((s, v, k) => s + v * projected[k]!, 0),
    );
  });
  // Remove each position's mean context: what remains depends on the content of the context.
  const positions = examples.map(([, i]) => i);
  const sums = new Map<number, { n: number; sum: number[] }>();
  context.forEach((h, e) => {
    const entry = sums.get(positions[e]!) ?? { n: 0, sum: new Array<number>(d).fill(0) };
    entry.n++;
    h.forEach((v, k) => (entry.sum[k]! += v));
    sums.set(positions[e]!, entry);
  });
  const contextCentred = context.map((h, e) => {
    const { n, sum } = sums.get(positions[e]!)!;
    return h.map((v, k) => v - sum[k]! / n);
  });
  return { unembedding, natural_parameters: centred, context: contextCentred };
}

/** R-squared and relative error of `learned` as it stands (no map) against `truth`. */
function identity(learned: number[][], truth: number[][]): { r2: number; relativeError: number } {
  const q = truth[0]!.length;
  const means = Array.from(
    { length: q },
    (_, j) => truth.reduce((a, r) => a + r[j]!, 0) / truth.length,
  );
  let res = 0, tot = 0, norm = 0;
  truth.forEach((row, i) =>
    row.forEach((y, j) => {
      res += (learned[i]![j]! - y) ** 2;
      tot += (y - means[j]!) ** 2;
      norm += y * y;
    })
  );
  return { r2: 1 - res / tot, relativeError: Math.sqrt(res / norm) };
}

function invert(m: number[][]): number[][] {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[pivot]![c]!)) pivot = r;
    [a[c], a[pivot]] = [a[pivot]!, a[c]!];
    const p = a[c]![c]!;
    for (let j = 0; j < 2 * n; j++) a[c]![j]! /= p;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      for (let j = 0; j < 2 * n; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  return a.map((row) => row.slice(n));
}

/** One result row. */
export interface IdentifiabilityRow {
  readonly block: string;
  readonly family: string;
  readonly n_sequences: number;
  readonly comparison: string;
  readonly seed: string;
  readonly r2: number;
  readonly rel_error: number;
}

/**
 * Runs the experiment and writes `results/identifiability[.quick].csv` and `.json`.
 *
 * @param mode `full` or `quick`.
 * @param options `resultsDir` (default `experiments/results/`), `quiet`, and a `config` replacing the mode's.
 * @returns The rows.
 */
export async function run(
  mode: "full" | "quick" = "full",
  options: { resultsDir?: URL; quiet?: boolean; config?: IdentifiabilityConfig } = {},
): Promise<IdentifiabilityRow[]> {
  const config = options.config ?? (mode === "full" ? full : quick);
  const log = (s: string): void => {
    if (!options.quiet) console.error(s);
  };
  const commit = await gitCommit(); // checked out when the run starts
  const start = performance.now();
  const rows: IdentifiabilityRow[] = [];
  let information: ReturnType<typeof contextInformation> | undefined;
  for (const family of config.families) {
    const truth = teacher(family);
    const probe = simulate(truth, Math.ceil(config.probe / LENGTH), new SeedStream(77));
    const trueBlocks = blocks(truth, probe);
    if (family === "categorical") {
      const positions = probe.items.flatMap((seq) => Array.from(seq, (_, i) => i));
      information = contextInformation(trueBlocks.natural_parameters!, positions);
      log(
        `identifiability: the teacher's context carries ${
          information.mutualInformation.toFixed(3)
        } nats about the next item`,
      );
    }
    const add = (
      n: number,
      comparison: string,
      seed: string,
      learned: Record<string, number[][]>,
      target: Record<string, number[][]>,
    ): void => {
      for (const block of Object.keys(target)) {
        // Natural parameters are identified as they are (a categorical model's up to a shift per
        // example, removed by centring); the other blocks up to an affine map.
        const fit = block === "natural_parameters"
          ? identity(learned[block]!, target[block]!)
          : linearAlignment(learned[block]!, target[block]!).linear;
        rows.push({
          block,
          family,
          n_sequences: n,
          comparison,
          seed,
          r2: fit.r2,
          rel_error: fit.relativeError,
        });
      }
    };
    for (const n of config.sizes[family]) {
      const rng = new SeedStream(n);
      const data = simulate(truth, n, rng);
      const validation = simulate(truth, Math.max(100, Math.round(n / 10)), rng);
      const trained: Record<string, number[][]>[] = [];
      for (const seed of config.seeds) {
        const model = createEfa(modelConfig(family), { seed });
        add(n, "untrained_vs_truth", String(seed), blocks(model, probe), trueBlocks);
        const t0 = performance.now();
        const result = await train(model, data, {
          epochs: config.epochs,
          learningRate: config.learningRate,
          patience: 5,
          seed,
          validation,
          onEpoch: (e) => {
            if (e.epoch % 5 === 0) {
              log(
                `identifiability ${family} n=${n} seed=${seed} epoch ${e.epoch} validation ${
                  e.validationLoss!.toFixed(4)
                }`,
              );
            }
          },
        });
        const learned = blocks(model, probe);
        trained.push(learned);
        add(n, "trained_vs_truth", String(seed), learned, trueBlocks);
        log(
          `identifiability ${family} n=${n} seed=${seed}: ${result.history.length} epochs in ${
            ((performance.now() - t0) / 1000).toFixed(0)
          } s, ${
            rows.filter((r) => r.comparison === "trained_vs_truth" && r.seed === String(seed))
              .slice(-Object.keys(trueBlocks).length)
              .map((r) => `${r.block} r2 ${r.r2.toFixed(4)}`).join(", ")
          }`,
        );
        disposeModel(model);
      }
      for (let a = 0; a < trained.length; a++) {
        for (let b = a + 1; b < trained.length; b++) {
          add(
            n,
            "trained_vs_trained",
            `${config.seeds[a]}-${config.seeds[b]}`,
            trained[a]!,
            trained[b]!,
          );
        }
      }
      const fm = createFm(
        family === "categorical"
          ? fmConfig({ numItems: ITEMS, dim: WIDTH, context: "unidirectional", maskToken: true })
          : fmConfig({
            numItems: ITEMS,
            dim: WIDTH,
            target: "value",
            family: { name: "gaussian" },
            context: "unidirectional",
          }),
        { seed: 1 },
      );
      await train(fm, data, {
        epochs: config.epochs,
        learningRate: config.learningRate,
        patience: 5,
        seed: 1,
        validation,
      });
      add(n, "fm_vs_truth", "1", blocks(fm, probe), trueBlocks);
      disposeModel(fm);
    }
    disposeModel(truth);
  }
  const dir = options.resultsDir ?? new URL("./results/", import.meta.url);
  const suffix = mode === "quick" ? ".quick" : "";
  const header = "block,family,n_sequences,comparison,seed,r2,rel_error";
  const lines = rows.map((r) =>
    `${r.block},${r.family},${r.n_sequences},${r.comparison},${r.seed},${r.r2.toFixed(6)},${
      r.rel_error.toFixed(6)
    }`
  ).sort();
  await writeAtomically(
    new URL(`identifiability${suffix}.csv`, dir),
    [header, ...lines].join("\n") + "\n",
  );
  const info = backendInfo();
  await writeAtomically(
    new URL(`identifiability${suffix}.json`, dir),
    JSON.stringify(
      {
        mode,
        config,
        environment: {
          deno: Deno.version.deno,
          tfjs: info.tfjsVersion,
          backend: info.backend,
          os: `${Deno.build.os}-${Deno.build.arch}`,
          gitCommit: commit,
        },
        wallSeconds: Math.round((performance.now() - start) / 1000),
        ...(information === undefined ? {} : { categoricalTeacher: information }),
      },
      null,
      1,
    ) + "\n",
  );
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
  const rows = await run(values.quick ? "quick" : "full");
  for (const r of rows.filter((r) => r.comparison !== "trained_vs_trained")) {
    console.log(
      `${r.block.padEnd(19)} n=${String(r.n_sequences).padEnd(7)} ${r.comparison.padEnd(19)} seed ${
        r.seed.padEnd(4)
      } r2 ${r.r2.toFixed(4)} rel_error ${r.rel_error.toFixed(4)}`,
    );
  }
}
