/**
 * Where data files come from. One resolver picks the data root: the
 * `--data-dir` option, then the `EFA_DATA_DIR` environment variable, then a
 * per-user cache directory. Files missing from the root are downloaded when
 * they have an official public source (MovieLens 100K from GroupLens; the
 * authors' processed Instacart baskets from their repository at a pinned
 * commit), verified by checksum and written atomically: a partial or wrong
 * download never looks complete. Kaggle-only files cannot be downloaded
 * without a login; asking for one that is missing says exactly what to
 * download from where and where to put it.
 */
import { createHash } from "node:crypto";
import { unzipSync } from "fflate";
import { writeAtomically } from "../lib/_io.ts";

/** A file the data pipelines read, relative to the data root. */
export interface DataFile {
  /** Path under the data root, e.g. `movielens/ml-100k/u.data`. */
  readonly path: string;
  /** Expected SHA-256 (hex) of the file, checked on download and on every use. */
  readonly sha256?: string;
  /** How to get the file when it is missing. */
  readonly source:
    | { readonly kind: "url"; readonly url: string }
    | { readonly kind: "zip"; readonly url: string; readonly md5: string; readonly member: string }
    | { readonly kind: "kaggle"; readonly page: string; readonly file: string };
}

/** The pinned commit of the authors' repository (https://github.com/yixinw-lab/EFA). */
export const AUTHORS_COMMIT = "9e080b904620ce27f86b43ce005417ad53a06cfd";
const AUTHORS_RAW = `https://raw.githubusercontent.com/yixinw-lab/EFA/${AUTHORS_COMMIT}`;
const ML100K_ZIP = {
  url: "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
  md5: "0e33842e24a9c977be4e0107933c0723",
};
const INSTACART_KAGGLE = "https://www.kaggle.com/c/instacart-market-basket-analysis/data";
const TEMPERATURE_KAGGLE =
  "https://www.kaggle.com/datasets/sudalairajkumar/daily-temperature-of-major-cities";

/** Every file the pipelines can read. */
export const DATA_FILES = {
  movielensRatings: {
    path: "movielens/ml-100k/u.data",
    sha256: "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    source: { kind: "zip", ...ML100K_ZIP, member: "ml-100k/u.data" },
  },
  instacartTrain: {
    path: "instacart/processed/data_train_final.csv",
    sha256: "3278d6507c533a27f655c151fae6169b8c66b9eb4a63e30b8f99cbb8795484b9",
    source: { kind: "url", url: `${AUTHORS_RAW}/instacart/data_train_final.csv` },
  },
  instacartTest: {
    path: "instacart/processed/data_test_final.csv",
    sha256: "2ae63357cc4b1101d261f5c91cc3ad78d928ffe3e01657cfb4407baf908df4bd",
    source: { kind: "url", url: `${AUTHORS_RAW}/instacart/data_test_final.csv` },
  },
  instacartProducts: {
    path: "instacart/kaggle/products.csv",
    source: { kind: "kaggle", page: INSTACART_KAGGLE, file: "products.csv" },
  },
  instacartPrior: {
    path: "instacart/kaggle/order_products__prior.csv",
    source: { kind: "kaggle", page: INSTACART_KAGGLE, file: "order_products__prior.csv" },
  },
  instacartTrainOrders: {
    path: "instacart/kaggle/order_products__train.csv",
    source: { kind: "kaggle", page: INSTACART_KAGGLE, file: "order_products__train.csv" },
  },
  temperatureKaggle: {
    path: "temperature/city_temperature.csv",
    source: { kind: "kaggle", page: TEMPERATURE_KAGGLE, file: "city_temperature.csv" },
  },
} as const satisfies Record<string, DataFile>;

/**
 * A data file that is not on disk and cannot be fetched now (Kaggle-only,
 * downloads switched off, or the download failed). Its message says what to
 * get from where and where to put it; `path` is where it was looked for.
 *
 * @example Skip a data set that is not there
 * ```ts
 * import { DATA_FILES, dataFile, MissingDataError } from "./source.ts";
 * try {
 *   await dataFile(DATA_FILES.movielensRatings, { download: false });
 * } catch (error) {
 *   if (!(error instanceof MissingDataError)) throw error;
 *   console.log(`skipped: ${error.message}`);
 * }
 * ```
 */
export class MissingDataError extends Error {
  /** Where the file was looked for. */
  readonly path: string;
  /** Builds the error for a file at `path`. */
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MissingDataError";
    this.path = path;
  }
}

/** Options shared by the resolver and the loaders. */
export interface DataOptions {
  /** The data root (`--data-dir`); wins over `EFA_DATA_DIR` and the cache directory. */
  readonly dataDir?: string;
  /** Download missing files that have a public source (default true). */
  readonly download?: boolean;
  /** The `fetch` to use (tests pass one bound to a local server). */
  readonly fetch?: typeof fetch;
  /** Progress messages (downloads); nothing is printed otherwise. */
  readonly onProgress?: (message: string) => void;
}

