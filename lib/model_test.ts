import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import { disposeBatch, type Sequences } from "./data.ts";
import { makeBatch } from "./plan.ts";
import { attend, countParameters, named } from "../mod.ts";
import { createFm, fmConfig } from "./fm.ts";
import { createEfa, efaConfig, type EfaConfigInput, efaForward, type EfaModel } from "./model.ts";
import { disposeModel, meanLoss, type Model, validateData } from "./objective.ts";
import { SeedStream } from "./random.ts";

// The paper's models (docs/EFA.md section 1.2), built through the public API.
const INSTACART_EFA: EfaConfigInput = { numItems: 63, maxLength: 24 };
const MOVIELENS_EXP1_EFA: EfaConfigInput = { numItems: 50, maxLength: 44 };
const MOVIELENS_EXP2_EFA: EfaConfigInput = {
  numItems: 50,
  maxLength: 44,
  target: "value",
  family: { name: "poisson-shifted-count" },
  unidirectionalMask: "prefix",
  valueEmbedding: { kind: "table", size: 5, dim: 32, maskIndex: 4 }, // ratings 1..3, pad 0, mask 4
  head: [32],
};
// The synthetic value EFA is the exp-2 one with Gaussian ratings (a table row per truncated rating).
const SYNTHETIC_EFA: EfaConfigInput = {
  ...MOVIELENS_EXP2_EFA,
  numItems: 5,
  maxLength: 5,
  family: { name: "gaussian" },
  valueEmbedding: { kind: "table", size: 50_002, dim: 32, maskIndex: 9 },
};

function count(model: Model): number {
  const n = countParameters(model.params);
  disposeModel(model);
  return n;
}

Deno.test("createEfa() and createFm() give the paper's Keras parameter counts", () => {
  for (const direction of ["unidirectional", "bidirectional"] as const) {
    assert.equal(count(createEfa(efaConfig({ ...INSTACART_EFA, direction }))), 13_312);
    assert.equal(count(createEfa(efaConfig({ ...MOVIELENS_EXP1_EFA, direction }))), 13_120);
    assert.equal(count(createEfa(efaConfig({ ...MOVIELENS_EXP2_EFA, direction }))), 23_425);
    assert.equal(count(createEfa(efaConfig({ ...SYNTHETIC_EFA, direction }))), 1_619_393);
  }
  assert.equal(
    count(createFm(fmConfig({ numItems: 63, context: "unidirectional", maskToken: true }))),
    4_096,
  );
  assert.equal(count(createFm(fmConfig({ numItems: 63, context: "bidirectional" }))), 4_064);
  const exp2Fm = {
    numItems: 50,
    target: "value",
    family: { name: "poisson-shifted-count" },
  } as const;
  assert.equal(count(createFm(fmConfig({ ...exp2Fm, context: "unidirectional" }))), 3_264);
  assert.equal(count(createFm(fmConfig({ ...exp2Fm, context: "bidirectional" }))), 3_264);
});

Deno.test("createEfa() draws the same parameters from the same seed", () => {
  const a = createEfa(efaConfig(INSTACART_EFA), { seed: 5 });
  const b = createEfa(efaConfig(INSTACART_EFA), { seed: 5 });
  const c = createEfa(efaConfig(INSTACART_EFA), { seed: 6 });
  for (const name of Object.keys(a.params)) {
    assert.deepEqual(a.params[name]!.dataSync(), b.params[name]!.dataSync());
  }
  assert.notDeepEqual(
    a.params["item.embedding"]!.dataSync(),
    c.params["item.embedding"]!.dataSync(),
  );
  // Keras initialisers: embeddings in [-0.05, 0.05], MHA query kernel Glorot with fans (H*W, K*W).
  assert.ok(Array.from(a.params["item.embedding"]!.dataSync()).every((v) => Math.abs(v) <= 0.05));
  const limit = Math.sqrt(6 / (2 * 32 + 16 * 32));
  const q = Array.from(a.params["layer0.attention.query.kernel"]!.dataSync());
  assert.ok(q.every((v) => Math.abs(v) <= limit) && q.some((v) => Math.abs(v) > 0.9 * limit));
  [a, b, c].forEach(disposeModel);
});

