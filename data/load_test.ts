/**
 * The prepared data sets against the counts of the paper's notebooks
 * (docs/EFA.md 3.1-3.4), from the real files. Without a data root holding them
 * (EFA_DATA_DIR or ../shared/data) the file-based tests are skipped.
 */
import assert from "node:assert/strict";
import { describeDataset, INSTACART_KAGGLE_IDS, loadDataset, loadTemperature } from "./load.ts";
import {
  parseOrderProducts,
  parseProcessed,
  parseProductIdMap,
  preprocessKaggle,
} from "./instacart.ts";
import { testDataRoot, withData } from "./_test_data.ts";
import { countTargets } from "./prepared.ts";
import { parseCities } from "./temperature.ts";

const root = testDataRoot();
const options = { dataDir: root ?? "", download: false };

Deno.test("synthetic: 10,000 users, user 1 exact, 28,125 / 9,375 / 12,500 predictions", async () => {
  const data = await loadDataset("synthetic");
  assert.equal(
    describeDataset(data),
    "synthetic users=10000 movies=5 rows=50000 user1_order=2_5_3_1_4 user1_ratings=5.4739_4.3685_2.0832_2.8759_0.9890 " +
      "train_users=7500 test_users=2500 fit_predictions=28125 val_predictions=9375 test_predictions=12500",
  );
  // Validation examples keep their user's whole sequence as context.
  assert.equal(data.validation.items[0]!.length, 5);
  assert.ok(data.validation.targets!.every((t) => t.length >= 1 && t.length <= 5));
});

Deno.test(
  withData("movielens_exp1: 902 users, 13,757 ratings, the index/id split quirk"),
  async () => {
    const data = await loadDataset("movielens_exp1", options);
    assert.equal(
      describeDataset(data),
      "movielens_exp1 users=902 movies=50 ratings=13757 sparsity=69.50 longest=44 kept_tie_movie=28 train_users=641 " +
        "train_ratings=9736 test_users=219 test_ratings=3408 unused_users=42 fit_predictions=7252 val_predictions=2484",
    );
    assert.equal(data.maxLength, 44);
    assert.equal(data.fit.targets, undefined); // split by user: whole sequences
  },
);

Deno.test(
  withData("movielens_exp2: 893 users, 12,465 ratings, per-example validation"),
  async () => {
    const data = await loadDataset("movielens_exp2", options);
    assert.equal(
      describeDataset(data),
      "movielens_exp2 users=893 movies=50 ratings=12465 sparsity=72.08 longest=44 kept_tie_movie=276 train_users=631 " +
        "train_ratings=8707 test_users=211 test_ratings=3038 unused_users=51 fit_predictions=6530 val_predictions=2177",
    );
    const values = data.test.values!.flatMap((v) => Array.from(v));
    assert.deepEqual([...new Set(values)].sort(), [1, 2, 3]); // ratings 3..5 became 1..3
  },
);

Deno.test({
  ...withData("instacart: 24,781 / 1,433 orders, 206,450 / 68,895 predictions, product names"),
}, async () => {
  const data = await loadDataset("instacart", { ...options, productNames: true });
  assert.equal(
    describeDataset(data),
    "instacart products=63 train_orders=24781 train_rows=275345 test_orders=1433 test_rows=16066 min_length=10 " +
      "max_length=24 fit_baskets=18585 val_baskets=6196 fit_predictions=206450 val_predictions=68895 test_predictions=16066",
  );
  assert.deepEqual(data.itemNames!.slice(1, 4), [
    "Organic Baby Spinach",
    "Organic Cucumber",
    "Organic Ginger Root",
  ]);
  assert.equal(data.itemNames![63], "Raspberries");
  // The embedded id list is the processed files' id map.
  const map = parseProductIdMap(
    await Deno.readTextFile(`${root}/instacart/processed/product_id_map.csv`),
    "map",
  );
  assert.deepEqual(map.slice(1), [...INSTACART_KAGGLE_IDS]);
});

