/**
 * Writing a whole buffer to a file descriptor.
 *
 * @module
 */

import { writeSync } from "node:fs";

/**
 * Writes all of `bytes` to `fd` (one `writeSync` may write less than asked).
 *
 * @example
 * ```ts
 * import { closeSync, openSync } from "node:fs";
 * const fd = openSync("/tmp/out", "w");
 * writeAll(fd, new TextEncoder().encode("hi\n"));
 * closeSync(fd);
 * ```
 */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}
