/**
 * Reading an image for `inspect` and `diff` without copying it: each blob is
 * scanned (see `scan.ts`) while it streams out of its archive, layout or
 * registry, and only what the scan learned is kept: the members' headers and
 * content hashes. Small JSON documents (configs, manifests) go to the cache as
 * usual; layers never do, so a 10 GiB image needs neither 10 GiB of memory
 * nor of disk.
 *
 * A blob is scanned before the reader knows whether it is a layer (a
 * docker-archive names its layers in `manifest.json`, often its last member):
 * a blob that is not a tar keeps its error, which is raised only if it is
 * then used as a layer.
 *
 * @module
 */

import type { BlobStore } from "../cache/blob_store.ts";
import {
  BlobCheck,
  type BlobSink,
  diffIdOf,
  type IngestedBlob,
  storedBlob,
  type TakeOptions,
} from "../cache/ingest_blob.ts";
import { decompress, type DecompressOptions, detectCompression } from "../codec/decompress.ts";
import type { Digest } from "../codec/sha256.ts";
import { concatBytes } from "../host/concat_bytes.ts";
import { inputLimits, limitError } from "../host/input_limits.ts";
import { ImageFormatError } from "../model/errors.ts";
import type { Image } from "../model/image.ts";
import { TarError } from "../tar/errors.ts";
import { type LayerScan, scanLayer } from "./scan.ts";

