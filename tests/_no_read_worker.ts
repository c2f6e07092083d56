// deno-lint-ignore-file no-console -- the worker replaces console.warn to catch the start-up warning
// A worker without read permission imports the package and reports its backend (backend_test.ts).
const warnings: string[] = [];
console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
const { backendInfo } = await import("../mod.ts");
const scope = self as unknown as { postMessage(message: unknown): void };
scope.postMessage({ info: backendInfo(), warnings });
