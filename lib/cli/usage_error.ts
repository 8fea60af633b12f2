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
 * const error = new UsageError('unknown format "tgz"', "dockwright build --help");
 * error.message; // 'unknown format "tgz"'
 * error.hint; // "dockwright build --help"
 * ```
 */
export class UsageError extends Error {
  /**
   * A usage error, with what to do instead.
   *
   * @param message what is wrong with the command line
   * @param hint what to run or change instead
   */
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "UsageError";
  }
}
