import assert from "node:assert/strict";
import { linearAlignment } from "./identifiability.ts";
import { SeedStream } from "./random.ts";

function randomMatrix(rows: number, cols: number, rng: SeedStream): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal()));
}

function multiply(X: number[][], A: number[][], b: number[]): number[][] {
  return X.map((r) => b.map((bj, j) => bj + r.reduce((s, x, k) => s + x * A[k]![j]!, 0)));
}

Deno.test("linearAlignment() recovers an exact random invertible affine map to 1e-9", () => {
  const rng = new SeedStream(4);
  for (const [n, d] of [[50, 3], [200, 16], [64, 32]] as const) {
    const truth = randomMatrix(n, d, rng);
    const A = randomMatrix(d, d, rng), b = Array.from({ length: d }, () => rng.normal());
    // learned = truth A + b, so truth = (learned - b) A^-1: recover via the fit of learned onto truth.
    const learned = multiply(truth, A, b);
    const { linear } = linearAlignment(learned, truth);
    const back = multiply(learned, linear.map, linear.intercept);
    const maxError = Math.max(
      ...back.flatMap((r, i) => r.map((v, j) => Math.abs(v - truth[i]![j]!))),
    );
    assert.ok(maxError < 1e-9, `n=${n} d=${d}: max error ${maxError}`);
    assert.ok(1 - linear.r2 < 1e-12 && linear.relativeError < 1e-9);
    // The composed map is the identity: A * map = I.
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        const v = A[i]!.reduce((s, a, k) => s + a * linear.map[k]![j]!, 0);
        assert.ok(Math.abs(v - (i === j ? 1 : 0)) < 1e-9);
      }
    }
  }
});

Deno.test("linearAlignment() finds a rotation with Procrustes, and a general map only with least squares", () => {
  const rng = new SeedStream(5);
  const truth = randomMatrix(100, 4, rng);
  // A rotation in the plane of the first two axes by 0.7 rad, plus a shift.
  const c = Math.cos(0.7), s = Math.sin(0.7);
  const R = [[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  const rotated = multiply(truth, R, [1, 2, 3, 4]);
  const a = linearAlignment(rotated, truth);
  assert.ok(1 - a.orthogonal!.r2 < 1e-12, `orthogonal r2 ${a.orthogonal!.r2}`);
  // A shear is linear but not orthogonal: least squares recovers it, Procrustes cannot.
  const sheared = multiply(truth, [[1, 2, 0, 0], [0, 1, 0, 0], [0, 0, 3, 0], [0, 0, 0, 0.5]], [
    0,
    0,
    0,
    0,
  ]);
  const b = linearAlignment(sheared, truth);
  assert.ok(1 - b.linear.r2 < 1e-12);
  assert.ok(b.orthogonal!.r2 < 0.9, `orthogonal r2 ${b.orthogonal!.r2}`);
  assert.equal(
    linearAlignment(randomMatrix(10, 3, rng), randomMatrix(10, 2, rng)).orthogonal,
    null,
  );
});

Deno.test("linearAlignment(): noise lowers R-squared as the signal-to-noise ratio predicts", () => {
  const rng = new SeedStream(6);
  const n = 20_000, d = 3;
  const truth = randomMatrix(n, d, rng); // unit variance per column
  for (const noise of [0.1, 0.5, 1]) {
    const learned = truth.map((r) => r.map((v) => v + noise * rng.normal()));
    const { linear } = linearAlignment(learned, truth);
    // Regressing truth on a noisy copy explains var / (var + noise^2) of its variance.
    const expected = 1 / (1 + noise * noise);
    assert.ok(
      Math.abs(linear.r2 - expected) < 0.01,
      `noise ${noise}: r2 ${linear.r2}, expected ${expected}`,
    );
  }
});

Deno.test("linearAlignment() refuses rank-deficient and malformed input with a clear error", () => {
  const rng = new SeedStream(7);
  const truth = randomMatrix(30, 3, rng);
  const deficient = truth.map(([a, b]) => [a!, b!, a! + b!]); // third column = first + second
  assert.throws(() => linearAlignment(deficient, truth), {
    name: "RangeError",
    message:
      "linearAlignment(): expected learned to have full column rank 4 (with the intercept column when fitted), got rank 3",
  });
  assert.throws(() => linearAlignment(truth, truth.slice(1)), /same rows, got 30 and 29/);
  assert.throws(
    () => linearAlignment([[1, NaN]], [[1, 2]]),
    /learned\[0\]\[1\] to be finite, got NaN/,
  );
  assert.throws(
    () => linearAlignment([[1, 2], [3]], [[1], [2]]),
    /every row of learned to have 2 columns, got 1 in row 1/,
  );
  assert.throws(() => linearAlignment([[1, 2]], [[1, 2]]), /at least 3 rows/);
});
