/**
 * Loads each prepared data set from its files (see `source.ts` for where they
 * come from). The temperature data come from the committed slices by
 * default, or from a Kaggle-format `city_temperature.csv` in the data root.
 */
import { parseProcessed, parseProductNames, prepareInstacart } from "./instacart.ts";
import { parseRatings, prepareMovielens } from "./movielens.ts";
import type { PreparedDataset } from "./prepared.ts";
import { DATA_FILES, dataFile, type DataOptions } from "./source.ts";
import { prepareSynthetic } from "./synthetic.ts";
import {
  type City,
  type Lag,
  parseKaggleTemperatures,
  parseSlice,
  prepareTemperature,
  type Reading,
  type TemperatureDataset,
} from "./temperature.ts";

/**
 * The Kaggle product ids of the 63 Instacart items, in the paper's order
 * (items 1..63): `unique_product_ids` as printed by `instacart/data_prep.ipynb`.
 */
export const INSTACART_KAGGLE_IDS: readonly number[] = [
  21903,
  30391,
  46667,
  13176,
  21616,
  8518,
  22935,
  5876,
  48679,
  24838,
  31717,
  47209,
  26209,
  34969,
  27966,
  37646,
  44632,
  16797,
  39275,
  5077,
  10749,
  49235,
  21137,
  28204,
  21938,
  46979,
  47626,
  44359,
  34126,
  28985,
  24852,
  41950,
  30489,
  9076,
  24964,
  45007,
  42265,
  49683,
  47766,
  39877,
  19057,
  40706,
  5450,
  43961,
  39928,
  22825,
  12341,
  17794,
  4605,
  22035,
  27845,
  27104,
  26604,
  8277,
  4920,
  25890,
  31506,
  35951,
  45066,
  24184,
  19660,
  27086,
  43352,
];

/** The names of the data sets `loadDataset` knows. */
export const DATASET_NAMES = [
  "synthetic",
  "movielens_exp1",
  "movielens_exp2",
  "instacart",
  "temperature",
  "temperature_lag1",
  "temperature_lag2",
] as const;

/** One of {@link DATASET_NAMES}. */
export type DatasetName = typeof DATASET_NAMES[number];

/** Options of {@link loadDataset}. */
export interface LoadOptions extends DataOptions {
  /** Read temperatures from the committed slices (default) or the data root's Kaggle file. */
  readonly temperatureSource?: "slices" | "kaggle";
  /** Attach Instacart product names (needs Kaggle's `products.csv` in the data root). */
  readonly productNames?: boolean;
}

const SLICES = new URL("./temperature/", import.meta.url);

/** The temperature readings and city coordinates, from the committed slices or a Kaggle file. */
export async function loadTemperatureReadings(
  options: LoadOptions = {},
): Promise<{ rows: Reading[]; cities: City[] }> {
  const october = parseSlice(
    await Deno.readTextFile(new URL("city_temperature_us47_oct2007-2019.csv", SLICES)),
    "data/temperature/city_temperature_us47_oct2007-2019.csv",
  );
  if (options.temperatureSource === "kaggle") {
    const path = await dataFile(DATA_FILES.temperatureKaggle, options);
    return {
      rows: parseKaggleTemperatures(await Deno.readTextFile(path), path),
      cities: october.cities,
    };
  }
  const september = parseSlice(
    await Deno.readTextFile(new URL("city_temperature_us47_sep29-30_2007-2019.csv", SLICES)),
    "data/temperature/city_temperature_us47_sep29-30_2007-2019.csv",
  );
  return { rows: [...september.readings, ...october.readings], cities: october.cities };
}

/** Loads and prepares one data set with the paper's splits. */
export async function loadDataset(
  name: DatasetName,
  options: LoadOptions = {},
): Promise<PreparedDataset> {
  switch (name) {
    case "synthetic":
      return prepareSynthetic();
    case "movielens_exp1":
    case "movielens_exp2": {
      const path = await dataFile(DATA_FILES.movielensRatings, options);
      return prepareMovielens(
        parseRatings(await Deno.readTextFile(path), path),
        name === "movielens_exp1" ? 1 : 2,
      );
    }
    case "instacart": {
      const trainPath = await dataFile(DATA_FILES.instacartTrain, options);
      const testPath = await dataFile(DATA_FILES.instacartTest, options);
      const train = parseProcessed(await Deno.readTextFile(trainPath), trainPath);
      const test = parseProcessed(await Deno.readTextFile(testPath), testPath);
      if (!options.productNames) return prepareInstacart(train, test);
      const productsPath = await dataFile(DATA_FILES.instacartProducts, options);
      const products = parseProductNames(await Deno.readTextFile(productsPath), productsPath);
      return prepareInstacart(train, test, { idMap: [0, ...INSTACART_KAGGLE_IDS], products });
    }
    case "temperature":
    case "temperature_lag1":
    case "temperature_lag2":
      return await loadTemperature(
        name === "temperature" ? 0 : name === "temperature_lag1" ? 1 : 2,
        options,
      );
    default:
      throw new RangeError(
        `loadDataset(): unknown data set ${JSON.stringify(name)}; expected one of ${
          DATASET_NAMES.join(", ")
        }`,
      );
  }
}

/** Loads the temperature data set with `lag` previous days as context. */
export async function loadTemperature(
  lag: Lag,
  options: LoadOptions = {},
): Promise<TemperatureDataset> {
  const { rows, cities } = await loadTemperatureReadings(options);
  return prepareTemperature(rows, cities, lag);
}

/** One line per data set: `name key=value ...`. */
export function describeDataset(data: PreparedDataset): string {
  return [
    data.name,
    ...Object.entries(data.stats).map(([k, v]) => `${k}=${String(v).replaceAll(" ", "_")}`),
  ].join(" ");
}
