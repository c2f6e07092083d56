/**
 * The PyTorch peer of the bench (`peer_torch.py`): the exchange file that
 * hands it a model and one epoch of `train()`'s steps, and the call that runs
 * it. The peer trains the same model from the same weights on the same
 * batches with the same algorithms, one thread, and reports its predictions
 * per second, so that `deno task bench` can print ours beside it.
 *
 * The exchange holds the config, the initial weights, the steps exactly as
 * `train()` draws them with the given seed (`planEpochs`), and the package's
 * loss and gradients on the first step, which the peer checks itself against.
 *
 * @module
 */
import {
  createEfa,
  disposeBatch,
  disposeModel,
  type EfaConfig,
  type EfaModel,
  SeedStream,
  type Sequences,
} from "../mod.ts";
import { type BatchPlan, batchTensors, planEpochs } from "../lib/plan.ts";
import { chunkGradients } from "../lib/train.ts";
import type { TfTensor } from "../lib/_types.ts";

/** What the peer prints (one JSON line). */
export interface PeerResult {
  readonly name: string;
  readonly predictionsPerSecond: number;
  readonly seconds: number;
  readonly steps: number;
  readonly predictions: number;
  /** Its mean training loss over the epoch (Adam from the same weights; PyTorch's epsilon placement). */
  readonly trainLoss: number;
  /** Its first step against the package's: relative loss difference, largest absolute gradient difference, largest gradient. */
  readonly check: { lossRelative: number; gradMaxAbs: number; gradScale: number };
  readonly torch: string;
  readonly threads: number;
  /** The BLAS libraries the peer process had loaded. */
  readonly blas: string;
  /** Its peak resident memory in MB. */
  readonly peakRssMB: number;
}

/** One chunk of a step as the peer reads it: flat row-major arrays. */
interface ExchangeChunk {
  layout: string;
  length: number;
  rows: number;
  examples: number;
  items: number[];
  values?: number[];
  lags?: number[];
  /** Rows: the target position of each row; copies and streams: the flat index `row * length + position`. */
  target: number[];
  labelItems: number[];
  labelValues?: number[];
}

/** The loss and gradients of one step, chunks weighted by their share and summed in order, as `train()` does. */
function stepGradients(
  model: EfaModel,
  data: Sequences,
  chunks: readonly BatchPlan[],
  count: number,
): { loss: number; grads: Record<string, number[]> } {
  const variables = Object.values(model.params);
  const total = variables.map((v) => new Float32Array(v.size));
  let loss = 0;
  for (const chunk of chunks) {
    const r = chunkGradients(model, variables, data, chunk, chunk.examples.length / count);
    loss += r.loss;
    r.grads.forEach((g, i) => {
      if (g === undefined) return;
      const values = g.dataSync();
      for (let j = 0; j < values.length; j++) total[i]![j] = total[i]![j]! + values[j]!;
      g.dispose();
    });
  }
  const grads: Record<string, number[]> = {};
  Object.keys(model.params).forEach((name, i) => (grads[name] = Array.from(total[i]!)));
  return { loss, grads };
}

/**
 * A chunk as the peer computes it. The package packs rows and masked
 * copies of any lengths into one batch (its fused kernels take them so);
 * the peer, as a PyTorch user would, computes them one length at a time: a
 * rows or copies chunk becomes one rectangular chunk per length, in order.
 * Two streams the peer pads to the longest sequence, as the package once did.
 */
function exchangeChunks(model: EfaModel, data: Sequences, plan: BatchPlan): ExchangeChunk[] {
  if (plan.layout === "streams") return [exchangeChunk(model, data, plan)];
  const prefix = plan.layout === "rows" && model.config.direction === "unidirectional";
  const byLength = new Map<number, BatchPlan["examples"][number][]>();
  for (const e of plan.examples) {
    const n = prefix ? e[1] + 1 : data.items[e[0]]!.length;
    (byLength.get(n) ?? byLength.set(n, []).get(n)!).push(e);
  }
  return [...byLength].map(([length, examples]) =>
    exchangeChunk(model, data, { layout: plan.layout, length, examples })
  );
}

