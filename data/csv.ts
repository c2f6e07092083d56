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
}

/**
 * Parses delimited text. Quoted fields follow RFC 4180 (as in `products.csv`).
 *
 * @param text The file's text.
 * @param options The file name, delimiter, header and required columns.
 * @returns The table.
 * @throws {TypeError} When a required column is missing (naming it and the columns found).
 * @throws {RangeError} When a row has the wrong number of fields (naming file and line).
 */
export function parseTable(text: string, options: ParseOptions): Table {
  const { file } = options;
  const parsed = dsvFormat(options.delimiter ?? ",").parseRows(text.replace(/\r?\n$/, ""));
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
