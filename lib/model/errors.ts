/**
 * The error every reader raises for an archive, layout, config or manifest
 * that is not a valid image, and the one JSON parser they share.
 *
 * @module
 */

/**
 * An archive, layout or document that is not a valid image; the message
 * names the source (file, folder or reference) first.
 *
 * @example
 * ```ts
 * new ImageFormatError("./base.tar", "manifest.json is missing").message; // "./base.tar: manifest.json is missing"
 * ```
 */
export class ImageFormatError extends Error {
  /**
   * An invalid image, named by where it was read from.
   *
   * @param source the file, folder or reference read
   * @param problem what is wrong with it
   */
  constructor(readonly source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = "ImageFormatError";
  }
}

/**
 * Parses `bytes` as JSON; an {@link ImageFormatError} naming the source and member otherwise.
 *
 * @example
 * ```ts
 * parseJson("./base.tar", "manifest.json", new TextEncoder().encode("[]")); // []
 * ```
 */
export function parseJson(source: string, name: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new ImageFormatError(source, `${name} is not valid JSON (${(error as Error).message})`);
  }
}
