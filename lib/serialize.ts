/**
 * Saving and loading trained models as versioned JSON: the kind, the config
 * and every parameter (float32 values, base64-encoded, so a loaded model gives
 * bit-identical predictions). The library never touches files: write and read
 * the text with `Deno.writeTextFile` / `Deno.readTextFile`.
 *
 * @module
 */
import { decodeBase64, encodeBase64 } from "./_base64.ts";
import * as tf from "@tensorflow/tfjs";
import { createFm, type FmConfig } from "./fm.ts";
import { createEfa, type EfaConfig } from "./model.ts";
import { disposeModel, type Model } from "./objective.ts";

/** The format version written by {@link saveModel}; {@link loadModel} refuses others. */
export const MODEL_FORMAT_VERSION = 1;

/** The JSON document of a saved model. */
export interface SavedModel {
  /** Always `"efa-model"`. */
  readonly format: "efa-model";
  /** {@link MODEL_FORMAT_VERSION} at the time of saving. */
  readonly formatVersion: number;
  /** `"efa"` or `"fm"`. */
  readonly kind: "efa" | "fm";
  /** The model's config. */
  readonly config: EfaConfig | FmConfig;
  /** Every parameter: its shape and its float32 values in base64. */
  readonly parameters: Record<string, { readonly shape: number[]; readonly data: string }>;
}

function toBase64(values: Float32Array): string {
  return encodeBase64(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

function fromBase64(text: string): Float32Array {
  return new Float32Array(decodeBase64(text).buffer);
}

/**
 * Serialises a model to JSON text.
 *
 * @param model The model.
 * @returns The JSON text (see {@link SavedModel}).
 *
 * @example Save and load give identical parameters
 * ```ts
 * import { createFm, disposeModel, fmConfig, loadModel, saveModel } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createFm(fmConfig({ numItems: 3 }), { seed: 1 });
 * const copy = loadModel(saveModel(model));
 * assert.deepEqual(copy.params["alpha"]!.dataSync(), model.params["alpha"]!.dataSync());
 * disposeModel(model);
 * disposeModel(copy);
 * ```
 */
export function saveModel(model: Model): string {
  const parameters: Record<string, { shape: number[]; data: string }> = {};
  for (const [name, p] of Object.entries(model.params)) {
    parameters[name] = { shape: [...p.shape], data: toBase64(p.dataSync() as Float32Array) };
  }
  const saved: SavedModel = {
    format: "efa-model",
    formatVersion: MODEL_FORMAT_VERSION,
    kind: model.kind,
    config: model.config,
    parameters,
  };
  return JSON.stringify(saved);
}

/**
 * Rebuilds a model from the JSON text of {@link saveModel}.
 *
 * @param text The JSON text.
 * @returns The model, with the saved parameters.
 * @throws {TypeError} When the text is not a saved model, or is of another
 * format version, or a parameter is missing or has another shape.
 *
 * @example A model file of another version is refused
 * ```ts
 * import { loadModel } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const text = JSON.stringify({ format: "efa-model", formatVersion: 99, kind: "fm", config: {}, parameters: {} });
 * assert.throws(() => loadModel(text), /format version 99/);
 * ```
 */
export function loadModel(text: string): Model {
  let saved: SavedModel;
  try {
    saved = JSON.parse(text) as SavedModel;
  } catch (error) {
    throw new TypeError(
      `loadModel(): expected JSON text of a saved model, got invalid JSON (${
        (error as Error).message
      })`,
    );
  }
  if (saved === null || typeof saved !== "object" || saved.format !== "efa-model") {
    throw new TypeError(
      'loadModel(): expected a saved EFA model (format "efa-model"), got something else',
    );
  }
  if (saved.formatVersion !== MODEL_FORMAT_VERSION) {
    throw new TypeError(
      `loadModel(): expected model format version ${MODEL_FORMAT_VERSION}, got format version ${saved.formatVersion}; save it again with a matching package version`,
    );
  }
  if (saved.kind !== "efa" && saved.kind !== "fm") {
    throw new TypeError(
      `loadModel(): expected kind "efa" or "fm", got ${JSON.stringify(saved.kind)}`,
    );
  }
  const model = saved.kind === "efa"
    ? createEfa(saved.config as EfaConfig)
    : createFm(saved.config as FmConfig);
  const names = Object.keys(model.params);
  const extra = Object.keys(saved.parameters).filter((n) => !names.includes(n));
  try {
    if (extra.length > 0) {
      throw new TypeError(
        `loadModel(): the file has parameters the model lacks: ${extra.join(", ")}`,
      );
    }
    for (const name of names) {
      const entry = saved.parameters[name];
      const p = model.params[name]!;
      if (entry === undefined) {
        throw new TypeError(`loadModel(): the file lacks parameter "${name}"`);
      }
      if (entry.shape.length !== p.shape.length || entry.shape.some((d, i) => d !== p.shape[i])) {
        throw new TypeError(
          `loadModel(): expected parameter "${name}" to have shape [${p.shape.join(", ")}], got [${
            entry.shape.join(", ")
          }]`,
        );
      }
      const values = fromBase64(entry.data);
      if (values.length !== p.size) {
        throw new TypeError(
          `loadModel(): expected ${p.size} values for parameter "${name}", got ${values.length}`,
        );
      }
      tf.tidy(() => p.assign(tf.tensor(values, p.shape, "float32")));
    }
  } catch (error) {
    disposeModel(model);
    throw error;
  }
  return model;
}
