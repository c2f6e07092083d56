/**
 * The own-data benchmark's data sets (`own_data.ts`), as rows of
 * observations a user would hand to `fit()`, and their held-out split.
 *
 * @module
 */
import type { BaselineTarget } from "../lib/baselines.ts";
import { type Observation, SeedStream } from "../mod.ts";
import { DATA_FILES, dataFile, type DataOptions, dataRoot } from "../data/source.ts";
import { parseRatings } from "../data/movielens.ts";
import { parseProcessed } from "../data/instacart.ts";

/** The data sets, in the order of the results table. */
export const OWN_DATASETS = ["temperature", "movielens", "instacart", "octobers"] as const;

/** Share of sequences held out for the test (seeded). */
export const HELD_OUT = 0.2;

/** One data set with its split. */
export interface OwnSplit {
  /** Every row. */
  readonly rows: Observation[];
  /** The rows of the training sequences (what `fit()` sees). */
  readonly train: Observation[];
  /** The rows of the held-out sequences. */
  readonly test: Observation[];
  /** What is predicted. */
  readonly target: BaselineTarget;
  /** In a sentence. */
  readonly description: string;
}

/**
 * Loads one data set and splits its sequences (seed 0).
 *
 * @param name One of {@link OWN_DATASETS}.
 * @param options Where the data files are.
 * @returns The rows and the split.
 */
export async function loadSplit(name: string, options: DataOptions = {}): Promise<OwnSplit> {
  const [target, load] = name === "temperature"
    ? ["gaussian" as const, temperatureRows]
    : name === "movielens"
    ? ["gaussian" as const, movielensRows]
    : name === "instacart"
    ? ["item" as const, instacartRows]
    : name === "octobers"
    ? ["gaussian" as const, octoberRows]
    : [null, null];
  if (load === null || target === null) {
    throw new RangeError(`loadSplit(): expected one of ${OWN_DATASETS.join(", ")}, got ${name}`);
  }
  const { rows, description } = await load(options);
  const ids = [...new Set(rows.map((r) => String(r.sequence)))];
  const order = new SeedStream(0).shuffle(ids);
  const test = new Set(order.slice(0, Math.round(HELD_OUT * order.length)));
  return {
    rows,
    train: rows.filter((r) => !test.has(String(r.sequence))),
    test: rows.filter((r) => test.has(String(r.sequence))),
    target,
    description,
  };
}

async function temperatureRows(
  dataOptions: DataOptions,
): Promise<{ rows: Observation[]; description: string }> {
  const root = dataRoot(dataOptions);
  let path = `${root}/temperature/city_temperature_us.csv`;
  try {
    await Deno.stat(path);
  } catch {
    path = await dataFile(DATA_FILES.temperatureKaggle, dataOptions);
  }
  // Every day of the year (the package's own parser keeps only the paper's Octobers).
  const readings = (await Deno.readTextFile(path)).split(/\r?\n/).slice(1).filter((l) => l !== "")
    .map((line) => {
      const [, country, state, city, month, day, year, temperature] = line.split(",");
      return {
        country,
        state,
        city,
        month: +month!,
        day: +day!,
        year: +year!,
        temperature: +temperature!,
      };
    }).filter((r) => r.country === "US");
  const cities = [...new Set(readings.map((r) => `${r.city}, ${r.state}`))];
  const chosen = new Set(cities.filter((_, i) => i % 5 === 0));
  const rows = readings
    .filter((r) =>
      chosen.has(`${r.city}, ${r.state}`) && r.year >= 2016 && r.year <= 2019 && r.day >= 1 &&
      r.temperature !== -99
    )
    .map((r) => ({
      sequence: `${r.city}, ${r.state} ${r.year}-${String(r.month).padStart(2, "0")}`,
      position: r.day,
      item: `${r.city}, ${r.state}`,
      value: r.temperature,
    }));
  return {
    rows,
    description:
      `daily mean temperature (°F) of ${chosen.size} U.S. cities (every fifth of the Kaggle file), ` +
      "one sequence per city and month of 2016-2019, item = city, position = day",
  };
}

/** The committed slices (`data/temperature/`): a small data set that needs no download. */
async function octoberRows(): Promise<{ rows: Observation[]; description: string }> {
  const file = new URL(
    "../data/temperature/city_temperature_us47_oct2007-2019.csv",
    import.meta.url,
  );
  const lines = (await Deno.readTextFile(file)).split(/\r?\n/).slice(1).filter((l) => l !== "");
  const rows = lines.map((line) => line.split(",")).filter((f) => +f[5]! !== -99).map((f) => {
    const [state, city, , day, year, temperature] = f;
    return {
      sequence: `${city}, ${state} ${year}`,
      position: +day!,
      item: `${city}, ${state}`,
      value: +temperature!,
    };
  });
  return {
    rows,
    description: "daily mean temperature (°F) of the 47 U.S. cities of the paper in October " +
      "2007-2019 (the committed slices), one sequence per city and October, item = city, position = day",
  };
}

async function movielensRows(
  dataOptions: DataOptions,
): Promise<{ rows: Observation[]; description: string }> {
  const path = await dataFile(DATA_FILES.movielensRatings, dataOptions);
  const ratings = parseRatings(await Deno.readTextFile(path), path);
  const byUser = Map.groupBy(ratings, (r) => r.user);
  const rows = [...byUser].flatMap(([user, list]) =>
    list.toSorted((a, b) => a.timestamp - b.timestamp || a.movie - b.movie).slice(0, 50)
      .map((r, i) => ({ sequence: user, position: i, item: r.movie, value: r.rating }))
  );
  return {
    rows,
    description:
      "MovieLens 100K, each user's first 50 ratings in time order, item = movie, value = rating",
  };
}

async function instacartRows(
  dataOptions: DataOptions,
): Promise<{ rows: Observation[]; description: string }> {
  const path = await dataFile(DATA_FILES.instacartTrain, dataOptions);
  const rows = parseProcessed(await Deno.readTextFile(path), path);
  const orders = [...new Set(rows.map((r) => r.order))].slice(0, 5000);
  const kept = new Set(orders);
  return {
    rows: rows.filter((r) => kept.has(r.order)).map((r) => ({
      sequence: r.order,
      position: r.rank,
      item: r.product,
    })),
    description:
      "Instacart, the first 5,000 baskets of the paper's processed training file, item = product",
  };
}
