// deno-lint-ignore-file no-console -- a command-line script
/**
 * Writes the committed temperature slices from a Kaggle-format
 * `city_temperature.csv` and the authors' `all_cities_lat_lon.csv`:
 *
 * - `city_temperature_us47_oct2007-2019.csv`: October 2007-2019 of the 47 cities;
 * - `city_temperature_us47_sep29-30_2007-2019.csv`: 29 and 30 September, the
 *   lag context of 1 and 2 October.
 *
 *   deno run --allow-read --allow-write data/make_temperature_slices.ts <city_temperature.csv> <all_cities_lat_lon.csv> <out-dir>
 */
import { parseCities, parseKaggleTemperatures } from "./temperature.ts";

if (import.meta.main) {
  const [kaggle, citiesFile, outDir] = Deno.args;
  if (kaggle === undefined || citiesFile === undefined || outDir === undefined) {
    console.error(
      "usage: make_temperature_slices.ts <city_temperature.csv> <all_cities_lat_lon.csv> <out-dir>",
    );
    Deno.exit(2);
  }
  const rows = parseKaggleTemperatures(await Deno.readTextFile(kaggle), kaggle);
  const cities = parseCities(await Deno.readTextFile(citiesFile), citiesFile);
  const coords = new Map(cities.map((c) => [`${c.state}|${c.city}`, c]));
  const header = "State,City,Month,Day,Year,AvgTemperature,Latitude,Longitude";
  const format = (month: number): string => {
    const lines = rows.filter((r) => r.month === month && coords.has(`${r.state}|${r.city}`)).map(
      (r) => {
        const c = coords.get(`${r.state}|${r.city}`)!;
        return [r.state, r.city, r.month, r.day, r.year, r.temperature, c.latitude, c.longitude]
          .join(",");
      },
    );
    return [header, ...lines].join("\n") + "\n";
  };
  for (
    const [name, month] of [["city_temperature_us47_oct2007-2019.csv", 10], [
      "city_temperature_us47_sep29-30_2007-2019.csv",
      9,
    ]] as const
  ) {
    const path = `${outDir}/${name}`;
    await Deno.writeTextFile(`${path}.tmp`, format(month));
    await Deno.rename(`${path}.tmp`, path);
    console.log(`wrote ${path}`);
  }
}
