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
