import assert from "node:assert/strict";
import {
  claimFileName,
  gitCommit,
  type Job,
  type JobResult,
  runJobs,
  runTable,
  savedModelUrl,
  seedsOf,
  type TableConfig,
  type TableDefinition,
  type TableModel,
  trainingOf,
} from "./_harness.ts";
import { tryClaim, withLock } from "./_claims.ts";
import type { PaperModel } from "./paper_models.ts";

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

Deno.test("runJobs writes the CSV and the JSON record, then skips the same configuration", async () => {
  await inTempDir(async (dir) => {
    const ran: string[] = [];
    const runJob = (job: Job) => {
      ran.push(job.key);
      return Promise.resolve(result(job.seed));
    };
    const options = { resultsDir: dir, quiet: true };
    const first = await runJobs("synthetic", "quick", { n: 1 }, jobs, runJob, rows, options);
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

    const again = await runJobs("synthetic", "quick", { n: 1 }, jobs, runJob, rows, options);
    assert.deepEqual(again.skipped, true);
    assert.deepEqual(ran.length, 2);
    const forced = await runJobs("synthetic", "quick", { n: 1 }, jobs, runJob, rows, {
      ...options,
      force: true,
    });
    assert.deepEqual(forced.skipped, false);
    assert.deepEqual(ran.length, 4);
    const changed = await runJobs("synthetic", "quick", { n: 2 }, jobs, runJob, rows, options);
    assert.deepEqual(changed.skipped, false);
    assert.deepEqual(ran.length, 6);
  });
});

