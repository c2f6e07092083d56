/**
 * A worker that runs one `deno task reproduce` command line (the arguments
 * after `reproduce`) in its own isolate and posts back the exit code and
 * output: the cluster-jobs test runs each listed job this way, as a
 * separate machine would, sharing only the results folder.
 */
import { reproduce } from "../experiments/reproduce.ts";

declare const self: Worker;

self.onmessage = async (event: MessageEvent<readonly string[]>) => {
  const out: string[] = [];
  const code = await reproduce(event.data, (line) => out.push(line), (line) => out.push(line));
  self.postMessage({ code, out });
};
// The package's modules finish loading (the WebAssembly backend) before the arguments are sent.
self.postMessage("loaded");
