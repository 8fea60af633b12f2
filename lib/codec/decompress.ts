/**
 * Transparent decompression of layer blobs: gzip and zstd are recognised by
 * their magic bytes, anything else passes through unchanged.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * What {@link detectCompression} recognises.
 *
 * @example
 * ```ts
 * const kind: Compression = detectCompression(new Uint8Array([0x1f, 0x8b, 8, 0])); // "gzip"
 * ```
 */
export type Compression = "gzip" | "zstd" | "none";

/**
 * Compressed input could not be decoded (corrupt or truncated gzip/zstd data).
 *
 * @example
 * ```ts
 * const src = (async function* () { yield new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]); })(); // cut short
 * try { for await (const _ of decompress(src)); }
 * catch (e) { if (e instanceof DecompressError) console.error(e.format, e.message); }
 * ```
 */
export class DecompressError extends Error {
  /** Stable machine-readable error code. */
  readonly code = "DECOMPRESS";
  constructor(readonly format: "gzip" | "zstd", cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(
      `the ${format} stream is corrupt or truncated (${detail}); re-download or rebuild the blob`,
      { cause },
    );
    this.name = "DecompressError";
  }
}

/**
 * Names the compression of a stream from its first bytes (at least 4 are
 * needed to recognise zstd; fewer give `"none"` unless they are gzip's 2).
 *
 * @example
 * ```ts
 * detectCompression(new Uint8Array([0x1f, 0x8b, 8, 0])); // "gzip"
 * detectCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])); // "zstd"
 * ```
 */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (
    head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd
  ) return "zstd";
  return "none";
}

/** Output chunk size of the decompressors: large chunks keep per-chunk overhead low on big layers. */
const CHUNK_SIZE = 128 * 1024;

function createDecompressor(kind: "gzip" | "zstd"): Transform {
  if (kind === "gzip") return zlib.createGunzip({ chunkSize: CHUNK_SIZE });
  // Typed loosely: older @types/node lack the zstd API that Deno 2.9 and Bun 1.4 provide.
  const z = zlib as unknown as { createZstdDecompress(o: unknown): Transform };
  return z.createZstdDecompress({ chunkSize: CHUNK_SIZE });
}

/**
 * Decompresses `source` if it starts with gzip or zstd magic, else yields it
 * unchanged. Streaming with backpressure: the source is pulled only as fast
 * as the caller consumes output. Corrupt or truncated compressed data throws
 * {@link DecompressError}; errors of `source` itself are rethrown unchanged.
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * let size = 0;
 * for await (const chunk of decompress(createReadStream("layer.tar.gz"))) size += chunk.length;
 * console.log(`${size} bytes of tar`);
 * ```
 */
export async function* decompress(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  // Peek until the longest magic (4 bytes) is in hand; chunks may be a single byte.
  const head: Uint8Array[] = [];
  let headLength = 0;
  let ended = false;
  try {
    while (headLength < 4) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      if (r.value.length === 0) continue;
      head.push(r.value);
      headLength += r.value.length;
    }
  } catch (e) {
    await it.return?.();
    throw e;
  }
  const peek = head.length === 1 ? head[0] : concat(head, headLength);
  const kind = detectCompression(peek);

  let sourceError: unknown;
  async function* rest(): AsyncGenerator<Uint8Array> {
    try {
      yield* head;
      while (!ended) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next();
        } catch (e) {
          sourceError = e;
          throw e;
        }
        if (r.done) {
          ended = true;
          break;
        }
        yield r.value;
      }
    } finally {
      // Release the source (close a file) when stopped early.
      if (!ended) await it.return?.();
    }
  }

  if (kind === "none") {
    yield* rest();
    return;
  }

  const decoder = createDecompressor(kind);
  const input = Readable.from(rest(), { objectMode: false });
  // pipeline() wires backpressure and error propagation; its promise settles
  // on the decoder's writable side, so output is read through the decoder's
  // own async iterator (Bun can emit output after pipeline() resolved).
  let pipeError: unknown;
  const piped = pipeline(input, decoder).catch((e) => {
    pipeError = e;
  });
  try {
    for await (const chunk of decoder as AsyncIterable<Uint8Array>) yield chunk;
  } catch (e) {
    input.destroy();
    await piped;
    if (sourceError !== undefined) throw sourceError;
    throw new DecompressError(kind, e);
  } finally {
    // Early return by the consumer: stop reading the source.
    if (!decoder.readableEnded) {
      input.destroy();
      decoder.destroy();
    }
  }
  await piped;
  if (sourceError !== undefined) throw sourceError;
  if (pipeError !== undefined) throw new DecompressError(kind, pipeError);
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
