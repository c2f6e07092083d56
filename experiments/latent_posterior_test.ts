import assert from "node:assert/strict";
import { createModel, main, posteriorMean, score, simulate } from "./latent_posterior.ts";
import { disposeModel, SeedStream, train } from "../mod.ts";

Deno.test("latent-posterior: 2 tanh(2 S) is the posterior predictive mean, by Bayes' rule on the two classes", () => {
  const rng = new SeedStream(3);
  for (let trial = 0; trial < 20; trial++) {
    const values = Array.from({ length: 1 + (trial % 7) }, () => 4 * rng.random() - 2);
    const i = trial % values.length;
    // p(z | others) from the two Gaussian likelihoods (sd 1, means +-2), equal priors.
    let logPlus = 0, logMinus = 0;
    values.forEach((y, j) => {
      if (j === i) return;
      logPlus += -((y - 2) ** 2) / 2;
      logMinus += -((y + 2) ** 2) / 2;
    });
    const plus = 1 / (1 + Math.exp(logMinus - logPlus));
    const expected = 2 * plus - 2 * (1 - plus);
    assert.ok(Math.abs(posteriorMean(values, i) - expected) < 1e-12, `trial ${trial}`);
  }
  assert.equal(posteriorMean([5], 0), 0, "no context: the prior mean");
});

Deno.test("latent-posterior: the simulation is seeded and balanced, and training closes most of the gap", async () => {
  const a = simulate(2000, 4, new SeedStream(1)), b = simulate(2000, 4, new SeedStream(1));
  assert.deepEqual(a, b);
  const plus = a.z.filter((z) => z === 1).length;
  assert.ok(Math.abs(plus - 1000) < 100, `${plus} of 2,000 in class +1`);
  const mean = a.values!.reduce((x, v) => x + Array.from(v).reduce((p, q) => p + q, 0), 0) / 8000;
  assert.ok(Math.abs(mean) < 0.15, `values' mean ${mean}`);

  const test = simulate(100, 8, new SeedStream(2));
  const model = createModel(16);
  const before = score(model, test);
  await train(model, simulate(300, 8, new SeedStream(3)), {
    epochs: 8,
    learningRate: 3e-3,
    seed: 0,
  });
  const after = score(model, test);
  disposeModel(model);
  assert.equal(after.count, 800);
  assert.equal(after.bayes, before.bayes, "the Bayes error does not depend on the model");
  assert.ok(after.gap < before.gap / 2, `gap ${before.gap} -> ${after.gap}`);
});

Deno.test("latent-posterior --quick writes its table, record and figure where --out says", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rows = await main(["--quick", `--out=${dir}/lp`]);
    assert.deepEqual(rows.map((r) => r.length), [4, 8, 16]);
    const csv = (await Deno.readTextFile(`${dir}/lp.csv`)).trim().split("\n");
    assert.equal(
      csv[0],
      "length,model,gap,error,bayes_error,plug_in_gap,predictions,train_seconds,epochs",
    );
    assert.equal(csv.length, 4);
    const record = JSON.parse(await Deno.readTextFile(`${dir}/lp.json`));
    assert.equal(record.quick, true);
    assert.equal(record.config.trainLength, 8);
    assert.ok((await Deno.readTextFile(`${dir}/lp.svg`)).startsWith("<svg"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
