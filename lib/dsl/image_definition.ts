/**
 * Lazy image values: what builder calls return. Like a Nix derivation, an
 * image definition is checked when it is written and built only when asked.
 *
 * @module
 */

import type { Compressor } from "../codec/compress.ts";
import type { BuildSession, Resolvable } from "../build/session.ts";
import type { Image } from "../model/image.ts";
import { Definition } from "./definition.ts";

/**
 * What a definition is built in: the build session (blob store, progress,
 * memo of resolved values, the encoding new layers are written in).
 */
export type BuildContext = BuildSession;

/**
 * Marks image values across module copies: an image file run by the compiled
 * executable imports its own copy of dockwright, so `instanceof` is not enough.
 */
const BRAND = Symbol.for("dockwright.ImageDefinition");

/**
 * An image definition returned by `buildImage` and friends.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const image: ImageDefinition = buildImage({ name: "Hello", tag: "1.0" });
 * image.imageName; // "hello"
 * image.tag; // "1.0"
 * image.compressor; // "gz"
 * ```
 */
export abstract class ImageDefinition extends Definition implements Resolvable {
  /** See {@link BRAND}. */
  readonly [BRAND] = true;

  /** `name` as given. */
  abstract override readonly name: string;
  /** The repository name (`lib.toLower name`), Nix's `imageName`. */
  abstract readonly imageName: string;
  /** The tag given, or null when it is derived from the content at build time. */
  abstract readonly tag: string | null;
  /** The image's own `compressor`. */
  abstract readonly compressor: Compressor;
  /** Nix `passthru`: free-form attributes kept on the value. */
  readonly passthru: Record<string, unknown> = {};

  /** Builds the layers and config into the session's store (call `session.resolveImage(definition)` to build it once). */
  abstract resolve(session: BuildSession): Promise<Image>;

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
 * import { buildImage, exportImage } from "../../mod.ts";
 *
 * isImageDefinition(buildImage({ name: "x" })); // true
 * isImageDefinition(exportImage({ fromImage: "./x.tar" })); // false (an artifact)
 * ```
 */
export function isImageDefinition(value: unknown): value is ImageDefinition {
  return value instanceof ImageDefinition ||
    (typeof value === "object" && value !== null &&
      (value as Record<symbol, unknown>)[BRAND] === true);
}
