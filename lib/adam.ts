/**
 * Adam as Keras 3 computes it (the paper's optimiser), over all parameters at
 * once: the gradients are flattened into one vector, so a step costs a dozen
 * tensor operations whatever the number of parameter tensors (tfjs's own Adam
 * runs about ten per tensor, and each operation has a fixed cost).
 *
 * Keras 3's update: `m += (g - m)(1 - beta1)`, `v += (g^2 - v)(1 - beta2)`,
 * `w -= alpha m / (sqrt(v) + epsilon)` with
 * `alpha = lr sqrt(1 - beta2^t) / (1 - beta1^t)`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfScalar, TfTensor, TfVariable } from "./_types.ts";
import { adamUpdate, fastKernelsActive } from "./_kernels.ts";

/** Options of {@link Adam}. */
export interface AdamOptions {
  /** The learning rate. */
  readonly learningRate: number;
  /** Decay of the first moment (Keras default 0.9). */
  readonly beta1?: number;
  /** Decay of the second moment (Keras default 0.999). */
  readonly beta2?: number;
  /** Added to the root of the second moment (Keras default 1e-7). */
  readonly epsilon?: number;
}

/** What {@link Adam.state} returns: the step count and the moments, flat in the variables' order. */
export interface AdamState {
  /** Steps taken. */
  readonly step: number;
  /** First moment estimate. */
  readonly m: Float32Array<ArrayBuffer>;
  /** Second moment estimate. */
  readonly v: Float32Array<ArrayBuffer>;
}

/**
 * The Adam optimiser over a fixed list of variables.
 *
 * @example Minimise a quadratic
 * ```ts
 * import { Adam } from "./adam.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const w = tf.variable(tf.scalar(3));
 * const adam = new Adam([w], { learningRate: 0.1 });
 * for (let i = 0; i < 200; i++) adam.step(() => tf.square(w) as tf.Scalar);
 * assert.ok(Math.abs(w.dataSync()[0]!) < 0.05);
 * adam.dispose();
 * ```
 */
export class Adam {
  readonly #variables: readonly TfVariable[];
  readonly #m: TfVariable;
  readonly #v: TfVariable;
  readonly #learningRate: number;
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #epsilon: number;
  #t = 0;

  /**
   * Creates the optimiser and its (zero) moment estimates.
   *
   * @param variables The variables it updates.
   * @param options The learning rate and Adam's constants.
   */
  constructor(variables: readonly TfVariable[], options: AdamOptions) {
    if (!(options.learningRate > 0) || !Number.isFinite(options.learningRate)) {
      throw new RangeError(
        `Adam: expected learningRate to be a positive number, got ${options.learningRate}`,
      );
    }
    this.#variables = variables;
    const size = variables.reduce((n, v) => n + v.size, 0);
    const zeros = tf.zeros([size]);
    this.#m = tf.variable(zeros, false); // a variable copies its initial value
    this.#v = tf.variable(zeros, false);
    zeros.dispose();
    this.#learningRate = options.learningRate;
    this.#beta1 = options.beta1 ?? 0.9;
    this.#beta2 = options.beta2 ?? 0.999;
    this.#epsilon = options.epsilon ?? 1e-7;
  }

  /**
   * Computes the loss and its gradients and updates every variable once.
   *
   * @param loss The scalar loss, a function of the variables.
   * @returns The loss before the update.
   */
  step(loss: () => TfScalar): number {
    const { value, grads } = tf.variableGrads(loss, this.#variables as TfVariable[]);
    const lossValue = value.dataSync()[0]!;
    this.apply(this.#variables.map((v) => grads[v.name]));
    tf.dispose([value, ...Object.values(grads)]);
    return lossValue;
  }

  /**
   * Updates every variable once from given gradients (for example gradients
   * accumulated over several chunks of one batch). The caller keeps ownership
   * of the gradient tensors.
   *
   * @param grads One gradient per variable, in the constructor's order (`undefined`: zero).
   */
  apply(grads: readonly (TfTensor | undefined)[]): void {
    if (grads.length !== this.#variables.length) {
      throw new RangeError(
        `Adam.apply(): expected ${this.#variables.length} gradients, got ${grads.length}`,
      );
    }
    this.#t++;
    const b1 = this.#beta1, b2 = this.#beta2;
    const alpha = (this.#learningRate * Math.sqrt(1 - b2 ** this.#t)) / (1 - b1 ** this.#t);
    if (fastKernelsActive() && this.#variables.every((w) => w.dtype === "float32")) {
      // One wasm pass, the same float32 operations in the same order (lib/_kernels.ts).
      tf.tidy(() => {
        const [m, v, ...weights] = adamUpdate(
          this.#m,
          this.#v,
          this.#variables.map((w, i) => grads[i] ?? tf.zerosLike(w)),
          this.#variables,
          { c1: 1 - b1, c2: 1 - b2, alpha, epsilon: this.#epsilon },
        );
        this.#m.assign(m!);
        this.#v.assign(v!);
        this.#variables.forEach((w, i) => w.assign(weights[i]!));
      });
      return;
    }
    tf.tidy(() => {
      const g = tf.concat(
        this.#variables.map((v, i) => tf.reshape(grads[i] ?? tf.zerosLike(v), [-1])),
      ); // [P]
      const m = tf.add(this.#m, tf.mul(tf.sub(g, this.#m), 1 - b1));
      const v = tf.add(this.#v, tf.mul(tf.sub(tf.square(g), this.#v), 1 - b2));
      this.#m.assign(m);
      this.#v.assign(v);
      const update = tf.div(tf.mul(m, alpha), tf.add(tf.sqrt(v), this.#epsilon)); // [P]
      const parts = tf.split(update, this.#variables.map((w) => w.size));
      this.#variables.forEach((w, i) => w.assign(tf.sub(w, tf.reshape(parts[i]!, w.shape))));
    });
  }

  /**
   * The optimiser's state: the step count and both moment estimates, flat in
   * the variables' order (what a training checkpoint keeps).
   *
   * @returns Copies of the state.
   */
  state(): AdamState {
    return {
      step: this.#t,
      m: this.#m.dataSync() as Float32Array<ArrayBuffer>,
      v: this.#v.dataSync() as Float32Array<ArrayBuffer>,
    };
  }

  /**
   * Puts back a state from {@link Adam.state}, so that the next step is the
   * one that would have followed it.
   *
   * @param state The step count and moments, of this optimiser's size.
   * @throws {RangeError} When the moments do not have one value per parameter.
   */
  restore(state: AdamState): void {
    const size = this.#m.size;
    if (state.m.length !== size || state.v.length !== size) {
      throw new RangeError(
        `Adam.restore(): expected moments of ${size} values, got ${state.m.length} and ${state.v.length}`,
      );
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new RangeError(
        `Adam.restore(): expected step to be an integer >= 0, got ${state.step}`,
      );
    }
    this.#t = state.step;
    tf.tidy(() => {
      this.#m.assign(tf.tensor1d(state.m, "float32"));
      this.#v.assign(tf.tensor1d(state.v, "float32"));
    });
  }

  /** Frees the moment estimates. */
  dispose(): void {
    this.#m.dispose();
    this.#v.dispose();
  }
}
