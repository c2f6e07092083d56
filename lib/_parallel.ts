/**
 * The second core: a worker with its own copy of the model computes the
 * gradients of some chunks of a training step while the main thread
 * computes the others. The step's gradient is still the sum of the chunks'
 * gradients in chunk order, each chunk computed by the same code on the same
 * weights, so training gives the same numbers to the bit on one thread or
 * two (`train_test.ts` checks it).
 *
 * @module
 */
import type { Sequences } from "./data.ts";
import type { EfaConfig } from "./model.ts";
import type { BatchPlan } from "./plan.ts";

/** What the worker returns for one chunk. */
export interface ChunkResult {
  /** The chunk's weighted loss. */
  readonly loss: number;
  /** The gradients of every variable, concatenated in the variables' order. */
  readonly grads: Float32Array<ArrayBuffer>;
  /** Which variables have a gradient (1) and which none (0). */
  readonly present: Uint8Array<ArrayBuffer>;
}

/** Messages to the worker. */
export type ToWorker =
  | { kind: "init"; config: EfaConfig; data: Sequences; names: string[] }
  | { kind: "step"; weights: Float32Array<ArrayBuffer>; chunks: BatchPlan[]; shares: number[] };

/** Messages from the worker. */
export type FromWorker =
  | { kind: "loaded" }
  | { kind: "ready" }
  | { kind: "done"; results: ChunkResult[] }
  | { kind: "error"; message: string };

/** A worker that computes chunk gradients for one model and one data set. */
export class ChunkWorker {
  readonly #worker: Worker;
  #pending: ((message: FromWorker) => void) | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const resolve = this.#pending;
      this.#pending = null;
      resolve?.(event.data);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      const resolve = this.#pending;
      this.#pending = null;
      resolve?.({ kind: "error", message: event.message });
    };
  }

  #next(): Promise<FromWorker> {
    return new Promise((resolve) => (this.#pending = resolve));
  }

  async #expect<K extends FromWorker["kind"]>(
    kind: K,
    reply: Promise<FromWorker>,
  ): Promise<Extract<FromWorker, { kind: K }>> {
    const message = await reply;
    if (message.kind === "error") {
      throw new Error(`Training on a second thread failed: ${message.message}`);
    }
    if (message.kind !== kind) {
      throw new Error(`The training worker sent ${message.kind}, not ${kind}`);
    }
    return message as Extract<FromWorker, { kind: K }>;
  }

  /**
   * Starts a worker, builds the model in it and hands it the data.
   *
   * @param config The model's config.
   * @param names The model's variables in the order gradients are exchanged.
   * @param data The training sequences.
   * @returns The ready worker.
   */
  static async start(config: EfaConfig, names: string[], data: Sequences): Promise<ChunkWorker> {
    const worker = new Worker(new URL("./_train_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const self = new ChunkWorker(worker);
    try {
      await self.#expect("loaded", self.#next());
      const ready = self.#next();
      worker.postMessage({ kind: "init", config, data, names } satisfies ToWorker);
      await self.#expect("ready", ready);
      return self;
    } catch (error) {
      worker.terminate();
      throw error;
    }
  }

  /**
   * Computes the weighted loss and gradients of chunks at the given weights.
   *
   * @param weights Every variable's values, concatenated in order.
   * @param chunks The chunks.
   * @param shares Each chunk's weight (its share of the step's examples).
   * @returns One result per chunk, in order.
   */
  async gradients(
    weights: Float32Array<ArrayBuffer>,
    chunks: BatchPlan[],
    shares: number[],
  ): Promise<ChunkResult[]> {
    const reply = this.#next();
    this.#worker.postMessage(
      { kind: "step", weights, chunks, shares } satisfies ToWorker,
      [weights.buffer],
    );
    return (await this.#expect("done", reply)).results;
  }

  /** Stops the worker. */
  terminate(): void {
    this.#worker.terminate();
  }
}
