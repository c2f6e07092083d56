// deno-lint-ignore-file no-console -- a command-line script
/**
 * `deno task datasets`: prepares every data set and prints one line per data
 * set, `name key=value ...`, with the counts the paper's notebooks give.
 *
 *   deno task datasets [--data-dir=DIR] [--temperature-source=slices|kaggle] [--only=NAME]
 */
import { parseArgs } from "node:util";
import { DATASET_NAMES, type DatasetName, describeDataset, loadDataset } from "./load.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      "data-dir": { type: "string" },
      "temperature-source": { type: "string", default: "slices" },
      only: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task datasets [--data-dir=DIR] [--temperature-source=slices|kaggle] [--only=NAME]\n" +
        `data sets: ${DATASET_NAMES.join(", ")}\n` +
        "data root: --data-dir, else EFA_DATA_DIR, else the per-user cache directory",
    );
    Deno.exit(0);
  }
  const source = values["temperature-source"];
  if (source !== "slices" && source !== "kaggle") {
    console.error(`datasets: expected --temperature-source=slices or kaggle, got ${source}`);
    Deno.exit(2);
  }
  const names = values.only === undefined ? DATASET_NAMES : [values.only as DatasetName];
  try {
    for (const name of names) {
      const data = await loadDataset(name, {
        ...(values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] }),
        temperatureSource: source,
        onProgress: (m) => console.error(m),
      });
      console.log(describeDataset(data));
    }
  } catch (error) {
    console.error(`datasets: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
