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
 * With the package's wasm kernels the update runs in place, and embedding
 * tables skip their idle rows (`lib/_adam_kernels.ts`): the same bits as the
 * tensor operations, faster when a batch touches few rows of a big table.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfScalar, TfTensor, TfVariable } from "./_types.ts";
import { fastKernelsActive } from "./_kernels.ts";
import {
  adamStepInPlace,
  catchUpSecondMoments,
  firstMomentBound,
  isLazyTable,
} from "./_adam_kernels.ts";

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
  #learningRate: number;
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #epsilon: number;
  readonly #mBound: number;
  #t = 0;
  /** Per variable, the int32 idle marks of a lazy table while the in-place kernels run (else `undefined`). */
  #idleSince: (TfTensor | undefined)[] | undefined;

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
    // A variable shares its initial value's data: one buffer each, as the in-place update needs.
    this.#m = tf.tidy(() => tf.variable(tf.zeros([size]), false));
    this.#v = tf.tidy(() => tf.variable(tf.zeros([size]), false));
    this.#learningRate = options.learningRate;
    this.#beta1 = options.beta1 ?? 0.9;
    this.#beta2 = options.beta2 ?? 0.999;
    this.#epsilon = options.epsilon ?? 1e-7;
    this.#mBound = firstMomentBound(this.#learningRate, this.#beta1, this.#beta2);
  }

  /** The learning rate of the next step. */
  get learningRate(): number {
    return this.#learningRate;
  }

  /**
   * Lowers the learning rate from the next step on (a schedule's decay).
   * It may only go down: the idle rows the in-place update skips were judged
   * against the first learning rate, and a larger one could move them.
   *
   * @throws {RangeError} When `rate` is not positive or exceeds the current rate.
   */
  set learningRate(rate: number) {
    if (!(rate > 0) || !(rate <= this.#learningRate)) {
      throw new RangeError(
        `Adam: expected the new learningRate to be positive and at most ${this.#learningRate}, got ${rate}`,
      );
    }
    this.#learningRate = rate;
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
      // In place, the same float32 operations in the same order (lib/_adam_kernels.ts).
      this.#idleSince ??= this.#variables.map((w) =>
        isLazyTable(w)
          ? tf.keep(tf.fill([w.shape[0]!], this.#t === 1 ? 0 : -1, "int32"))
          : undefined
      );
      adamStepInPlace(this.#m, this.#v, grads, this.#variables, this.#idleSince, {
        t: this.#t,
        c1: 1 - b1,
        c2: 1 - b2,
        alpha,
        epsilon: this.#epsilon,
        mBound: this.#mBound,
      });
      return;
    }
    this.#settle(this.#t - 1);
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
    this.#catchUp(this.#t);
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
    this.#dropIdleMarks();
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
    this.#dropIdleMarks();
  }

  /** Brings the idle rows' second moments up to step `t` (the in-place kernels defer them). */
  #catchUp(t: number): void {
    if (this.#idleSince === undefined) return;
    if (tf.getBackend() !== "wasm") {
      throw new Error(
        `Adam: the backend changed from wasm to ${tf.getBackend()} during training; create the optimiser after choosing the backend`,
      );
    }
    catchUpSecondMoments(this.#v, this.#variables, this.#idleSince, t, 1 - this.#beta2);
  }

  /** Catches up and drops the idle marks: the moments are then whole for the tensor operations. */
  #settle(t: number): void {
    this.#catchUp(t);
    this.#dropIdleMarks();
  }

  #dropIdleMarks(): void {
    tf.dispose(this.#idleSince?.filter((x) => x !== undefined));
    this.#idleSince = undefined;
  }
}
