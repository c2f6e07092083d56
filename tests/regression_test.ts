/**
 * The regression on the paper's metrics:
 *
 * 1. the quick configuration of every table runs and matches the committed
 *    `*.quick.csv` (same backend and seeds: the numbers repeat to float32
 *    rounding);
 * 2. every committed full row agrees with `experiments/paper.ts` (the paper's
 *    number, the tolerance and the `within` flag);
 * 3. the paper's robust orderings hold in the committed full results: EFA beats
 *    the FM in every table and direction; on temperature 2 and 4 layers beat 1,
 *    lag 1 beats no lag, every EFA beats the best FM, and the FM's error is
 *    lowest at a small k rather than at k = 1 or k = 40. An ordering our runs
 *    do not show is listed in `KNOWN_TEMPERATURE_DEVIATIONS` with its README
 *    explanation, and the test then asserts that it still does not hold.
 *
 * Tables without committed full results yet are reported as ignored tests.
 */
import assert from "node:assert/strict";
import { parseTable } from "../lib/_csv.ts";
import { NEEDS_DATA, testDataRoot } from "../data/_test_data.ts";
import { paperNumber, type TableName, withinTolerance } from "../experiments/paper.ts";
import { runTable } from "../experiments/_harness.ts";
import { FM_K, TABLES } from "../experiments/tables.ts";

const RESULTS = new URL("../experiments/results/", import.meta.url);
const root = testDataRoot();

type Row = Record<string, string>;

function parse(text: string): Row[] {
  const table = parseTable(text, { file: "results.csv" });
  return table.rows.map((r) => Object.fromEntries(r.map((v, i) => [table.columns[i]!, v])));
}

