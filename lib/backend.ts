/**
 * The tfjs backend, set up in one place.
 *
 * Importing this module (and therefore `mod.ts`) silences tfjs's "install the
 * node backend" banner and selects the WebAssembly backend, falling back to the
 * plain JavaScript `cpu` backend when wasm cannot start. Call
 * {@link useBackend} to switch explicitly (for example to compare backends).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { installKernels } from "./_kernels.ts";

/** The backends this package supports. */
export type BackendName = "wasm" | "cpu";

/** What {@link useBackend} set up, for the environment record of a run. */
export interface BackendInfo {
  /** The backend now in use. */
  readonly backend: BackendName;
  /** The backend that was asked for. */
  readonly requested: BackendName;
  /** Why the requested backend was not used, when it was not. */
  readonly fallbackReason?: string;
  /** The tfjs version. */
  readonly tfjsVersion: string;
  /** Whether the package's own wasm kernels are registered (see `setFastKernels`). */
  readonly fastKernels: boolean;
}

let current: BackendInfo | undefined;
let warned = false;

/** Whether the process may read every file (under Deno; elsewhere, or when the check fails, yes). */
function canRead(): boolean {
  type Permissions = { querySync?(descriptor: { name: "read" }): { state: string } };
  const permissions = (globalThis as { Deno?: { permissions?: Permissions } }).Deno?.permissions;
  if (permissions?.querySync === undefined) return true;
  try {
    return permissions.querySync({ name: "read" }).state === "granted";
  } catch {
    return true;
  }
}

/**
 * Selects the tfjs backend (wasm by default, cpu as fallback) and waits until
 * it is ready.
 *
 * @param name The backend to use.
 * @returns What was set up.
 *
 * @example Switch to the cpu backend and back
 * ```ts
 * import { useBackend } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * assert.equal((await useBackend("cpu")).backend, "cpu");
 * assert.equal((await useBackend("wasm")).backend, "wasm");
 * ```
 */
export async function useBackend(name: BackendName = "wasm"): Promise<BackendInfo> {
  if (name !== "wasm" && name !== "cpu") {
    throw new RangeError(
      `Cannot select backend: expected "wasm" or "cpu", got ${JSON.stringify(name)}`,
    );
  }
  tf.env().set("PROD", true);
  let reason: string | undefined;
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    if (!ok) reason = `tf.setBackend("${name}") returned false`;
  } catch (error) {
    reason = error instanceof Error ? error.message : String(error);
  }
  if (!ok && name === "wasm" && !canRead()) {
    reason = "the wasm backend could not load its .wasm file: Deno runs without read permission " +
      "(run it with --allow-read); the cpu backend is in use instead, about 30 times slower";
  }
  if (!ok) await tf.setBackend("cpu");
  if (!ok && reason !== undefined && !warned) {
    warned = true; // once per process: at import, where nobody asked for a backend yet
    // deno-lint-ignore no-console -- the one start-up warning of a much slower backend
    console.warn(`efa: ${reason}`);
  }
  await tf.ready();
  const fastKernels = tf.getBackend() === "wasm" && installKernels();
  current = {
    backend: tf.getBackend() as BackendName,
    requested: name,
    ...(reason === undefined ? {} : { fallbackReason: reason }),
    tfjsVersion: tf.version.tfjs,
    fastKernels,
  };
  return current;
}

/**
 * The backend set up by the last call of {@link useBackend} (at import, wasm).
 *
 * @returns The current backend record.
 *
 * @example Read the backend in use
 * ```ts
 * import { backendInfo } from "@efa/efa";
 * import assert from "node:assert/strict";
 *
 * assert.ok(["wasm", "cpu"].includes(backendInfo().backend));
 * ```
 */
export function backendInfo(): BackendInfo {
  if (current === undefined) throw new Error("Cannot read the backend: it has not been set up");
  return current;
}

await useBackend("wasm");
