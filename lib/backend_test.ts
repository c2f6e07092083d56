// deno-lint-ignore-file no-console -- the test replaces console.warn and console.log to catch the tfjs banner
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendInfo, useBackend } from "./backend.ts";

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
