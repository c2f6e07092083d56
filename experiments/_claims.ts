/**
 * Claims and a lock in the file system, so that several processes running
 * the same table share its models: each process claims a model before
 * training it (a file created with `createNew`), refreshes the claim every
 * epoch, and merges its result into the shared checkpoint under a lock.
 *
 * A claim is refreshed every minute while its process lives. It is stale, and
 * may be taken over, when it has not been refreshed for {@link STALE_CLAIM_MS},
 * or sooner on Linux when the process can be seen to be gone (`/proc/<pid>`
 * absent; Deno allows that check only with `--allow-all`).
 */
/** A claim not refreshed for this long is stale (15 min). */
export const STALE_CLAIM_MS = 15 * 60 * 1000;
/** How often a held claim is refreshed (1 min). */
export const REFRESH_CLAIM_MS = 60 * 1000;

interface ClaimRecord {
  readonly pid: number;
  readonly since: string;
}

/** A claim held by this process (refreshed on a timer until released). */
export interface Claim {
  /** Marks the claim as alive now, synchronously (the timer also does, every {@link REFRESH_CLAIM_MS}, when the event loop is free). */
  refresh(): Promise<void>;
  /** Stops the refreshing and gives the claim up. */
  release(): Promise<void>;
}

function record(): string {
  return JSON.stringify(
    { pid: Deno.pid, since: new Date().toISOString() } satisfies ClaimRecord,
  );
}

async function processAlive(pid: number): Promise<boolean | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    return undefined; // NotCapable without --allow-all
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
  if (holder !== undefined) {
    const alive = await processAlive(holder.pid);
    if (alive === false) return false;
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
      let released = false;
      // A synchronous write: training keeps the event loop busy for whole
      // models, so an asynchronous one (and the timer) may not run until the
      // model ends, and the claim would look stale to other processes.
      const refresh = (): Promise<void> => {
        if (released) return Promise.resolve();
        try {
          Deno.writeTextFileSync(url, record());
        } catch { /* the next refresh tries again */ }
        return Promise.resolve();
      };
      const timer = setInterval(refresh, REFRESH_CLAIM_MS);
      Deno.unrefTimer(timer);
      return {
        refresh,
        release: async () => {
          released = true;
          clearInterval(timer);
          await Deno.remove(url).catch(() => {});
        },
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
