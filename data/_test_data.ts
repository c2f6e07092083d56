/** Why a test that reads downloaded data is skipped, in its name. */
export const NEEDS_DATA = "needs the downloaded data sets: set EFA_DATA_DIR, see data/README.md";

/** Where the data tests read real files: EFA_DATA_DIR, else ../shared/data beside the repo. */
export function testDataRoot(): string | undefined {
  const candidates = [
    Deno.env.get("EFA_DATA_DIR"),
    decodeURIComponent(new URL("../../shared/data", import.meta.url).pathname),
  ];
  for (const dir of candidates) {
    if (dir === undefined || dir === "") continue;
    try {
      if (Deno.statSync(`${dir}/movielens/ml-100k/u.data`).isFile) return dir;
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * The name and `ignore` of a test that reads the downloaded data sets: without
 * them it is skipped, and its name says why.
 */
export function withData(name: string): { name: string; ignore: boolean } {
  const missing = testDataRoot() === undefined;
  return { name: missing ? `${name} (skipped: ${NEEDS_DATA})` : name, ignore: missing };
}
