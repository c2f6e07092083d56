import assert from "node:assert/strict";
import { updatedReadme } from "../experiments/readme_table.ts";

Deno.test("README.md's results section is what `deno task readme` generates from the committed results", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.equal(readme, await updatedReadme(), "README.md is stale: run `deno task readme`");
});
