/**
 * The downloader, end to end against a local HTTP server on 127.0.0.1 that
 * serves files from the shared data folder: a good download, a wrong
 * checksum, a dropped connection, the MovieLens zip, and the Kaggle-only
 * message. Nothing partial may be left behind.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { zipSync } from "fflate";
import { testDataRoot, withData } from "./_test_data.ts";
import {
  cacheDirectory,
  DATA_FILES,
  type DataFile,
  dataFile,
  dataRoot,
  MissingDataError,
} from "./source.ts";

const root = testDataRoot();
const TRAIN = "instacart/processed/data_train_final.csv";

/** The MovieLens zip the test server serves: built once, with a fixed timestamp, so its MD5 is stable. */
function movielensZip(): Uint8Array {
  const bytes = Deno.readFileSync(`${root}/movielens/ml-100k/u.data`);
  const readme = new TextEncoder().encode("readme");
  return zipSync({ "ml-100k/u.data": bytes, "ml-100k/README": readme }, {
    mtime: new Date("2020-01-01T00:00:00Z"),
  });
}

async function withServer(fn: (base: string, requests: string[]) => Promise<void>): Promise<void> {
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      requests.push(url.pathname);
      if (url.pathname === "/ml-100k.zip") return new Response(new Uint8Array(movielensZip()));
      if (url.pathname.startsWith("/files/")) {
        return new Response(await Deno.readFile(`${root}/${url.pathname.slice(7)}`));
      }
      if (url.pathname.startsWith("/drop/")) {
        const bytes = await Deno.readFile(`${root}/${url.pathname.slice(6)}`);
        const body = new ReadableStream<Uint8Array>({
          start(controller): void {
            controller.enqueue(bytes.subarray(0, bytes.length >> 1));
            setTimeout(
              () => controller.error(new Error("connection dropped by the test server")),
              20,
            );
          },
        });
        return new Response(body);
      }
      return new Response("not found", { status: 404 });
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  try {
    await fn(`http://127.0.0.1:${port}`, requests);
  } finally {
    await server.shutdown();
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`);
      else out.push(`${d}/${e.name}`.slice(dir.length + 1));
    }
  };
  await walk(dir);
  return out.sort();
}

function entry(base: string, path: string, sha256: string, prefix = "files"): DataFile {
  return { path, sha256, source: { kind: "url", url: `${base}/${prefix}/${path}` } };
}

Deno.test(withData("dataFile() downloads, verifies and then reuses a file"), async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withServer(async (base, requests) => {
      const file = entry(base, TRAIN, DATA_FILES.instacartTrain.sha256);
      const messages: string[] = [];
      const path = await dataFile(file, { dataDir: dir, onProgress: (m) => messages.push(m) });
      assert.equal(path, `${dir}/${TRAIN}`);
      assert.deepEqual(await Deno.readFile(path), await Deno.readFile(`${root}/${TRAIN}`));
      assert.equal(messages.length, 2);
      await dataFile(file, { dataDir: dir }); // present and verified: no second request
      assert.deepEqual(requests, [`/files/${TRAIN}`]);
      assert.deepEqual(await listFiles(dir), [TRAIN]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  ...withData("dataFile() refuses a wrong checksum, naming both sums, and leaves no file"),
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withServer(async (base) => {
      const wrong = "0".repeat(64);
      await assert.rejects(() => dataFile(entry(base, TRAIN, wrong), { dataDir: dir }), {
        message:
          `Checksum mismatch for ${TRAIN} from ${base}/files/${TRAIN}: expected SHA-256 ${wrong}, got ${DATA_FILES.instacartTrain.sha256}`,
      });
      assert.deepEqual(await listFiles(dir), []);
    });
    // A corrupted file already in the data root is refused too.
    await Deno.mkdir(`${dir}/instacart/processed`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${TRAIN}`, "order_id,product_id,rank\n1,2,3\n");
    await assert.rejects(
      () => dataFile(DATA_FILES.instacartTrain, { dataDir: dir }),
      /Checksum mismatch for .*: expected SHA-256 3278d650.*, got [0-9a-f]{64}/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  withData("dataFile() fails cleanly when the connection drops mid-download"),
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      await withServer(async (base) => {
        const file = entry(base, TRAIN, DATA_FILES.instacartTrain.sha256, "drop");
        await assert.rejects(() => dataFile(file, { dataDir: dir }), /Download of .* failed/);
        assert.deepEqual(await listFiles(dir), []);
        const missing = {
          ...file,
          source: { kind: "url", url: `${base}/nothing/here.csv` },
        } as const;
        await assert.rejects(
          () => dataFile(missing, { dataDir: dir }),
          /Download of .* failed: HTTP 404/,
        );
        assert.deepEqual(await listFiles(dir), []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test({
  ...withData("dataFile() unpacks MovieLens from its zip after checking the zip's MD5"),
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withServer(async (base) => {
      const bytes = await Deno.readFile(`${root}/movielens/ml-100k/u.data`);
      const md5 = createHash("md5").update(movielensZip()).digest("hex");
      const file: DataFile = {
        ...DATA_FILES.movielensRatings,
        source: { kind: "zip", url: `${base}/ml-100k.zip`, md5, member: "ml-100k/u.data" },
      };
      const path = await dataFile(file, { dataDir: dir });
      assert.deepEqual(await Deno.readFile(path), bytes);
      assert.deepEqual(await listFiles(dir), ["movielens/ml-100k/u.data"]);
      await Deno.remove(path);
      const badZip = { ...file, source: { ...file.source, md5: "f".repeat(32) } } as DataFile;
      await assert.rejects(() => dataFile(badZip, { dataDir: dir }), {
        message: `Checksum mismatch for ${base}/ml-100k.zip: expected MD5 ${
          "f".repeat(32)
        }, got ${md5}`,
      });
      assert.deepEqual(await listFiles(dir), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dataFile() says exactly what to download from Kaggle and where to put it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(() => dataFile(DATA_FILES.instacartProducts, { dataDir: dir }), {
      message:
        `Missing data file ${dir}/instacart/kaggle/products.csv. It is only available from Kaggle (a free login is needed): ` +
        `download "products.csv" from https://www.kaggle.com/c/instacart-market-basket-analysis/data, unpack it, and put it at ` +
        `${dir}/instacart/kaggle/products.csv; or point --data-dir or EFA_DATA_DIR at a folder that has instacart/kaggle/products.csv`,
    });
    await assert.rejects(
      () => dataFile(DATA_FILES.instacartTrain, { dataDir: dir, download: false }),
      /downloads are switched off/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dataFile(): a file that cannot be had now is a MissingDataError naming its path and source", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kaggle = await dataFile(DATA_FILES.instacartProducts, { dataDir: dir }).catch((e) => e);
    assert.ok(kaggle instanceof MissingDataError);
    assert.equal(kaggle.path, `${dir}/instacart/kaggle/products.csv`);
    const off = await dataFile(DATA_FILES.movielensRatings, { dataDir: dir, download: false })
      .catch((e) => e);
    assert.ok(off instanceof MissingDataError);
    assert.equal(
      off.message,
      `Missing data file ${dir}/movielens/ml-100k/u.data (downloads are switched off): get it from ` +
        `https://files.grouplens.org/datasets/movielens/ml-100k.zip (the file ml-100k/u.data in it) and put it at ` +
        `${dir}/movielens/ml-100k/u.data; or point --data-dir or EFA_DATA_DIR at a folder that has movielens/ml-100k/u.data`,
    );
    // Offline: the fetch itself fails.
    const offline: typeof fetch = () => Promise.reject(new TypeError("fetch failed"));
    const failed = await dataFile(DATA_FILES.movielensRatings, { dataDir: dir, fetch: offline })
      .catch((e) => e);
    assert.ok(failed instanceof MissingDataError);
    assert.match(
      failed.message,
      /^Download of https:\/\/files\.grouplens\.org\/datasets\/movielens\/ml-100k\.zip failed: fetch failed\. Missing data file .*\/movielens\/ml-100k\/u\.data: get it from /,
    );
    assert.ok(failed.cause instanceof Error);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dataRoot() prefers --data-dir, then EFA_DATA_DIR, then the cache directory", () => {
  const saved = Deno.env.get("EFA_DATA_DIR");
  try {
    Deno.env.set("EFA_DATA_DIR", "/from/env");
    assert.equal(dataRoot({ dataDir: "/from/flag" }), "/from/flag");
    assert.equal(dataRoot(), "/from/env");
    Deno.env.delete("EFA_DATA_DIR");
    assert.equal(dataRoot(), cacheDirectory());
    assert.match(cacheDirectory(), /efa$/);
  } finally {
    if (saved === undefined) Deno.env.delete("EFA_DATA_DIR");
    else Deno.env.set("EFA_DATA_DIR", saved);
  }
});
