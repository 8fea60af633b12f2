/**
 * Worker thread of `store_layer_build.ts`. It waits for work (a layered
 * image's store layers); then it takes jobs from the shared counter until
 * none is left, builds (or finds) each layer whole in this thread, reports
 * each result, its failure and progress, says it is done, and waits for the
 * next work (the next image of the same run).
 *
 * @module
 */

import { parentPort } from "node:worker_threads";
import { BlobStore } from "../cache/blob_store.ts";
import { storeLayerJob, type StoreLayerMessage, type StoreLayerWork } from "./store_layer_build.ts";

const port = parentPort!;

/** `Omit` for each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Progress is sent in pieces of at least this many bytes. */
const PROGRESS_STEP = 8 << 20;

async function run(work: StoreLayerWork): Promise<void> {
  const post = (m: DistributiveOmit<StoreLayerMessage, "id">) =>
    port.postMessage({ ...m, id: work.id });
  const store = BlobStore.attach(work.cacheRoot);
  const counter = new Int32Array(work.counter);
  let unsent = 0;
  const onBytes = (n: number) => {
    unsent += n;
    if (unsent >= PROGRESS_STEP) {
      post({ progress: unsent });
      unsent = 0;
    }
  };
  for (;;) {
    const next = Atomics.add(counter, 0, 1);
    if (next >= work.groups.length) break;
    const i = work.order[next];
    post({ start: i });
    try {
      const result = await storeLayerJob(store, work.groups[i], work.settings, work.encoding, {
        tempFile: work.temps[i],
        onBytes,
        zstdThreads: work.zstdThreads,
      });
      post({ done: i, result });
    } catch (error) {
      const e = error as Error;
      post({ failed: i, name: e?.name ?? "Error", message: e?.message ?? String(error) });
      break;
    }
  }
  if (unsent > 0) post({ progress: unsent });
  post({ exit: true });
}

// One piece of work at a time: the next comes only after this one's `exit`.
port.on("message", (m: { work?: StoreLayerWork }) => {
  if (m.work) void run(m.work);
});
