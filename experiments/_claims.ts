/**
 * Claims and a lock in the file system, so that several processes running
 * the same table share its models: each process claims a model before
 * training it (a file created with `createNew`), refreshes the claim every
 * epoch, and merges its result into the shared checkpoint under a lock.
 *
 * A claim is stale, and may be taken over, when its process is gone: on
 * Linux when `/proc/<pid>` no longer exists, elsewhere (or for a claim
 * written on another host) when it has not been refreshed for
 * {@link STALE_CLAIM_MS}.
 */
import { hostname } from "node:os";

/** A claim not refreshed for this long is stale where process ids cannot be checked (30 min). */
export const STALE_CLAIM_MS = 30 * 60 * 1000;

interface ClaimRecord {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

/** A claim held by this process. */
export interface Claim {
  /** Marks the claim as alive (call at least every {@link STALE_CLAIM_MS}). */
  refresh(): Promise<void>;
  /** Gives the claim up. */
  release(): Promise<void>;
}

function record(): string {
  return JSON.stringify(
    { pid: Deno.pid, host: hostname(), since: new Date().toISOString() } satisfies ClaimRecord,
  );
}

async function processAlive(pid: number): Promise<boolean | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    return undefined;
  }
}

/**
 * Whether the claim file at `url` belongs to a process that is still running.
 *
 * @param url The claim file.
 * @returns `false` when the file is gone or stale.
 */
export async function claimIsLive(url: URL): Promise<boolean> {
  let text: string, modified: Date | null;
  try {
    text = await Deno.readTextFile(url);
    modified = (await Deno.stat(url)).mtime;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  let holder: ClaimRecord | undefined;
  try {
    holder = JSON.parse(text) as ClaimRecord;
  } catch {
    holder = undefined; // being written, or torn: judge by its age
  }
  if (holder !== undefined && holder.host === hostname()) {
    const alive = await processAlive(holder.pid);
    if (alive !== undefined) return alive;
  }
  return modified !== null && Date.now() - modified.getTime() < STALE_CLAIM_MS;
}

/**
 * Claims the file at `url` for this process, taking over a stale claim.
 *
 * @param url The claim file (its directory must exist).
 * @returns The claim, or `null` when a live process holds it.
 */
export async function tryClaim(url: URL): Promise<Claim | null> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await Deno.writeTextFile(url, record(), { createNew: true });
      return {
        refresh: () => Deno.writeTextFile(url, record()),
        release: () => Deno.remove(url).catch(() => {}),
      };
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      if (await claimIsLive(url)) return null;
      await Deno.remove(url).catch(() => {});
    }
  }
  return null;
}

/**
 * Runs `body` while holding the lock file `url`, waiting for other holders
 * (a lock whose process is gone is taken over).
 *
 * @param url The lock file (its directory must exist).
 * @param body What to do under the lock.
 * @returns What `body` returns.
 */
export async function withLock<T>(url: URL, body: () => Promise<T>): Promise<T> {
  for (;;) {
    const claim = await tryClaim(url);
    if (claim !== null) {
      try {
        return await body();
      } finally {
        await claim.release();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
