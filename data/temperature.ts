/**
 * U.S. city temperatures (docs/EFA.md 3.4) as `temperature/efa/efa*.ipynb`
 * prepare them, from a Kaggle-format `city_temperature.csv` or from the
 * committed slices of it (`data/temperature/`).
 *
 * 1. Keep U.S. rows of October (plus 30 and 29 September, the previous days
 *    of 1 and 2 October for the lag models) from 2007 on; drop Alaska, Hawaii,
 *    "Additional Territories" and District of Columbia; drop duplicate rows.
 * 2. Inner-join with the 47 cities of `all_cities_lat_lon.csv` (one per
 *    state): 18,941 October rows.
 * 3. Drop the states with missing readings (-99) in October (Arizona,
 *    Connecticut, South Dakota): 44 cities, 17,732 October rows.
 * 4. One example per (year, October day, target city): the day's 44
 *    temperatures with the target masked, plus the previous day's (lag 1) and
 *    the day before's (lag 2) as unmasked tokens.
 * 5. Years 2007-2012 train, 2013-2016 validate, 2017-2019 test.
 */
import type { Sequences } from "../mod.ts";
import { numberColumn, parseTable, stringColumn, type Table } from "../lib/_csv.ts";
import { countTargets, type PreparedDataset } from "./prepared.ts";

/** One daily reading. */
export interface Reading {
  /** U.S. state. */
  readonly state: string;
  /** City. */
  readonly city: string;
  /** Month 1..12. */
  readonly month: number;
  /** Day of the month. */
  readonly day: number;
  /** Year. */
  readonly year: number;
  /** Daily mean temperature in degrees Fahrenheit; -99 marks a missing reading. */
  readonly temperature: number;
}

/** A city with its coordinates. */
export interface City {
  /** U.S. state. */
  readonly state: string;
  /** City. */
  readonly city: string;
  /** Latitude in degrees. */
  readonly latitude: number;
  /** Longitude in degrees. */
  readonly longitude: number;
}

const DROPPED_STATES = new Set([
  "Alaska",
  "Hawaii",
  "Additional Territories",
  "District of Columbia",
]);
const FIRST_YEAR = 2007;

function readings(table: Table): Reading[] {
  const state = stringColumn(table, "State"), city = stringColumn(table, "City");
  const month = numberColumn(table, "Month", { integer: true }),
    day = numberColumn(table, "Day", { integer: true });
  const year = numberColumn(table, "Year", { integer: true });
  const temperature = numberColumn(table, "AvgTemperature");
  return state.map((s, i) => ({
    state: s,
    city: city[i]!,
    month: month[i]!,
    day: day[i]!,
    year: year[i]!,
    temperature: temperature[i]!,
  }));
}

function wanted(r: Reading): boolean {
  return r.year >= FIRST_YEAR &&
    (r.month === 10 || (r.month === 9 && (r.day === 30 || r.day === 29))) &&
    !DROPPED_STATES.has(r.state);
}

/**
 * Reads Kaggle's `city_temperature.csv` (Region, Country, State, City, Month,
 * Day, Year, AvgTemperature), keeping the U.S. rows the models use.
 */
