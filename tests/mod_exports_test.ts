import assert from "node:assert/strict";

Deno.test("mod.ts re-exports every public lib file that is not a subpath export of its own", async () => {
  const mod = await Deno.readTextFile(new URL("../mod.ts", import.meta.url));
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const subpaths = new Set(
    Object.entries(config.exports as Record<string, string>)
      .filter(([key]) => key !== ".")
      .map(([, path]) => path),
  );
  assert.ok(subpaths.has("./lib/plot.ts"), "the figures are the ./plot subpath export");
  const libDir = new URL("../lib/", import.meta.url);
  for await (const entry of Deno.readDir(libDir)) {
    const name = entry.name;
    if (
      !entry.isFile || !name.endsWith(".ts") || name.startsWith("_") || name.endsWith("_test.ts")
    ) continue;
    if (subpaths.has(`./lib/${name}`)) {
      // Subpath exports keep their dependencies (Observable Plot) out of the main import.
      assert.ok(!mod.includes(`./lib/${name}`), `mod.ts should not re-export lib/${name}`);
      continue;
    }
    assert.ok(
      mod.includes(`export * from "./lib/${name}";`),
      `mod.ts does not re-export lib/${name}`,
    );
  }
});