// Tiny configurations of every model family, for the invariance and gradient tests.
const TINY: Record<string, EfaConfigInput> = {
  categorical: {
    numItems: 6,
    maxLength: 6,
    itemEmbedding: { kind: "table", dim: 8 },
    keyDim: 4,
  },
  value: {
    numItems: 6,
    maxLength: 6,
    target: "value",
    family: { name: "gaussian" },
    unidirectionalMask: "prefix",
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 8, dim: 4, maskIndex: 7 },
    keyDim: 4,
    head: [5],
  },
  spatial: {
    numItems: 6,
    maxLength: 12,
    target: "value",
    family: { name: "gaussian" },
    itemEmbedding: {
      kind: "mlp",
      features: [[0, 0], [1, 2], [2, 1], [0.5, 0.3], [3, 3], [1, 1], [2, 0]],
      hidden: 6,
      dim: 4,
    },
    valueEmbedding: { kind: "mlp", hidden: 6, dim: 4 },
    lagGroups: 2,
    lagDim: 3,
    tokenMixer: { hidden: 7, dim: 8 },
    positionEmbedding: false,
    layerNorm: true,
    feedForward: 9,
    keyDim: 4,
    head: [6, 3],
  },
  joint: {
    numItems: 6,
    maxLength: 6,
    target: "joint",
    family: { name: "poisson" },
    itemEmbedding: { kind: "table", dim: 4 },
    valueEmbedding: { kind: "table", size: 8, dim: 4, maskIndex: 7 },
    keyDim: 4,
    head: [],
  },
};

function tinyData(name: string): Sequences {
  if (name === "spatial") {
    return {
      items: [[1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]],
      values: [[0.5, -1, 2, 0.1, 1.2, -0.4, 0.3, -0.8, 1.9, 0.2, 1, -0.2], [
        1,
        0.35,
        -1,
        2,
        0.5,
        0.7,
        0.9,
        0.1,
        -0.9,
        1.8,
        0.4,
        0.6,
      ]], // no exact 0: zero biases put y = 0 on a ReLU kink
      lags: [[0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]],
      targets: [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]],
    };
  }
  return { items: [[1, 2, 3, 4, 5], [6, 5, 4, 3]], values: [[1, 2, 3, 0, 2], [4, 1, 0, 2]] };
}

function withValues(name: string, data: Sequences): Sequences {
  return name === "categorical" ? { items: data.items } : data;
}

function natural(model: EfaModel, data: Sequences, examples: [number, number][]): number[] {
  const batch = makeBatch(data, examples);
  const out = efaForward(model, batch);
  const values = [...(out.itemEta?.dataSync() ?? []), ...(out.valueEta?.dataSync() ?? [])];
  tf.dispose(
    [out.itemEta, out.valueEta, ...(out.attention ?? [])].filter((t) =>
      t !== undefined
    ) as tf.Tensor[],
  );
  disposeBatch(batch);
  return Array.from(values);
}

function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

Deno.test("a unidirectional prediction ignores later observations; a bidirectional one does not", () => {
  for (const mask of ["causal", "prefix"] as const) {
    const model = createEfa(
      efaConfig({ ...TINY["joint"], direction: "unidirectional", unidirectionalMask: mask }),
      {
        seed: 3,
      },
    );
    const base: Sequences = { items: [[1, 2, 3, 4, 5]], values: [[1, 2, 3, 0, 2]] };
    const later: Sequences = { items: [[1, 2, 3, 6, 1]], values: [[1, 2, 3, 4, 1]] };
    assert.ok(
      maxDiff(natural(model, base, [[0, 2]]), natural(model, later, [[0, 2]])) < 1e-6,
      mask,
    );
    // ... while an earlier observation does matter.
    const earlier: Sequences = { items: [[6, 2, 3, 4, 5]], values: [[4, 2, 3, 0, 2]] };
    assert.ok(
      maxDiff(natural(model, base, [[0, 2]]), natural(model, earlier, [[0, 2]])) > 1e-4,
      mask,
    );
    disposeModel(model);
  }
  const bi = createEfa(efaConfig({ ...TINY["joint"], direction: "bidirectional" }), { seed: 3 });
  const a = natural(bi, { items: [[1, 2, 3, 4, 5]], values: [[1, 2, 3, 0, 2]] }, [[0, 2]]);
  const b = natural(bi, { items: [[1, 2, 3, 6, 1]], values: [[1, 2, 3, 4, 1]] }, [[0, 2]]);
  assert.ok(maxDiff(a, b) > 1e-4);
  disposeModel(bi);
});

