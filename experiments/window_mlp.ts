/**
 * The own-data benchmark's strongest simple baseline (`own_data.ts`): a
 * small MLP over a window of the context.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Adam } from "../lib/adam.ts";
import type { BaselineTarget } from "../lib/baselines.ts";
import { SeedStream, type Sequences } from "../mod.ts";

/**
 * A small MLP, the next thing a data scientist would try after the simple
 * baselines, fitted on `train` and scored on every position of `test`:
 * for values, 32 ReLU units over the standardised values 3 positions either
 * side (with presence flags), the mean of the sequence's other values and the
 * item's training mean, squared error in the data's units; for items, 64 ReLU
 * units over the bag of the other items, cross-entropy. Adam (learning rate
 * 1e-3), batches of 256, at most 300 epochs, early stopping with patience 10
 * on 20% of the training sequences, the best epoch's weights kept.
 *
 * @param train The sequences it learns from.
 * @param test The sequences it predicts.
 * @param numItems Item ids run over `1..numItems`.
 * @param target Values (Gaussian) or items.
 * @param seed Seed of the split, the initialisation and the batch order.
 * @returns The mean test loss, the number of predictions and the epochs run.
 */
export function windowMlp(
  train: Sequences,
  test: Sequences,
  numItems: number,
  target: BaselineTarget,
  seed: number,
): { loss: number; count: number; epochs: number } {
  const features = (
    data: Sequences,
    stats: { mean: number; sd: number; itemMean: Float64Array },
  ) => {
    const x: number[] = [], y: number[] = [];
    data.items.forEach((seq, s) => {
      for (let j = 0; j < seq.length; j++) {
        if (target === "item") {
          const bag = new Array(numItems).fill(0);
          for (let k = 0; k < seq.length; k++) if (k !== j) bag[seq[k]! - 1] = 1;
          x.push(...bag);
          y.push(seq[j]! - 1);
        } else {
          const v = data.values![s]!, z = (u: number) => (u - stats.mean) / stats.sd;
          const row: number[] = [];
          for (const d of [-3, -2, -1, 1, 2, 3]) {
            const k = j + d;
            row.push(k >= 0 && k < seq.length ? z(v[k]!) : 0, k >= 0 && k < seq.length ? 1 : 0);
          }
          let others = 0;
          for (let k = 0; k < seq.length; k++) if (k !== j) others += z(v[k]!);
          row.push(seq.length > 1 ? others / (seq.length - 1) : 0, z(stats.itemMean[seq[j]!]!));
          x.push(...row);
          y.push(z(v[j]!));
        }
      }
    });
    return { x, y, count: y.length };
  };
  const all = train.values?.flatMap((v) => Array.from(v)) ?? [];
  const mean = all.reduce((a, b) => a + b, 0) / Math.max(all.length, 1);
  const sd = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(all.length, 1)) ||
    1;
  const itemMean = new Float64Array(numItems + 1).fill(mean);
  if (target === "gaussian") {
    const sums = new Float64Array(numItems + 1), counts = new Float64Array(numItems + 1);
    train.items.forEach((seq, s) =>
      Array.from(seq).forEach((i, j) => {
        sums[i]! += train.values![s]![j]!;
        counts[i]!++;
      })
    );
    for (let i = 1; i <= numItems; i++) if (counts[i]! > 0) itemMean[i] = sums[i]! / counts[i]!;
  }
  const stats = { mean, sd, itemMean };
  const order = new SeedStream(seed + 1).shuffle(train.items.map((_, i) => i));
  const cut = Math.round(0.2 * order.length);
  const pick = (ids: number[]): Sequences => ({
    items: ids.map((i) => train.items[i]!),
    ...(train.values === undefined ? {} : { values: ids.map((i) => train.values![i]!) }),
  });
  const fitSet = features(pick(order.slice(cut)), stats);
  const validSet = features(pick(order.slice(0, cut)), stats);
  const testSet = features(test, stats);
  const width = fitSet.x.length / fitSet.count, out = target === "item" ? numItems : 1;
  const hidden = target === "item" ? 64 : 32;
  const init = new SeedStream(seed + 2);
  const glorot = (a: number, b: number) =>
    tf.variable(
      tf.tensor2d(Array.from({ length: a * b }, () => init.normal() * Math.sqrt(2 / (a + b))), [
        a,
        b,
      ]),
    );
  const params = [
    glorot(width, hidden),
    tf.variable(tf.zeros([hidden])),
    glorot(hidden, out),
    tf.variable(tf.zeros([out])),
  ];
  const [w1, b1, w2, b2] = params as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
  const loss = (x: tf.Tensor2D, y: number[]): tf.Scalar => {
    const h = tf.relu(tf.add(tf.matMul(x, w1), b1)); // [n, hidden]
    const o = tf.add(tf.matMul(h, w2), b2); // [n, out]
    if (target === "item") {
      return tf.losses.softmaxCrossEntropy(
        tf.oneHot(tf.tensor1d(y, "int32"), numItems),
        o,
      ) as tf.Scalar;
    }
    return tf.mean(tf.square(tf.sub(tf.reshape(o, [-1]), tf.tensor1d(y)))) as tf.Scalar;
  };
  const score = (set: { x: number[]; y: number[]; count: number }): number =>
    tf.tidy(() => loss(tf.tensor2d(set.x, [set.count, width]), set.y).dataSync()[0]!);
  const adam = new Adam(params, { learningRate: 1e-3 });
  const rng = new SeedStream(seed + 3);
  let best = Infinity, bestParams = params.map((p) => p.clone()), since = 0, epochs = 0;
  for (let epoch = 0; epoch < 300 && since < 10; epoch++, epochs++) {
    const perm = rng.shuffle(Array.from({ length: fitSet.count }, (_, i) => i));
    for (let b = 0; b < perm.length; b += 256) {
      const ids = perm.slice(b, b + 256);
      const x = ids.flatMap((i) => fitSet.x.slice(i * width, (i + 1) * width));
      const y = ids.map((i) => fitSet.y[i]!);
      tf.tidy(() => adam.step(() => loss(tf.tensor2d(x, [ids.length, width]), y)));
    }
    const v = score(validSet);
    if (v < best - 1e-6) {
      best = v;
      bestParams.forEach((p) => p.dispose());
      bestParams = params.map((p) => p.clone());
      since = 0;
    } else since++;
  }
  params.forEach((p, i) => p.assign(bestParams[i]!));
  const testLoss = score(testSet) * (target === "item" ? 1 : sd * sd);
  tf.dispose([...params, ...bestParams]);
  adam.dispose();
  return { loss: testLoss, count: testSet.count, epochs };
}
