/**
 * Learning-rate schedules as pure functions of a run's history, so that a
 * resumed run recomputes the rate it had from the epochs it replays, and a
 * checkpoint needs nothing beyond what it already keeps.
 *
 * @module
 */

/** An epoch as a schedule reads it: the loss early stopping watches. */
export interface ScheduledEpoch {
  /** Mean training loss per prediction. */
  readonly trainLoss: number;
  /** Mean validation loss per prediction, when there is validation data. */
  readonly validationLoss?: number;
}

/**
 * A learning rate that falls when validation stalls (Keras'
 * `ReduceLROnPlateau` without cooldown): after `patience` epochs without a
 * better validation loss since the best epoch or the last reduction, the
 * rate is multiplied by `factor`, down to `minLearningRate`.
 */
export interface PlateauSchedule {
  /** The multiplier at each reduction, in (0, 1). */
  readonly factor: number;
  /** Epochs without improvement before a reduction, >= 1 (less than the early-stopping patience to matter). */
  readonly patience: number;
  /** The floor (default `base * 1e-3`). */
  readonly minLearningRate?: number;
}

/**
 * The learning rate after the epochs of `history` under a reduce-on-plateau
 * rule: start at `base`; whenever `patience` epochs have passed without a
 * lower monitored loss (validation, else training) since the best epoch and
 * the last reduction, multiply by `factor`, never below the floor. The same
 * "better" as early stopping: strictly lower.
 *
 * @param history The finished epochs, in order.
 * @param base The first learning rate.
 * @param rule The factor, patience and floor.
 * @returns The rate for the next epoch.
 * @throws {RangeError} When the rule is out of range.
 *
 * @example Halve after two epochs without improvement
 * ```ts
 * import { plateauLearningRate } from "./schedule.ts";
 * import assert from "node:assert/strict";
 *
 * const losses = [5, 4, 4.5, 4.2, 3.9, 4, 4.1];
 * const history = losses.map((trainLoss) => ({ trainLoss }));
 * // Epochs 3-4 do not beat epoch 2: halved after epoch 4; epochs 6-7 do not beat 5: halved again.
 * assert.equal(plateauLearningRate(history, 0.01, { factor: 0.5, patience: 2 }), 0.0025);
 * ```
 */
export function plateauLearningRate(
  history: readonly ScheduledEpoch[],
  base: number,
  rule: PlateauSchedule,
): number {
  if (!(rule.factor > 0 && rule.factor < 1)) {
    throw new RangeError(`reduceOnPlateau: expected factor in (0, 1), got ${rule.factor}`);
  }
  if (!Number.isInteger(rule.patience) || rule.patience < 1) {
    throw new RangeError(
      `reduceOnPlateau: expected patience to be a positive integer, got ${rule.patience}`,
    );
  }
  const floor = rule.minLearningRate ?? base * 1e-3;
  if (!(floor > 0 && floor <= base)) {
    throw new RangeError(
      `reduceOnPlateau: expected minLearningRate in (0, ${base}], got ${rule.minLearningRate}`,
    );
  }
  let rate = base, best = Infinity, since = 0;
  for (const epoch of history) {
    const loss = epoch.validationLoss ?? epoch.trainLoss;
    if (loss < best) {
      best = loss;
      since = 0;
    } else if (++since >= rule.patience && rate > floor) {
      rate = Math.max(rate * rule.factor, floor);
      since = 0;
    }
  }
  return rate;
}
