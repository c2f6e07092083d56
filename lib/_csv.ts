/**
 * Delimited text (CSV, TSV) behind one small module, on `d3-dsv`: a table of
 * string cells with errors that name the file, the line and the column.
 */
// @ts-types="@types/d3-dsv"
import { dsvFormat } from "d3-dsv";

/** A parsed delimited file: its header and its data rows. */
export interface Table {
  /** The file, named in every error. */
  readonly file: string;
  /** Column names, from the header or given. */
  readonly columns: readonly string[];
  /** Data rows (string cells), each with as many cells as columns. */
  readonly rows: readonly (readonly string[])[];
  /** The line number of data row 0 (2 with a header, 1 without). */
  readonly firstLine: number;
}

/** Options of {@link parseTable}. */
export interface ParseOptions {
  /** The file's name or path, used in errors. */
  readonly file: string;
  /** The delimiter (default `,`). */
  readonly delimiter?: string;
  /** Column names for a file without a header row (e.g. MovieLens `u.data`). */
  readonly columns?: readonly string[];
  /** Columns that must be present. */
  readonly required?: readonly string[];
  /**
   * Refuse quoted fields that span lines (default false): in a file of one
   * record per line they mean an unbalanced quote, named with its line.
   */
  readonly singleLineFields?: boolean;
}

/** The delimiters {@link detectDelimiter} chooses from, most common first. */
const DELIMITERS = [",", ";", "\t", "|"] as const;

/**
 * The delimiter of a file exported from a spreadsheet or a database: the one
 * of `,`, `;`, tab and `|` that occurs most often in the header line outside
 * quotes (`,` when none does).
 *
 * @param text The file's text.
 * @returns The delimiter.
 *
 * @example A semicolon-separated export
 * ```ts
 * import { detectDelimiter } from "./_csv.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(detectDelimiter("user;movie;rating\n1;2;3\n"), ";");
 * assert.equal(detectDelimiter("user\tmovie\n1\t2\n"), "\t");
 * assert.equal(detectDelimiter("user\n1\n"), ",");
 * ```
 */
export function detectDelimiter(text: string): string {
  const header = stripBom(text).split(/\r?\n/, 1)[0] ?? "";
  const counts = new Map<string, number>(DELIMITERS.map((d) => [d, 0]));
  let quoted = false;
  for (const c of header) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && counts.has(c)) counts.set(c, counts.get(c)! + 1);
  }
  let best = ",", most = 0;
  for (const [d, n] of counts) if (n > most) [best, most] = [d, n];
  return best;
}

/** The text without a leading UTF-8 byte-order mark (as spreadsheets write it). */
function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Parses delimited text. Quoted fields follow RFC 4180 (as in `products.csv`).
 *
 * @param text The file's text.
 * A leading byte-order mark and trailing blank lines are dropped; CRLF and LF
 * line ends both work.
 *
 * @param options The file name, delimiter, header and required columns.
 * @returns The table.
 * @throws {TypeError} When a required column is missing (naming it and the columns found).
 * @throws {RangeError} When a row has the wrong number of fields (naming file and line).
 */
export function parseTable(text: string, options: ParseOptions): Table {
  const { file } = options;
  // A byte-order mark and trailing blank lines (spreadsheet exports) are not data.
  const body = stripBom(text).replace(/(\r?\n[ \t]*)+$/, "");
  const parsed = body === "" ? [] : dsvFormat(options.delimiter ?? ",").parseRows(body);
  let columns: readonly string[];
  let rows: string[][];
  let firstLine: number;
  if (options.columns !== undefined) {
    columns = options.columns;
    rows = parsed;
    firstLine = 1;
  } else {
    if (parsed.length === 0) {
      throw new RangeError(`${file}: expected a header row, got an empty file`);
    }
    columns = parsed[0]!.map((c) => c.trim());
    rows = parsed.slice(1);
    firstLine = 2;
  }
  for (const name of options.required ?? []) {
    if (!columns.includes(name)) {
      throw new TypeError(
        `${file}: missing column "${name}"; found ${columns.map((c) => `"${c}"`).join(", ")}`,
      );
    }
  }
  rows.forEach((row, i) => {
    if (options.singleLineFields && row.some((cell) => cell.includes("\n"))) {
      throw new RangeError(
        `${file}:${firstLine + i}: a quoted field runs over several lines (an unbalanced quote?)`,
      );
    }
    if (row.length !== columns.length) {
      throw new RangeError(
        `${file}:${firstLine + i}: expected ${columns.length} fields (${
          columns.join(", ")
        }), got ${row.length}: ${JSON.stringify(row.join(options.delimiter ?? ","))}`,
      );
    }
  });
  return { file, columns, rows, firstLine };
}

/** Reads one column as strings. */
export function stringColumn(table: Table, name: string): string[] {
  const j = columnIndex(table, name);
  return table.rows.map((row) => row[j]!);
}

/**
 * Reads one column as numbers, refusing empty or non-numeric cells.
 *
 * @throws {RangeError} Naming the file, line, column and the bad cell.
 */
export function numberColumn(
  table: Table,
  name: string,
  options: { integer?: boolean } = {},
): Float64Array {
  const j = columnIndex(table, name);
  const out = new Float64Array(table.rows.length);
  table.rows.forEach((row, i) => {
    const cell = row[j]!.trim();
    const value = cell === "" ? NaN : Number(cell);
    if (!Number.isFinite(value) || (options.integer && !Number.isInteger(value))) {
      throw new RangeError(
        `${table.file}:${table.firstLine + i}: expected column "${name}" to hold ${
          options.integer ? "an integer" : "a number"
        }, got ${JSON.stringify(row[j])}`,
      );
    }
    out[i] = value;
  });
  return out;
}

function columnIndex(table: Table, name: string): number {
  const j = table.columns.indexOf(name);
  if (j < 0) {
    throw new TypeError(
      `${table.file}: missing column "${name}"; found ${
        table.columns.map((c) => `"${c}"`).join(", ")
      }`,
    );
  }
  return j;
}
