/**
 * The error every reader raises for an archive, layout, config or manifest
 * that is not a valid image, and the one JSON parser they share.
 *
 * @module
 */

import { checkJsonDepth, checkLimit, InputError, inputLimits } from "../host/input_limits.ts";

/**
 * An archive, layout or document that is not a valid image; the message
 * names the source (file, folder or reference) first.
 *
 * @example
 * ```ts
 * new ImageFormatError("./base.tar", "manifest.json is missing").message; // "./base.tar: manifest.json is missing"
 * ```
 */
export class ImageFormatError extends InputError {
  /**
   * An invalid image, named by where it was read from.
   *
   * @param source the file, folder or reference read
   * @param problem what is wrong with it
   */
  constructor(source: string, problem: string) {
    super(source, problem);
    this.name = "ImageFormatError";
  }
}

/**
 * Parses `bytes` as JSON; an {@link ImageFormatError} naming the source and
 * member otherwise. A document larger than `maxJsonBytes` or nesting deeper
 * than `maxJsonDepth` (see `host/input_limits.ts`) is an `InputError` naming
 * the limit, before anything is parsed.
 *
 * @example
 * ```ts
 * parseJson("./base.tar", "manifest.json", new TextEncoder().encode("[]")); // []
 * ```
 */
export function parseJson(source: string, name: string, bytes: Uint8Array): unknown {
  const limits = inputLimits();
  checkLimit(source, name, bytes.length, "maxJsonBytes", limits);
  checkJsonDepth(source, name, bytes, limits.maxJsonDepth);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new ImageFormatError(source, `${name} is not valid JSON (${(error as Error).message})`);
  }
}

/**
 * `error` with `source` (an input file or folder) in front of its message,
 * unless the message names it already: for errors met while reading what
 * `source` holds, such as a layer that cannot be applied. Returns `error`.
 *
 * @example
 * ```ts
 * const e = namingSource(new Error("layer sha256:ab..: bad whiteout"), "./base.tar");
 * (e as Error).message; // "./base.tar: layer sha256:ab..: bad whiteout"
 * ```
 */
export function namingSource(error: unknown, source: string | undefined): unknown {
  if (source && error instanceof Error && !error.message.includes(source)) {
    error.message = `${source}: ${error.message}`;
  }
  return error;
}
