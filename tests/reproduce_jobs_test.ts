/**
 * Jobs for a cluster: `reproduce --list-jobs` prints one self-contained
 * command per (table, model, seed); run apart (here each in its own worker,
 * sharing only the results folder, as machines would) and merged, they give
 * the same CSV as one process.
 */
import assert from "node:assert/strict";
import { reproduce } from "../experiments/reproduce.ts";

/** Runs one listed command (`deno task reproduce ARGS`) in a worker of its own. */
function runInWorker(args: readonly string[]): Promise<{ code: number; out: string[] }> {
  const worker = new Worker(new URL("./_reproduce_worker.ts", import.meta.url), {
    type: "module",
  });
  return new Promise<{ code: number; out: string[] }>((resolve, reject) => {
    worker.onmessage = (event) => {
      if (event.data === "loaded") worker.postMessage(args);
      else resolve(event.data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(event.message));
    };
  }).finally(() => worker.terminate());
}

/** The arguments of a listed command (its words are plain or single-quoted). */
function argsOf(command: string): string[] {
  const words = command.match(/'(?:[^']|'\\'')*'|\S+/g)!.map((w) =>
    w.startsWith("'") ? w.slice(1, -1).replaceAll(`'\\''`, "'") : w
  );
  assert.deepEqual(words.slice(0, 3), ["deno", "task", "reproduce"]);
  return words.slice(3);
}

Deno.test("list-jobs, each job apart, merge: the same CSV as one process", async () => {
  const one = await Deno.makeTempDir();
  const shared = await Deno.makeTempDir();
  try {
    const quiet = () => {};
    assert.equal(
      await reproduce(["--quick", "--quiet", "--only=synthetic", `--results-dir=${one}`], quiet),
      0,
    );
    const commands: string[] = [];
    assert.equal(
      await reproduce(
        ["--list-jobs", "--quick", "--only=synthetic", `--results-dir=${shared}`],
        (line) => commands.push(line),
      ),
      0,
    );
    assert.deepEqual(
      commands.map((c) => c.replace(shared, "DIR")),
      ["efa_unidirectional", "fm_unidirectional", "efa_bidirectional", "fm_bidirectional"].map((
        m,
      ) => `deno task reproduce --only=synthetic --jobs=${m}/seed=1 --quick --results-dir=DIR`),
    );
    // Two jobs at once, then a merge that finds the other two missing.
    const first = await Promise.all(
      commands.slice(0, 2).map((c) => runInWorker([...argsOf(c), "--quiet"])),
    );
    assert.deepEqual(first.map((r) => r.code), [0, 0], JSON.stringify(first));
    const early: string[] = [];
    assert.equal(
      await reproduce(
        ["--merge", "--quiet", "--quick", "--only=synthetic", `--results-dir=${shared}`],
        (l) => early.push(l),
      ),
      1,
    );
    assert.ok(
      early.includes(
        "synthetic (quick): not merged, 2 of 4 jobs missing: efa_bidirectional/seed=1 fm_bidirectional/seed=1",
      ),
      early.join("\n"),
    );
    await assert.rejects(() => Deno.stat(`${shared}/synthetic.quick.csv`));
    const rest = await Promise.all(
      commands.slice(2).map((c) => runInWorker([...argsOf(c), "--quiet"])),
    );
    assert.deepEqual(rest.map((r) => r.code), [0, 0], JSON.stringify(rest));
    const merged: string[] = [];
    assert.equal(
      await reproduce(
        ["--merge", "--quiet", "--quick", "--only=synthetic", `--results-dir=${shared}`],
        (l) => merged.push(l),
      ),
      0,
    );
    assert.equal(merged.at(-1), "reproduce: 1 table done");
    assert.equal(
      await Deno.readTextFile(`${shared}/synthetic.quick.csv`),
      await Deno.readTextFile(`${one}/synthetic.quick.csv`),
    );
    const record = JSON.parse(await Deno.readTextFile(`${shared}/synthetic.quick.json`));
    assert.equal(Object.keys(record.jobs).length, 4);
  } finally {
    await Deno.remove(one, { recursive: true });
    await Deno.remove(shared, { recursive: true });
  }
});
