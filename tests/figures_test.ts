/**
 * Snapshot tests of every figure, in the manner of Plot's own test harness:
 * each figure is rendered again from the committed results and compared,
 * after normalisation (generated ids renumbered, long decimals rounded), with
 * its committed file in `experiments/results/figures/`. On a mismatch the new
 * rendering is written beside it as `<name>-changed.svg` for review; run
 * `deno task figures` to accept it deliberately.
 *
 * A figure whose inputs do not exist yet (a table not yet run in full) is an
 * ignored test; one whose committed file exists but whose inputs are gone fails.
 */
import assert from "node:assert/strict";
import { NEEDS_DATA, testDataRoot } from "../data/_test_data.ts";
import { abbreviate, figureFile, FIGURES, renderFigure } from "../experiments/figures.ts";

const root = testDataRoot();

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}

for (const figure of FIGURES) {
  const file = figureFile(figure);
  const committed = await exists(file);
  // The Instacart figures read the product names of the downloaded data.
  const skippedForData = root === undefined && figure.readsDownloadedData === true;
  Deno.test({
    name: `figure ${figure.name} matches its committed snapshot${
      skippedForData ? ` (skipped: ${NEEDS_DATA})` : ""
    }`,
    ignore: !committed || skippedForData,
    fn: async () => {
      const rendered = await renderFigure(figure, root === undefined ? {} : { dataDir: root });
      assert.ok(rendered !== null, `${figure.name}: its results are missing, the snapshot is not`);
      const expected = await Deno.readTextFile(file);
      if (rendered !== expected) {
        const changed = new URL(file.href.replace(/\.(svg|md)$/, "-changed.$1"));
        await Deno.writeTextFile(changed, rendered);
        assert.fail(
          `${figure.name} differs from ${file.pathname}; the new rendering is in ${changed.pathname} ` +
            "(deno task figures accepts it)",
        );
      }
    },
  });
}

Deno.test("every written figure is a standalone SVG document with a title", async () => {
  for (const figure of FIGURES) {
    const file = figureFile(figure);
    if (!file.pathname.endsWith(".svg") || !(await exists(file))) continue;
    const svg = await Deno.readTextFile(file);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="\d+" height="\d+"/);
    assert.match(svg, /font-weight="bold"/, `${figure.name}: no title`);
    assert.ok(svg.trimEnd().endsWith("</svg>"), `${figure.name}: not closed`);
  }
});

Deno.test("abbreviate() takes the initials of a product's words and leaves out parenthesised notes", () => {
  assert.equal(abbreviate("Organic Italian Parsley Bunch"), "OIPB");
  assert.equal(abbreviate("Organic Garnet Sweet Potato (Yam)"), "OGSP");
  assert.equal(abbreviate("100% Whole Wheat Bread"), "1WWB");
  assert.equal(abbreviate("Apple Honeycrisp Organic"), "AHO");
});
