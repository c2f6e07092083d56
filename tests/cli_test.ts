/** The command line end to end on a temporary CSV made by the worked example's generator. */
import assert from "node:assert/strict";
import { main, readObservations } from "../cli.ts";
import { exampleOrders } from "../data/example/make_example.ts";

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("efa fit, evaluate, predict and attention work end to end on a CSV", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`,
      model = `${dir}/model.json`,
      predictions = `${dir}/predictions.csv`;
    await Deno.writeTextFile(csv, exampleOrders(60, 3));
    const columns = [
      "--data",
      csv,
      "--sequence",
      "customer",
      "--item",
      "item",
      "--value",
      "rating",
      "--position",
      "position",
    ];
    const fitted = await run(["fit", ...columns, "--epochs", "3", "--seed", "1", "--out", model]);
    assert.equal(fitted.code, 0, fitted.err);
    assert.match(fitted.out, /fitted gaussian EFA on \d+ observations \(8 items\): 3 epochs/);
    assert.match(fitted.err, /epoch 3\/3 loss/);
    assert.doesNotMatch(fitted.out, /attention in sequence/); // the grid only with --show-attention
    assert.match(
      fitted.out,
      /attention spread of the masked last observation .*: layer 1 head 1 [01]\.\d\d, layer 1 head 2 /,
    );
    // The validation loss beside the simple baselines, in the data's units.
    assert.match(fitted.out, /best validation loss (\d+\.\d+) at epoch/);
    assert.match(
      fitted.out,
      /validation values, squared error per prediction \(\d+ predictions\):/,
    );
    const efaLine = fitted.out.match(/\n {2}EFA +(\d+\.\d+)/)!;
    assert.equal(efaLine[1], fitted.out.match(/best validation loss (\d+\.\d+)/)![1]);
    for (const name of ["mean", "item mean", "sequence mean", "neighbours' mean"]) {
      assert.match(fitted.out, new RegExp(`\\n  ${name} +\\d+\\.\\d+  the `));
    }
    const evaluated = await run(["evaluate", "--model", model, ...columns]);
    assert.equal(evaluated.code, 0, evaluated.err);
    assert.match(
      evaluated.out,
      /^predictions \d+\nloss \d+\.\d+\nlog_likelihood -?\d+\.\d+\nmse \d+\.\d+$/,
    );
    const ranked = await run(["evaluate", "--model", model, ...columns, "--top", "3"]);
    assert.equal(ranked.code, 2);
    assert.match(
      ranked.err,
      /rank\(\): expected a model of items \(categorical or joint\), got gaussian/,
    );
    const predicted = await run(["predict", "--model", model, ...columns, "--out", predictions]);
    assert.equal(predicted.code, 0, predicted.err);
    const lines = (await Deno.readTextFile(predictions)).trim().split("\n");
    assert.equal(lines[0], "sequence,position,item,value,mean,top_item,item_probability");
    assert.equal(lines.length, exampleOrders(60, 3).trim().split("\n").length);
    const attention = await run([
      "attention",
      "--model",
      model,
      ...columns,
      "--id",
      "c1",
      "--mask",
      "1",
      "--out",
      `${dir}/w.csv`,
    ]);
    assert.equal(attention.code, 0, attention.err);
    assert.match(attention.out, /layer 1, heads averaged, position 1 \(\w+\) masked/);
    assert.match(await Deno.readTextFile(`${dir}/w.csv`), /^layer,head,query,key,weight\n1,1,0,0,/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("efa predict --top and evaluate --top: the most likely items and Recall@K, NDCG@K, MRR", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`, model = `${dir}/model.json`, predictions = `${dir}/p.csv`;
    await Deno.writeTextFile(csv, exampleOrders(60, 3));
    const columns = ["--data", csv, "--sequence", "customer", "--item", "item"];
    const fitted = await run(["fit", ...columns, "--epochs", "2", "--seed", "1", "--out", model]);
    assert.equal(fitted.code, 0, fitted.err);
    const predicted = await run([
      "predict",
      "--model",
      model,
      ...columns,
      "--out",
      predictions,
      "--top",
      "3",
      "--exclude-context",
    ]);
    assert.equal(predicted.code, 0, predicted.err);
    const [header, ...rows] = (await Deno.readTextFile(predictions)).trim().split("\n");
    assert.equal(
      header,
      "sequence,position,item,value,mean,top_item,item_probability," +
        "top1_item,top1_probability,top2_item,top2_probability,top3_item,top3_probability",
    );
    // Each row's listed items: most likely first, none of them another item of its sequence.
    const bySequence = new Map<string, string[]>();
    for (const row of rows) {
      const [sequence, , item] = row.split(",");
      bySequence.set(sequence!, [...bySequence.get(sequence!) ?? [], item!]);
    }
    for (const row of rows) {
      const cells = row.split(",");
      const [sequence, , item] = cells;
      const listed = [7, 9, 11].map((c) => cells[c]!).filter((x) => x !== "");
      const probabilities = [8, 10, 12].map((c) => Number(cells[c]));
      for (let r = 1; r < listed.length; r++) assert.ok(probabilities[r - 1]! >= probabilities[r]!);
      const others = bySequence.get(sequence!)!.filter((x) => x !== item);
      for (const x of listed) {
        assert.ok(x === item || !others.includes(x), `${x} is in ${sequence}`);
      }
    }
    const evaluated = await run(["evaluate", "--model", model, ...columns, "--top", "1,3"]);
    assert.equal(evaluated.code, 0, evaluated.err);
    assert.match(
      evaluated.out,
      /\nrecall@1 [01]\.\d{6}\nndcg@1 [01]\.\d{6}\nrecall@3 [01]\.\d{6}\nndcg@3 [01]\.\d{6}\nmrr 0\.\d{6}$/,
    );
    const recall1 = Number(evaluated.out.match(/recall@1 (\S+)/)![1]);
    assert.equal(recall1, Number(evaluated.out.match(/ndcg@1 (\S+)/)![1]), "NDCG@1 is Recall@1");
    for (
      const [args, message] of [
        [
          ["predict", "--model", model, ...columns, "--out", predictions, "--top", "0"],
          /--top: expected an integer from 1 to \d+ \(the model's items\), got "0"/,
        ],
        [
          ["predict", "--model", model, ...columns, "--out", predictions, "--top", "999"],
          /got "999"/,
        ],
        [
          ["evaluate", "--model", model, ...columns, "--top", "1,x"],
          /--top: expected a positive integer or a comma-separated list of them, got "1,x"/,
        ],
      ] as const
    ) {
      const r = await run([...args]);
      assert.equal(r.code, 2, r.out);
      assert.match(r.err, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("efa refuses bad input with a clear message and exit code 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`, model = `${dir}/model.json`;
    await Deno.writeTextFile(csv, exampleOrders(20, 4));
    const columns = [
      "--data",
      csv,
      "--sequence",
      "customer",
      "--item",
      "item",
      "--value",
      "rating",
    ];
    const misspelt = await run([
      "fit",
      "--data",
      csv,
      "--sequence",
      "custmer",
      "--item",
      "item",
      "--out",
      model,
    ]);
    assert.equal(misspelt.code, 2);
    assert.match(
      misspelt.err,
      /no column "custmer" \(--sequence\); the columns are "customer", "position", "item", "rating"/,
    );
    await Deno.writeTextFile(
      `${dir}/counts.csv`,
      "customer,item,rating\nc1,tea,3\nc1,cake,2\nc2,tea,1.5\n",
    );
    const counts = await run([
      "fit",
      "--data",
      `${dir}/counts.csv`,
      "--sequence",
      "customer",
      "--value",
      "rating",
      "--family",
      "poisson",
      "--out",
      model,
    ]);
    assert.equal(counts.code, 2);
    assert.match(
      counts.err,
      /counts\.csv:4: fit\(\): expected the value of sequence "c2" at position 0 to hold integer counts >= 0, got 1\.5 \(poisson\)/,
    );
    // Whole counts: the fit shows its validation loss beside the count baselines.
    const whole = ["customer,item,rating"];
    for (let c = 0; c < 20; c++) {
      for (let j = 0; j < 4; j++) whole.push(`c${c},${["tea", "cake"][j % 2]},${(c + j) % 4}`);
    }
    await Deno.writeTextFile(`${dir}/whole.csv`, whole.join("\n"));
    const poissonFit = await run([
      "fit",
      "--data",
      `${dir}/whole.csv`,
      "--sequence",
      "customer",
      "--value",
      "rating",
      "--family",
      "poisson",
      "--epochs",
      "2",
      "--out",
      model,
    ]);
    assert.equal(poissonFit.code, 0, poissonFit.err);
    assert.match(
      poissonFit.out,
      /validation values, Poisson loss per prediction \(16 predictions\):/,
    );
    assert.match(
      poissonFit.out,
      / {2}neighbours' mean {2}\d+\.\d{4} {2}the mean of the values just before and after/,
    );
    const threads = await run(["fit", ...columns, "--threads", "3", "--out", model]);
    assert.equal(threads.code, 2);
    assert.match(threads.err, /--threads: expected 1 or 2, got "3"/);
    await Deno.writeTextFile(`${dir}/bad.csv`, "customer,item,rating\nc1,tea,3\nc1,cake,high\n");
    const nonNumeric = await run([
      "fit",
      "--data",
      `${dir}/bad.csv`,
      "--sequence",
      "customer",
      "--item",
      "item",
      "--value",
      "rating",
      "--out",
      model,
    ]);
    assert.equal(nonNumeric.code, 2);
    assert.match(nonNumeric.err, /bad.csv:3: expected a number in column "rating", got "high"/);
    await Deno.writeTextFile(`${dir}/negative.csv`, "customer,item,count\nc1,tea,3\nc1,cake,-1\n");
    const negative = await run([
      "fit",
      "--data",
      `${dir}/negative.csv`,
      "--sequence",
      "customer",
      "--item",
      "item",
      "--value",
      "count",
      "--family",
      "poisson",
      "--out",
      model,
    ]);
    assert.equal(negative.code, 2);
    assert.match(negative.err, /integer counts >= 0, got -1/);
    assert.equal((await run(["fit", ...columns, "--epochs", "1", "--out", model])).code, 0);
    await Deno.writeTextFile(`${dir}/new.csv`, "customer,item,rating\nc1,tea,3\nc1,pizza,4\n");
    const unknown = await run([
      "predict",
      "--model",
      model,
      "--data",
      `${dir}/new.csv`,
      "--sequence",
      "customer",
      "--item",
      "item",
      "--value",
      "rating",
      "--out",
      `${dir}/p.csv`,
    ]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown item "pizza" in sequence "c1"/);
    const long = ["customer,item,rating", ...Array.from({ length: 30 }, () => "c1,tea,3")].join(
      "\n",
    );
    await Deno.writeTextFile(`${dir}/long.csv`, long);
    const tooLong = await run([
      "evaluate",
      "--model",
      model,
      "--data",
      `${dir}/long.csv`,
      "--sequence",
      "customer",
      "--item",
      "item",
      "--value",
      "rating",
    ]);
    assert.equal(tooLong.code, 2);
    assert.match(
      tooLong.err,
      /long\.csv:\d+: evaluate\(\): sequence "c1" has 30 observations, more than the model's maxLength \d+/,
    );
    const saved = JSON.parse(await Deno.readTextFile(model));
    await Deno.writeTextFile(`${dir}/old.json`, JSON.stringify({ ...saved, formatVersion: 0 }));
    const old = await run(["evaluate", "--model", `${dir}/old.json`, ...columns]);
    assert.equal(old.code, 2);
    assert.match(old.err, /expected format version 1, got 0/);
    assert.equal((await run(["fit", ...columns])).code, 2); // no --out
    assert.equal((await run(["frobnicate"])).code, 2);
    assert.equal((await run(["fit", "--colour", "red"])).code, 2);
    assert.equal((await run(["evaluate", "--help"])).code, 0);
    assert.equal((await run(["evaluate", "--model", `${dir}/missing.json`, ...columns])).code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const COLUMNS = { sequence: "customer", item: "item", value: "rating", position: "position" };

Deno.test("readObservations() reads CSVs as spreadsheets export them", () => {
  const expected = [
    { sequence: "c1", item: "tea", value: 3, position: 0 },
    { sequence: "c1", item: "cake", value: 4, position: 1 },
  ];
  const variants: Record<string, string> = {
    "byte-order mark and CRLF":
      "\uFEFFcustomer,item,rating,position\r\nc1,tea,3,0\r\nc1,cake,4,1\r\n",
    "trailing blank lines": "customer,item,rating,position\nc1,tea,3,0\nc1,cake,4,1\n\n\n",
    "semicolons": "customer;item;rating;position\nc1;tea;3;0\nc1;cake;4;1\n",
    "tabs": "customer\titem\trating\tposition\nc1\ttea\t3\t0\nc1\tcake\t4\t1\n",
    "spaces around fields": "customer, item , rating,position\n c1 , tea, 3 ,0\nc1,cake ,4, 1\n",
    "quoted fields": 'customer,item,rating,position\n"c1","tea","3","0"\nc1,cake,4,1\n',
  };
  for (const [name, text] of Object.entries(variants)) {
    assert.deepEqual(readObservations(text, "x.csv", COLUMNS), expected, name);
  }
  // An empty value cell: an observation without a value (unobserved for value families).
  assert.deepEqual(
    readObservations("customer,item,rating,position\nc1,tea,,0\n", "x.csv", COLUMNS),
    [
      { sequence: "c1", item: "tea", position: 0 },
    ],
  );
  // An explicit delimiter wins over detection (here the header has no separator to detect).
  assert.deepEqual(
    readObservations("customer\nc1\n", "x.csv", { sequence: "customer", item: "customer" }, ";"),
    [
      { sequence: "c1", item: "c1" },
    ],
  );
});

Deno.test("readObservations() names file and line of malformed rows", () => {
  const header = "customer,item,rating,position\n";
  const cases: [string, string][] = [
    [
      'c1,"tea,3,0\nc1,cake,4,1\n',
      "x.csv:2: a quoted field runs over several lines (an unbalanced quote?)",
    ],
    [
      "c1,tea,3,0\nc1,cake,4,1,extra\n",
      'x.csv:3: expected 4 fields (customer, item, rating, position), got 5: "c1,cake,4,1,extra"',
    ],
    ["c1,tea,3,0\n,cake,4,1\n", 'x.csv:3: empty sequence id in column "customer"'],
    ["c1,tea,3,0\nc1, ,4,1\n", 'x.csv:3: empty item in column "item"'],
    [
      "c1,tea,3,0\nc2,cake,4,0\nc1,cake,4,0\n",
      'x.csv:4: sequence "c1" has position 0 twice (lines 2 and 4)',
    ],
    ["c1,tea,three,0\n", 'x.csv:2: expected a number in column "rating", got "three"'],
  ];
  for (const [rows, message] of cases) {
    assert.throws(() => readObservations(header + rows, "x.csv", COLUMNS), {
      name: "UsageError",
      message,
    });
  }
});

Deno.test("efa refuses a directory as --data and an unwritable --out before training", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`;
    await Deno.writeTextFile(csv, exampleOrders(10, 3));
    const columns = ["--sequence", "customer", "--item", "item"];
    const asDir = await run(["fit", "--data", dir, ...columns, "--out", `${dir}/m.json`]);
    assert.equal(asDir.code, 2);
    assert.equal(asDir.err, `error: the data file ${dir} is a directory, not a file`);
    const outDir = await run(["fit", "--data", csv, ...columns, "--out", dir]);
    assert.equal(outDir.code, 2);
    assert.equal(outDir.err, `error: --out: ${dir} is a directory, not a file`);
    const noFolder = await run(["fit", "--data", csv, ...columns, "--out", `${dir}/no/m.json`]);
    assert.equal(noFolder.code, 2);
    assert.equal(
      noFolder.err,
      `error: --out: the folder ${dir}/no of ${dir}/no/m.json does not exist`,
    );
    assert.doesNotMatch(noFolder.err + outDir.err, /epoch/); // refused before any training
    const badDelimiter = await run([
      "fit",
      "--data",
      csv,
      ...columns,
      "--delimiter",
      ":",
      "--out",
      `${dir}/m.json`,
    ]);
    assert.equal(badDelimiter.code, 2);
    assert.match(badDelimiter.err, /--delimiter: expected one of/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("efa fit --validation 0 reports the training loss it watched, not a validation loss", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`;
    await Deno.writeTextFile(csv, exampleOrders(10, 3));
    const columns = ["--sequence", "customer", "--item", "item", "--epochs", "2"];
    const noValidation = await run(
      ["fit", "--data", csv, ...columns, "--validation", "0", "--out", `${dir}/a.json`],
    );
    assert.equal(noValidation.code, 0, noValidation.err);
    assert.match(noValidation.out, /2 epochs, best training loss \d+\.\d+ at epoch \d/);
    const held = await run(["fit", "--data", csv, ...columns, "--out", `${dir}/b.json`]);
    assert.equal(held.code, 0, held.err);
    assert.match(held.out, /2 epochs, best validation loss \d+\.\d+ at epoch \d/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("efa fit --show-attention, --quiet and the architecture flags; attention --mask follows the position column", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Rows shuffled as a spreadsheet might sort them; the position column gives the order.
    const [header, ...lines] = exampleOrders(30, 5).trim().split("\n");
    const shuffled = lines.map((l, i) => [(i * 7919) % lines.length, l] as const)
      .sort((a, b) => a[0] - b[0]).map(([, l]) => l);
    const csv = `${dir}/orders.csv`, model = `${dir}/model.json`;
    await Deno.writeTextFile(csv, [header, ...shuffled, "solo,0,tea,3.5"].join("\n") + "\n");
    const columns = [
      "--data",
      csv,
      "--sequence",
      "customer",
      "--item",
      "item",
      "--position",
      "position",
    ];
    const fitted = await run([
      "fit",
      ...columns,
      "--epochs",
      "2",
      "--quiet",
      "--show-attention",
      "--dim",
      "8",
      "--layers",
      "1",
      "--heads",
      "1",
      "--batch-size",
      "16",
      "--learning-rate",
      "0.01",
      "--threads",
      "1",
      "--out",
      model,
    ]);
    assert.equal(fitted.code, 0, fitted.err);
    assert.equal(fitted.err, ""); // --quiet: no progress
    assert.match(
      fitted.out,
      /attention in sequence \S+ \(efa attention draws any other\):\nlayer 1, heads averaged/,
    );
    const saved = JSON.parse(await Deno.readTextFile(model));
    assert.equal(saved.model.config.itemEmbedding.dim, 8);
    assert.equal(saved.model.config.layers, 1);
    // The observation at position 2 of c3, wherever its row is in the file.
    const c3 = lines.map((l) => l.split(",")).filter((f) => f[0] === "c3");
    const atTwo = c3.find((f) => f[1] === "2")![2]!;
    const shown = await run([
      "attention",
      "--model",
      model,
      ...columns,
      "--id",
      "c3",
      "--mask",
      "2",
    ]);
    assert.equal(shown.code, 0, shown.err);
    assert.match(
      shown.out,
      new RegExp(`layer 1, heads averaged, position 2 \\(${atTwo}\\) masked`),
    );
    assert.match(shown.out, new RegExp(`^ *0 ${c3.find((f) => f[1] === "0")![2]} \\|`, "m"));
    const missing = await run([
      "attention",
      "--model",
      model,
      ...columns,
      "--id",
      "c3",
      "--mask",
      "99",
    ]);
    assert.equal(missing.code, 2);
    assert.match(
      missing.err,
      /sequence "c3" has no observation at position 99; its positions are 0, 1, 2/,
    );
    // A sequence of one observation: fit took it; predict and attention work on it.
    const solo = await run(["attention", "--model", model, ...columns, "--id", "solo"]);
    assert.equal(solo.code, 0, solo.err);
    assert.match(solo.out, /position 0 \(tea\) masked[^\n]*\n *0 tea \|.{2}\|$/); // one cell, two characters wide
    const predictions = `${dir}/p.csv`;
    assert.equal(
      (await run(["predict", "--model", model, ...columns, "--out", predictions])).code,
      0,
    );
    assert.match(await Deno.readTextFile(predictions), /\nsolo,0,tea,/);
    for (
      const [flag, value, message] of [
        ["--learning-rate", "0", /--learning-rate: expected a positive number, got "0"/],
        ["--layers", "0", /--layers: expected a positive integer, got "0"/],
        ["--dim", "2.5", /--dim: expected a positive integer, got "2.5"/],
      ] as const
    ) {
      const bad = await run(["fit", ...columns, flag, value, "--out", model]);
      assert.equal(bad.code, 2, `${flag} ${value}`);
      assert.match(bad.err, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Ctrl-C during efa fit writes the best model so far and says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`, model = `${dir}/model.json`;
    await Deno.writeTextFile(csv, exampleOrders(40, 2));
    const interrupt = new AbortController();
    const out: string[] = [], err: string[] = [];
    const code = await main(
      ["fit", "--data", csv, "--sequence", "customer", "--threads", "1", "--out", model],
      (s) => out.push(s),
      (s) => {
        err.push(s);
        if (/epoch 2\//.test(s)) interrupt.abort(); // what the SIGINT listener does
      },
      { signal: interrupt.signal },
    );
    assert.equal(code, 0, err.join("\n"));
    assert.match(
      err.join("\n"),
      /interrupted after epoch 2: wrote the best model so far \(epoch [12]\)/,
    );
    assert.match(
      out.join("\n"),
      /fitted categorical EFA on \d+ observations \(\d+ items\): 2 epochs/,
    );
    assert.equal(JSON.parse(await Deno.readTextFile(model)).format, "efa-fitted");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("efa fit says how many rows have an empty value and leaves them out", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`;
    const lines = exampleOrders(30, 3).trim().split("\n");
    // Blank the rating (third column) of every fifth data row.
    const blanked = lines.map((line, i) => {
      if (i === 0 || i % 5 !== 0) return line;
      const cells = line.split(",");
      cells[3] = "";
      return cells.join(",");
    });
    await Deno.writeTextFile(csv, blanked.join("\n") + "\n");
    const header = lines[0]!.split(",");
    assert.equal(header[3], "rating");
    const columns = [
      "--sequence",
      "customer",
      "--item",
      "item",
      "--value",
      "rating",
      "--position",
      "position",
    ];
    const r = await run([
      "fit",
      "--data",
      csv,
      ...columns,
      "--epochs",
      "1",
      "--out",
      `${dir}/m.json`,
    ]);
    assert.equal(r.code, 0, r.err);
    const missing = Math.floor((lines.length - 1) / 5);
    assert.match(
      r.err,
      new RegExp(
        `${missing} of ${
          lines.length - 1
        } rows have an empty "rating" cell; value families treat them as unobserved`,
      ),
    );
    assert.match(
      r.out,
      new RegExp(`fitted gaussian EFA on ${lines.length - 1 - missing} observations`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("efa fit --plot draws the training curve in the data's units", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`, svg = `${dir}/curve.svg`;
    await Deno.writeTextFile(csv, exampleOrders(40, 3));
    const columns = ["--sequence", "customer", "--value", "rating", "--position", "position"];
    const r = await run([
      "fit",
      "--data",
      csv,
      ...columns,
      "--epochs",
      "3",
      "--quiet",
      "--plot",
      svg,
      "--out",
      `${dir}/m.json`,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`wrote the training curve to ${svg}`));
    const text = await Deno.readTextFile(svg);
    assert.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(text, /efa fit: gaussian, best epoch \d/);
    assert.match(text, /squared error per prediction/);
    assert.match(text, /validation/);
    // An unwritable --plot is refused before training.
    const bad = await run([
      "fit",
      "--data",
      csv,
      ...columns,
      "--plot",
      dir,
      "--out",
      `${dir}/m.json`,
    ]);
    assert.equal(bad.code, 2);
    assert.equal(bad.err, `error: --plot: ${dir} is a directory, not a file`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attentionSpread() is the normalised entropy of the masked last observation's weights", async () => {
  const { fit } = await import("../mod.ts");
  const { attentionSpread } = await import("../cli.ts");
  // Positions out of row order: the masked observation is the highest position.
  const rows = [
    { sequence: "a", item: "tea", position: 5 },
    { sequence: "a", item: "cake", position: 1 },
    { sequence: "a", item: "jam", position: 3 },
    { sequence: "b", item: "jam", position: 0 },
    { sequence: "b", item: "tea", position: 1 },
    { sequence: "solo", item: "tea", position: 0 }, // one observation: not used
  ];
  const fitted = await fit(rows, {
    epochs: 1,
    layers: 2,
    heads: 2,
    dim: 4,
    validationShare: 0,
    seed: 3,
  });
  try {
    const { spread, used } = attentionSpread(fitted, rows);
    assert.equal(used, 2);
    assert.equal(spread.length, 2);
    assert.equal(spread[0]!.length, 2);
    const byHand = (sequence: string, last: number, l: number, h: number): number => {
      const { positions, weights } = fitted.attention(rows, sequence, last);
      const w = weights[l]![h]![positions.indexOf(last)]!.filter((x) => x > 0);
      return -w.reduce((a, x) => a + x * Math.log(x), 0) / Math.log(w.length);
    };
    for (const l of [0, 1]) {
      for (const h of [0, 1]) {
        const expected = (byHand("a", 5, l, h) + byHand("b", 1, l, h)) / 2;
        assert.ok(Math.abs(spread[l]![h]! - expected) < 1e-12, `layer ${l} head ${h}`);
        assert.ok(spread[l]![h]! >= 0 && spread[l]![h]! <= 1 + 1e-12);
      }
    }
    assert.equal(attentionSpread(fitted, rows, 1).used, 1);
  } finally {
    fitted.dispose();
  }
});

Deno.test("efa compare: configurations and baselines with paired intervals, a CSV and a figure", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/orders.csv`;
    await Deno.writeTextFile(csv, exampleOrders(40, 3));
    const columns = [
      "--data",
      csv,
      "--sequence",
      "customer",
      "--value",
      "rating",
      "--position",
      "position",
    ];
    const compared = await run([
      "compare",
      ...columns,
      "--epochs",
      "2",
      "--samples",
      "100",
      "--config",
      "one layers=1",
      "--config",
      "two layers=2 learning-rate=0.01",
      "--out",
      `${dir}/compare.csv`,
      "--plot",
      `${dir}/compare.svg`,
    ]);
    assert.equal(compared.code, 0, compared.err);
    assert.match(
      compared.err,
      /fitting one \(1 of 3\)\nfitting two \(2 of 3\)\nfitting FM \(3 of 3\)/,
    );
    assert.match(
      compared.out,
      /^held-out squared error per prediction: 8 sequences, \d+ predictions; 95% paired bootstrap intervals over sequences \(100 resamples\)/,
    );
    const lines = compared.out.split("\n");
    assert.match(lines[1]!, /^ {2}model +loss +interval +minus the best$/);
    assert.match(
      lines[2]!,
      /^ {2}\S.* \d\.\d{4} {2}\[\d\.\d{4}, \d\.\d{4}\] +best( {2}\((baseline|the paper's FM baseline)\))?$/,
    );
    assert.match(compared.out, /\n {2}FM {2,}\d\.\d{4} .*\(the paper's FM baseline\)\n/);
    // With two epochs a baseline wins here, and the command says so.
    if (lines[2]!.endsWith("baseline)")) {
      assert.match(compared.out, /warning: the best is a baseline/);
    }
    const table = (await Deno.readTextFile(`${dir}/compare.csv`)).trim().split("\n");
    assert.equal(
      table[0],
      "name,kind,loss,low,high,difference,difference_low,difference_high,seconds",
    );
    assert.equal(table.length, 1 + 2 + 1 + 4);
    assert.ok(table.some((row) => row.startsWith("FM,fm,")), "the FM's row, kind fm");
    assert.ok((await Deno.readTextFile(`${dir}/compare.svg`)).startsWith("<svg"));
    // Bad configurations and outputs are refused before any fitting.
    const badKey = await run(["compare", ...columns, "--config", "x depth=3"]);
    assert.equal(badKey.code, 2);
    assert.match(
      badKey.err,
      /--config "x": expected key=value with a key among layers, heads, .*, got "depth=3"/,
    );
    const twice = await run(["compare", ...columns, "--config", "x layers=1", "--config", "x"]);
    assert.match(twice.err, /--config: the name "x" is used twice/);
    const share = await run(["compare", ...columns, "--test", "1"]);
    assert.match(share.err, /--test: expected a share in \(0, 1\), got "1"/);
    const folder = await run(["compare", ...columns, "--out", dir]);
    assert.equal(folder.code, 2);
    assert.match(folder.err, /--out: .* is a directory, not a file/);
    assert.doesNotMatch(folder.err, /fitting/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
