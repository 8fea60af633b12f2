/**
 * Layer and archive compressors, as Nix's `compressor` attribute names them.
 *
 * - `gz`: `node:zlib` gzip level 6 (Nix uses `pigz -nTR`, level 6, no name, no
 *   mtime). Deno and Bun link different zlib builds, so gzip bytes can differ
 *   between the runtimes; uncompressed content (diff_ids) never does.
 * - `zstd`: `node:zlib` zstd level 3 (Nix's `zstd` default level); identical
 *   bytes in both runtimes.
 *
 * @module
 */

import * as zlib from "node:zlib";
import type { Transform } from "node:stream";

/** The values of Nix's `compressor` attribute. */
export const COMPRESSORS = ["none", "gz", "zstd"] as const;

/** One of {@link COMPRESSORS}. */
export type Compressor = typeof COMPRESSORS[number];

/** File name extension Nix gives an archive per compressor. */
export const COMPRESSOR_EXTENSION: Record<Compressor, string> = { none: "", gz: ".gz", zstd: ".zst" };

/**
 * A streaming compressor for `kind`, or null for `none`.
 *
 * @example
 * ```ts
 * const gz = createCompressor("gz"); // a node:stream Transform
 * ```
 */
export function createCompressor(kind: Compressor): Transform | null {
  switch (kind) {
    case "none":
      return null;
    case "gz":
      return zlib.createGzip({ level: 6, chunkSize: 256 * 1024 });
    case "zstd": {
      const z = zlib as unknown as {
        createZstdCompress(o: unknown): Transform;
        constants: Record<string, number>;
      };
      return z.createZstdCompress({
        chunkSize: 256 * 1024,
        params: { [z.constants.ZSTD_c_compressionLevel]: 3 },
      });
    }
  }
}
