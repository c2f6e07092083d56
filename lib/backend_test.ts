// deno-lint-ignore-file no-console -- the test replaces console.warn and console.log to catch the tfjs banner
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { type BackendInfo, backendInfo, useBackend } from "./backend.ts";

Deno.test("importing the package selects the wasm backend", () => {
  assert.equal(backendInfo().backend, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.equal(backendInfo().tfjsVersion, "4.22.0");
});

Deno.test("useBackend() switches backends without the node-backend banner", async () => {
  const warnings: unknown[] = [];
  const warn = console.warn, log = console.log;
  console.warn = (...args: unknown[]) => warnings.push(args);
  console.log = (...args: unknown[]) => warnings.push(args);
  try {
    const cpu = await useBackend("cpu");
    assert.deepEqual([cpu.backend, cpu.requested, cpu.fallbackReason], ["cpu", "cpu", undefined]);
    tf.tidy(() => tf.add(tf.ones([2]), 1).dataSync());
  } finally {
    console.warn = warn;
    console.log = log;
    await useBackend("wasm");
  }
  assert.deepEqual(warnings, []);
  assert.equal(tf.getBackend(), "wasm");
  await assert.rejects(() => useBackend("webgpu" as never), {
    name: "RangeError",
    message: 'Cannot select backend: expected "wasm" or "cpu", got "webgpu"',
  });
});

Deno.test("without read permission the package says why it runs on the slow cpu backend, once", async () => {
  const worker = new Worker(new URL("../tests/_no_read_worker.ts", import.meta.url), {
    type: "module",
    deno: { permissions: { read: false, env: true } },
  } as WorkerOptions);
  try {
    const { info, warnings } = await new Promise<{ info: BackendInfo; warnings: string[] }>(
      (resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(e.message));
        };
      },
    );
    assert.equal(info.backend, "cpu");
    assert.match(info.fallbackReason!, /without read permission \(run it with --allow-read\)/);
    assert.match(info.fallbackReason!, /about 30 times slower/);
    assert.deepEqual(warnings.filter((w) => w.startsWith("efa: ")), [
      `efa: ${info.fallbackReason}`,
    ]);
  } finally {
    worker.terminate();
  }
});
