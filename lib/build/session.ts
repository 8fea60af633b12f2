/**
 * A build session: what one API call or one command-line run shares while it
 * turns definitions into images. It owns the blob store and the progress
 * display, remembers what it resolved (an image two outputs need is built
 * once), and carries the encoding the outputs want new layers in.
 *
 * @module
 */

import { BlobStore } from "../cache/blob_store.ts";
import type { Image } from "../model/image.ts";
import type { Encoding } from "../model/layer.ts";
import type { Digest } from "../codec/sha256.ts";
import { Progress } from "../host/progress.ts";
import { noteActivity } from "../host/activity.ts";

/**
 * Something a session can resolve into an image (the DSL's image values).
 *
 * @example
 * ```ts
 * import type { Image } from "../model/image.ts";
 *
 * declare const image: Image; // e.g. one read with readImage
 * const fixed: Resolvable = { resolve: () => Promise.resolve(image) };
 * await BuildSession.open().resolveImage(fixed) === image; // true
 * ```
 */
export interface Resolvable {
  /** Builds (or reads, or pulls) the image into the session's store. */
  resolve(session: BuildSession): Promise<Image>;
}

/** Options of {@link BuildSession.open}. */
export interface SessionOptions {
  /** Cache folder (blob store). Default: `$DOCKWRIGHT_CACHE_DIR`, else `$XDG_CACHE_HOME/dockwright`. */
  cacheDir?: string;
  /** Progress on stderr: a reporter, or on/off. Default: on when stderr is a terminal and CI is unset. */
  progress?: boolean | Progress;
  /**
   * How new layers are first written into the store: what the outputs of
   * this session need (`none` for docker-archives and streams, the
   * compressor for OCI outputs and pushes). A hint for speed only: cache
   * keys never include it, and any encoding serves any output. Default `none`.
   */
  layerEncoding?: Encoding;
}

/**
 * One build: blob store, progress, and the values resolved so far.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const session = BuildSession.open({ progress: false, layerEncoding: "zstd" });
 * const hello = buildImage({ name: "hello", copyToRoot: "./rootfs" });
 * const image = await session.resolveImage(hello);
 * await session.resolveImage(hello) === image; // true: built once per session
 * // [false] when this session built the layer, [true] when it came from the cache:
 * image.layers.map((l) => session.isCached(l.diffId));
 * ```
 */
export class BuildSession {
  /** How new layers are first encoded (see {@link SessionOptions.layerEncoding}). */
  layerEncoding: Encoding;
  readonly #memo = new Map<unknown, Promise<unknown>>();
  readonly #built = new Set<string>();

  private constructor(
    /** The content-addressed blob store. */
    readonly store: BlobStore,
    /** Where progress goes. */
    readonly progress: Progress,
    layerEncoding: Encoding,
  ) {
    this.layerEncoding = layerEncoding;
  }

  /** Opens a session on the store at `options.cacheDir` (created when missing). */
  static open(options: SessionOptions = {}): BuildSession {
    noteActivity();
    const progress = options.progress instanceof Progress
      ? options.progress
      : options.progress === undefined
      ? Progress.auto()
      : new Progress(options.progress);
    return new BuildSession(
      BlobStore.open(options.cacheDir),
      progress,
      options.layerEncoding ?? "none",
    );
  }

  /**
   * The result of `make`, computed once per session and `key` (an object or a
   * string). A failed computation is forgotten, so a later call tries again.
   */
  memo<T>(key: unknown, make: () => Promise<T>): Promise<T> {
    let pending = this.#memo.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = make();
      this.#memo.set(key, pending);
      pending.catch(() => this.#memo.delete(key));
    }
    return pending;
  }

  /** Notes that the layer `diffId` was built (its sources read, or its scripts run) in this session. */
  markBuilt(diffId: Digest): void {
    this.#built.add(diffId);
  }

  /**
   * True when the layer `diffId` came from the cache (or from the image it
   * was read from) rather than being built in this session.
   */
  isCached(diffId: Digest): boolean {
    return !this.#built.has(diffId);
  }

  /** Resolves `value` into an image, once per session. */
  resolveImage(value: Resolvable): Promise<Image> {
    return this.memo(value, () => value.resolve(this));
  }
}
