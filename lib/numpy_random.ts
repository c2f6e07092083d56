/**
 * numpy's legacy `RandomState` stream, bit for bit: MT19937 seeded as
 * `np.random.seed(n)` seeds it, `random_sample`, `randint`, `choice`,
 * `permutation` / `shuffle` and the polar-method `normal`. The paper's splits
 * and synthetic data come from `np.random.seed(42)` and scikit-learn's
 * `random_state=42`; with this stream they are the paper's own splits, not
 * lookalikes.
 *
 * @module
 */
import { polarPoint } from "./random.ts";

const N = 624;
const M = 397;

/**
 * numpy's legacy `RandomState` (MT19937).
 *
 * @example Known draws of `RandomState(42)`
 * ```ts
 * import { NumpyRandomState } from "./numpy_random.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(new NumpyRandomState(42).permutation(5), [1, 4, 2, 0, 3]);
 * assert.equal(new NumpyRandomState(42).randomSample().toFixed(8), "0.37454012");
 * ```
 */
export class NumpyRandomState {
  readonly #mt: Uint32Array = new Uint32Array(N);
  #index = N;
  #gauss: number | undefined;

  /**
   * Seeds the stream as `np.random.seed(seed)` / `RandomState(seed)` does for
   * an integer seed (MT19937 `init_genrand`).
   *
   * @param seed An integer in [0, 2^32).
   */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(
        `Cannot seed NumpyRandomState: expected an integer in [0, 2^32), got ${seed}`,
      );
    }
    const mt = this.#mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      // 1812433253 * prev + i, in 32-bit arithmetic
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  #twist(): void {
    const mt = this.#mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % N]! & 0x7fffffff);
      let next = mt[(i + M) % N]! ^ (y >>> 1);
      if (y & 1) next ^= 0x9908b0df;
      mt[i] = next >>> 0;
    }
    this.#index = 0;
  }

  /**
   * The next 32-bit output of MT19937.
   *
   * @returns An integer in [0, 2^32).
   */
  nextUint32(): number {
    if (this.#index >= N) this.#twist();
    let y = this.#mt[this.#index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /**
   * `random_sample()`: a float in [0, 1) from two 32-bit draws (53 bits).
   *
   * @returns The draw.
   */
  randomSample(): number {
    const a = this.nextUint32() >>> 5, b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A uniform integer in [0, max] by masked rejection (numpy's `random_interval`). */
  #interval(max: number): number {
    if (max === 0) return 0;
    if (max > 0xffffffff) {
      throw new RangeError(`Cannot draw an interval above 2^32 - 1: got ${max}`);
    }
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    do value = (this.nextUint32() & mask) >>> 0; while (value > max);
    return value;
  }

  /**
   * `randint(low, high)`: a uniform integer in [low, high).
   *
   * @param low The smallest value.
   * @param high One past the largest value.
   * @returns The draw.
   */
  randint(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
      throw new RangeError(
        `Cannot draw randint: expected integers low < high, got ${low} and ${high}`,
      );
    }
    return low + this.#interval(high - low - 1);
  }

  /**
   * `choice(n)` with replacement and no weights: `randint(0, n)`.
   *
   * @param n The number of outcomes.
   * @returns The draw.
   */
  choice(n: number): number {
    return this.randint(0, n);
  }

  /**
   * `shuffle(x)` in place: Fisher-Yates from the last element down.
   *
   * @typeParam T The element type.
   * @param items The array.
   * @returns The same array.
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.#interval(i);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /**
   * `permutation(n)`: a shuffled `arange(n)`.
   *
   * @param n The length.
   * @returns The permutation.
   */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * `normal(loc, scale)` with the legacy polar (Marsaglia) method, which makes
   * two normals per accepted pair and returns the second first.
   *
   * @param loc The mean.
   * @param scale The standard deviation.
   * @returns The draw.
   */
  normal(loc = 0, scale = 1): number {
    if (this.#gauss !== undefined) {
      const g = this.#gauss;
      this.#gauss = undefined;
      return loc + scale * g;
    }
    const { u: x1, v: x2, f } = polarPoint(() => this.randomSample());
    this.#gauss = f * x1;
    return loc + scale * f * x2;
  }
}

/** Options of {@link trainTestSplit}. */
export interface TrainTestSplitOptions {
  /** The share (in (0, 1)) or number of items in the test part. */
  readonly testSize: number;
  /** The seed (`random_state`). */
  readonly randomState: number;
}

/**
 * scikit-learn's `train_test_split(..., test_size, random_state)` on `n`
 * items, returning indices: `ShuffleSplit` draws
 * `RandomState(random_state).permutation(n)`, the first `ceil(test_size * n)`
 * are the test part and the rest the train part, in that order.
 *
 * @param n The number of items.
 * @param options The test share or count, and the seed.
 * @returns The train and test indices, in scikit-learn's order.
 *
 * @example A quarter held out
 * ```ts
 * import { trainTestSplit } from "./numpy_random.ts";
 * import assert from "node:assert/strict";
 *
 * const { train, test } = trainTestSplit(8, { testSize: 0.25, randomState: 42 });
 * assert.deepEqual(test, [1, 5]);
 * assert.deepEqual(train, [0, 7, 2, 4, 3, 6]);
 * ```
 */
export function trainTestSplit(
  n: number,
  options: TrainTestSplitOptions,
): { train: number[]; test: number[] } {
  const { testSize } = options;
  if (!Number.isInteger(n) || n < 2) {
    throw new RangeError(`trainTestSplit(): expected n >= 2 items, got ${n}`);
  }
  const nTest = testSize > 0 && testSize < 1 ? Math.ceil(testSize * n) : testSize;
  if (!Number.isInteger(nTest) || nTest < 1 || nTest >= n) {
    throw new RangeError(
      `trainTestSplit(): expected testSize in (0, 1) or an integer in [1, ${n}), got ${testSize}`,
    );
  }
  const permutation = new NumpyRandomState(options.randomState).permutation(n);
  return { train: permutation.slice(nTest), test: permutation.slice(0, nTest) };
}