/** A first byte a JSON document may start with: `{`, `[` or white space. */
function looksLikeJson(chunk: Uint8Array): boolean {
  const b = chunk[0];
  return b === 0x7b || b === 0x5b || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/**
 * A {@link BlobSink} that scans every blob as it streams and keeps the scans,
 * not the bytes.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * import { readImage } from "../transport/read_image.ts";
 *
 * const store = BlobStore.open();
 * const sink = new ScanSink(store);
 * const image = await readImage(store, "./big.tar", { sink });
 * const scans = sink.scansOf(image); // by diffId, for analyseImage's `scans`
 * ```
 */
export class ScanSink implements BlobSink {
  readonly #scans = new Map<Digest, LayerScan | Error>();
  /** Members of every tar read, against `maxEntries`: their headers are what memory holds. */
  #entries = 0;
  /** Read once: the check runs for every member. */
  readonly #maxEntries = inputLimits().maxEntries;

  /**
   * A sink keeping small documents in `store`.
   *
   * @param store where configs and manifests go, and blobs already there are read from
   * @param onBytes counts the bytes read (progress)
   */
  constructor(readonly store: BlobStore, readonly onBytes?: (n: number) => void) {}

  /** Scans `source` (every byte of it), checked against `options.expected`. */
  async take(source: AsyncIterable<Uint8Array>, options: TakeOptions): Promise<IngestedBlob> {
    const expected = options.expected;
    if (expected && this.store.has(expected.digest)) {
      // In the cache already (verified when stored): read it there.
      for await (const _ of source) { /* skip */ }
      const blob = await storedBlob(this.store, options.what, expected);
      if (!this.scanOf(blob.digest)) {
        await this.#scan(this.store.read(blob.digest), new BlobCheck(options.what), options);
      }
      return blob;
    }
    return await this.#scan(source, new BlobCheck(options.what, expected), options);
  }

  /** The diff_id of a blob taken: its scan's, or (a blob in the cache) computed there. */
  async diffId(blob: IngestedBlob, options: DecompressOptions = {}): Promise<Digest> {
    const scan = this.#scans.get(blob.digest);
    if (scan instanceof TarError) {
      throw new ImageFormatError(
        options.what ?? blob.digest,
        `cannot be read as a layer's tar archive (${scan.message})`,
      );
    }
    if (scan instanceof Error) throw scan;
    if (scan) return scan.diffId;
    return await diffIdOf(this.store, blob, options);
  }

  /** The bytes of a JSON document taken. */
  bytes(blob: IngestedBlob, what: string): Uint8Array {
    if (!this.store.has(blob.digest)) {
      throw new ImageFormatError(
        what,
        `is not a JSON document (blob ${blob.digest}, ${blob.size} bytes)`,
      );
    }
    return this.store.readBytes(blob.digest);
  }

  /** The scan of the blob `digest`, when it was read as a tar. */
  scanOf(digest: Digest): LayerScan | undefined {
    const scan = this.#scans.get(digest);
    return scan instanceof Error ? undefined : scan;
  }

  /** The scans of `image`'s layers, by diffId (the `scans` option of `analyseImage`). */
  scansOf(image: Image): Map<Digest, Promise<LayerScan>> {
    const out = new Map<Digest, Promise<LayerScan>>();
    for (const layer of image.layers) {
      const scan = layer.origin && this.scanOf(layer.origin.digest);
      if (scan && scan.diffId === layer.diffId) out.set(layer.diffId, Promise.resolve(scan));
    }
    return out;
  }

  #countEntry(what: string): void {
    if (++this.#entries > this.#maxEntries) {
      throw limitError(what, "the image's files", this.#entries, "maxEntries", this.#maxEntries);
    }
  }

  /**
   * Hashes every byte of `source` through `check` while a scan reads it
   * (decompressed). An error of the source (a dropped connection, too many
   * bytes) is thrown; an error of the scan is kept for {@link diffId}.
   */
  async #scan(
    source: AsyncIterable<Uint8Array>,
    check: BlobCheck,
    options: TakeOptions,
  ): Promise<IngestedBlob> {
    const maxDocument = inputLimits().maxJsonBytes;
    let document: Uint8Array[] | undefined;
    let sourceError: unknown;
    const it = source[Symbol.asyncIterator]();
    const pull = async (): Promise<IteratorResult<Uint8Array>> => {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
        if (r.done) return r;
        if (check.size === 0 && r.value.length > 0 && looksLikeJson(r.value)) document = [];
        check.update(r.value);
      } catch (error) {
        sourceError ??= error;
        throw error;
      }
      this.onBytes?.(r.value.length);
      if (document) {
        if (check.size <= maxDocument) document.push(r.value);
        else document = undefined;
      }
      return r;
    };
    // One read of the source at a time, in order: a scan that failed may still have one pending
    // while the rest is read here, and every byte must be hashed once, in its place.
    let previous: Promise<unknown> = Promise.resolve();
    const next = (): Promise<IteratorResult<Uint8Array>> => {
      const result = previous.then(pull, pull);
      previous = result.catch(() => {});
      return result;
    };
    // An uncompressed blob is its own tar: its digest (hashed by `check`) is the diffId, so the
    // scan need not hash it again. Told by the first chunk, when it holds a whole magic.
    let plain = false;
    let scan: LayerScan | Error;
    try {
      const first = await next();
      plain = !first.done && first.value.length >= 4 && detectCompression(first.value) === "none";
      // A generator of its own: the scan may stop early, and the rest is then read here.
      const feed = async function* (): AsyncGenerator<Uint8Array> {
        for (let r = first; !r.done; r = await next()) yield r.value;
      };
      try {
        scan = await scanLayer(
          decompress(feed(), {
            what: options.what,
            member: options.member ?? options.what,
            budget: options.budget,
          }),
          { onMember: () => this.#countEntry(options.what), hashedByCaller: plain },
        );
      } catch (error) {
        if (sourceError !== undefined) throw sourceError;
        scan = error instanceof Error ? error : new Error(String(error));
      }
      while (!(await next()).done) { /* the rest, hashed */ }
    } catch (error) {
      await it.return?.();
      throw error;
    }
    const { digest, size, compressor } = check.finish();
    if (plain && !(scan instanceof Error)) scan.diffId = digest;
    if (document) this.store.putBytes(concatBytes(document, size));
    if (!this.scanOf(digest)) this.#scans.set(digest, scan);
    return { digest, size, compressor };
  }
}
