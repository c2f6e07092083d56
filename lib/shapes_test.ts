import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "./backend.ts";
import { checkShapes, named } from "./shapes.ts";

Deno.test("checkShapes() binds axis names across arguments", () => {
  const dims = checkShapes("f", {
    x: [{ shape: [4, 7, 3], dtype: "float32" }, "batch time embed"],
    mask: [{ shape: [4, 7], dtype: "bool" }, "batch time", "bool"],
  });
  assert.deepEqual(dims, { batch: 4, time: 7, embed: 3 });
});

Deno.test("checkShapes() names the function, argument, expected and actual shape", () => {
  assert.throws(
    () =>
      checkShapes("efaForward", {
        items: [{ shape: [32, 24], dtype: "int32" }, "batch time"],
        values: [{ shape: [32, 25], dtype: "float32" }, "batch time"],
      }),
    {
      name: "TypeError",
      message: "efaForward(): expected values to have shape [batch=32, time=24], got [32, 25]",
    },
  );
  assert.throws(
    () => checkShapes("f", { x: [{ shape: [2, 3, 4], dtype: "float32" }, "batch embed"] }),
    { name: "TypeError", message: "f(): expected x to have shape [batch, embed], got [2, 3, 4]" },
  );
});

Deno.test("checkShapes() checks fixed sizes, skips _ and checks dtypes", () => {
  checkShapes("f", { x: [{ shape: [5, 2], dtype: "float32" }, "_ 2"] });
  assert.throws(
    () => checkShapes("f", { x: [{ shape: [5, 3], dtype: "float32" }, "_ 2"] }),
    /shape \[_, 2\], got \[5, 3\]/,
  );
  assert.throws(
    () => checkShapes("f", { ids: [{ shape: [5], dtype: "float32" }, "batch", "int32"] }),
    { name: "TypeError", message: "f(): expected ids to have dtype int32, got float32" },
  );
  assert.throws(
    () => checkShapes("f", { x: [{ shape: [1], dtype: "float32" }, "ba-tch"] }),
    /Cannot parse axes/,
  );
  assert.throws(
    () => checkShapes("f", { x: [null as never, "batch"] }),
    /expected x to be a tensor, got null/,
  );
});

Deno.test("checkShapes() uses sizes bound before the call", () => {
  assert.throws(
    () =>
      checkShapes("f", { logits: [{ shape: [2, 62], dtype: "float32" }, "batch items"] }, {
        items: 63,
      }),
    /expected logits to have shape \[batch, items=63\], got \[2, 62\]/,
  );
});

Deno.test("named() returns the same tensor and checks its rank", () => {
  const x = tf.zeros([2, 3]);
  assert.equal(named(x, "batch time"), x);
  assert.throws(() => named(x, "batch time embed"), TypeError);
  x.dispose();
});