async function readRows(name: string): Promise<Row[] | undefined> {
  try {
    return parse(await Deno.readTextFile(new URL(name, RESULTS)));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

const key = (r: Row): string => [r.model, r.direction, r.variant, r.metric].join("|");

for (const table of Object.keys(TABLES)) {
  // Synthetic data is generated and the temperature slices are committed; the others are downloaded.
  const skippedForData = root === undefined &&
    !["synthetic", "us-city-temperatures"].includes(TABLES[table as TableName].dataset);
  Deno.test({
    name: `${table}: the quick run matches the committed ${table}.quick.csv${
      skippedForData ? ` (skipped: ${NEEDS_DATA})` : ""
    }`,
    ignore: skippedForData,
    fn: async () => {
      const dir = await Deno.makeTempDir();
      try {
        const resultsDir = new URL(`file://${dir}/`);
        await runTable(TABLES[table as TableName], "quick", {
          force: true,
          quiet: true,
          resultsDir,
          ...(root === undefined ? {} : { dataDir: root }),
        });
        const ours = parse(await Deno.readTextFile(new URL(`${table}.quick.csv`, resultsDir)));
        const committed = (await readRows(`${table}.quick.csv`))!;
        assert.deepEqual(ours.map(key), committed.map(key));
        ours.forEach((r, i) => {
          const c = committed[i]!;
          const a = Number(r.value), b = Number(c.value);
          assert.ok(
            Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)),
            `${key(r)}: ${a} vs committed ${b}`,
          );
        });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

for (const table of Object.keys(TABLES) as TableName[]) {
  const rows = await readRows(`${table}.csv`);
  Deno.test({
    name: `${table}: every committed full row agrees with paper.ts${
      rows === undefined ? " (no full results yet)" : ""
    }`,
    ignore: rows === undefined,
    fn: () => {
      for (const r of rows!) {
        const variant = r.variant!.replace(/(^|,)seed=\d+$/, "");
        const p = paperNumber(table, r.model as "efa" | "fm", r.direction!, variant, r.metric!);
        if (p === undefined) {
          assert.equal(r.paper, "", `${key(r)} has a paper value the paper does not have`);
          continue;
        }
        assert.ok(
          Math.abs(Number(r.paper) - p.paper) < 1e-6,
          `${key(r)}: paper ${r.paper} vs ${p.paper}`,
        );
        assert.equal(
          r.within,
          String(withinTolerance(p, Number(r.value))),
          `${key(r)}: within flag`,
        );
      }
    },
  });
}

/** The main (seed-mean) value of a row. */
function value(
  rows: Row[],
  model: string,
  direction: string,
  variant: string,
  metric: string,
): number {
  const r = rows.find((r) =>
    r.model === model && r.direction === direction && r.variant === variant && r.metric === metric
  );
  assert.ok(r !== undefined, `missing row ${model} ${direction} ${variant} ${metric}`);
  return Number(r.value);
}

const METRIC: Record<string, string> = {
  synthetic: "test_mse",
  instacart: "test_cross_entropy",
  movielens_exp1: "test_cross_entropy",
  movielens_exp2_v1: "test_poisson_loss",
  movielens_exp2_v2: "test_poisson_loss",
};

for (const [table, metric] of Object.entries(METRIC)) {
  const rows = await readRows(`${table}.csv`);
  Deno.test({
    name: `${table}: EFA beats the FM in both directions${
      rows === undefined ? " (no full results yet)" : ""
    }`,
    ignore: rows === undefined,
    fn: () => {
      for (const direction of ["unidirectional", "bidirectional"]) {
        const efa = value(rows!, "efa", direction, "", metric),
          fm = value(rows!, "fm", direction, "", metric);
        assert.ok(efa < fm, `${direction}: EFA ${efa} vs FM ${fm}`);
      }
    },
  });
}

const temperatureRows = await readRows("temperature.csv");

/** One of the paper's temperature orderings, checked on the committed full rows. */
interface Ordering {
  readonly claim: string;
  /** `undefined` when the ordering holds, otherwise what the rows show. */
  readonly violation: (rows: Row[]) => string | undefined;
}

const TEMPERATURE_EFAS = ["layers=1", "layers=2", "layers=4", "layers=4,lag=1", "layers=4,lag=2"];
const efaMse = (rows: Row[], variant: string): number =>
  value(rows, "efa", "", variant, "test_mse");
const fmMse = (rows: Row[]): number[] =>
  FM_K.map((k) => value(rows, "fm", "", `k=${k}`, "test_mse"));

const TEMPERATURE_ORDERINGS: Record<string, Ordering> = {
  layers: {
    claim: "2 and 4 layers beat 1",
    violation: (rows) => {
      const [one, two, four] = [1, 2, 4].map((l) => efaMse(rows, `layers=${l}`)) as [
        number,
        number,
        number,
      ];
      return two < one && four < one ? undefined : `1: ${one}, 2: ${two}, 4: ${four}`;
    },
  },
  lag: {
    claim: "lag 1 beats no lag (4 layers)",
    violation: (rows) => {
      const [lag, noLag] = [efaMse(rows, "layers=4,lag=1"), efaMse(rows, "layers=4")];
      return lag < noLag ? undefined : `lag 1: ${lag}, no lag: ${noLag}`;
    },
  },
  efaBeatsBestFm: {
    claim: "every EFA beats the best FM",
    violation: (rows) => {
      const best = Math.min(...fmMse(rows));
      const worse = TEMPERATURE_EFAS.filter((v) => efaMse(rows, v) >= best);
      return worse.length === 0 ? undefined : `best FM ${best}; not beaten by ${worse.join(" ")}`;
    },
  },
  fmBestAtSmallK: {
    claim: "the FM's error is lowest at a small k, not at k = 1 or k = 40",
    violation: (rows) => {
      const fm = fmMse(rows);
      const k = FM_K[fm.indexOf(Math.min(...fm))]!;
      return k !== 1 && k !== 40 ? undefined : `FM best at k=${k}`;
    },
  },
};

/**
 * The orderings our committed full results do not show, each explained in the
 * README, in a sentence that begins "Temperature: <claim> does not hold". The check is
 * strict: a listed ordering that holds again fails, so the list and the README
 * cannot go stale.
 */
const KNOWN_TEMPERATURE_DEVIATIONS: Record<string, string> = {
  lag: "the lag models stop at the 30-epoch cap with the validation loss still falling",
  efaBeatsBestFm:
    "our FM (inferred specification: the paper's notebook is not public) is much stronger than the paper's",
};

for (const [id, ordering] of Object.entries(TEMPERATURE_ORDERINGS)) {
  const known = KNOWN_TEMPERATURE_DEVIATIONS[id];
  Deno.test({
    name: `temperature: ${ordering.claim}${
      known === undefined ? "" : " does not hold (known deviation)"
    }${temperatureRows === undefined ? " (no full results yet)" : ""}`,
    ignore: temperatureRows === undefined,
    fn: async () => {
      const violation = ordering.violation(temperatureRows!);
      if (known === undefined) {
        assert.equal(violation, undefined, `${ordering.claim}: ${violation}`);
        return;
      }
      assert.notEqual(
        violation,
        undefined,
        `"${ordering.claim}" now holds: remove it from KNOWN_TEMPERATURE_DEVIATIONS and from the README`,
      );
      const readme = (await Deno.readTextFile(new URL("../README.md", import.meta.url)))
        .replace(/\s+/g, " ");
      assert.ok(
        readme.includes(`Temperature: ${ordering.claim} does not hold`),
        `the README explains why "${ordering.claim}" does not hold (${known})`,
      );
    },
  });
}
