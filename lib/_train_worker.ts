/**
 * The training worker (see `_parallel.ts`): holds a copy of the model and
 * the data, and computes the weighted loss and gradients of the chunks it is
 * sent, at the weights it is sent, with the same code as the main thread.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import type { Sequences } from "./data.ts";
import { createEfa, type EfaModel } from "./model.ts";
import type { ChunkResult, FromWorker, ToWorker } from "./_parallel.ts";
import { chunkGradients } from "./train.ts";
import type { TfVariable } from "./_types.ts";

const scope = self as unknown as {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
};

let model: EfaModel | null = null;
let data: Sequences | null = null;
let variables: TfVariable[] = [];

function setWeights(weights: Float32Array): void {
  let offset = 0;
  for (const v of variables) {
    const values = tf.tensor(weights.subarray(offset, offset + v.size), v.shape, "float32");
    v.assign(values);
    values.dispose();
    offset += v.size;
  }
}

function step(chunks: ToWorker & { kind: "step" }): ChunkResult[] {
  setWeights(chunks.weights);
  const total = variables.reduce((n, v) => n + v.size, 0);
  return chunks.chunks.map((chunk, i) => {
    const { loss, grads } = chunkGradients(model!, variables, data!, chunk, chunks.shares[i]!);
    const flat = new Float32Array(total);
    const present = new Uint8Array(variables.length);
    let offset = 0;
    variables.forEach((v, j) => {
      const g = grads[j];
      if (g !== undefined) {
        flat.set(g.dataSync() as Float32Array, offset);
        present[j] = 1;
      }
      offset += v.size;
    });
    tf.dispose(grads.filter((g) => g !== undefined));
    return { loss, grads: flat, present };
  });
}

scope.onmessage = (event) => {
  const message = event.data;
  try {
    if (message.kind === "init") {
      model = createEfa(message.config, { seed: 0 }); // its weights come with every step
      data = message.data;
      variables = message.names.map((name) => model!.params[name]!);
      scope.postMessage({ kind: "ready" });
    } else {
      const results = step(message);
      scope.postMessage(
        { kind: "done", results },
        results.flatMap((r) => [r.grads.buffer, r.present.buffer]),
      );
    }
  } catch (error) {
    scope.postMessage({
      kind: "error",
      message: error instanceof Error ? error.message : String(error),
    });
  }
};
scope.postMessage({ kind: "loaded" });
