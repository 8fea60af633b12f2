/**
 * The one kind of lazy value the builders return. Like a Nix derivation, a
 * definition is checked when it is written and built only when asked
 * (`build()`, `main(import.meta)`, `dockwright build`). Two families share
 * it: image definitions (`buildImage`, `buildLayeredImage`, `pullImage`, ...)
 * resolve into an image that any output can take; artifact definitions
 * (`exportImage`, `mergeImages`) write one file of their own kind.
 *
 * @module
 */

/**
 * Marks definitions across module copies: an image file run by the compiled
 * executable imports its own copy of dockwright, so `instanceof` is not enough.
 */
const BRAND = Symbol.for("dockwright.Definition");

/**
 * A lazy value returned by a builder.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 * const value: Definition = buildImage({ name: "hello" });
 * value.builder; // "buildImage"
 * ```
 */
export abstract class Definition {
  /** See {@link BRAND}. */
  readonly [BRAND] = true;
  /** The Nix function that made it, e.g. `"buildImage"` or `"mergeImages"`. */
  abstract readonly builder: string;
  /** Nix's `name`: the image name, or the file name of an artifact. */
  abstract readonly name: string;
  /** Nix `meta`: free-form information, not used by the build. */
  abstract readonly meta: Record<string, unknown>;
}

/**
 * True for any value a builder returned (an image or an artifact definition).
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 * isDefinition(buildImage({ name: "x" })); // true
 * isDefinition({ name: "x" }); // false
 * ```
 */
export function isDefinition(value: unknown): value is Definition {
  return value instanceof Definition ||
    (typeof value === "object" && value !== null &&
      (value as Record<symbol, unknown>)[BRAND] === true);
}
