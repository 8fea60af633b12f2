/**
 * The threaded blob writer (layers of 32 MiB and more are hashed and
 * compressed in a worker): chunks it does not own are copied before they go
 * to the worker, so a producer's buffer (a zstd or gzip decoder's output
 * buffer) is never taken from it; a zstd layer turned into its plain tar
 * through it (a docker-archive built from a cache filled by an OCI zstd
 * build) has the right diffId.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobStore } from "../lib/cache/blob_store.ts";
import { storeTarStream } from "../lib/cache/store_tar_stream.ts";
import { ThreadedBlobWriter } from "../lib/cache/threaded_blob_writer.ts";
import { decompress } from "../lib/codec/decompress.ts";
import { requireTools, rmrf, runOk, tempDir } from "./helpers/tools.ts";

const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

describe("threaded blob writer", () => {
  let dir: string;
  before(() => {
    dir = tempDir("dw-blob-writer-");
  });
  after(() => rmrf(dir));

  it("copies a chunk it does not own: the producer's buffer stays whole", async () => {
    const writer = new ThreadedBlobWriter(join(dir, "blob"), "none");
    // A Buffer view, as zlib's and zstd's decoders hand out: `slice()` of it is a view too.
    const backing = Buffer.alloc(1 << 20, 7);
    const views = [backing.subarray(0, 4096), backing.subarray(4096, 65536)];
    for (const view of views) await writer.write(view);
    assert.equal(backing.buffer.byteLength, 1 << 20, "the producer's buffer is not detached");
    assert.equal(backing[100], 7);
    const { diffId } = await writer.finish();
    assert.equal(diffId, sha256(backing.subarray(0, 65536)));
  });

  it("turns a 40 MiB zstd layer into its tar with the right diffId", async (t) => {
    if (!requireTools(t, ["zstd"])) return;
    // Text that compresses and noise that does not, as in real layers.
    const tar = new Uint8Array(40 << 20);
    let x = 0x9e3779b9;
    for (let i = 0; i < tar.length; i++) {
      if ((i >> 15) % 4 === 0) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        tar[i] = x & 0xff;
      } else tar[i] = "nix store path ".charCodeAt(i % 15);
    }
    writeFileSync(join(dir, "layer.tar"), tar);
    await runOk("zstd", ["-q", "-3", "-f", join(dir, "layer.tar"), "-o", join(dir, "layer.zst")]);
    const store = BlobStore.open(join(dir, "cache"));
    const zst = store.putBytes(readFileSync(join(dir, "layer.zst")));
    // The size hint puts it in the worker, as encodeLayer does for a big layer.
    const { diffId, blob } = await storeTarStream(
      store,
      decompress(store.read(zst.digest)),
      "none",
      undefined,
      tar.length,
    );
    assert.equal(diffId, sha256(tar));
    assert.equal(blob.digest, diffId);
  });
});