function exchangeChunk(model: EfaModel, data: Sequences, plan: BatchPlan): ExchangeChunk {
  if (plan.layout === "padded") throw new TypeError("the peer computes the automatic layouts only");
  const batch = batchTensors(model, data, plan);
  try {
    const rowOf = new Map<number, number>();
    for (const [s] of plan.examples) if (!rowOf.has(s)) rowOf.set(s, rowOf.size);
    // Rows, copies and streams come packed in one row; the peer takes one row per example (rows)
    // or per sequence, padded at the end (streams; rows and copies come here of one length).
    const packed = plan.layout !== "rows";
    const [R, T] = packed ? [rowOf.size, plan.length] : [plan.examples.length, plan.length];
    const rows = (t: TfTensor): number[] => {
      const flat = Array.from(t.dataSync());
      if (!packed) return flat;
      const out = new Array<number>(R * T).fill(0);
      let offset = 0;
      for (const [s, r] of rowOf) {
        const n = data.items[s]!.length;
        for (let j = 0; j < n; j++) out[r * T + j] = flat[offset + j]!;
        offset += n;
      }
      return out;
    };
    const target = plan.layout === "rows"
      ? plan.examples.map(([, pos]) => pos)
      : plan.examples.map(([s, pos]) => rowOf.get(s)! * T + pos);
    return {
      layout: plan.layout,
      length: T,
      rows: R,
      examples: plan.examples.length,
      items: rows(batch.items),
      ...(batch.values === undefined ? {} : { values: rows(batch.values) }),
      ...(batch.lags === undefined ? {} : { lags: rows(batch.lags) }),
      target,
      labelItems: Array.from(batch.labels.item.dataSync()),
      ...(batch.labels.value === undefined
        ? {}
        : { labelValues: Array.from(batch.labels.value.dataSync()) }),
    };
  } finally {
    disposeBatch(batch);
  }
}

/**
 * Writes the exchange file for the peer: the model created from `modelSeed`,
 * and the first epoch of `train(model, data, { seed, batchSize })`'s steps.
 *
 * @param path Where to write it.
 * @param name The configuration's name.
 * @param config The model's config.
 * @param data The training sequences.
 * @param options Seeds, batch size and learning rate, as `train()` takes them.
 * @returns The number of steps and predictions of the epoch.
 */
export async function writePeerExchange(
  path: string,
  name: string,
  config: EfaConfig,
  data: Sequences,
  options: { modelSeed: number; seed: number; batchSize: number; learningRate: number },
): Promise<{ steps: number; predictions: number }> {
  const model = createEfa(config, { seed: options.modelSeed });
  try {
    const rng = new SeedStream(options.seed);
    const epoch = planEpochs(model, data, { batchSize: options.batchSize, rng }).next().value;
    const params: Record<string, { shape: number[]; data: number[] }> = {};
    for (const [n, v] of Object.entries(model.params)) {
      params[n] = { shape: v.shape, data: Array.from(v.dataSync()) };
    }
    const check = stepGradients(model, data, epoch[0]!.chunks, epoch[0]!.count);
    const steps = epoch.map((s) => ({
      count: s.count,
      chunks: s.chunks.flatMap((c) => exchangeChunks(model, data, c)),
    }));
    await Deno.writeTextFile(
      path,
      JSON.stringify({ name, config, params, steps, check, learningRate: options.learningRate }),
    );
    return { steps: steps.length, predictions: epoch.reduce((n, s) => n + s.count, 0) };
  } finally {
    disposeModel(model);
  }
}

/** A Python with PyTorch: `$EFA_PEER_PYTHON`, else the first of `python3`, `/usr/bin/python3` that imports torch; `null` if none. */
export async function findPeerPython(): Promise<string | null> {
  const candidates = [Deno.env.get("EFA_PEER_PYTHON"), "python3", "/usr/bin/python3"];
  for (const python of candidates) {
    if (python === undefined || python === "") continue;
    try {
      const { success } = await new Deno.Command(python, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return python;
    } catch {
      // not installed
    }
  }
  return null;
}

/**
 * Runs the peer on an exchange file, one thread (`OMP_NUM_THREADS=1`), with
 * `blasDir` (a folder holding `libblas.so.3`, e.g. OpenBLAS) first on the
 * library path when given.
 *
 * @param python The Python with PyTorch.
 * @param exchange The exchange file.
 * @param blasDir A BLAS folder, or `undefined` for the system's.
 * @returns What the peer printed.
 * @throws {Error} When the peer fails.
 */
export async function runPeer(
  python: string,
  exchange: string,
  blasDir?: string,
): Promise<PeerResult> {
  const env: Record<string, string> = { OMP_NUM_THREADS: "1", PEER_THREADS: "1" };
  if (blasDir !== undefined) env["LD_LIBRARY_PATH"] = blasDir;
  const script = new URL("peer_torch.py", import.meta.url).pathname;
  const { success, stdout, stderr } = await new Deno.Command(python, {
    args: [script, exchange],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  if (!success) {
    throw new Error(`the PyTorch peer failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
  return JSON.parse(text.split("\n").at(-1)!) as PeerResult;
}
