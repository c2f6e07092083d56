import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { contextItemIndices, rankingOf, rankItems, rankOfTarget, topK } from "./ranking.ts";
import { predict } from "./evaluate.ts";
import { createEfa, efaConfig } from "./model.ts";
import { createFm, fmConfig } from "./fm.ts";
import { disposeModel } from "./objective.ts";
import { clearLayoutCache } from "./_whole_sequences.ts";

Deno.test("rankOfTarget: candidates above the target, ties to the lower index, exclusions", () => {
  const scores = [0.2, 0.9, 0.2, 0.5, 0.1];
  assert.equal(rankOfTarget(scores, 1), 1);
  assert.equal(rankOfTarget(scores, 3), 2);
  assert.equal(rankOfTarget(scores, 0), 3); // 0.9, 0.5 above; the tie with index 2 ranks after it
  assert.equal(rankOfTarget(scores, 2), 4); // the tie with index 0 ranks first
  assert.equal(rankOfTarget(scores, 4), 5);
  assert.equal(rankOfTarget(scores, 2, new Set([1, 0])), 2);
  assert.equal(rankOfTarget(scores, 3, new Set([3])), 2, "the target is never excluded");
  assert.throws(() => rankOfTarget(scores, 5), /expected target to be an index below 5, got 5/);
});

Deno.test("rankingOf: Recall@K, NDCG@K and MRR by hand", () => {
  const r = rankingOf([1, 2, 4, 11], [10, 1, 5, 5]);
  assert.deepEqual(r.k, [1, 5, 10]);
  assert.deepEqual(r.recall, [0.25, 0.75, 0.75]);
  assert.equal(r.ndcg[0], 0.25);
  assert.ok(Math.abs(r.ndcg[1]! - (1 + 1 / Math.log2(3) + 1 / Math.log2(5)) / 4) < 1e-15);
  assert.equal(r.ndcg[2], r.ndcg[1]);
  assert.ok(Math.abs(r.mrr - (1 + 1 / 2 + 1 / 4 + 1 / 11) / 4) < 1e-15);
  assert.equal(r.count, 4);
  assert.throws(
    () => rankingOf([1], []),
    /expected k to be a non-empty list of positive integers, got \[\]/,
  );
  assert.throws(() => rankingOf([1], [0]), /got \[0\]/);
});

Deno.test("contextItemIndices: earlier items for a unidirectional model, all others for a bidirectional one; never the target", () => {
  const uni = createEfa(efaConfig({ numItems: 4, maxLength: 4, direction: "unidirectional" }), {
    seed: 1,
  });
  const bi = createFm(fmConfig({ numItems: 4 }), { seed: 1 });
  const data = { items: [[3, 1, 3, 2]] };
  assert.deepEqual([...contextItemIndices(uni, data, [0, 2])].sort(), [0]); // items 3, 1 before; 3 is the target
  assert.deepEqual([...contextItemIndices(bi, data, [0, 2])].sort(), [0, 1]);
  assert.deepEqual([...contextItemIndices(uni, data, [0, 0])], []);
  disposeModel(uni);
  disposeModel(bi);
});

Deno.test("rankItems and topK agree with ranks counted from predict()'s probabilities; no tensor left behind", () => {
  const before = tf.memory().numTensors;
  const model = createEfa(efaConfig({ numItems: 12, maxLength: 6 }), { seed: 3 });
  const data = { items: [[1, 5, 7, 2], [3, 3, 9], [12, 11, 10, 4, 6, 8]] };
  const p = predict(model, data);
  const J = 12;
  for (const excludeContext of [false, true]) {
    const ranks = p.examples.map((e, i) => {
      const row = Array.from(p.itemProbabilities!.subarray(i * J, (i + 1) * J));
      const target = data.items[e[0]]![e[1]]! - 1;
      const excluded = excludeContext
        ? new Set(data.items[e[0]]!.filter((_, j) => j !== e[1]).map((x) => x - 1))
        : new Set<number>();
      excluded.delete(target);
      return 1 + row.filter((q, j) => !excluded.has(j) && j !== target && q > row[target]!).length;
    });
    const r = rankItems(model, data, { k: [1, 3], excludeContext });
    assert.deepEqual(
      r.recall,
      [1, 3].map((c) => ranks.filter((x) => x <= c).length / ranks.length),
    );
    assert.ok(Math.abs(r.mrr - ranks.reduce((s, x) => s + 1 / x, 0) / ranks.length) < 1e-12);
    const top = topK(model, data, 4, { excludeContext });
    p.examples.forEach((e, i) => {
      const row = p.itemProbabilities!.subarray(i * J, (i + 1) * J);
      const items = Array.from(top.items.subarray(i * 4, (i + 1) * 4));
      const probabilities = Array.from(top.probabilities.subarray(i * 4, (i + 1) * 4));
      assert.deepEqual(probabilities, items.map((id) => row[id - 1]!));
      for (let r = 1; r < 4; r++) assert.ok(probabilities[r - 1]! >= probabilities[r]!);
      if (excludeContext) {
        const others = data.items[e[0]]!.filter((_, j) => j !== e[1]);
        const target = data.items[e[0]]![e[1]]!;
        for (const id of items) {
          assert.ok(id === target || !others.includes(id), `item ${id} is in the context`);
        }
      }
      // The target's rank among the listed items is its rank overall.
      const target = data.items[e[0]]![e[1]]!;
      if (items.includes(target)) assert.equal(items.indexOf(target) + 1, ranks[i]);
    });
  }
  assert.throws(
    () => topK(model, data, 13),
    /expected k to be an integer from 1 to 12 \(the items\), got 13/,
  );
  disposeModel(model);
  const values = createFm(
    fmConfig({ numItems: 3, target: "value", family: { name: "gaussian" } }),
    {
      seed: 1,
    },
  );
  assert.throws(
    () => rankItems(values, { items: [[1, 2]], values: [[0.5, 1]] }),
    /rankItems\(\): expected a model that predicts items/,
  );
  disposeModel(values);
  clearLayoutCache(); // the attention layouts kept for the data's lengths
  assert.equal(tf.memory().numTensors, before);
});
