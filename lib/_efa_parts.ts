/**
 * The two pieces of EFA shared by the reference path (`model.ts`) and the
 * fast path (`fast.ts`), so that both compute exactly the same function:
 * turning observations into token vectors, and what follows attention in a
 * layer (residual connection, LayerNorm, feed-forward block).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TfTensor } from "./_types.ts";
import { embeddingLookup, layerNorm, type ModelParameters, param } from "./layers.ts";
import type { EfaModel } from "./model.ts";

/** A dense layer implementation: `dense` (tfjs autograd) or `fastDense` (hand-written gradient). */
export type DenseFn = (params: ModelParameters, name: string, x: TfTensor) => TfTensor;

/** Rows of observations: item ids `[R, T]` int32, values `[R, T]`, lag groups `[R, T]`. */
export interface TokenRows {
  readonly items: TfTensor;
  readonly values?: TfTensor | undefined;
  readonly lags?: TfTensor | undefined;
}

/**
 * Token vectors of rows of observations, `[R, T, W]`: the attribute
 * embedding, the value embedding and the lag embedding, concatenated, mixed
 * (when configured) and added to the positional embedding.
 *
 * @param model The model.
 * @param rows Item ids, values and lags, `[R, T]`.
 * @param maskAt Which positions are masked (bool `[R, T]`), or `null` for none.
 * @param maskItem Whether a masked position also hides its item (item prediction).
 * @param denseFn The dense layer implementation.
 * @returns The tokens, `[R, T, W]`.
 */
export function embedTokens(
  model: EfaModel,
  rows: TokenRows,
  maskAt: TfTensor | null,
  maskItem: boolean,
  denseFn: DenseFn,
): TfTensor {
  const { config, params } = model;
  return tf.tidy(() => {
    const [R, T] = rows.items.shape as [number, number];
    const parts: TfTensor[] = [];

    // 1. Attribute embedding alpha(x_j); a masked item becomes the mask token J+1.
    const item = config.itemEmbedding;
    if (item.kind === "table") {
      const ids = maskItem && maskAt !== null
        ? tf.where(maskAt, tf.fill([R, T], config.numItems + 1, "int32"), rows.items)
        : rows.items; // [R, T]
      parts.push(embeddingLookup(param(params, "item.embedding"), ids)); // [R, T, Di]
    } else {
      const features = tf.gather(model.itemFeatures!, rows.items); // [R, T, F]
      parts.push(denseFn(params, "item.output", tf.relu(denseFn(params, "item.hidden", features)))); // [R, T, Di]
    }

    // 2. Value embedding beta(y_j); a masked value is replaced by the mask.
    const value = config.valueEmbedding;
    if (value.kind !== "none") {
      const y = rows.values!; // [R, T]
      if (value.kind === "table") {
        const truncated = tf.cast(tf.mul(tf.sign(y), tf.floor(tf.abs(y))), "int32"); // int(y), toward zero
        let ids = tf.where(
          tf.less(truncated, 0),
          tf.add(truncated, tf.scalar(value.size, "int32")),
          truncated,
        ); // Keras 3 take()
        if (maskAt !== null) ids = tf.where(maskAt, tf.fill([R, T], value.maskIndex, "int32"), ids); // [R, T]
        parts.push(embeddingLookup(param(params, "value.embedding"), ids)); // [R, T, Dv]
      } else {
        let v = denseFn(
          params,
          "value.output",
          tf.relu(denseFn(params, "value.hidden", tf.expandDims(y, 2))),
        ); // [R, T, Dv]
        if (maskAt !== null) {
          const maskRow = tf.slice(param(params, "value.mask"), [1, 0], [1, value.dim]); // [1, Dv]
          const m = tf.expandDims(tf.cast(maskAt, "float32"), 2); // [R, T, 1]
          v = tf.add(tf.mul(v, tf.sub(1, m)), tf.mul(maskRow, m)); // [R, T, Dv]
        }
        parts.push(v);
      }
    }

    // 3. Lag-group embedding (spatio-temporal tokens from earlier days).
    if (config.lagGroups > 0) {
      parts.push(embeddingLookup(param(params, "lag.embedding"), rows.lags!)); // [R, T, Dl]
    }

    let x = parts.length === 1 ? parts[0]! : tf.concat(parts, 2); // [R, T, Di+Dv+Dl]
    if (config.tokenMixer !== null) {
      x = denseFn(params, "mixer.output", tf.relu(denseFn(params, "mixer.hidden", x))); // [R, T, W]
    }
    if (config.positionEmbedding) {
      x = tf.add(x, tf.slice(param(params, "position.embedding"), [0, 0], [T, -1])); // [R, T, W]
    }
    return x;
  });
}

/**
 * What follows attention in layer `l`: `x + attention`, then (when
 * configured) LayerNorm, the feed-forward block with its residual, and
 * LayerNorm again (post-LN, as the temperature model).
 *
 * @param model The model.
 * @param l The layer.
 * @param x The layer's input, `[..., W]`.
 * @param attention The attention output, `[..., W]`.
 * @param denseFn The dense layer implementation.
 * @returns The layer's output, `[..., W]`.
 */
export function afterAttention(
  model: EfaModel,
  l: number,
  x: TfTensor,
  attention: TfTensor,
  denseFn: DenseFn,
): TfTensor {
  const { config, params } = model;
  return tf.tidy(() => {
    let h = tf.add(x, attention); // [..., W]
    if (config.layerNorm) h = layerNorm(params, `layer${l}.norm1`, h, config.layerNormEpsilon);
    if (config.feedForward > 0) {
      const ffn = denseFn(
        params,
        `layer${l}.ffn.output`,
        tf.relu(denseFn(params, `layer${l}.ffn.hidden`, h)),
      ); // [..., W]
      h = tf.add(h, ffn);
      if (config.layerNorm) h = layerNorm(params, `layer${l}.norm2`, h, config.layerNormEpsilon);
    }
    return h;
  });
}
