import assert from "node:assert/strict";
import { NumpyRandomState, trainTestSplit } from "./numpy_random.ts";

Deno.test("NumpyRandomState matches numpy's legacy draws for seed 42", () => {
  // np.random.seed(42); np.random.random_sample(3)
  const r = new NumpyRandomState(42);
  assert.deepEqual([r.randomSample(), r.randomSample(), r.randomSample()], [
    0.3745401188473625,
    0.9507143064099162,
    0.7319939418114051,
  ]);
  // np.random.seed(42); np.random.randn(3): the polar method returns the second normal of a pair first.
  const g = new NumpyRandomState(42);
  assert.deepEqual([g.normal(), g.normal(), g.normal()], [
    0.4967141530112327,
    -0.13826430117118466,
    0.6476885381006925,
  ]);
  assert.deepEqual(new NumpyRandomState(42).permutation(10), [8, 1, 5, 0, 7, 2, 9, 4, 3, 6]);
});

Deno.test("permutation(k)[0] and choice(k) of RandomState(42) match pandas/numpy for k = 2..7", () => {
  const ks = [2, 3, 4, 5, 6, 7];
  assert.deepEqual(ks.map((k) => new NumpyRandomState(42).permutation(k)[0]), [1, 0, 1, 1, 0, 0]);
  assert.deepEqual(ks.map((k) => new NumpyRandomState(42).choice(k)), [0, 2, 2, 3, 3, 6]);
});

Deno.test("the synthetic generator's first user matches the notebook", () => {
  const r = new NumpyRandomState(42);
  const order = r.permutation(5).map((m) => m + 1);
  assert.deepEqual(order, [2, 5, 3, 1, 4]);
  const means = [5, 3, 3, 3, 3]; // movie 2 not after 1; 5 not last; 3 not after 4; 1; 4 not right after 3
  assert.deepEqual(means.map((m) => r.normal(m, 1).toFixed(4)), [
    "5.4739",
    "4.3685",
    "2.0832",
    "2.8759",
    "0.9890",
  ]);
});

Deno.test("trainTestSplit() follows scikit-learn's ShuffleSplit", () => {
  const { train, test } = trainTestSplit(10, { testSize: 0.25, randomState: 42 });
  assert.deepEqual(test, [8, 1, 5]); // ceil(0.25 * 10) = 3 first items of permutation(10)
  assert.deepEqual(train, [0, 7, 2, 9, 4, 3, 6]);
  assert.equal(trainTestSplit(37_500, { testSize: 0.25, randomState: 42 }).test.length, 9_375);
  assert.throws(() => trainTestSplit(10, { testSize: 1.5, randomState: 42 }), RangeError);
  assert.throws(() => new NumpyRandomState(-1), RangeError);
  assert.throws(() => new NumpyRandomState(0).randint(3, 3), RangeError);
});
