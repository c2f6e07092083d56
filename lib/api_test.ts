import assert from "node:assert/strict";
import "./backend.ts";
import { fit, loadFitted, type Observation } from "./api.ts";
import { SeedStream } from "./random.ts";

/** Sequences whose values depend on the previous item: after an "a" the mean is 5, otherwise 1. */
function valueRows(count: number, seed: number): Observation[] {
  const rng = new SeedStream(seed);
  const labels = ["a", "b", "c"];
  const rows: Observation[] = [];
  for (let s = 0; s < count; s++) {
    let previous = "";
    for (let p = 0; p < 5; p++) {
      const item = labels[rng.integer(3)]!;
      const mean = previous === "a" ? 5 : 1;
      rows.push({ sequence: `user${s}`, position: p, item, value: mean + 0.1 * rng.normal() });
      previous = item;
    }
  }
  return rows.reverse(); // positions make the order, not the rows
}

Deno.test("fit() learns a value that depends on the context, and predicts, explains and saves", async () => {
  const rows = valueRows(300, 1);
  const fitted = await fit(rows, {
    family: "gaussian",
    direction: "unidirectional",
    epochs: 40,
    seed: 3,
  });
  assert.deepEqual(fitted.items, ["", "a", "b", "c"]);
  assert.ok(fitted.training!.history.length > 1);
  const test = valueRows(100, 2);
  const result = fitted.evaluate(test);
  assert.equal(result.count, 500);
  const values = test.map((r) => r.value!),
    average = values.reduce((a, v) => a + v, 0) / values.length;
  const baseline = values.reduce((a, v) => a + (v - average) ** 2, 0) / values.length; // predicting the mean
  assert.ok(result.mse! < 0.3 * baseline, `held-out MSE ${result.mse} vs ${baseline} for the mean`);
  const predictions = fitted.predict(test);
  assert.equal(predictions.length, 500);
  const p = predictions.find((q) => q.item === "b" && q.position > 0)!;
  assert.equal(typeof p.mean, "number");
  assert.equal(p.sequence.startsWith("user"), true);
  const { items, positions, weights } = fitted.attention(test, "user0", 2);
  assert.equal(items.length, 5);
  assert.deepEqual(positions, [0, 1, 2, 3, 4]); // the rows' own positions, in order
  assert.equal(weights.length, 2);
  const copy = loadFitted(fitted.save());
  assert.deepEqual(copy.evaluate(test), result);
  fitted.dispose();
  copy.dispose();
});

Deno.test("fit() models items (categorical) and both (joint)", async () => {
  const rows = valueRows(60, 4).map((r) => ({ ...r, value: Math.round(Math.abs(r.value!)) }));
  const categorical = await fit(rows.map(({ value: _v, ...r }) => r), { epochs: 2 });
  assert.equal(categorical.family, "categorical");
  assert.ok(categorical.predict(rows.map(({ value: _v, ...r }) => r))[0]!.topItem !== undefined);
  const joint = await fit(rows, { family: "joint-poisson", epochs: 2 });
  const p = joint.predict(rows)[0]!;
  assert.ok(p.itemProbability! > 0 && p.mean! > 0);
  categorical.dispose();
  joint.dispose();
});

Deno.test("predict() reports each observation by the rows' own sequence ids and positions", async () => {
  // Positions 10, 20, 30 given out of order, and a sequence with no positions (row order).
  const rows: Observation[] = [
    { sequence: 7, position: 30, item: "c" },
    { sequence: 7, position: 10, item: "a" },
    { sequence: 7, position: 20, item: "b" },
  ];
  const fitted = await fit(rows, { epochs: 1, validationShare: 0 });
  const byPosition = fitted.predict(rows).map((p) => [p.sequence, p.position, p.item]);
  assert.deepEqual(byPosition, [["7", 10, "a"], ["7", 20, "b"], ["7", 30, "c"]]);
  const inOrder = fitted.predict([{ sequence: "s", item: "b" }, { sequence: "s", item: "a" }]);
  assert.deepEqual(inOrder.map((p) => [p.sequence, p.position, p.item]), [["s", 0, "b"], [
    "s",
    1,
    "a",
  ]]);
  fitted.dispose();
});

Deno.test("bad input gets a clear error", async () => {
  const rows = valueRows(20, 5);
  await assert.rejects(() => fit([]), {
    name: "RangeError",
    message: "fit(): expected at least one row, got none",
  });
  await assert.rejects(() => fit([{ sequence: 1 } as never]), {
    name: "TypeError",
    message: /row 0 to have a sequence and an item/,
  });
  await assert.rejects(
    () => fit([{ sequence: 1, item: "a", value: "high" as never }], { family: "gaussian" }),
    {
      name: "TypeError",
      message: /expected a numeric value in sequence "1" at position 0, got "high"/,
    },
  );
  await assert.rejects(
    () =>
      fit([{ sequence: 1, item: "a", value: -2 }, { sequence: 1, item: "b", value: 1 }], {
        family: "poisson",
      }),
    {
      name: "RangeError",
      message:
        'fit(): expected the value of sequence "1" at position 0 to hold integer counts >= 0, got -2 (poisson)',
      row: 0,
    },
  );
  await assert.rejects(
    () => fit(rows, { family: "lognormal" as never }),
    /expected family to be categorical/,
  );
  const fitted = await fit(rows, { epochs: 1 });
  assert.throws(() => fitted.predict([{ sequence: "x", item: "zebra", value: 1 }]), {
    name: "RangeError",
    message: 'predict(): unknown item "zebra" in sequence "x"; the model knows 3 items',
  });
  const long = Array.from(
    { length: 6 },
    (_, p) => ({ sequence: "x", position: p, item: "a", value: 1 }),
  );
  assert.throws(() => fitted.evaluate(long), {
    name: "RangeError",
    message: 'evaluate(): sequence "x" has 6 observations, more than the model\'s maxLength 5',
    row: 5,
  });
  assert.throws(() => fitted.attention(rows, "nobody"), /unknown sequence "nobody"/);
  // Errors name the sequence and the row's own position, and carry the row's index.
  const shuffled = [
    { sequence: "s", position: 5, item: "a", value: 1 },
    { sequence: "s", position: 2, item: "b", value: Number.NaN },
  ];
  assert.throws(() => fitted.predict(shuffled), {
    name: "TypeError",
    message: 'predict(): expected a numeric value in sequence "s" at position 2, got null',
    row: 1,
  });
  const firstKey = String(rows[0]!.sequence);
  assert.throws(() => fitted.attention(rows, firstKey, 0.5), {
    name: "RangeError",
    message: new RegExp(
      `sequence "${firstKey}" has no observation at position 0.5; its positions are `,
    ),
  });
  const saved = JSON.parse(fitted.save());
  assert.throws(() => loadFitted(JSON.stringify({ ...saved, formatVersion: 7 })), {
    name: "TypeError",
    message:
      "loadFitted(): expected format version 1, got 7; fit or save it again with this version",
  });
  assert.throws(() => loadFitted("nonsense"), /invalid JSON/);
  fitted.dispose();
});
