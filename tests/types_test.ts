/**
 * Type-level tests of the shape types: `deno check` (run by `deno test`)
 * fails if a line marked `@ts-expect-error` compiles, or if an unmarked line
 * does not.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { attend, named, type Tensor } from "../mod.ts";

function meanOverTime(x: Tensor<"batch time embed">): Tensor<"batch embed"> {
  return named(tf.mean(x, 1), "batch embed");
}

function takesBatchEmbed(x: Tensor<"batch embed">): number {
  return x.shape[0]!;
}

Deno.test("shape types accept matching axes and reject others at compile time", () => {
  const x = named(tf.zeros([2, 3, 4]), "batch time embed");
  const pooled = meanOverTime(x);
  const q = named(tf.zeros([1, 2, 4]), "batch query key_dim");
  const k = named(tf.zeros([1, 3, 4]), "batch key key_dim");
  const v = named(tf.zeros([1, 3, 5]), "batch key value_dim");
  assert.equal(takesBatchEmbed(pooled), 2);

  // Compiled, never run: each call below must fail `deno check`.
  const mistakes = (): void => {
    // @ts-expect-error a [batch, time, embed] tensor is not a [batch, embed] tensor
    takesBatchEmbed(x);
    // @ts-expect-error a [batch, embed] tensor is not a [batch, time, embed] tensor
    meanOverTime(pooled);
    // @ts-expect-error a plain tf.Tensor has no axis names: it must go through named()
    takesBatchEmbed(tf.zeros([2, 4]));
    // @ts-expect-error keys and queries are swapped
    attend(k, q, v);
  };
  assert.equal(typeof mistakes, "function");

  const { output } = attend(q, k, v);
  const typed: Tensor<"batch query value_dim"> = output;
  assert.deepEqual(typed.shape, [1, 2, 5]);

  tf.dispose([x, pooled, q, k, v, output]);
});

// The phantom types cannot see sizes; the runtime check at public boundaries does.
Deno.test("runtime checks catch what the types cannot see", () => {
  const q = named(tf.zeros([1, 2, 4]), "batch query key_dim");
  const k = named(tf.zeros([1, 3, 5]), "batch key key_dim");
  const v = named(tf.zeros([1, 3, 5]), "batch key value_dim");
  assert.throws(() => attend(q, k, v), {
    name: "TypeError",
    message: "attend(): expected keys to have shape [batch=1, key, key_dim=4], got [1, 3, 5]",
  });
  tf.dispose([q, k, v]);
});
