/**
 * `deno task reproduce` as a new user meets it: offline and without the data
 * sets, the tables that need a download are skipped with one line saying what
 * to fetch and where to put it, the others still run, and the run ends with a
 * summary and a non-zero exit; quick rows are labelled as smoke checks.
 */
import assert from "node:assert/strict";
import { closing, reproduce } from "./reproduce.ts";

Deno.test("closing(): exit 0 only when every table was written", () => {
  assert.deepEqual(closing({ done: ["synthetic"], skipped: [], unfinished: [] }), {
    line: "reproduce: 1 table done",
    code: 0,
  });
  assert.deepEqual(
    closing({ done: [], skipped: ["instacart", "movielens_exp1"], unfinished: ["temperature"] }),
    {
      line:
        "reproduce: 0 tables done, 2 skipped for missing data (instacart, movielens_exp1), 1 left to another process or a later run (temperature)",
      code: 1,
    },
  );
});

Deno.test("reproduce --offline without data: skips what needs a download, runs the rest, exits 1", async () => {
  const dataDir = await Deno.makeTempDir();
  const resultsDir = await Deno.makeTempDir();
  try {
    const out: string[] = [], err: string[] = [];
    const code = await reproduce(
      [
        "--quick",
        "--quiet",
        "--offline",
        "--only=movielens_exp1,temperature",
        `--data-dir=${dataDir}`,
        `--results-dir=${resultsDir}`,
      ],
      (line) => out.push(line),
      (line) => err.push(line),
    );
    assert.equal(code, 1);
    assert.deepEqual(err, []);
    assert.match(out[0]!, /^reproduce --quick: .* not comparable with the paper's/);
    const skipped = out.find((l) => l.startsWith("movielens_exp1 (quick): skipped"));
    assert.ok(skipped !== undefined, out.join("\n"));
    assert.ok(
      skipped.includes(
        `Missing data file ${dataDir}/movielens/ml-100k/u.data (downloads are switched off)`,
      ) &&
        skipped.includes("https://files.grouplens.org/datasets/movielens/ml-100k.zip"),
      skipped,
    );
    assert.ok(out.some((l) => l.startsWith("temperature (quick): done in")), out.join("\n"));
    const rows = out.filter((l) => l.includes(" ours "));
    assert.equal(rows.length, 17);
    assert.ok(rows.every((l) => l.endsWith("(smoke check)") && !l.includes("tolerance")), rows[0]);
    assert.equal(
      out.at(-1),
      "reproduce: 1 table done, 1 skipped for missing data (movielens_exp1)",
    );
    await Deno.stat(`${resultsDir}/temperature.quick.csv`);
    await assert.rejects(() => Deno.stat(`${resultsDir}/movielens_exp1.quick.csv`));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(resultsDir, { recursive: true });
  }
});

Deno.test("reproduce rejects bad arguments with exit 2 and a message naming them", async () => {
  const err: string[] = [];
  assert.equal(await reproduce(["--only=nope"], () => {}, (l) => err.push(l)), 2);
  assert.match(err[0]!, /unknown table "nope"; expected one of movielens_exp1, /);
  assert.equal(await reproduce(["--threads=3"], () => {}, (l) => err.push(l)), 2);
  assert.equal(err[1], 'reproduce: --threads must be 1 or 2, got "3"');
});

Deno.test("reproduce --protocol: only the tables with one, each job's command says --protocol", async () => {
  const err: string[] = [];
  assert.equal(
    await reproduce(["--protocol", "--only=synthetic"], () => {}, (l) => err.push(l)),
    2,
  );
  assert.match(err[0]!, /synthetic has no --protocol run .*; tables with one: instacart$/);
  assert.equal(await reproduce(["--protocol", "--quick"], () => {}, (l) => err.push(l)), 2);
  assert.equal(err[1], "reproduce: --quick and --protocol go one at a time");
  // The jobs (the data set is needed to list its models; without it, a line says what to fetch).
  const out: string[] = [];
  const code = await reproduce(
    ["--protocol", "--list-jobs"],
    (l) => out.push(l),
    (l) => err.push(l),
  );
  if (code === 0) {
    assert.deepEqual(
      out,
      [
        "efa_unidirectional/seed=1",
        "fm_unidirectional/seed=1",
        "efa_bidirectional/seed=1",
        "fm_bidirectional/seed=1",
      ].map((job) => `deno task reproduce --only=instacart --jobs=${job} --protocol`),
    );
  } else {
    assert.match(err.at(-1)!, /^instacart: skipped, /);
  }
});