Deno.test("runJobs resumes an interrupted table after its last finished model", async () => {
  await inTempDir(async (dir) => {
    const options = { resultsDir: dir, quiet: true };
    const partial = new URL(".partial/synthetic.quick.json", dir);
    await assert.rejects(
      () =>
        runJobs(
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
    await runJobs(
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
    await runJobs("synthetic", "quick", {}, jobs, ok, rows, options);
    await assert.rejects(
      () =>
        runJobs(
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
    await runJobs("synthetic", "quick", {}, jobs, record, rows, options);
    assert.deepEqual(ran, ["fm/seed=2"]);

    // A checkpoint written by other code starts over.
    await assert.rejects(
      () =>
        runJobs(
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
    await runJobs("synthetic", "quick", {}, jobs, record, rows, options);
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

Deno.test("two runs of one table share its models: each model trains once, the results are written once", async () => {
  await inTempDir(async (dir) => {
    const four: Job[] = [1, 2, 3, 4].map((seed) => ({ ...jobs[0]!, key: `fm/seed=${seed}`, seed }));
    const ranBy: Record<string, string[]> = { a: [], b: [] };
    // Each run's first model waits until the other run has started one: both runs then train
    // models whatever the scheduling, and no sleep decides the outcome.
    const started: Record<"a" | "b", () => void> = { a: () => {}, b: () => {} };
    const startedBy = {
      a: new Promise<void>((resolve) => (started.a = resolve)),
      b: new Promise<void>((resolve) => (started.b = resolve)),
    };
    const runner = (name: "a" | "b") => async (job: Job) => {
      ranBy[name]!.push(job.key);
      started[name]();
      if (ranBy[name]!.length === 1) await startedBy[name === "a" ? "b" : "a"];
      return result(job.seed);
    };
    const options = { resultsDir: dir, quiet: true };
    const [a, b] = await Promise.all([
      runJobs("synthetic", "quick", {}, four, runner("a"), rows, options),
      runJobs("synthetic", "quick", {}, four, runner("b"), rows, options),
    ]);
    const all = [...ranBy.a!, ...ranBy.b!].sort();
    assert.deepEqual(all, four.map((j) => j.key), "each model trained exactly once");
    assert.ok(ranBy.a!.length > 0 && ranBy.b!.length > 0, JSON.stringify(ranBy));
    assert.ok(a.finished || b.finished);
    const csv = await Deno.readTextFile(new URL("synthetic.quick.csv", dir));
    assert.deepEqual(csv.trim().split("\n").length, 5, csv);
    const record = JSON.parse(await Deno.readTextFile(new URL("synthetic.quick.json", dir)));
    assert.deepEqual(Object.keys(record.jobs), four.map((j) => j.key));
    const left = [...Deno.readDirSync(new URL(".partial/", dir))].map((e) => e.name);
    assert.deepEqual(left, [], "no checkpoint, claim or lock is left");
  });
});

Deno.test("a claim left by a process that ended is taken over at once, a held one is left alone", async () => {
  await inTempDir(async (dir) => {
    const claims = new URL(".partial/synthetic.quick.claims/", dir);
    await Deno.mkdir(claims, { recursive: true });
    const claim = (key: string) => new URL(claimFileName(key), claims);
    // What a killed process leaves: the file, whose lock the system released.
    await Deno.writeTextFile(claim("fm/seed=1"), JSON.stringify({ pid: 123, since: "" }));
    // A running holder: an open file with the lock (another open of the file cannot take it).
    const holder = (await tryClaim(claim("fm/seed=2")))!;
    const ran: string[] = [];
    const runner = (job: Job) => {
      ran.push(job.key);
      return Promise.resolve(result(job.seed));
    };
    const options = { resultsDir: dir, quiet: true };
    const run = await runJobs("synthetic", "quick", {}, jobs, runner, rows, options);
    assert.deepEqual(ran, ["fm/seed=1"]);
    assert.equal(run.finished, false, "seed 2 is still claimed by a running holder");
    await holder.release();
    const rerun = await runJobs("synthetic", "quick", {}, jobs, runner, rows, options);
    assert.deepEqual(ran, ["fm/seed=1", "fm/seed=2"]);
    assert.equal(rerun.finished, true);
  });
});

Deno.test("a model that fails releases its claim, so a rerun trains it", async () => {
  await inTempDir(async (dir) => {
    const options = { resultsDir: dir, quiet: true };
    await assert.rejects(
      runJobs(
        "synthetic",
        "quick",
        {},
        jobs,
        () => Promise.reject(new Error("boom")),
        rows,
        options,
      ),
      /boom/,
    );
    const claims = [...Deno.readDirSync(new URL(".partial/synthetic.quick.claims/", dir))];
    assert.deepEqual(claims, []);
    const run = await runJobs(
      "synthetic",
      "quick",
      {},
      jobs,
      (job) => Promise.resolve(result(job.seed)),
      rows,
      options,
    );
    assert.equal(run.finished, true);
  });
});

const fakeSpec = (name: string): PaperModel => ({
  model: "fm",
  name,
  create: () => {
    throw new Error("not built in this test");
  },
  training: { learningRate: 1e-4, batchSize: 256, epochs: 1000, patience: 10 },
});
const baseConfig: TableConfig = {
  seeds: [1],
  epochs: null,
  patience: null,
  learningRate: null,
  subset: null,
  models: null,
};

Deno.test("trainingOf: a model's override beats the table-wide settings, which beat the paper's", () => {
  const spec = fakeSpec("fm_k5");
  assert.deepEqual(trainingOf(baseConfig, spec), spec.training);
  const tableWide = { ...baseConfig, epochs: 50, learningRate: 1e-3 };
  assert.deepEqual(trainingOf(tableWide, spec), {
    learningRate: 1e-3,
    batchSize: 256,
    epochs: 50,
    patience: 10,
  });
  const overridden = { ...tableWide, overrides: { fm_k5: { batchSize: 128, epochs: 200 } } };
  assert.deepEqual(trainingOf(overridden, spec), {
    learningRate: 1e-3,
    batchSize: 128,
    epochs: 200,
    patience: 10,
  });
  assert.deepEqual(trainingOf(overridden, fakeSpec("fm_k1")).batchSize, 256);
  // What a step draws is part of the paper's training, kept unless overridden.
  const drawing = { ...spec, training: { ...spec.training, draw: "examples" as const } };
  assert.equal(trainingOf(tableWide, drawing).draw, "examples");
  const redrawn = { ...baseConfig, overrides: { fm_k5: { draw: "sequences" as const } } };
  assert.equal(trainingOf(redrawn, drawing).draw, "sequences");
});

Deno.test("seedsOf: a model's own seeds beat the table's", () => {
  const config = { ...baseConfig, seeds: [1, 2, 3], seedsByModel: { fm_k5: [7] } };
  assert.deepEqual(seedsOf(config, "fm_k5"), [7]);
  assert.deepEqual(seedsOf(config, "fm_k1"), [1, 2, 3]);
});

Deno.test("runTable rejects a configuration that names a model the table does not have", async () => {
  const table: TableDefinition = {
    name: "temperature",
    dataset: "test",
    metric: "test_mse",
    models: () =>
      Promise.resolve([{
        spec: fakeSpec("fm_k5"),
        variant: "",
        direction: "",
        data: {} as TableModel["data"],
      }]),
    full: baseConfig,
    quick: baseConfig,
  };
  const config = { ...baseConfig, overrides: { fm_k6: { epochs: 1 } } };
  await assert.rejects(
    runTable({ ...table, quick: config }, "quick", { quiet: true }),
    (e: unknown) =>
      e instanceof RangeError && /model "fm_k6".*expected one of fm_k5/.test(e.message),
  );
});

Deno.test("models: a run trains only the named models, a later run the rest, and the table is written once whole", async () => {
  await inTempDir(async (dir) => {
    const mixed: Job[] = [
      { ...jobs[0]!, key: "efa_1_layers/seed=1" },
      { ...jobs[0]!, key: "fm_k5/seed=1", seed: 2 },
    ];
    const ran: string[] = [];
    const runJob = (job: Job) => {
      ran.push(job.key);
      return Promise.resolve(result(job.seed));
    };
    const options = { resultsDir: dir, quiet: true };
    const first = await runJobs("temperature", "quick", {}, mixed, runJob, rows, {
      ...options,
      models: ["efa_1_layers"],
    });
    assert.deepEqual(ran, ["efa_1_layers/seed=1"]);
    assert.equal(first.finished, false);
    await assert.rejects(Deno.stat(new URL("temperature.quick.csv", dir)), Deno.errors.NotFound);
    const second = await runJobs("temperature", "quick", {}, mixed, runJob, rows, options);
    assert.deepEqual(ran, ["efa_1_layers/seed=1", "fm_k5/seed=1"]);
    assert.equal(second.finished, true);
    const csv = await Deno.readTextFile(new URL("temperature.quick.csv", dir));
    assert.equal(csv.trim().split("\n").length, 3);
  });
});

Deno.test("tryClaim: one holder at a time, free again on release or when its file is closed", async () => {
  await inTempDir(async (dir) => {
    const url = new URL("claim", dir);
    const first = (await tryClaim(url))!;
    assert.equal(await tryClaim(url), null);
    assert.equal(JSON.parse(await Deno.readTextFile(url)).pid, Deno.pid);
    await first.release();
    await assert.rejects(Deno.stat(url), Deno.errors.NotFound);
    // A holder whose file is closed without a release (as when its process ends).
    const file = await Deno.open(url, { read: true, write: true, create: true });
    assert.ok(await file.tryLock(true));
    assert.equal(await tryClaim(url), null);
    file.close();
    const second = (await tryClaim(url))!;
    await second.release();
    // withLock waits for the holder, then runs.
    const third = (await tryClaim(url))!;
    setTimeout(() => void third.release(), 100);
    assert.equal(await withLock(url, () => Promise.resolve(7)), 7);
  });
});

Deno.test("gitCommit() marks +dirty for changed source files, not for changed results", async () => {
  const repo = await Deno.makeTempDir();
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", {
      args: ["-c", "user.name=t", "-c", "user.email=t@example.org", ...args],
      cwd: repo,
      stdout: "null",
      stderr: "null",
    }).output();
    assert.ok(out.success, `git ${args.join(" ")}`);
  };
  const cwd = Deno.cwd();
  try {
    await Deno.mkdir(`${repo}/experiments/results`, { recursive: true });
    await Deno.mkdir(`${repo}/lib`);
    await Deno.writeTextFile(`${repo}/lib/model.ts`, "export const a = 1;\n");
    await Deno.writeTextFile(`${repo}/experiments/results/t.csv`, "x\n1\n");
    await git("init", "-q");
    await git("add", ".");
    await git("commit", "-q", "-m", "start");
    // From a subdirectory, as when a script runs there.
    Deno.chdir(`${repo}/lib`);
    const clean = await gitCommit();
    assert.match(clean, /^[0-9a-f]{12}$/);
    await Deno.writeTextFile(`${repo}/experiments/results/t.csv`, "x\n2\n");
    assert.equal(await gitCommit(), clean, "a rewritten result file is not a code change");
    await Deno.writeTextFile(`${repo}/lib/model.ts`, "export const a = 2;\n");
    assert.equal(await gitCommit(), `${clean}+dirty`);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(repo, { recursive: true });
  }
});

Deno.test("a job killed mid-training resumes from its last epoch and ends with the weights of a run that never stopped", async () => {
  const { createEfa, disposeModel, efaConfig, train } = await import("../mod.ts");
  const data = { items: [[1, 2, 3], [2, 3, 1], [3, 1], [1, 3, 2], [2, 1]] };
  const one: Job[] = [{ ...jobs[0]!, key: "efa/seed=1", model: "efa", maxEpochs: 5 }];
  /** Trains for 5 epochs; throws after epoch `killAfter` (as a killed process would stop). */
  const trainJob =
    (weights: number[][], killAfter = Infinity, resumedFrom: number[] = []) =>
    async (
      _job: Job,
      _onEpoch: unknown,
      checkpoint: import("./_harness.ts").JobCheckpoint,
    ): Promise<JobResult> => {
      if (checkpoint.resume !== undefined) resumedFrom.push(checkpoint.resume.epoch);
      const model = createEfa(efaConfig({ numItems: 3, maxLength: 3, keyDim: 4 }), { seed: 1 });
      try {
        const r = await train(model, data, {
          epochs: 5,
          batchSize: 4,
          learningRate: 0.05,
          seed: 1,
          checkpoint: { save: checkpoint.save },
          ...(checkpoint.resume === undefined ? {} : { resume: checkpoint.resume }),
          onEpoch: (info) => {
            if (info.epoch === killAfter) throw new Error("killed");
          },
        });
        weights.push(...Object.values(model.params).map((v) => Array.from(v.dataSync())));
        return { ...result(1), epochs: r.history.length };
      } finally {
        disposeModel(model);
      }
    };
  await inTempDir(async (dir) => {
    const options = { resultsDir: dir, quiet: true };
    const whole: number[][] = [];
    await runJobs("synthetic", "quick", { a: 1 }, one, trainJob(whole), rows, options);
    await inTempDir(async (other) => {
      const options = { resultsDir: other, quiet: true };
      await assert.rejects(
        runJobs("synthetic", "quick", { a: 1 }, one, trainJob([], 3), rows, options),
        /killed/,
      );
      const left = new URL(".partial/synthetic.quick.models/efa_seed=1.json", other);
      assert.equal(JSON.parse(await Deno.readTextFile(left)).checkpoint.epoch, 3);
      const resumed: number[][] = [], from: number[] = [];
      await runJobs(
        "synthetic",
        "quick",
        { a: 1 },
        one,
        trainJob(resumed, Infinity, from),
        rows,
        options,
      );
      assert.deepEqual(from, [3]);
      assert.deepEqual(resumed, whole);
      await assert.rejects(Deno.stat(left), Deno.errors.NotFound, "the checkpoint is removed");
      // A checkpoint of another configuration is not resumed.
      await assert.rejects(
        runJobs("synthetic", "quick", { a: 2 }, one, trainJob([], 2), rows, options),
        /killed/,
      );
      const fresh: number[] = [];
      await runJobs(
        "synthetic",
        "quick",
        { a: 3 },
        one,
        trainJob([], Infinity, fresh),
        rows,
        options,
      );
      assert.deepEqual(fresh, []);
    });
  });
});