Deno.test("the target's own observation never influences its prediction", () => {
  for (const name of ["categorical", "value", "spatial"]) {
    for (const direction of ["unidirectional", "bidirectional"] as const) {
      if (name === "spatial" && direction === "unidirectional") continue;
      const model = createEfa(efaConfig({ ...TINY[name], direction }), { seed: 4 });
      const data = withValues(name, tinyData(name));
      const changed = JSON.parse(JSON.stringify(data)) as {
        items: number[][];
        values?: number[][];
      };
      if (name === "categorical") changed.items[0]![2] = 6;
      else changed.values![0]![2] = 5; // the target's value
      assert.ok(
        maxDiff(natural(model, data, [[0, 2]]), natural(model, changed, [[0, 2]])) < 1e-6,
        `${name} ${direction}`,
      );
      // Another position's observation does change the prediction.
      const other = JSON.parse(JSON.stringify(data)) as typeof changed;
      if (name === "categorical") other.items[0]![1] = 6;
      else other.values![0]![1] = 5;
      assert.ok(
        maxDiff(natural(model, data, [[0, 2]]), natural(model, other, [[0, 2]])) > 1e-5,
        `${name} ${direction}`,
      );
      disposeModel(model);
    }
  }
  // Joint: the item term hides the target's item and value; the value term hides the value only.
  const joint = createEfa(efaConfig({ ...TINY["joint"] }), { seed: 4 });
  const data: Sequences = { items: [[1, 2, 3, 4]], values: [[1, 2, 3, 0]] };
  const batchOf = (items: number[], values: number[]): number[][] => {
    const batch = makeBatch({ items: [items], values: [values] }, [[0, 1]]);
    const out = efaForward(joint, batch);
    const r = [Array.from(out.itemEta!.dataSync()), Array.from(out.valueEta!.dataSync())];
    tf.dispose([out.itemEta!, out.valueEta!, ...(out.attention ?? [])]);
    disposeBatch(batch);
    return r;
  };
  const [item0, value0] = batchOf(Array.from(data.items[0]!), Array.from(data.values![0]!));
  const [item1, value1] = batchOf([1, 5, 3, 4], [1, 6, 3, 0]); // target's item and value changed
  const [, value2] = batchOf([1, 2, 3, 4], [1, 6, 3, 0]); // only the target's value changed
  assert.ok(maxDiff(item0!, item1!) < 1e-6, `item term moved by ${maxDiff(item0!, item1!)}`);
  assert.ok(maxDiff(value0!, value2!) < 1e-6, `value term moved by ${maxDiff(value0!, value2!)}`);
  // p(y_i | x_i, context) depends on x_i.
  assert.ok(
    maxDiff(value0!, value1!) > 1e-5,
    `value term ignores x_i: ${maxDiff(value0!, value1!)}`,
  );
  disposeModel(joint);
});

Deno.test("truncating unidirectional rows after the target changes nothing", () => {
  for (const mask of ["causal", "prefix"] as const) {
    const model = createEfa(
      efaConfig({ ...TINY["joint"], direction: "unidirectional", unidirectionalMask: mask }),
      {
        seed: 8,
      },
    );
    const data = tinyData("joint");
    const examples: [number, number][] = [[0, 0], [0, 3], [1, 1], [1, 3]];
    const full = makeBatch(data, examples);
    const cut = makeBatch(data, examples, { truncateAfterTarget: true });
    const a = efaForward(model, full), b = efaForward(model, cut);
    assert.ok(maxDiff(Array.from(a.itemEta!.dataSync()), Array.from(b.itemEta!.dataSync())) < 1e-5);
    assert.ok(
      maxDiff(Array.from(a.valueEta!.dataSync()), Array.from(b.valueEta!.dataSync())) < 1e-5,
    );
    tf.dispose([
      a.itemEta!,
      a.valueEta!,
      b.itemEta!,
      b.valueEta!,
      ...a.attention!,
      ...b.attention!,
    ]);
    disposeBatch(full);
    disposeBatch(cut);
    disposeModel(model);
  }
});

