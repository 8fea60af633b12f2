/**
 * Running async work on many items with a bound on how many run at once
 * (layer downloads and uploads).
 *
 * @module
 */

/**
 * `items.map(fn)` with at most `limit` calls in flight; results keep the
 * order of `items`. The first failure rejects (calls already running finish).
 *
 * @example
 * ```ts
 * import { stat } from "node:fs/promises";
 * const sizes = await mapLimit(["a.tar", "b.tar", "c.tar", "d.tar"], 3, async (path) => (await stat(path)).size);
 * ```
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index], index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (rejected) throw rejected.reason;
  return results;
}
