import assert from "node:assert/strict";
import { baselineScores } from "./baselines.ts";

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${what}: got ${a}, expected ${b}`);

Deno.test("value baselines match a hand computation, both directions", () => {
  // Training: item 1 takes 1 and 3, item 2 takes 8: mean 4, item means 2 and 8.
  const train = { items: [[1, 1, 2]], values: [[1, 3, 8]] };
  const heldOut = { items: [[1, 2, 2]], values: [[2, 6, 10]] };
  const [mean, item, sequence, neighbours] = baselineScores(train, heldOut, { target: "gaussian" });
  close(mean!.loss, ((2 - 4) ** 2 + (6 - 4) ** 2 + (10 - 4) ** 2) / 3, "mean");
  close(item!.loss, ((2 - 2) ** 2 + (6 - 8) ** 2 + (10 - 8) ** 2) / 3, "item mean");
  // Other values' means: 8, 6, 4.
  close(sequence!.loss, ((2 - 8) ** 2 + (6 - 6) ** 2 + (10 - 4) ** 2) / 3, "sequence mean");
  // Neighbours: 6 (one side), (2 + 10) / 2, 6.
  close(neighbours!.loss, ((2 - 6) ** 2 + (6 - 6) ** 2 + (10 - 6) ** 2) / 3, "neighbours");
  assert.equal(neighbours!.name, "neighbours' mean");
  assert.equal(mean!.count, 3);
  // By sequence (one here): the sum of the losses the mean divides.
  assert.equal(item!.bySequence.length, 1);
  close(item!.bySequence[0]!, item!.loss * 3, "item mean, by sequence");

  const causal = baselineScores(train, heldOut, {
    target: "gaussian",
    direction: "unidirectional",
  });
  assert.deepEqual(causal.map((b) => b.name), [
    "mean",
    "item mean",
    "sequence mean so far",
    "previous value",
  ]);
  // So far: nothing (the training mean 4), 2, (2 + 6) / 2; previous: 4 (none), 2, 6.
  close(causal[2]!.loss, ((2 - 4) ** 2 + (6 - 2) ** 2 + (10 - 4) ** 2) / 3, "so far");
  close(causal[3]!.loss, ((2 - 4) ** 2 + (6 - 2) ** 2 + (10 - 6) ** 2) / 3, "previous");
});

Deno.test("item baselines match a hand computation and honour targets", () => {
  // Two items. Frequencies with add-one: item 1: 1 + 3, item 2: 1 + 1, so the prior is 4/6, 2/6.
  const train = { items: [[1, 2], [1, 1]] };
  const heldOut = { items: [[2, 1]], targets: [[0]] }; // only position 0 (item 2) is predicted
  const [frequency, counting] = baselineScores(train, heldOut, { target: "item" });
  close(frequency!.loss, -Math.log(2 / 6), "frequency");
  assert.equal(frequency!.count, 1);
  // Pairs (context c -> item j): 2->1, 1->2, 1->1, 1->1: row of c = 1 holds j=1: 2, j=2: 1 (total 3).
  // P(2 | context 1) = (1 + 2/6) / (3 + 1).
  close(counting!.loss, -Math.log((1 + 2 / 6) / 4), "co-occurrence");
});

Deno.test("count and 0/1 baselines: Poisson loss and binary cross-entropy of shrunk means", () => {
  // Training counts: item 1 takes 0 and 2, item 2 takes 4: mean 2, item sums 2 (n 2) and 4 (n 1).
  const train = { items: [[1, 1, 2]], values: [[0, 2, 4]] };
  const heldOut = { items: [[1, 2]], values: [[1, 3]] };
  const poissonLoss = (y: number, m: number) => m - y * Math.log(m);
  const shrunk = (sum: number, n: number, mean: number) => (sum + mean) / (n + 1);
  const [mean, item, sequence, neighbours] = baselineScores(train, heldOut, { target: "poisson" });
  close(mean!.loss, (poissonLoss(1, 2) + poissonLoss(3, 2)) / 2, "mean");
  close(
    item!.loss,
    (poissonLoss(1, shrunk(2, 2, 2)) + poissonLoss(3, shrunk(4, 1, 2))) / 2,
    "item",
  );
  // The other value of a two-value sequence is also its only neighbour.
  const others = (poissonLoss(1, shrunk(3, 1, 2)) + poissonLoss(3, shrunk(1, 1, 2))) / 2;
  close(sequence!.loss, others, "sequence mean");
  close(neighbours!.loss, others, "neighbours");
  // Bernoulli: training mean with half a success and half a failure, (1 + 0.5) / (3 + 1).
  const binary = { items: [[1, 1, 2]], values: [[0, 0, 1]] };
  const test = { items: [[1, 2]], values: [[1, 0]] };
  const bce = (y: number, p: number) => -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
  const mu = 1.5 / 4;
  const scores = baselineScores(binary, test, { target: "bernoulli", direction: "unidirectional" });
  close(scores[0]!.loss, (bce(1, mu) + bce(0, mu)) / 2, "bernoulli mean");
  close(scores[1]!.loss, (bce(1, shrunk(0, 2, mu)) + bce(0, shrunk(1, 1, mu))) / 2, "item");
  // Unidirectional: nothing before position 0 (the mean), then the previous value 1.
  close(scores[3]!.loss, (bce(1, mu) + bce(0, shrunk(1, 1, mu))) / 2, "previous value");
  // A run of zeros still predicts a positive count: the loss stays finite.
  const zeros = baselineScores({ items: [[1, 1]], values: [[0, 1]] }, {
    items: [[1, 1, 1]],
    values: [[0, 0, 2]],
  }, { target: "poisson" });
  assert.ok(zeros.every((b) => Number.isFinite(b.loss)), JSON.stringify(zeros));
});

Deno.test("baselineScores() rejects what it cannot score", () => {
  assert.throws(
    () =>
      baselineScores({ items: [[1]], values: [[1.5]] }, { items: [[1]], values: [[1]] }, {
        target: "poisson",
      }),
    {
      name: "RangeError",
      message:
        "baselineScores(): expected train.values[0][0] to be a count (0, 1, 2, ...), got 1.5",
    },
  );
  assert.throws(
    () =>
      baselineScores({ items: [[1]], values: [[1]] }, { items: [[1, 1]], values: [[0, 2]] }, {
        target: "bernoulli",
      }),
    {
      name: "RangeError",
      message: "baselineScores(): expected heldOut.values[0][1] to be 0 or 1, got 2",
    },
  );
  assert.throws(() => baselineScores({ items: [] }, { items: [[1]] }, { target: "item" }), {
    name: "RangeError",
    message: "baselineScores(): expected train to hold sequences, got none",
  });
  assert.throws(() => baselineScores({ items: [[1]] }, { items: [[1]] }, { target: "gaussian" }), {
    name: "RangeError",
    message: "baselineScores(): expected train.values for a gaussian target",
  });
  assert.throws(
    () => baselineScores({ items: [[1, 5]] }, { items: [[1]] }, { target: "item", numItems: 3 }),
    { name: "RangeError", message: "baselineScores(): expected item ids in 1..3, got 5" },
  );
  assert.throws(
    () => baselineScores({ items: [[1]] }, { items: [[1]] }, { target: "gamma" as never }),
    /expected target "item", "gaussian", "poisson" or "bernoulli", got "gamma"/,
  );
});
