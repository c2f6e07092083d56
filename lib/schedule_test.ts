import assert from "node:assert/strict";
import { plateauLearningRate } from "./schedule.ts";

const epochs = (losses: number[]) =>
  losses.map((validationLoss) => ({ trainLoss: 0, validationLoss }));

Deno.test("plateauLearningRate() reduces after `patience` epochs without a strictly lower loss", () => {
  const rule = { factor: 0.5, patience: 2 };
  assert.equal(plateauLearningRate([], 0.1, rule), 0.1);
  // 3 and 3 do not beat 3 (strictly lower is better): a reduction after the second.
  assert.equal(plateauLearningRate(epochs([3, 3, 3]), 0.1, rule), 0.05);
  assert.equal(plateauLearningRate(epochs([3, 2, 1]), 0.1, rule), 0.1);
  // The count restarts after a reduction and after an improvement.
  assert.equal(plateauLearningRate(epochs([3, 4, 4, 4]), 0.1, rule), 0.05);
  assert.equal(plateauLearningRate(epochs([3, 4, 4, 4, 4]), 0.1, rule), 0.025);
  assert.equal(plateauLearningRate(epochs([3, 4, 2, 4]), 0.1, rule), 0.1);
  // The validation loss is watched, not the training loss; without validation, the training loss.
  assert.equal(
    plateauLearningRate(
      [{ trainLoss: 1, validationLoss: 5 }, { trainLoss: 0.5, validationLoss: 6 }, {
        trainLoss: 0.1,
        validationLoss: 7,
      }],
      1,
      rule,
    ),
    0.5,
  );
  assert.equal(
    plateauLearningRate([{ trainLoss: 3 }, { trainLoss: 2 }, { trainLoss: 1 }], 1, rule),
    1,
  );
});

Deno.test("plateauLearningRate() stops at its floor", () => {
  const flat = epochs(Array(40).fill(1));
  assert.equal(plateauLearningRate(flat, 1, { factor: 0.1, patience: 1 }), 1e-3);
  assert.equal(
    plateauLearningRate(flat, 1, { factor: 0.5, patience: 1, minLearningRate: 0.2 }),
    0.2,
  );
});

Deno.test("plateauLearningRate() names the bad option", () => {
  assert.throws(
    () => plateauLearningRate([], 1, { factor: 1, patience: 2 }),
    (e) => e instanceof RangeError && /expected factor in \(0, 1\), got 1/.test(e.message),
  );
  assert.throws(
    () => plateauLearningRate([], 1, { factor: 0.5, patience: 0.5 }),
    (e) => e instanceof RangeError && /patience to be a positive integer, got 0.5/.test(e.message),
  );
  assert.throws(
    () => plateauLearningRate([], 1, { factor: 0.5, patience: 2, minLearningRate: 2 }),
    (e) => e instanceof RangeError && /minLearningRate in \(0, 1\], got 2/.test(e.message),
  );
});