/** The per-user cache directory for downloaded data. */
export function cacheDirectory(): string {
  const env = (name: string): string | undefined => Deno.env.get(name) || undefined;
  if (Deno.build.os === "windows") {
    return `${env("LOCALAPPDATA") ?? env("USERPROFILE") ?? "."}\\efa`;
  }
  if (Deno.build.os === "darwin") return `${env("HOME") ?? "."}/Library/Caches/efa`;
  return `${env("XDG_CACHE_HOME") ?? `${env("HOME") ?? "."}/.cache`}/efa`;
}

/** The data root: `dataDir`, then `EFA_DATA_DIR`, then the cache directory. */
export function dataRoot(options: DataOptions = {}): string {
  return options.dataDir ?? (Deno.env.get("EFA_DATA_DIR") || undefined) ?? cacheDirectory();
}

function hex(hash: ReturnType<typeof createHash>): string {
  return hash.digest("hex");
}

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hex(hash);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function parentOf(path: string): string {
  return path.slice(0, Math.max(path.lastIndexOf("/"), 0)) || ".";
}

function checksumError(
  what: string,
  expected: string,
  actual: string,
  algorithm = "SHA-256",
): Error {
  return new Error(
    `Checksum mismatch for ${what}: expected ${algorithm} ${expected}, got ${actual}`,
  );
}

/** Downloads a URL completely into memory, failing on a short or broken body. */
async function download(url: string, options: DataOptions): Promise<Uint8Array> {
  const doFetch = options.fetch ?? fetch;
  options.onProgress?.(`downloading ${url}`);
  let response: Response;
  try {
    response = await doFetch(url);
  } catch (error) {
    throw new Error(`Download of ${url} failed: ${error instanceof Error ? error.message : error}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`Download of ${url} failed: HTTP ${response.status} ${response.statusText}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body!) {
      chunks.push(chunk);
      size += chunk.length;
    }
  } catch (error) {
    throw new Error(
      `Download of ${url} failed after ${size} bytes: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  const expected = Number(response.headers.get("content-length") ?? NaN);
  if (Number.isFinite(expected) && expected !== size) {
    throw new Error(`Download of ${url} failed: expected ${expected} bytes, got ${size}`);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  options.onProgress?.(`downloaded ${url} (${size} bytes)`);
  return out;
}

/**
 * The absolute path of a data file, downloading it first when it is missing
 * and has a public source. The file's checksum (when known) is verified.
 *
 * @throws {Error} When the file is missing and only Kaggle has it (saying what
 * to download from where and where to put it), when a download fails, or when
 * a checksum differs (naming both sums); nothing partial is left behind.
 */
export async function dataFile(file: DataFile, options: DataOptions = {}): Promise<string> {
  const root = dataRoot(options);
  const path = `${root}/${file.path}`;
  if (!(await exists(path))) {
    const source = file.source;
    if (source.kind === "kaggle") {
      throw new MissingDataError(
        path,
        `Missing data file ${path}. It is only available from Kaggle (a free login is needed): download "${source.file}" from ${source.page}, unpack it, and put it at ${path}; or point --data-dir or EFA_DATA_DIR at a folder that has ${file.path}`,
      );
    }
    if (options.download === false) {
      throw new MissingDataError(
        path,
        `Missing data file ${path} (downloads are switched off): get it from ${source.url}${
          source.kind === "zip" ? ` (the file ${source.member} in it)` : ""
        } and put it at ${path}; or point --data-dir or EFA_DATA_DIR at a folder that has ${file.path}`,
      );
    }
    await Deno.mkdir(parentOf(path), { recursive: true });
    let bytes: Uint8Array;
    try {
      bytes = await download(source.url, options);
    } catch (error) {
      throw new MissingDataError(
        path,
        `${
          error instanceof Error ? error.message : error
        }. Missing data file ${path}: get it from ${source.url}${
          source.kind === "zip" ? ` (the file ${source.member} in it)` : ""
        } and put it at ${path}; or point --data-dir or EFA_DATA_DIR at a folder that has ${file.path}`,
        { cause: error },
      );
    }
    if (source.kind === "zip") {
      const md5 = createHash("md5").update(bytes).digest("hex");
      if (md5 !== source.md5) throw checksumError(source.url, source.md5, md5, "MD5");
      let member: Uint8Array | undefined;
      try {
        member = unzipSync(bytes, { filter: (f) => f.name === source.member })[source.member];
      } catch (error) {
        throw new Error(
          `Cannot unpack ${source.url}: ${error instanceof Error ? error.message : error}`,
        );
      }
      if (member === undefined) throw new Error(`Cannot find ${source.member} in ${source.url}`);
      bytes = member;
    }
    if (file.sha256 !== undefined) {
      const actual = createHash("sha256").update(bytes).digest("hex");
      if (actual !== file.sha256) {
        throw checksumError(`${file.path} from ${source.url}`, file.sha256, actual);
      }
    }
    await writeAtomically(path, bytes);
    return path;
  }
  if (file.sha256 !== undefined) {
    const actual = await sha256File(path);
    if (actual !== file.sha256) throw checksumError(path, file.sha256, actual);
  }
  return path;
}
