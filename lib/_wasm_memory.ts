/**
 * How the package's kernels reach tfjs's wasm memory: the parts of the
 * backend they use, where a tensor's data lies, scratch space, and
 * instantiating a kernel module on that memory.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { decodeBase64 } from "./_base64.ts";

/** The parts of tfjs's wasm backend that the kernels use. */
export interface WasmBackend {
  readonly wasm: {
    readonly asm: { readonly memory: WebAssembly.Memory };
    _malloc(bytes: number): number;
    _free(pointer: number): void;
  };
  readonly dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  disposeData(dataId: object): boolean;
  incRef(dataId: object): void;
}

/** Where a tensor's data starts in tfjs's memory (bytes). */
export function offsetOf(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}

/** Runs `f` with `floats` floats of scratch from tfjs's allocator, freed after. */
export function withScratch<T>(backend: WasmBackend, floats: number, f: (scratch: number) => T): T {
  const scratch = backend.wasm._malloc(4 * floats);
  try {
    return f(scratch);
  } finally {
    backend.wasm._free(scratch);
  }
}

/** A compiled kernel module (base64) instantiated on tfjs's memory: its exports. */
export function instantiate(base64: string, memory: WebAssembly.Memory): WebAssembly.Exports {
  return new WebAssembly.Instance(new WebAssembly.Module(decodeBase64(base64)), {
    env: { memory },
  }).exports;
}
