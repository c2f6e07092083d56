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
  // Counts get their own baselines, in the Poisson loss the fit reports.
  assert.deepEqual(joint.heldOut!.valueBaselines!.map((b) => b.name), [
    "mean",
    "item mean",
    "sequence mean",
    "neighbours' mean",
  ]);
  assert.ok(joint.heldOut!.valueBaselines!.every((b) => Number.isFinite(b.loss)));
  assert.equal(joint.heldOut!.itemBaselines!.length, 2);
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
    message: 'predict(): unknown item "zebra" in sequence "x"; the model knows 3 items ' +
      "(items rarer than fit()'s minItemCount share an item that stands for unseen ones; this fit had none)",
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

Deno.test("Gaussian values are standardised inside and reported in the data's units", async () => {
  const rows = valueRows(60, 2);
  // The same data in other units (value * 40 + 1000): standardised, the model sees the same numbers.
  const moved = rows.map((r) => ({ ...r, value: r.value! * 40 + 1000 }));
  const options = { epochs: 3, seed: 1, threads: 1 } as const;
  const plain = await fit(rows, options), shifted = await fit(moved, options);
  assert.ok(shifted.valueScale!.shift > 1000 && shifted.valueScale!.scale > 40);
  const a = plain.predict(rows), b = shifted.predict(moved);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(b[i]!.mean! - (a[i]!.mean! * 40 + 1000)) < 1e-2, `prediction ${i}`);
  }
  // evaluate() and the held-out report speak the data's units: squared errors scale by 40^2.
  const ea = plain.evaluate(rows), eb = shifted.evaluate(moved);
  assert.ok(Math.abs(eb.mse! / ea.mse! - 1600) < 0.5, `mse ratio ${eb.mse! / ea.mse!}`);
  const direct = b.reduce((s, p) => s + (p.value! - p.mean!) ** 2, 0) / b.length;
  assert.ok(Math.abs(eb.mse! - direct) < 1e-3 * direct);
  assert.ok(Math.abs(eb.logLikelihood - (ea.logLikelihood - Math.log(40))) < 1e-3);
  assert.ok(Math.abs(shifted.heldOut!.result.loss / plain.heldOut!.result.loss - 1600) < 0.5);
  // Saved and loaded, the scale comes along.
  const copy = loadFitted(shifted.save());
  assert.deepEqual(copy.valueScale, shifted.valueScale);
  assert.equal(copy.predict(moved)[0]!.mean, b[0]!.mean);
  // Off on request: the model sees the raw values.
  const raw = await fit(moved, { ...options, standardize: false });
  assert.equal(raw.valueScale, null);
  for (const f of [plain, shifted, copy, raw]) f.dispose();
});

Deno.test("fit() reports the validation loss beside the simple baselines", async () => {
  const fitted = await fit(valueRows(100, 4), { epochs: 30, seed: 2, threads: 1 });
  const held = fitted.heldOut!;
  assert.equal(held.result.count, 20 * 5); // 20% of 100 sequences of 5
  assert.deepEqual(held.valueBaselines!.map((b) => b.name), [
    "mean",
    "item mean",
    "sequence mean",
    "neighbours' mean",
  ]);
  assert.equal(held.itemBaselines, undefined);
  // The value follows the previous item, which none of the baselines sees: EFA beats them all.
  for (const b of held.valueBaselines!) assert.ok(held.result.loss < b.loss, b.name);
  fitted.dispose();
  const none = await fit(valueRows(10, 4), { epochs: 1, validationShare: 0 });
  assert.equal(none.heldOut, null);
  none.dispose();
  const items = await fit(valueRows(20, 4), { family: "categorical", epochs: 1 });
  assert.deepEqual(items.heldOut!.itemBaselines!.map((b) => b.name), [
    "frequency",
    "co-occurrence",
  ]);
  items.dispose();
});

Deno.test("rare items share one learned item, which also stands for unseen ones", async () => {
  const rows = valueRows(40, 5);
  rows.push({ sequence: "user0", position: 5, item: "once", value: 1 });
  const fitted = await fit(rows, { epochs: 1, seed: 1 });
  assert.equal(fitted.unknownItem, "(unknown)");
  assert.deepEqual(fitted.items, ["", "a", "b", "c", "(unknown)"]);
  // An item never seen: predicted through the shared item, reported under its own label.
  const unseen = [{ sequence: "x", position: 0, item: "zebra", value: 1 }, {
    sequence: "x",
    position: 1,
    item: "a",
    value: 5,
  }];
  const p = fitted.predict(unseen);
  assert.equal(p[0]!.item, "zebra");
  assert.ok(Number.isFinite(p[0]!.mean));
  assert.equal(fitted.attention(unseen, "x").items[0], "zebra");
  assert.equal(loadFitted(fitted.save()).unknownItem, "(unknown)");
  fitted.dispose();
  // minItemCount 1 keeps every item, and an unseen one is an error.
  const every = await fit(rows, { epochs: 1, minItemCount: 1 });
  assert.equal(every.unknownItem, null);
  assert.throws(() => every.predict(unseen), /unknown item "zebra"/);
  every.dispose();
  await assert.rejects(() => fit(rows, { minItemCount: 0 }), {
    name: "RangeError",
    message: "fit(): expected minItemCount to be an integer >= 1, got 0",
  });
});

Deno.test("two observations at one position of a sequence are refused, naming both rows", async () => {
  const rows = [
    { sequence: "a", position: 1, item: "x" },
    { sequence: "a", position: 2, item: "y" },
    { sequence: "b", position: 1, item: "x" },
    { sequence: "a", position: 1, item: "z" },
  ];
  await assert.rejects(() => fit(rows), {
    name: "RangeError",
    message:
      'fit(): sequence "a" has two observations at position 1 (rows 0 and 3); positions order a sequence, so each must be distinct',
    row: 3,
  });
});

Deno.test("rows without a value are unobserved for value families", async () => {
  const rows: Observation[] = valueRows(30, 6);
  const gaps = rows.map((
    r,
    i,
  ) => (i % 7 === 3 ? { ...r, value: i % 2 === 0 ? null : undefined } : r));
  const left = gaps.filter((r) => r.value === null || r.value === undefined).length;
  const fitted = await fit(gaps, { epochs: 1, validationShare: 0 });
  assert.equal(fitted.family, "gaussian");
  assert.equal(fitted.predict(gaps).length, gaps.length - left);
  assert.equal(fitted.evaluate(gaps).count, gaps.length - left);
  fitted.dispose();
  // A categorical fit keeps them: the value is not modelled.
  const items = await fit(gaps, { family: "categorical", epochs: 1, validationShare: 0 });
  assert.equal(items.evaluate(gaps).count, gaps.length);
  items.dispose();
  await assert.rejects(
    () => fit([{ sequence: 1, item: "a" }, { sequence: 1, item: "b" }], { family: "poisson" }),
    {
      name: "RangeError",
      message: "fit(): the poisson family models values, and none of the 2 rows has one",
    },
  );
});
