/**
 * Shape-typed tensors: a tensor's TypeScript type carries its axis names, and
 * a runtime check at public boundaries binds those names to sizes.
 *
 * Axis names are written as one space-separated string, as in jaxtyping:
 * `Tensor<"batch time embed">`. A name is a label (`batch`), a fixed size
 * (`2`), or `_` (any size, not bound). The types are phantom: at runtime a
 * `Tensor<"batch time">` is a plain `TfTensor`. Passing a
 * `Tensor<"batch time embed">` where a `Tensor<"batch embed">` is expected
 * fails `deno check`; tensors enter the typed world through {@link named},
 * which checks the rank (and any sizes already bound) at runtime.
 *
 * @module
 */
import type { TfTensor } from "./_types.ts";

/** The phantom property that carries a tensor's axis names in its type; it does not exist at runtime. */
export declare const axesBrand: unique symbol;

/**
 * A tfjs tensor whose axes carry names in its type.
 *
 * @typeParam Axes The space-separated axis names, e.g. `"batch time embed"`.
 */
export type Tensor<Axes extends string> = TfTensor & { readonly [axesBrand]: Axes };

/** Sizes bound to axis names during one call, shared across its arguments. */
export type Dims = Record<string, number>;

/** Anything with a shape and a dtype: a tensor, or a plain description of one. */
export interface ShapedLike {
  /** The sizes of the axes. */
  readonly shape: readonly number[];
  /** The element type, e.g. `"float32"` or `"int32"`. */
  readonly dtype: string;
}

/**
 * One argument to check: the value, its expected axes and, optionally, its
 * expected dtype.
 */
export type ShapeSpec = readonly [
  value: ShapedLike,
  axes: string,
  dtype?: "float32" | "int32" | "bool",
];

function parseAxes(axes: string): string[] {
  const names = axes.trim().split(/\s+/).filter((n) => n.length > 0);
  for (const name of names) {
    if (!/^(_|[A-Za-z][A-Za-z0-9_]*|[0-9]+)$/.test(name)) {
      throw new TypeError(
        `Cannot parse axes: expected names, sizes or "_", got "${name}" in "${axes}"`,
      );
    }
  }
  return names;
}

function describe(names: string[], dims: Dims): string {
  return `[${
    names.map((
      n,
    ) => (/^[0-9]+$/.test(n) || n === "_" ? n : dims[n] === undefined ? n : `${n}=${dims[n]}`))
      .join(", ")
  }]`;
}

/**
 * Checks that every argument has the named shape, binding each axis name to a
 * size on first sight and requiring the same size everywhere after.
 *
 * @param fn The public function doing the check, named in the error.
 * @param args The arguments, by name: `[value, "batch time", dtype?]`.
 * @param dims Sizes already bound (for example `{ items: 63 }`); filled in place.
 * @returns The bound sizes.
 * @throws {TypeError} When a rank, size or dtype differs, naming the function,
 * the argument, the expected and the actual shape.
 *
 * @example Bind `batch` across two arguments
 * ```ts
 * import { checkShapes } from "./shapes.ts";
 * import assert from "node:assert/strict";
 *
 * const items = { shape: [32, 24], dtype: "int32" };
 * const target = { shape: [32], dtype: "int32" };
 * assert.deepEqual(checkShapes("f", { items: [items, "batch time"], target: [target, "batch"] }), {
 *   batch: 32,
 *   time: 24,
 * });
 * assert.throws(
 *   () => checkShapes("f", { items: [items, "batch time"], target: [{ shape: [31], dtype: "int32" }, "batch"] }),
 *   { name: "TypeError", message: "f(): expected target to have shape [batch=32], got [31]" },
 * );
 * ```
 */
export function checkShapes(fn: string, args: Record<string, ShapeSpec>, dims: Dims = {}): Dims {
  for (const [arg, spec] of Object.entries(args)) {
    const [value, axes, dtype] = spec;
    if (value === null || typeof value !== "object" || !Array.isArray(value.shape)) {
      throw new TypeError(
        `${fn}(): expected ${arg} to be a tensor, got ${value === null ? "null" : typeof value}`,
      );
    }
    const names = parseAxes(axes);
    const shape = value.shape;
    const before = { ...dims };
    const expected = (): string => describe(names, before);
    if (shape.length !== names.length) {
      throw new TypeError(
        `${fn}(): expected ${arg} to have shape ${expected()}, got [${shape.join(", ")}]`,
      );
    }
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const size = shape[i]!;
      if (name === "_") continue;
      const fixed = /^[0-9]+$/.test(name) ? Number(name) : dims[name];
      if (fixed === undefined) {
        dims[name] = size;
      } else if (fixed !== size) {
        throw new TypeError(
          `${fn}(): expected ${arg} to have shape ${expected()}, got [${shape.join(", ")}]`,
        );
      }
    }
    if (dtype !== undefined && value.dtype !== dtype) {
      throw new TypeError(`${fn}(): expected ${arg} to have dtype ${dtype}, got ${value.dtype}`);
    }
  }
  return dims;
}

/**
 * Gives a tensor its axis names after checking them at runtime.
 *
 * @typeParam Axes The space-separated axis names.
 * @param x The tensor.
 * @param axes Its axis names, e.g. `"batch time"`.
 * @param dims Sizes already bound, checked and filled in place.
 * @returns The same tensor, typed with its axes.
 * @throws {TypeError} When the rank or a bound size differs.
 *
 * @example Name the axes of a tensor
 * ```ts
 * import { named } from "@efa/efa";
 * import type { Tensor } from "@efa/efa";
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 *
 * const x: Tensor<"batch time"> = named(tf.zeros([2, 3]), "batch time");
 * assert.deepEqual(x.shape, [2, 3]);
 * assert.throws(() => named(tf.zeros([2, 3]), "batch"), TypeError);
 * ```
 */
export function named<Axes extends string>(
  x: TfTensor,
  axes: Axes,
  dims: Record<string, number> = {},
): Tensor<Axes> {
  checkShapes("named", { x: [x, axes] }, dims);
  return x as Tensor<Axes>;
}
