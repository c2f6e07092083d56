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
 *    lowest at a small k rather than at k = 1 or k = 40.
 *
 * Tables without committed full results yet are reported as ignored tests.
 */
import assert from "node:assert/strict";
import { parseTable } from "../data/csv.ts";
import { testDataRoot } from "../data/_test_data.ts";
import { paperNumber, type TableName, withinTolerance } from "../experiments/paper.ts";
import { TABLES } from "../experiments/reproduce.ts";

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
  Deno.test({
    name: `${table}: the quick run matches the committed ${table}.quick.csv`,
    ignore: root === undefined,
    fn: async () => {
      const dir = await Deno.makeTempDir();
      try {
        const resultsDir = new URL(`file://${dir}/`);
        await TABLES[table]!.run("quick", { force: true, quiet: true, resultsDir, dataDir: root! });
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
Deno.test({
  name:
    `temperature: 2 and 4 layers beat 1, lag 1 beats no lag, every EFA beats the best FM, the FM is best at a small k${
      temperatureRows === undefined ? " (no full results yet)" : ""
    }`,
  ignore: temperatureRows === undefined,
  fn: () => {
    const rows = temperatureRows!;
    const efa = (variant: string): number => value(rows, "efa", "", variant, "test_mse");
    assert.ok(efa("layers=2") < efa("layers=1") && efa("layers=4") < efa("layers=1"));
    assert.ok(efa("layers=4,lag=1") < efa("layers=4"));
    const ks = [1, 2, 3, 4, 5, 10, 15, 20, 25, 30, 35, 40];
    const fm = ks.map((k) => value(rows, "fm", "", `k=${k}`, "test_mse"));
    const best = Math.min(...fm);
    for (const v of ["layers=1", "layers=2", "layers=4", "layers=4,lag=1", "layers=4,lag=2"]) {
      assert.ok(efa(v) < best, v);
    }
    const argmin = ks[fm.indexOf(best)]!;
    assert.ok(argmin !== 1 && argmin !== 40, `FM best at k=${argmin}`);
  },
});
