import assert from "node:assert/strict";
import { type Job, type JobResult, runTable } from "./_harness.ts";
import { savedModelUrl } from "./_table.ts";

const jobs: Job[] = [1, 2].map((seed) => ({
  key: `fm/seed=${seed}`,
  model: "fm",
  direction: "",
  variant: "",
  seed,
  maxEpochs: 1,
}));

function result(seed: number): JobResult {
  return {
    metrics: { test_mse: seed / 10 },
    epochs: 1,
    bestEpoch: 1,
    seconds: 0,
    history: [{ epoch: 1, train: seed }],
  };
}

const rows = (results: Record<string, JobResult>) =>
  Object.entries(results).map(([key, r]) => ({
    table: "synthetic",
    dataset: "test",
    model: "fm",
    direction: "",
    variant: key.split("/")[1]!,
    metric: "test_mse",
    value: r.metrics.test_mse!,
  }));

async function inTempDir(body: (dir: URL) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempDir();
  try {
    await body(new URL(`file://${path}/`));
  } finally {
    await Deno.remove(path, { recursive: true });
  }
}

Deno.test("runTable writes the CSV and the JSON record, then skips the same configuration", async () => {
  await inTempDir(async (dir) => {
    const ran: string[] = [];
    const runJob = (job: Job) => {
      ran.push(job.key);
      return Promise.resolve(result(job.seed));
    };
    const options = { resultsDir: dir, quiet: true };
    const first = await runTable("synthetic", "quick", { n: 1 }, jobs, runJob, rows, options);
    assert.deepEqual(first.skipped, false);
    assert.deepEqual(ran, ["fm/seed=1", "fm/seed=2"]);
    const csv = await Deno.readTextFile(new URL("synthetic.quick.csv", dir));
    assert.ok(csv.startsWith("table,dataset,model,direction,variant,metric,value"), csv);
    assert.deepEqual(csv.trim().split("\n").length, 3);
    const record = JSON.parse(await Deno.readTextFile(new URL("synthetic.quick.json", dir)));
    assert.deepEqual(record.seeds, [1, 2]);
    assert.deepEqual(record.config, { n: 1 });
    assert.deepEqual(typeof record.environment.gitCommit, "string");
    assert.deepEqual(Object.keys(record.jobs), ["fm/seed=1", "fm/seed=2"]);

    const again = await runTable("synthetic", "quick", { n: 1 }, jobs, runJob, rows, options);
    assert.deepEqual(again.skipped, true);
    assert.deepEqual(ran.length, 2);
    const forced = await runTable("synthetic", "quick", { n: 1 }, jobs, runJob, rows, {
      ...options,
      force: true,
    });
    assert.deepEqual(forced.skipped, false);
    assert.deepEqual(ran.length, 4);
    const changed = await runTable("synthetic", "quick", { n: 2 }, jobs, runJob, rows, options);
    assert.deepEqual(changed.skipped, false);
    assert.deepEqual(ran.length, 6);
  });
});

Deno.test("runTable resumes an interrupted table after its last finished model", async () => {
  await inTempDir(async (dir) => {
    const options = { resultsDir: dir, quiet: true };
    const partial = new URL(".partial/synthetic.quick.json", dir);
    await assert.rejects(
      () =>
        runTable(
          "synthetic",
          "quick",
          {},
          jobs,
          (job) => {
            if (job.seed === 2) throw new Error("interrupted");
            return Promise.resolve(result(job.seed));
          },
          rows,
          options,
        ),
      /interrupted/,
    );
    const saved = JSON.parse(await Deno.readTextFile(partial));
    assert.deepEqual(Object.keys(saved.results), ["fm/seed=1"]);
    await assert.rejects(
      () => Deno.stat(new URL("synthetic.quick.csv", dir)),
      Deno.errors.NotFound,
    );

    const ran: string[] = [];
    await runTable(
      "synthetic",
      "quick",
      {},
      jobs,
      (job) => {
        ran.push(job.key);
        return Promise.resolve(result(job.seed));
      },
      rows,
      options,
    );
    assert.deepEqual(ran, ["fm/seed=2"]);
    const csv = await Deno.readTextFile(new URL("synthetic.quick.csv", dir));
    assert.deepEqual(csv.trim().split("\n").length, 3);
    await assert.rejects(() => Deno.stat(partial), Deno.errors.NotFound);
  });
});

Deno.test("a forced rerun interrupted mid-way resumes when forced again, but not after a code change", async () => {
  await inTempDir(async (dir) => {
    const options = { resultsDir: dir, quiet: true, force: true };
    const ok = (job: Job) => Promise.resolve(result(job.seed));
    await runTable("synthetic", "quick", {}, jobs, ok, rows, options);
    await assert.rejects(
      () =>
        runTable(
          "synthetic",
          "quick",
          {},
          jobs,
          (job) => {
            if (job.seed === 2) throw new Error("interrupted");
            return ok(job);
          },
          rows,
          options,
        ),
      /interrupted/,
    );
    const ran: string[] = [];
    const record = (job: Job) => {
      ran.push(job.key);
      return ok(job);
    };
    await runTable("synthetic", "quick", {}, jobs, record, rows, options);
    assert.deepEqual(ran, ["fm/seed=2"]);

    // A checkpoint written by other code starts over.
    await assert.rejects(
      () =>
        runTable(
          "synthetic",
          "quick",
          {},
          jobs,
          (job) => {
            if (job.seed === 2) throw new Error("interrupted");
            return ok(job);
          },
          rows,
          options,
        ),
      /interrupted/,
    );
    const partial = new URL(".partial/synthetic.quick.json", dir);
    const saved = JSON.parse(await Deno.readTextFile(partial));
    await Deno.writeTextFile(partial, JSON.stringify({ ...saved, codeVersion: "other" }));
    ran.length = 0;
    await runTable("synthetic", "quick", {}, jobs, record, rows, options);
    assert.deepEqual(ran, ["fm/seed=1", "fm/seed=2"]);
  });
});

Deno.test("savedModelUrl puts models under the results directory it is given", () => {
  const dir = new URL("file:///tmp/results/");
  assert.deepEqual(
    savedModelUrl("temperature", "efa_4_layers", "lag=1", dir).href,
    "file:///tmp/results/models/temperature/efa_4_layers_lag-1.json",
  );
  assert.ok(
    savedModelUrl("instacart", "efa", "").href.endsWith(
      "/experiments/results/models/instacart/efa.json",
    ),
  );
});
