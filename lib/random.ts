/**
 * Explicit, seeded randomness. Every random function of this package takes a
 * {@link SeedStream}; nothing reads `Math.random` or a global generator.
 *
 * The generator is xoshiro128** seeded through splitmix32: fast in 32-bit
 * JavaScript arithmetic, with a period of 2^128 - 1.
 *
 * @module
 */

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [state, z >>> 0];
}

/**
 * A seeded stream of random numbers that can be split into independent
 * child streams (one for initialisation, one for batch order, ...).
 *
 * @example Same seed, same numbers
 * ```ts
 * import { SeedStream } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * const a = new SeedStream(42), b = new SeedStream(42);
 * assert.equal(a.random(), b.random());
 * assert.notEqual(new SeedStream(1).random(), new SeedStream(2).random());
 * ```
 */
export class SeedStream {
  readonly #s: Uint32Array = new Uint32Array(4);
  #spareNormal: number | undefined;

  /**
   * Creates a stream from an integer seed.
   *
   * @param seed Any safe integer; the same seed gives the same stream.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new TypeError(
        `Cannot create SeedStream: expected seed to be a safe integer, got ${seed}`,
      );
    }
    let state = (seed % 0x100000000) | 0;
    let high = Math.floor(seed / 0x100000000) | 0;
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(state ^ Math.imul(high, 0x27d4eb2d));
      state = next;
      high = (high + 1) | 0;
      this.#s[i] = out;
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  /**
   * The next 32-bit unsigned integer.
   *
   * @returns An integer in [0, 2^32).
   */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /**
   * A uniform float in [0, 1) with 53 random bits.
   *
   * @returns The draw.
   */
  random(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /**
   * A uniform integer in [0, n).
   *
   * @param n The number of outcomes, a positive safe integer.
   * @returns The draw.
   */
  integer(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new RangeError(`Cannot draw an integer: expected n to be a positive integer, got ${n}`);
    }
    return Math.floor(this.random() * n);
  }

  /**
   * A standard normal draw (Marsaglia polar method).
   *
   * @returns The draw.
   */
  normal(): number {
    if (this.#spareNormal !== undefined) {
      const spare = this.#spareNormal;
      this.#spareNormal = undefined;
      return spare;
    }
    const { u, v, f } = polarPoint(() => this.random());
    this.#spareNormal = v * f;
    return u * f;
  }

  /**
   * A non-zero 31-bit integer, safe to pass as a tfjs op seed (tfjs treats a
   * seed of 0 as "unseeded").
   *
   * @returns An integer in [1, 2^31).
   */
  seed(): number {
    let s = 0;
    while (s === 0) s = this.nextUint32() >>> 1;
    return s;
  }

  /**
   * An independent child stream; the parent advances by two draws.
   *
   * @returns The child stream.
   */
  split(): SeedStream {
    return new SeedStream(this.nextUint32() * 0x200000 + (this.nextUint32() >>> 11));
  }

  /**
   * Shuffles an array in place (Fisher-Yates).
   *
   * @typeParam T The element type.
   * @param items The array to shuffle.
   * @returns The same array.
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Marsaglia's polar method: the first point `(u, v)` drawn uniformly in
 * `[-1, 1)²` that falls inside the unit disc (but not at its centre), and
 * `f = sqrt(-2 log(s) / s)` with `s = u² + v²`; `u f` and `v f` are two
 * independent standard normals.
 *
 * @param uniform The uniform draws in `[0, 1)`.
 * @returns The point and the factor.
 *
 * @example Two normals from a seeded stream
 * ```ts
 * import { polarPoint, SeedStream } from "./random.ts";
 * import assert from "node:assert/strict";
 *
 * const rng = new SeedStream(1);
 * const { u, v, f } = polarPoint(() => rng.random());
 * assert.ok(u * u + v * v < 1 && Number.isFinite(u * f) && Number.isFinite(v * f));
 * ```
 */
export function polarPoint(uniform: () => number): { u: number; v: number; f: number } {
  let u = 0, v = 0, s = 0;
  do {
    u = 2 * uniform() - 1;
    v = 2 * uniform() - 1;
    s = u * u + v * v;
  } while (s >= 1 || s === 0);
  return { u, v, f: Math.sqrt((-2 * Math.log(s)) / s) };
}