Deno.test({
  ...withData(
    "instacart: the Kaggle preprocessing reproduces the processed rows of the head samples",
  ),
}, async () => {
  const head = `${root}/instacart/kaggle-head`;
  const prior = parseOrderProducts(
    await Deno.readTextFile(`${head}/order_products__prior.head100k.csv`),
    "prior",
  );
  const orders = parseOrderProducts(
    await Deno.readTextFile(`${head}/order_products__train.head100k.csv`),
    "train",
  );
  const idMap = new Map(INSTACART_KAGGLE_IDS.map((k, i) => [k, i + 1] as const));
  // The heads are 100k-row samples: use the paper's 63 products rather than re-counting occurrences.
  const out = preprocessKaggle(prior, orders, { products: new Set(idMap.keys()), idMap });
  const cases = [[out.train, prior, "data_train_final.csv"], [
    out.test,
    orders,
    "data_test_final.csv",
  ]] as const;
  const covered: number[] = [];
  for (const [rows, raw, file] of cases) {
    const complete = new Set(raw.map((r) => r.order));
    complete.delete(raw[raw.length - 1]!.order); // the last order of a head may be cut short
    const processed = parseProcessed(
      await Deno.readTextFile(`${root}/instacart/processed/${file}`),
      file,
    );
    const ours = rows.filter((r) => complete.has(r.order));
    assert.deepEqual(ours, processed.filter((r) => complete.has(r.order)));
    covered.push(new Set(ours.map((r) => r.order)).size, ours.length);
  }
  assert.deepEqual(covered, [49, 528, 119, 1334]);
});

Deno.test("temperature: 18,941 rows, 44 cities, 17,732 rows, 8,184 / 5,456 / 4,092 examples, lags", async () => {
  const expected = (tokens: number, name: string): string =>
    `${name} october_rows_47=18941 cities_47=47 dropped_states=Arizona|Connecticut|South_Dakota cities=44 ` +
    `october_rows=17732 tokens=${tokens} train_examples=8184 val_examples=5456 test_examples=4092`;
  const lag0 = await loadTemperature(0);
  assert.equal(describeDataset(lag0), expected(44, "temperature"));
  assert.equal(describeDataset(await loadTemperature(1)), expected(88, "temperature_lag1"));
  const lag2 = await loadTemperature(2);
  assert.equal(describeDataset(lag2), expected(132, "temperature_lag2"));
  // 1 October 2007: the lag tokens are 30 September (lag 1) and 29 September (lag 2).
  const first = lag2.fit.values![0]!;
  assert.deepEqual(Array.from(lag2.fit.lags![0]!).slice(43, 46), [0, 1, 1]);
  assert.equal(lag2.cities[1]!.city, "Birmingham");
  assert.equal(first[0], 70.8); // Birmingham, 1 October 2007
  assert.equal(countTargets(lag2.test), 4092);
  assert.deepEqual(lag0.itemFeatures[1], [33.543682, -86.779633]);
});

Deno.test({
  ...withData("temperature: the Kaggle file and the committed slices give the same data"),
}, async () => {
  // The shared data keep the Kaggle-format file under another name: link it where the loader looks.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/temperature`);
    await Deno.symlink(
      `${root}/temperature/city_temperature_us.csv`,
      `${dir}/temperature/city_temperature.csv`,
    );
    const fromKaggle = await loadTemperature(2, { dataDir: dir, temperatureSource: "kaggle" }); // lag 2 uses every day
    const fromSlices = await loadTemperature(2);
    assert.deepEqual(fromKaggle.fit, fromSlices.fit);
    assert.deepEqual(fromKaggle.validation, fromSlices.validation);
    assert.deepEqual(fromKaggle.test, fromSlices.test);
    assert.deepEqual(fromKaggle.cities, fromSlices.cities);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // The coordinates in the slices are the authors' all_cities_lat_lon.csv.
  const cities = parseCities(
    await Deno.readTextFile(`${root}/temperature/all_cities_lat_lon.csv`),
    "cities",
  );
  const slice = await loadTemperature(0);
  for (const c of slice.cities.slice(1)) {
    assert.ok(
      cities.some((d) =>
        d.city === c.city && d.latitude === c.latitude && d.longitude === c.longitude
      ),
    );
  }
});
