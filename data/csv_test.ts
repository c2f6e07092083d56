import assert from "node:assert/strict";
import { detectDelimiter, numberColumn, parseTable } from "../lib/_csv.ts";
import { parseRatings } from "./movielens.ts";
import { parseProcessed } from "./instacart.ts";

Deno.test("parseTable() names the file and line of a truncated row", () => {
  assert.throws(
    () => parseProcessed("order_id,product_id,rank\n251,1,1\n251,2\n", "data_train_final.csv"),
    {
      name: "RangeError",
      message:
        'data_train_final.csv:3: expected 3 fields (order_id, product_id, rank), got 2: "251,2"',
    },
  );
  assert.throws(
    () => parseRatings("1\t2\t3\t4\n5\t6\t7\n", "u.data"),
    /u.data:2: expected 4 fields/,
  );
});

Deno.test("parseTable() names a missing column and the columns found", () => {
  assert.throws(() => parseProcessed("order_id,product,rank\n1,2,3\n", "data_test_final.csv"), {
    name: "TypeError",
    message:
      'data_test_final.csv: missing column "product_id"; found "order_id", "product", "rank"',
  });
});

Deno.test("numberColumn() names file, line and column of a malformed number", () => {
  assert.throws(() => parseProcessed("order_id,product_id,rank\n1,2,3\n1,x,4\n", "f.csv"), {
    name: "RangeError",
    message: 'f.csv:3: expected column "product_id" to hold an integer, got "x"',
  });
  const t = parseTable('a,b\n1,"x, y"\n', { file: "q.csv" });
  assert.deepEqual(t.rows, [["1", "x, y"]]); // quoted commas
  assert.throws(
    () => numberColumn(t, "b"),
    /q.csv:2: expected column "b" to hold a number, got "x, y"/,
  );
  assert.throws(() => parseTable("", { file: "e.csv" }), /e.csv: expected a header row/);
});

Deno.test("parseTable() reads a spreadsheet export: byte-order mark, CRLF, trailing blank lines", () => {
  const t = parseTable("\uFEFFa,b\r\n1,2\r\n3,4\r\n\r\n  \n", { file: "x.csv" });
  assert.deepEqual(t.columns, ["a", "b"]);
  assert.deepEqual(t.rows, [["1", "2"], ["3", "4"]]);
});

Deno.test("parseTable() with singleLineFields names the line of an unbalanced quote", () => {
  const text = 'a,b\n1,"open\n2,3\n';
  assert.equal(parseTable(text, { file: "q.csv" }).rows.length, 1); // the quote swallows the rest
  assert.throws(() => parseTable(text, { file: "q.csv", singleLineFields: true }), {
    name: "RangeError",
    message: "q.csv:2: a quoted field runs over several lines (an unbalanced quote?)",
  });
});

Deno.test("detectDelimiter() picks the header's separator outside quotes", () => {
  assert.equal(detectDelimiter("a;b;c\n1;2;3"), ";");
  assert.equal(detectDelimiter("a\tb\n1\t2"), "\t");
  assert.equal(detectDelimiter('"a;b",c\n1,2'), ",");
  assert.equal(detectDelimiter("\uFEFFa|b\n"), "|");
  assert.equal(detectDelimiter("a\n1\n"), ",");
});
