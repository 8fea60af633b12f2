/**
 * Worker thread of the layer pipeline: receives uncompressed tar chunks
 * (transferred, not copied) and runs {@link BlobWriter} on them, so reading
 * files and building tar headers (main thread) overlaps with hashing,
 * compressing and writing (here). Each processed chunk is acknowledged and
 * its buffer sent back: the acknowledgements are the main thread's
 * backpressure, the returned buffers its buffer pool.
 *
 * @module
 */

import { parentPort, workerData } from "node:worker_threads";
import { BlobWriter } from "./blob_writer.ts";

interface ChunkMessage {
  buffer?: ArrayBuffer;
  offset?: number;
  length?: number;
  end?: boolean;
}

const port = parentPort!;
const writer = new BlobWriter(workerData.path, workerData.compressor);
let queue: Promise<void> = Promise.resolve();
let failed = false;

port.on("message", (message: ChunkMessage) => {
  queue = queue.then(async () => {
    if (failed) return;
    try {
      if (message.buffer) {
        await writer.write(new Uint8Array(message.buffer, message.offset, message.length));
        // Hand the buffer back for reuse: the main thread allocates no new chunk buffers in steady state.
        port.postMessage({ ack: message.length, buffer: message.buffer }, [message.buffer]);
      } else if (message.end) {
        port.postMessage({ done: await writer.finish() });
        port.close();
      }
    } catch (error) {
      failed = true;
      writer.abort();
      port.postMessage({ error: (error as Error)?.message ?? String(error) });
    }
  });
});