export function parseKaggleTemperatures(text: string, file: string): Reading[] {
  const table = parseTable(text, {
    file,
    required: ["Country", "State", "City", "Month", "Day", "Year", "AvgTemperature"],
  });
  const country = stringColumn(table, "Country");
  const us = { ...table, rows: table.rows.filter((_, i) => country[i] === "US") };
  const seen = new Set<string>();
  return readings(us).filter((r) => {
    if (!wanted(r)) return false;
    const key = JSON.stringify(r); // drop_duplicates()
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Reads a committed slice (State, City, Month, Day, Year, AvgTemperature, Latitude, Longitude). */
export function parseSlice(text: string, file: string): { readings: Reading[]; cities: City[] } {
  const table = parseTable(text, {
    file,
    required: ["State", "City", "Month", "Day", "Year", "AvgTemperature", "Latitude", "Longitude"],
  });
  const lat = numberColumn(table, "Latitude"), lon = numberColumn(table, "Longitude");
  const all = readings(table);
  const cities = new Map<string, City>();
  all.forEach((r, i) => {
    const key = `${r.state}|${r.city}`;
    if (!cities.has(key)) {
      cities.set(key, { state: r.state, city: r.city, latitude: lat[i]!, longitude: lon[i]! });
    }
  });
  return { readings: all.filter(wanted), cities: [...cities.values()] };
}

/** Reads `all_cities_lat_lon.csv` (State, City, Latitude, Longitude). */
export function parseCities(text: string, file: string): City[] {
  const table = parseTable(text, { file, required: ["State", "City", "Latitude", "Longitude"] });
  const state = stringColumn(table, "State"), city = stringColumn(table, "City");
  const lat = numberColumn(table, "Latitude"), lon = numberColumn(table, "Longitude");
  return state.map((s, i) => ({ state: s, city: city[i]!, latitude: lat[i]!, longitude: lon[i]! }));
}

/** The number of earlier days given as context: 0, 1 or 2. */
export type Lag = 0 | 1 | 2;

/** A prepared temperature data set: items are cities (1..44), features their coordinates. */
export interface TemperatureDataset extends PreparedDataset {
  /** The cities by id (index 0 unused). */
  readonly cities: readonly City[];
  /** `[latitude, longitude]` by city id (row 0, padding, is `[0, 0]`). */
  readonly itemFeatures: readonly (readonly number[])[];
  /** Lag groups per token (1 + lag). */
  readonly lagGroups: number;
}

/**
 * Builds the examples of the paper's temperature models.
 *
 * @param rows Readings of October and 29-30 September (from a Kaggle file or the slices).
 * @param coordinates The 47 cities with coordinates.
 * @param lag How many previous days are context tokens.
 */
export function prepareTemperature(
  rows: readonly Reading[],
  coordinates: readonly City[],
  lag: Lag,
): TemperatureDataset {
  const coords = new Map(coordinates.map((c) => [`${c.state}|${c.city}`, c]));
  const joined = rows.filter((r) => coords.has(`${r.state}|${r.city}`)); // inner join, file order
  const october = joined.filter((r) => r.month === 10);
  const missingStates = [
    ...new Set(october.filter((r) => r.temperature === -99).map((r) => r.state)),
  ];
  const kept = joined.filter((r) => !missingStates.includes(r.state));
  const cityKeys = [...new Set(kept.map((r) => `${r.state}|${r.city}`))]; // order of appearance
  const cityId = new Map(cityKeys.map((k, i) => [k, i + 1]));
  const cities: City[] = [
    { state: "", city: "", latitude: 0, longitude: 0 },
    ...cityKeys.map((k) => coords.get(k)!),
  ];
  const byDay = new Map<string, Map<number, number>>();
  for (const r of kept) {
    const key = `${r.year}-${r.month}-${r.day}`;
    const day = byDay.get(key) ?? new Map<number, number>();
    day.set(cityId.get(`${r.state}|${r.city}`)!, r.temperature);
    byDay.set(key, day);
  }
  const J = cityKeys.length;
  const dayValues = (year: number, month: number, day: number): number[] => {
    const values = byDay.get(`${year}-${month}-${day}`);
    if (values === undefined || values.size !== J) {
      throw new RangeError(
        `temperature: expected readings of all ${J} cities on ${year}-${month}-${day}, got ${
          values?.size ?? 0
        }`,
      );
    }
    return Array.from({ length: J }, (_, i) => values.get(i + 1)!);
  };
  const previous = (month: number, day: number, back: number): [number, number] =>
    day - back >= 1 ? [month, day - back] : [9, 30 + day - back];
  const build = (from: number, to: number): Sequences => {
    const items: number[][] = [],
      values: number[][] = [],
      lags: number[][] = [],
      targets: number[][] = [];
    const cityIds = Array.from({ length: J }, (_, i) => i + 1);
    for (let year = from; year <= to; year++) {
      for (let day = 1; day <= 31; day++) {
        const v = [...dayValues(year, 10, day)];
        const it = [...cityIds], lg = new Array<number>(J).fill(0);
        for (let back = 1; back <= lag; back++) {
          const [m, d] = previous(10, day, back);
          v.push(...dayValues(year, m, d));
          it.push(...cityIds);
          lg.push(...new Array<number>(J).fill(back));
        }
        items.push(it);
        values.push(v);
        lags.push(lg);
        targets.push(cityIds.map((c) => c - 1));
      }
    }
    return { items, values, ...(lag > 0 ? { lags } : {}), targets };
  };
  const fit = build(2007, 2012), validation = build(2013, 2016), test = build(2017, 2019);
  return {
    name: lag === 0 ? "temperature" : `temperature_lag${lag}`,
    numItems: J,
    maxLength: J * (lag + 1),
    fit,
    validation,
    test,
    itemNames: cities.map((c) => c.city),
    cities,
    itemFeatures: cities.map((c) => [c.latitude, c.longitude]),
    lagGroups: lag + 1,
    stats: {
      october_rows_47: october.length,
      cities_47: new Set(october.map((r) => `${r.state}|${r.city}`)).size,
      dropped_states: missingStates.sort().join("|"),
      cities: J,
      october_rows: kept.filter((r) => r.month === 10).length,
      tokens: J * (lag + 1),
      train_examples: countTargets(fit),
      val_examples: countTargets(validation),
      test_examples: countTargets(test),
    },
  };
}
