/**
 * Content-addressed blob store in the cache folder.
 *
 * Layout: `blobs/sha256/<hex>` holds verified blobs; `tmp/` holds writes in
 * flight; `records/<kind>/<key>.json` holds small metadata (for example which
 * layer blobs a layer fingerprint produced). A blob is written to `tmp/`,
 * hashed while it is written, and renamed into `blobs/` only when complete, so
 * a reader never sees a partial blob and an interrupted build leaves the
 * store valid.
 *
 * @module
 */

import {
  chmodSync,
  constants,
  copyFileSync,
  createReadStream,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type Digest, digestOf, isDigest } from "../codec/sha256.ts";
import { discardTemp, releaseTemp, sweepDeadTemps, tempPathFor } from "../host/temp_files.ts";

/** A blob's identity: its digest and byte size. */
export interface BlobRef {
  /** sha256 of the blob's bytes. */
  digest: Digest;
  /** Byte size of the blob. */
  size: number;
}

/**
 * The default cache folder: `$DOCKWRIGHT_CACHE_DIR`, else `$XDG_CACHE_HOME/dockwright`,
 * else `~/.cache/dockwright`.
 *
 * @example
 * ```ts
 * defaultCacheDir(); // "/home/me/.cache/dockwright" when neither variable is set
 * ```
 */
export function defaultCacheDir(): string {
  const env = process.env;
  if (env.DOCKWRIGHT_CACHE_DIR) return env.DOCKWRIGHT_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "dockwright");
}

/**
 * True when a blob may be handed out as a hard link: its mode (0444) then
 * keeps a write through the output from changing the cache. Not for root,
 * whom modes do not stop: root gets copies.
 *
 * @example
 * ```ts
 * linksAreSafe(); // false when running as root
 * ```
 */
export function linksAreSafe(): boolean {
  return process.getuid?.() !== 0;
}

/**
 * The content-addressed store.
 *
 * @example
 * ```ts
 * const store = BlobStore.open(); // at defaultCacheDir()
 * const ref = store.putBytes(new TextEncoder().encode("{}"));
 * ref; // { digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 }
 * store.has(ref.digest); // true
 * new TextDecoder().decode(store.readBytes(ref.digest)); // "{}"
 * ```
 */
export class BlobStore {
  private constructor(readonly root: string) {}

  /** Opens (and creates) the store at `root`, by default {@link defaultCacheDir}. */
  static open(root: string = defaultCacheDir()): BlobStore {
    for (const sub of ["blobs/sha256", "tmp", "records"]) {
      mkdirSync(join(root, sub), { recursive: true });
    }
    const store = new BlobStore(root);
    store.#sweepStaleTemps();
    return store;
  }

  /**
   * The store at `root`, which {@link BlobStore.open} has opened in this
   * process: no folder is created or swept (for worker threads).
   */
  static attach(root: string): BlobStore {
    return new BlobStore(root);
  }

  /**
   * Temp files of processes that are gone (killed, crashed) are removed: in
   * the store's `tmp/` and in the system's temp folder (work folders of
   * layers and exports). Temp files older than a day are removed too, whoever
   * made them (another machine sharing the cache); nobody will finish them.
   */
  #sweepStaleTemps(): void {
    const dir = join(this.root, "tmp");
    sweepDeadTemps(dir);
    sweepDeadTemps(tmpdir());
    const cutoff = Date.now() - 24 * 3600 * 1000;
    for (const name of readdirSync(dir)) {
      try {
        if (statSync(join(dir, name)).mtimeMs < cutoff) {
          rmSync(join(dir, name), { force: true, recursive: true });
        }
      } catch {
        // Another process may have just removed it.
      }
    }
  }

  /** Path of the blob `digest` (it may not exist). */
  blobPath(digest: Digest): string {
    if (!isDigest(digest)) throw new TypeError(`not a sha256 digest: ${digest}`);
    return join(this.root, "blobs", "sha256", digest.slice(7));
  }

  /** True when the blob is present. */
  has(digest: Digest): boolean {
    return existsSync(this.blobPath(digest));
  }

  /** Byte size of a present blob. */
  size(digest: Digest): number {
    return statSync(this.blobPath(digest)).size;
  }

  /** A new temporary file path inside the store, removed on interrupt until committed. */
  tempFile(): string {
    return tempPathFor(join(this.root, "tmp", "blob"));
  }

  /**
   * Moves a finished temp file into place under `digest`. The caller computed
   * `digest` from the bytes as it wrote them. Blobs are read-only (0444):
   * outputs may hard-link them (see `oci_layout/write.ts`), and a write
   * through such a link then fails instead of changing the cache.
   */
  commit(tempFile: string, digest: Digest): BlobRef {
    const target = this.blobPath(digest);
    if (existsSync(target)) {
      discardTemp(tempFile);
    } else {
      chmodSync(tempFile, 0o444);
      renameSync(tempFile, target);
      releaseTemp(tempFile);
    }
    return { digest, size: this.size(digest) };
  }

  /**
   * Puts the blob `digest` at `target` (a path that does not exist yet) for
   * an output such as an OCI layout's `blobs/sha256/`: a hard link to the
   * read-only blob (no bytes copied) when {@link linksAreSafe}, else, or when
   * the link fails (another file system), a copy (a reflink where the file
   * system can) that the user may change (0644). Returns which it made.
   */
  place(digest: Digest, target: string): "link" | "copy" {
    const source = this.blobPath(digest);
    if (linksAreSafe()) {
      try {
        // Blobs of older caches may still be writable.
        if ((statSync(source).mode & 0o222) !== 0) chmodSync(source, 0o444);
        linkSync(source, target);
        return "link";
      } catch {
        // Another file system, or too many links: copy.
      }
    }
    this.copyOut(digest, target);
    return "copy";
  }

  /**
   * Copies the blob `digest` to `target` (a reflink where the file system
   * can): a file of the user's own (0644), unlike the read-only blob.
   */
  copyOut(digest: Digest, target: string): void {
    copyFileSync(this.blobPath(digest), target, constants.COPYFILE_FICLONE);
    chmodSync(target, 0o644);
  }

  /** Stores small bytes (configs, manifests) and returns their reference. */
  putBytes(bytes: Uint8Array): BlobRef {
    const digest = digestOf(bytes);
    if (!this.has(digest)) {
      const tmp = this.tempFile();
      writeFileSync(tmp, bytes);
      this.commit(tmp, digest);
    }
    return { digest, size: bytes.length };
  }

  /** Reads a whole (small) blob. */
  readBytes(digest: Digest): Uint8Array {
    return readFileSync(this.blobPath(digest));
  }

  /** Streams a blob in large chunks. */
  read(digest: Digest): AsyncIterable<Uint8Array> {
    return createReadStream(this.blobPath(digest), { highWaterMark: 1 << 20 });
  }

  /**
   * Reads a metadata record, or undefined when absent or unreadable.
   *
   * @typeParam T the record's shape, as it was written with {@link BlobStore.putRecord}
   */
  getRecord<T>(kind: string, key: string): T | undefined {
    try {
      return JSON.parse(readFileSync(join(this.root, "records", kind, `${key}.json`), "utf8")) as T;
    } catch {
      return undefined;
    }
  }

  /** Writes a metadata record atomically. */
  putRecord(kind: string, key: string, value: unknown): void {
    const dir = join(this.root, "records", kind);
    mkdirSync(dir, { recursive: true });
    const tmp = this.tempFile();
    writeFileSync(tmp, JSON.stringify(value));
    renameSync(tmp, join(dir, `${key}.json`));
    releaseTemp(tmp);
  }
}
