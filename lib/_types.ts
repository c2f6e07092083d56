/**
 * Local names for the tfjs types in this package's signatures. They are tfjs's
 * own `Tensor`, `Variable` and `Scalar` (users pass and receive ordinary
 * tfjs tensors); the aliases exist so that the documentation linter accepts
 * references to a type from another package.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/**
 * A tfjs tensor (`tf.Tensor`).
 *
 * @internal
 */
export type TfTensor = tf.Tensor;

/**
 * A trainable tfjs variable (`tf.Variable`).
 *
 * @internal
 */
export type TfVariable = tf.Variable;

/**
 * A rank-0 tfjs tensor (`tf.Scalar`).
 *
 * @internal
 */
export type TfScalar = tf.Scalar;