Deno.test("EFA loss gradients match central finite differences on tiny configs", () => {
  for (const name of Object.keys(TINY)) {
    for (const direction of ["unidirectional", "bidirectional"] as const) {
      if (name === "spatial" && direction === "unidirectional") continue;
      const model = createEfa(efaConfig({ ...TINY[name], direction }), { seed: 12 });
      const data = withValues(name, tinyData(name));
      const examples: [number, number][] = [[0, 0], [0, 2], [0, 4], [1, 1], [1, 3]];
      const batch = makeBatch(data, examples);
      const loss = (): number => {
        const l = meanLoss(model, batch);
        const v = l.dataSync()[0]!;
        l.dispose();
        return v;
      };
      const { value, grads } = tf.variableGrads(
        () => meanLoss(model, batch),
        Object.values(model.params),
      );
      value.dispose();
      const rng = new SeedStream(99);
      for (const [pname, p] of Object.entries(model.params)) {
        const g = grads[p.name]!;
        const d = tf.tensor(Float32Array.from({ length: p.size }, () => rng.normal()), p.shape);
        const analytic = tf.sum(tf.mul(g, d)).dataSync()[0]!;
        const original = tf.clone(p);
        const eps = 3e-4; // small: the spatial model has ReLU kinks that larger steps cross
        p.assign(tf.tidy(() => tf.add(original, tf.mul(d, eps))));
        const plus = loss();
        p.assign(tf.tidy(() => tf.sub(original, tf.mul(d, eps))));
        const minus = loss();
        p.assign(original);
        const numeric = (plus - minus) / (2 * eps);
        const tol = 2e-3 + 2e-2 * Math.abs(numeric);
        assert.ok(
          Math.abs(analytic - numeric) <= tol,
          `${name} ${direction} ${pname}: analytic ${analytic}, numeric ${numeric}`,
        );
        tf.dispose([d, original]);
      }
      Object.values(grads).forEach((g) => g.dispose());
      disposeBatch(batch);
      disposeModel(model);
    }
  }
});

Deno.test("efaForward() returns per-layer attention that sums to one over allowed keys", () => {
  const model = createEfa(efaConfig({ ...TINY["categorical"], direction: "unidirectional" }), {
    seed: 2,
  });
  const batch = makeBatch({ items: [[1, 2, 3, 4]] }, [[0, 2]]);
  const out = efaForward(model, batch);
  assert.equal(out.attention!.length, 2);
  const w = out.attention![0]!.arraySync() as number[][][][];
  for (const head of w[0]!) {
    head.forEach((row, q) => {
      assert.ok(Math.abs(row.reduce((a, b) => a + b) - 1) < 1e-5);
      row.forEach((v, k) => k > q && assert.equal(v, 0)); // causal: no weight on the future
    });
  }
  tf.dispose([out.itemEta!, ...out.attention!]);
  disposeBatch(batch);
  disposeModel(model);
});

