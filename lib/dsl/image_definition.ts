/**
 * Lazy image values: what builder calls return. Like a Nix derivation, an
 * image definition is checked when it is written and built only when asked.
 *
 * @module
 */

import type { BlobStore } from "../cache/blob_store.ts";
import type { Compressor } from "../codec/compress.ts";
import type { BuiltImage } from "../model/image.ts";
import type { Progress } from "../host/progress.ts";

/** What a definition needs while it is being built. */
export interface BuildContext {
  store: BlobStore;
  /** Compression of the layer blobs: `none` for docker-archive (the archive is compressed as a whole). */
  layerCompressor: Compressor;
  progress: Progress;
  /** Builds (once per build) an image another image depends on, e.g. a `fromImage`. */
  resolveImage(image: ImageDefinition): Promise<BuiltImage>;
}

/**
 * A build context whose `resolveImage` builds each dependency once.
 *
 * @example
 * ```ts
 * const ctx = createContext(BlobStore.open(), "none", Progress.silent());
 * ```
 */
export function createContext(
  store: BlobStore,
  layerCompressor: Compressor,
  progress: Progress,
): BuildContext {
  const built = new Map<ImageDefinition, Promise<BuiltImage>>();
  const context: BuildContext = {
    store,
    layerCompressor,
    progress,
    resolveImage(image) {
      let pending = built.get(image);
      if (!pending) {
        pending = image.resolve(context);
        built.set(image, pending);
      }
      return pending;
    },
  };
  return context;
}

/**
 * An image definition returned by `buildImage` and friends.
 *
 * @example
 * ```ts
 * const image = buildImage({ name: "hello" });
 * image.imageName; // "hello"
 * ```
 */
/**
 * Marks image values across module copies: an image file run by the compiled
 * executable imports its own copy of dockwright, so `instanceof` is not enough.
 */
const BRAND = Symbol.for("dockwright.ImageDefinition");

export abstract class ImageDefinition {
  /** See {@link BRAND}. */
  readonly [BRAND] = true;

  /** The Nix function that made it, e.g. `"buildImage"`. */
  abstract readonly builder: string;
  /** `name` as given. */
  abstract readonly name: string;
  /** The repository name (`lib.toLower name`), Nix's `imageName`. */
  abstract readonly imageName: string;
  /** The tag given, or null when it is derived from the content at build time. */
  abstract readonly tag: string | null;
  /** The image's own `compressor`. */
  abstract readonly compressor: Compressor;
  /** Nix `meta`: free-form information, not used by the build. */
  abstract readonly meta: Record<string, unknown>;
  /** Nix `passthru`: free-form attributes kept on the value. */
  readonly passthru: Record<string, unknown> = {};

  /** Builds the layers and config into the store. */
  abstract resolve(context: BuildContext): Promise<BuiltImage>;

  /** True when the Nix result is a streaming script (`streamLayeredImage`). */
  get streams(): boolean {
    return false;
  }

  /** Nix's derivation base name (`baseNameOf name`), used for default output names. */
  get baseName(): string {
    return this.name.split("/").pop()!;
  }
}

/**
 * True for values returned by the image builders.
 *
 * @example
 * ```ts
 * isImageDefinition(buildImage({ name: "x" })); // true
 * ```
 */
export function isImageDefinition(value: unknown): value is ImageDefinition {
  return value instanceof ImageDefinition ||
    (typeof value === "object" && value !== null &&
      (value as Record<symbol, unknown>)[BRAND] === true);
}
