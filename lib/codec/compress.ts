/**
 * Layer and archive compressors, as Nix's `compressor` attribute names them.
 *
 * - `gz`: `node:zlib` gzip level 6 (Nix uses `pigz -nTR`, level 6, no name, no
 *   mtime). Deno and Bun link different zlib builds, so gzip bytes can differ
 *   between the runtimes; uncompressed content (diff_ids) never does.
 * - `zstd`: the host's libzstd (see `libzstd.ts`), level 3 with a content
 *   checksum on worker threads: the same bytes as `zstd -3 -T<n>`, which Nix
 *   runs, in both runtimes. Without libzstd, the runtime's own zstd
 *   (`node:zlib`) after a one-line notice: valid zstd, but other bytes, under
 *   another {@link compressorId}.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { Transform } from "node:stream";
import { zstdCodec, ZstdCompressor } from "./libzstd.ts";

/** The values of Nix's `compressor` attribute. */
export const COMPRESSORS = ["none", "gz", "zstd"] as const;

/** One of {@link COMPRESSORS}. */
export type Compressor = typeof COMPRESSORS[number];

/** File name extension Nix gives an archive per compressor. */
export const COMPRESSOR_EXTENSION: Record<Compressor, string> = {
  none: "",
  gz: ".gz",
  zstd: ".zst",
};

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
    case "zstd":
      return createZstdTransform();
  }
}

/**
 * The codec behind `kind`, for cache keys: compressed bytes are reused only
 * from the same codec (another libzstd may write other bytes; without
 * libzstd, node:zlib's zstd is `"zstd/zlib-<runtime>-<version>"`). Fails with
 * a {@link ZstdError} up front when Deno lacks `--allow-ffi`.
 *
 * @example
 * ```ts
 * await compressorId("zstd"); // "zstd/libzstd-1.5.4"
 * ```
 */
export async function compressorId(kind: Compressor): Promise<string> {
  return kind === "zstd" ? `zstd/${await zstdCodec()}` : kind;
}

/** libzstd as a node:stream Transform (opened on first use; freed when destroyed). */
function createZstdTransform(): Transform {
  let opened: Promise<ZstdCompressor> | undefined;
  const open = () => (opened ??= ZstdCompressor.open());
  return new Transform({
    transform(chunk: Uint8Array, _encoding, done) {
      // Errors thrown while compressing go to `done` too (they fail the stream, not the process).
      open().then((z) => z.push(chunk, (part) => this.push(part.slice()))).then(() => done(), done);
    },
    flush(done) {
      open().then((z) => z.end((part) => this.push(part.slice()))).then(() => done(), done);
    },
    destroy(error, done) {
      opened?.then((z) => z.free(), () => {});
      done(error);
    },
  });
}
