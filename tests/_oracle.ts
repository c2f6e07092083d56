/**
 * Test helper: run code on tfjs's own kernels (the oracle of the package's
 * kernels), then put the package's back.
 *
 * @module
 */
import { setFastKernels } from "../lib/_kernels.ts";

/** Runs `f` with tfjs's own kernels (the oracle), then restores the package's. */
export function withOracle<T>(f: () => T): T {
  const before = setFastKernels(false);
  try {
    return f();
  } finally {
    setFastKernels(before);
  }
}
