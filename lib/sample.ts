/**
 * Sampling sequences from a unidirectional EFA, one position at a time: the
 * observation at position `i` is drawn from the model's conditional given the
 * positions before it (its prefix, the model's whole context). The data of
 * the identifiability experiment and of the tests that train on a known model.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { disposeBatch, type Sequences } from "./data.ts";
import { categorical } from "./families.ts";
import { efaForward, type EfaModel } from "./model.ts";
import { makeBatch } from "./plan.ts";
import type { SeedStream } from "./random.ts";

/** Options of {@link sampleSequences}. */
export interface SampleOptions {
  /** How many sequences. */
  readonly count: number;
  /** Observations per sequence (at most the model's `maxLength`). */
  readonly length: number;
  /** The stream every draw comes from. */
  readonly rng: SeedStream;
}

/** Sequences per forward pass. */
const ROWS_PER_PASS = 4096;

/**
 * Samples sequences from a unidirectional EFA. An item model (`target:
 * "item"`) draws the items; a value model (`target: "value"`) draws the
 * values of items drawn uniformly from `1..numItems`.
 *
 * @param model A unidirectional EFA whose target is `"item"` or `"value"`.
 * @param options The number and length of the sequences and the stream.
 * @returns The sequences (with values for a value model).
 * @throws {RangeError} For a bidirectional or joint model, or a count or length out of range.
 *
 * @example Three sequences of four items
 * ```ts
 * import { createEfa, disposeModel, efaConfig, sampleSequences, SeedStream } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const model = createEfa(efaConfig({ numItems: 5, maxLength: 4, direction: "unidirectional" }), { seed: 1 });
 * const data = sampleSequences(model, { count: 3, length: 4, rng: new SeedStream(2) });
 * assert.deepEqual(data.items.map((s) => s.length), [4, 4, 4]);
 * assert.ok(data.items.every((s) => Array.from(s).every((x) => x >= 1 && x <= 5)));
 * disposeModel(model);
 * ```
 */
export function sampleSequences(model: EfaModel, options: SampleOptions): Sequences {
  const { count, length, rng } = options;
  const { config } = model;
  const fn = "sampleSequences";
  if (config.direction !== "unidirectional") {
    throw new RangeError(
      `${fn}(): expected a unidirectional model (each position drawn given its prefix), got "${config.direction}"`,
    );
  }
  if (config.target === "joint") {
    throw new RangeError(`${fn}(): expected a model with target "item" or "value", got "joint"`);
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`${fn}(): expected count to be a positive integer, got ${count}`);
  }
  if (!Number.isInteger(length) || length < 1 || length > config.maxLength) {
    throw new RangeError(
      `${fn}(): expected length to be an integer in 1..${config.maxLength}, got ${length}`,
    );
  }
  const valued = config.target === "value";
  const J = config.numItems;
  const items = Array.from(
    { length: count },
    () => Array.from({ length }, () => (valued ? 1 + rng.integer(J) : 1)),
  );
  const values = valued
    ? Array.from({ length: count }, () => new Array<number>(length).fill(0))
    : undefined;
  const family = valued ? model.family! : categorical(J);
  for (let i = 0; i < length; i++) {
    for (let start = 0; start < count; start += ROWS_PER_PASS) {
      const rows = items.slice(start, start + ROWS_PER_PASS);
      const part: Sequences = {
        items: rows,
        ...(values === undefined ? {} : { values: values.slice(start, start + ROWS_PER_PASS) }),
      };
      const batch = makeBatch(part, rows.map((_, s) => [s, i] as const), {
        truncateAfterTarget: true,
      });
      const out = efaForward(model, batch);
      const eta = valued ? out.valueEta! : out.itemEta!; // [rows, natural]
      const draws = family.sample(eta, rng).dataSync();
      rows.forEach((seq, s) => {
        if (valued) values![start + s]![i] = draws[s]!;
        else seq[i] = draws[s]! + 1;
      });
      tf.dispose([eta, ...(out.attention ?? [])]);
      disposeBatch(batch);
    }
  }
  return { items, ...(values === undefined ? {} : { values }) };
}
