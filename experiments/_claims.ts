/**
 * Claims and a lock in the file system, so that several processes running
 * the same table share its models: each process claims a model before
 * training it and merges its result into the shared checkpoint under a lock.
 *
 * A claim is an open file holding an exclusive OS lock (`Deno.FsFile.tryLock`,
 * `flock` on Linux and macOS, `LockFileEx` on Windows). The operating system
 * releases the lock when its process ends, however it ends (Ctrl-C, `kill -9`,
 * a crash), so a dead process's claim is recognised at once, with no
 * timeout and no permission beyond reading and writing the results folder.
 * The file itself holds the holder's pid and start time, for people.
 */

/** A claim held by this process, until released (or until the process ends). */
export interface Claim {
  /** Gives the claim up: removes its file and releases the lock. */
  release(): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * Claims the file at `url` for this process. A claim file left by a process
 * that has ended is taken over.
 *
 * @param url The claim file (its directory must exist).
 * @returns The claim, or `null` when a running process holds it.
 * @throws {Error} When the file system cannot lock files.
 */
export async function tryClaim(url: URL): Promise<Claim | null> {
  for (;;) {
    const file = await Deno.open(url, { read: true, write: true, create: true });
    let locked: boolean;
    try {
      locked = await file.tryLock(true);
    } catch (error) {
      file.close();
      throw new Error(
        `Cannot lock ${url.pathname} (claims need file locks in the results folder): ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    if (!locked) {
      file.close();
      return null;
    }
    // Between our open and our lock, the holder may have released the claim
    // and removed its file: a lock on that file guards nothing, so start again.
    const held = await file.stat();
    const current = await Deno.stat(url).catch(() => null);
    if (current === null || current.ino !== held.ino || current.dev !== held.dev) {
      file.close();
      continue;
    }
    await file.truncate(0);
    await file.write(
      encoder.encode(JSON.stringify({ pid: Deno.pid, since: new Date().toISOString() })),
    );
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        // Removed while still locked, so that no one locks the file on its way out
        // (Windows cannot remove an open file: there it goes after closing).
        const removed = await Deno.remove(url).then(() => true, () => false);
        file.close();
        if (!removed) await Deno.remove(url).catch(() => {});
      },
    };
  }
}

/**
 * Runs `body` while holding the lock file `url`, waiting for other holders
 * (a lock whose process has ended is free at once).
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
