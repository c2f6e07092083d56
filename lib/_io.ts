/**
 * What the command line (`cli.ts`), the data downloads (`data/`) and the
 * experiments share: writing a file so that it is either old or whole, and
 * the progress line of a long training run.
 *
 * @module
 */

/**
 * Writes text or bytes through a temporary file beside the target and a
 * rename, so that a reader never sees a half-written file; the temporary file
 * is removed when the write fails.
 *
 * @param path The file, as a path or a `file:` URL.
 * @param content The text or bytes.
 *
 * @example Write a file atomically
 * ```ts
 * import { writeAtomically } from "./_io.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await writeAtomically(`${dir}/a.txt`, "whole");
 * assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "whole");
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.txt"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeAtomically(
  path: string | URL,
  content: string | Uint8Array,
): Promise<void> {
  const target = typeof path === "string" ? path : path.pathname;
  const tmp = `${target}.partial-${crypto.randomUUID()}`;
  try {
    if (typeof content === "string") await Deno.writeTextFile(tmp, content);
    else await Deno.writeFile(tmp, content);
    await Deno.rename(tmp, target);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** What one epoch reports to {@link epochProgress}. */
export interface ProgressInfo {
  /** The epoch just finished, from 1. */
  readonly epoch: number;
  /** Its mean training loss. */
  readonly trainLoss: number;
  /** Its validation loss, when there is validation data. */
  readonly validationLoss?: number;
  /** The best epoch so far. */
  readonly bestEpoch: number;
}

/** Options of {@link epochProgress}. */
export interface ProgressOptions {
  /** Printed before each line (the table and model), or nothing. */
  readonly label?: string;
  /** The most epochs the run may take. */
  readonly maxEpochs: number;
  /** Where plain lines go (when standard error is not a terminal). */
  readonly write: (line: string) => void;
  /** Draw a bar rewritten in place on standard error (default: when it is a terminal). */
  readonly terminal?: boolean;
  /** Without a terminal, at most one line per this many seconds (the first and last epochs always; default 0). */
  readonly everySeconds?: number;
}

/**
 * A progress reporter for a training run's `onEpoch`: a bar on a terminal,
 * plain lines otherwise, with the elapsed time and an upper bound on the time
 * left (the run may stop early).
 *
 * @param options The label, the epoch budget and where lines go.
 * @returns The `onEpoch` callback.
 *
 * @example Plain lines
 * ```ts
 * import { epochProgress } from "./_io.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const show = epochProgress({ maxEpochs: 10, write: (l) => lines.push(l), terminal: false });
 * show({ epoch: 1, trainLoss: 0.5, validationLoss: 0.6, bestEpoch: 1 });
 * assert.match(lines[0]!, /^epoch 1\/10 loss 0\.5000 val 0\.6000 best 1 \d+s, at most \d+s left$/);
 * ```
 */
export function epochProgress(options: ProgressOptions): (info: ProgressInfo) => void {
  const { maxEpochs, write, everySeconds = 0 } = options;
  const prefix = options.label === undefined || options.label === "" ? "" : `${options.label} `;
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  const start = performance.now();
  let lastLine = -Infinity;
  return (info) => {
    const elapsed = (performance.now() - start) / 1000;
    const left = (elapsed / info.epoch) * (maxEpochs - info.epoch);
    const val = info.validationLoss === undefined ? "" : ` val ${info.validationLoss.toFixed(4)}`;
    const text = `${prefix}epoch ${info.epoch}/${maxEpochs} loss ${
      info.trainLoss.toFixed(4)
    }${val} best ${info.bestEpoch} ${elapsed.toFixed(0)}s, at most ${left.toFixed(0)}s left`;
    if (terminal) {
      const width = 20, done = Math.round((width * info.epoch) / maxEpochs);
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `\r[${"#".repeat(done)}${".".repeat(width - done)}] ${text}\x1b[K`,
        ),
      );
    } else if (elapsed - lastLine >= everySeconds || info.epoch === maxEpochs) {
      lastLine = elapsed;
      write(text);
    }
  };
}

/** What a step reporter is given: `TrainOptions.onStep`'s information. */
export interface StepProgressInfo {
  /** The current epoch, from 1. */
  readonly epoch: number;
  /** The step within the epoch, from 1. */
  readonly step: number;
  /** Steps per epoch. */
  readonly steps: number;
}

/** Options of {@link stepProgress}. */
export interface StepProgressOptions {
  /** The most epochs the run may take. */
  readonly maxEpochs: number;
  /** Where plain lines go (when standard error is not a terminal). */
  readonly write: (line: string) => void;
  /** Rewrite one line in place on standard error (default: when it is a terminal). */
  readonly terminal?: boolean;
  /** Say nothing about epochs shorter than this (seconds; default 5). */
  readonly afterSeconds?: number;
  /** Without a terminal, at most one line per this many seconds (default 30). */
  readonly everySeconds?: number;
  /** The clock in milliseconds (default `performance.now`; tests pass their own). */
  readonly now?: () => number;
}

/**
 * A progress reporter inside long epochs, for `onStep`: once an epoch has
 * run `afterSeconds`, the steps done and an estimate of the epoch's time
 * left, rewritten in place on a terminal and as a plain line every
 * `everySeconds` otherwise. Short epochs print nothing (the epoch lines say
 * enough).
 *
 * @param options The epoch budget, where lines go and how often.
 * @returns The `onStep` callback.
 *
 * @example Plain lines on a long epoch
 * ```ts
 * import { stepProgress } from "./_io.ts";
 * import assert from "node:assert/strict";
 *
 * let clock = 0;
 * const lines: string[] = [];
 * const show = stepProgress({ maxEpochs: 3, write: (l) => lines.push(l), terminal: false, now: () => clock });
 * for (let step = 1; step <= 100; step++) {
 *   clock += 1000; // one second a step
 *   show({ epoch: 1, step, steps: 100 });
 * }
 * assert.equal(lines[0], "epoch 1/3 step 5/100, 5 s into the epoch, about 95 s left in it");
 * assert.equal(lines.length, 4); // at 5, 35, 65 and 95 s
 * ```
 */
export function stepProgress(options: StepProgressOptions): (info: StepProgressInfo) => void {
  const { maxEpochs, write, afterSeconds = 5, everySeconds = 30 } = options;
  const now = options.now ?? (() => performance.now());
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  // An epoch starts when the previous one's last step ended (the first, when the reporter was made).
  let epoch = 0, started = 0, last = now(), lastLine = -Infinity;
  return (info) => {
    const t = now();
    if (info.epoch !== epoch) {
      epoch = info.epoch;
      started = last;
      lastLine = -Infinity;
    }
    last = t;
    const elapsed = (t - started) / 1000;
    if (elapsed < afterSeconds || info.step === info.steps) return;
    const left = (elapsed / info.step) * (info.steps - info.step);
    const text = `epoch ${info.epoch}/${maxEpochs} step ${info.step}/${info.steps}, ${
      elapsed.toFixed(0)
    } s into the epoch, about ${left.toFixed(0)} s left in it`;
    if (terminal) {
      Deno.stderr.writeSync(new TextEncoder().encode(`\r${text}\x1b[K`));
    } else if (elapsed - lastLine >= everySeconds) {
      lastLine = elapsed;
      write(text);
    }
  };
}
