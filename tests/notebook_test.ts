import assert from "node:assert/strict";

const NOTEBOOK = new URL("../docs/temperature_notebook.ipynb", import.meta.url);

interface Cell {
  readonly cell_type: string;
  readonly source: readonly string[];
  readonly outputs?: readonly unknown[];
}

Deno.test("the notebook's cells run in order as a script, and show what its text says", async () => {
  const notebook = JSON.parse(await Deno.readTextFile(NOTEBOOK)) as {
    cells: Cell[];
    metadata: { kernelspec: { name: string } };
  };
  assert.equal(notebook.metadata.kernelspec.name, "deno");
  const code = notebook.cells.filter((c) => c.cell_type === "code");
  assert.ok(code.length >= 5, `expected the notebook's code cells, got ${code.length}`);
  assert.ok(code.every((c) => (c.outputs ?? []).length === 0), "committed without outputs");

  // One module of every code cell in order, plus an export of what the last cells computed.
  const dir = await Deno.makeTempDir();
  const script = `${dir}/notebook.ts`;
  await Deno.writeTextFile(
    script,
    code.map((c) => c.source.join("")).join("\n\n") + "\nexport { EPOCHS, history, results };\n",
  );
  const cwd = Deno.cwd();
  const epochs = Deno.env.get("EFA_NOTEBOOK_EPOCHS");
  Deno.env.set("EFA_NOTEBOOK_EPOCHS", "2");
  Deno.chdir(new URL("../docs/", import.meta.url)); // a notebook runs in its own folder
  try {
    const ran = await import(`file://${script}`) as {
      EPOCHS: number;
      history: readonly { epoch: number }[];
      results: [string, number][];
    };
    assert.equal(ran.EPOCHS, 2);
    assert.equal(ran.history.length, 2, "EFA trained the test's two epochs");
    const names = ran.results.map(([name]) => name);
    for (const name of ["EFA (fit defaults)", "FM (uniform context weights)", "neighbours' mean"]) {
      assert.ok(names.includes(name), `the results table has ${name}: ${names.join(", ")}`);
    }
    for (const [name, mse] of ran.results) {
      assert.ok(Number.isFinite(mse) && mse > 0, `${name}: held-out MSE ${mse}`);
    }
  } finally {
    Deno.chdir(cwd);
    if (epochs === undefined) Deno.env.delete("EFA_NOTEBOOK_EPOCHS");
    else Deno.env.set("EFA_NOTEBOOK_EPOCHS", epochs);
    await Deno.remove(dir, { recursive: true });
  }
});