Deno.test("efaForward() does not leak tensors", () => {
  const model = createEfa(efaConfig({ ...TINY["joint"] }), { seed: 2 });
  const batch = makeBatch(tinyData("joint"), [[0, 1], [1, 2]]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const out = efaForward(model, batch);
    tf.dispose([out.itemEta!, out.valueEta!, ...(out.attention ?? [])]);
    meanLoss(model, batch).dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  disposeBatch(batch);
  disposeModel(model);
});

Deno.test("bad input gets a clear error", () => {
  const model = createEfa(efaConfig({ ...TINY["value"], family: { name: "poisson" } }), {
    seed: 1,
  });
  const v = (data: Sequences): void => validateData(model, data, "train");
  assert.throws(() => v({ items: [[1, 9]], values: [[1, 2]] }), {
    name: "RangeError",
    message: "train(): expected items[0][1] to be an item id in 1..6, got 9",
  });
  assert.throws(() => v({ items: [[1, 0]], values: [[1, 2]] }), /item id in 1..6, got 0/);
  assert.throws(
    () => v({ items: [[1, 2]], values: [[1, NaN]] }),
    /expected values\[0\] to be finite, got NaN at index 1/,
  );
  assert.throws(
    () => v({ items: [[1, 2]], values: [[1, -2]] }),
    /integer counts >= 0, got -2 at index 1/,
  );
  assert.throws(() => v({ items: [[1, 2]], values: [[1, 2.5]] }), /integer counts >= 0, got 2.5/);
  assert.throws(() => v({ items: [[1, 2], []], values: [[1, 2], []] }), {
    name: "RangeError",
    message: "train(): expected sequence 1 to be non-empty, got length 0",
  });
  assert.throws(() => v({ items: [] }), /expected at least one sequence, got none/);
  assert.throws(() => v({ items: [[1, 2, 3, 4, 5, 6, 1]], values: [[1, 1, 1, 1, 1, 1, 1]] }), {
    name: "RangeError",
    message: "train(): expected sequence 0 to have at most 6 items, got 7",
  });
  assert.throws(() => v({ items: [[1, 2]] }), {
    name: "TypeError",
    message: /expected data.values/,
  });
  assert.throws(
    () => v({ items: [[1, 2]], values: [[1]] }),
    /expected values\[0\] to have length 2, got 1/,
  );
  assert.throws(
    () => v({ items: [[1, 2]], values: [[1, 1]], targets: [[2]] }),
    /targets\[0\]\[0\] to be a position in 0..1, got 2/,
  );
  // Wrong tensor shapes at the forward boundary.
  const batch = makeBatch({ items: [[1, 2, 3]], values: [[1, 1, 1]] }, [[0, 1]]);
  assert.throws(
    () => efaForward(model, { ...batch, target: named(tf.tensor1d([1, 1], "int32"), "batch") }),
    {
      name: "TypeError",
      message: "efaForward(): expected target to have shape [batch=1], got [2]",
    },
  );
  assert.throws(
    () => efaForward(model, { ...batch, values: named(tf.zeros([1, 4]), "batch time") }),
    {
      name: "TypeError",
      message: "efaForward(): expected values to have shape [batch=1, time=3], got [1, 4]",
    },
  );
  assert.throws(
    () => efaForward(model, { ...batch, items: named(tf.zeros([1, 3]), "batch time") }),
    {
      name: "TypeError",
      message: "efaForward(): expected items to have dtype int32, got float32",
    },
  );
  const { values: _values, ...noValues } = batch;
  assert.throws(() => efaForward(model, noValues), /expected batch.values/);
  disposeBatch(batch);
  disposeModel(model);
  // Config errors.
  assert.throws(() => efaConfig({ numItems: 0 }), {
    name: "RangeError",
    message: /numItems to be a positive integer, got 0/,
  });
  assert.throws(
    () => efaConfig({ target: "value" }),
    /expected a value family when target is "value"/,
  );
  assert.throws(
    () => efaConfig({ family: { name: "gaussian" } }),
    /family to be null when target is "item"/,
  );
  assert.throws(
    () => efaConfig({ direction: "sideways" as never }),
    /direction to be "unidirectional" or "bidirectional"/,
  );
  assert.throws(
    () =>
      efaConfig({
        target: "value",
        family: { name: "gaussian" },
        valueEmbedding: { kind: "table", size: 4, dim: 2, maskIndex: 4 },
      }),
    /maskIndex in 0..3, got 4/,
  );
});

Deno.test("attention with values equal to keys is the gradient of the log-normaliser", () => {
  // Seed note: sum_j softmax(q.k)_j k_j = grad_q log sum_j exp(q . k_j).
  const rng = new SeedStream(21);
  for (let trial = 0; trial < 20; trial++) {
    const n = 2 + rng.integer(10), dim = 1 + rng.integer(6);
    const q = tf.tensor3d(Float32Array.from({ length: dim }, () => rng.normal()), [1, 1, dim]);
    const k = tf.tensor3d(Float32Array.from({ length: n * dim }, () => 2 * rng.normal()), [
      1,
      n,
      dim,
    ]);
    // attend() scales the logits by 1/sqrt(dim): queries scaled by sqrt(dim) give the plain q . k.
    const scaled = tf.mul(q, Math.sqrt(dim));
    const { output, weights } = attend(
      named(scaled, "batch query key_dim"),
      named(k, "batch key key_dim"),
      named(k, "batch key value_dim"),
    );
    const grad = tf.grad((x: tf.Tensor) => tf.logSumExp(tf.matMul(x, k, false, true)))(q);
    const a = Array.from(output.dataSync()), b = Array.from(grad.dataSync());
    assert.ok(maxDiff(a, b) < 1e-4, `trial ${trial}: ${a} vs ${b}`);
    tf.dispose([q, scaled, k, output, weights, grad]);
  }
});
