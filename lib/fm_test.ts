import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import { disposeBatch, type Sequences } from "./data.ts";
import { makeBatch } from "./plan.ts";
import { createFm, fmConfig, fmForward, type FmModel } from "./fm.ts";
import { disposeModel } from "./objective.ts";

function setTable(model: FmModel, name: string, rows: number[][]): void {
  model.params[name]!.assign(tf.tensor2d(rows));
}

function eta(model: FmModel, data: Sequences, examples: [number, number][]): number[][] {
  const batch = makeBatch(data, examples);
  const out = fmForward(model, batch);
  const t = out.itemEta ?? out.valueEta!;
  const rows = t.arraySync() as number[][];
  t.dispose();
  disposeBatch(batch);
  return rows;
}

Deno.test("categorical FM sums the context embeddings (plus the mask token when unidirectional)", () => {
  // J = 2, K = 1: alpha rows (pad, item 1, item 2, mask) = (0, 1, 10, 100); W = [[1, 2]].
  const uni = createFm(
    fmConfig({ numItems: 2, dim: 1, context: "unidirectional", maskToken: true }),
    { seed: 1 },
  );
  setTable(uni, "alpha", [[0], [1], [10], [100]]);
  setTable(uni, "itemOutput.kernel", [[1, 2]]);
  const data = { items: [[1, 2, 2, 1]] };
  // Target 2: context = items 1, 2 -> s = 1 + 10 + 100 = 111; logits (111, 222).
  assert.deepEqual(eta(uni, data, [[0, 2]]), [[111, 222]]);
  // Target 0: empty context -> s = alpha(M) = 100.
  assert.deepEqual(eta(uni, data, [[0, 0]]), [[100, 200]]);
  const bi = createFm(fmConfig({ numItems: 2, dim: 1, context: "bidirectional" }), { seed: 1 });
  setTable(bi, "alpha", [[0], [1], [10]]);
  setTable(bi, "itemOutput.kernel", [[1, 2]]);
  // Target 2: context = positions 0, 1, 3 -> 1 + 10 + 1 = 12.
  assert.deepEqual(eta(bi, data, [[0, 2]]), [[12, 24]]);
  [uni, bi].forEach(disposeModel);
});

/** A Gaussian value FM over three items. */
function valueFm(options: Parameters<typeof fmConfig>[0]): FmModel {
  return createFm(
    fmConfig({ numItems: 3, target: "value", family: { name: "gaussian" }, ...options }),
    { seed: 1 },
  );
}

Deno.test("value FM is rho(x_i) . mean_j y_j alpha(x_j), and 0 for an empty context", () => {
  const model = valueFm({ dim: 2, context: "unidirectional" });
  setTable(model, "rho", [[0, 0], [1, 0], [0, 1], [1, 1]]);
  setTable(model, "alpha", [[0, 0], [1, 2], [3, 4], [5, 6]]);
  const data = { items: [[1, 2, 3]], values: [[2, 1, 7]] };
  // Target 2 (item 3, rho = (1, 1)): context y*alpha = 2*(1,2) + 1*(3,4) = (5, 8), over |c| = 2 -> (2.5, 4); eta = 6.5.
  assert.deepEqual(eta(model, data, [[0, 2], [0, 0]]), [[6.5], [0]]);
  disposeModel(model);
});

Deno.test("neighbors FM uses only the listed items as context", () => {
  const model = valueFm({ dim: 1, context: "neighbors", neighbors: [[], [2], [1, 3], [2]] });
  setTable(model, "rho", [[0], [1], [1], [1]]);
  setTable(model, "alpha", [[0], [1], [1], [1]]);
  const data = { items: [[1, 2, 3]], values: [[10, 20, 40]] };
  // City 1's neighbour is city 2 (20); city 2's are 1 and 3 ((10 + 40) / 2 = 25).
  assert.deepEqual(eta(model, data, [[0, 0], [0, 1]]), [[20], [25]]);
  disposeModel(model);
  assert.throws(
    () =>
      fmConfig({
        numItems: 3,
        target: "value",
        family: { name: "gaussian" },
        context: "neighbors",
      }),
    /expected neighbors to list the context items/,
  );
  assert.throws(() => fmConfig({ target: "value" }), /expected a value family/);
});
