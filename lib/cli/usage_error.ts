/**
 * Errors in how the command line was used (exit code 2).
 *
 * @module
 */

/**
 * A wrong flag, a missing argument, or an image file without images.
 *
 * @example
 * ```ts
 * throw new UsageError("unknown format \"tgz\"", "dockwright build --help");
 * ```
 */
export class UsageError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "UsageError";
  }
}
