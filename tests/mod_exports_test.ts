import assert from "node:assert/strict";

Deno.test("mod.ts re-exports every public lib file", async () => {
  const mod = await Deno.readTextFile(new URL("../mod.ts", import.meta.url));
  const libDir = new URL("../lib/", import.meta.url);
  for await (const entry of Deno.readDir(libDir)) {
    const name = entry.name;
    if (
      !entry.isFile || !name.endsWith(".ts") || name.startsWith("_") || name.endsWith("_test.ts")
    ) continue;
    assert.ok(
      mod.includes(`export * from "./lib/${name}";`),
      `mod.ts does not re-export lib/${name}`,
    );
  }
});
