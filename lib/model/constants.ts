/**
 * Constants shared by builders and writers.
 *
 * @module
 */

/**
 * Nix's SOURCE_DATE_EPOCH (1980-01-01T00:00:00Z, in seconds): the mtime of
 * `buildImage` layer entries and of the members of the archives Nix writes.
 *
 * @example
 * ```ts
 * new Date(SOURCE_DATE_EPOCH * 1000).toISOString(); // "1980-01-01T00:00:00.000Z"
 * ```
 */
export const SOURCE_DATE_EPOCH = 315532800;
