/**
 * Transparent decompression of layer blobs: gzip and zstd are recognised by
 * their magic bytes, anything else passes through unchanged. A zstd stream is
 * decoded frame by frame (Deno's decoder stops after the first frame; layers
 * in zstd:chunked and `cat a.zst b.zst` have many), skippable frames left out.
 * What compressed input expands to can be counted against a budget
 * (`host/input_limits.ts`), and errors name the input.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { concatBytes } from "../host/concat_bytes.ts";
import type { ExpansionBudget } from "../host/input_limits.ts";

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
  /**
   * A corrupt or truncated compressed stream.
   *
   * @param format the compression
   * @param cause the decoder's error
   * @param what where the stream came from (a file, a layer), named first in the message
   */
  constructor(readonly format: "gzip" | "zstd", cause: unknown, readonly what?: string) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(
      `${what ? `${what}: ` : ""}the ${format} stream is corrupt or truncated (${detail}); ` +
        "re-download or rebuild it",
      { cause },
    );
    this.name = "DecompressError";
  }
}

/**
 * Options of {@link decompress}.
 *
 * @example
 * ```ts
 * import { ExpansionBudget } from "../host/input_limits.ts";
 * const options: DecompressOptions = {
 *   what: "./base.tar.gz",
 *   member: "the uncompressed archive",
 *   budget: new ExpansionBudget("./base.tar.gz", 1_000_000),
 * };
 * ```
 */
export interface DecompressOptions {
  /** Where the stream comes from (a file, `base.tar: layer 2`), for messages. */
  what?: string;
  /** Counts the output of compressed input; an input that expands too much is refused. */
  budget?: ExpansionBudget;
  /** What the output is, in the budget's message (default: `what`). */
  member?: string;
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
export async function* decompress(
  source: AsyncIterable<Uint8Array>,
  options: DecompressOptions = {},
): AsyncGenerator<Uint8Array> {
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
  const peek = head.length === 1 ? head[0] : concatBytes(head, headLength);
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

  if (kind === "gzip") {
    // zlib reads concatenated gzip members by itself.
    yield* decodeStream(kind, rest(), options, () => sourceError);
    return;
  }
  // zstd frame by frame, each with a decoder of its own: Deno's decoder stops at the end of the
  // first frame, and zstd:chunked layers (and `cat a.zst b.zst`) hold many.
  const frames = zstdFrames(rest())[Symbol.asyncIterator]();
  try {
    for (;;) {
      let first: IteratorResult<Uint8Array | null>;
      try {
        first = await frames.next();
      } catch (e) {
        if (sourceError !== undefined) throw sourceError;
        throw new DecompressError(kind, e, options.what);
      }
      if (first.done) return;
      if (first.value === null) continue;
      const head = first.value;
      const frame = async function* (): AsyncGenerator<Uint8Array> {
        yield head;
        for (;;) {
          const r = await frames.next();
          if (r.done || r.value === null) return;
          yield r.value;
        }
      };
      yield* decodeStream(kind, frame(), options, () => sourceError);
    }
  } finally {
    await frames.return?.(undefined);
  }
}

/** Decodes `source` with one decoder; `sourceError` tells an error of the source itself. */
async function* decodeStream(
  kind: "gzip" | "zstd",
  source: AsyncIterable<Uint8Array>,
  options: DecompressOptions,
  sourceError: () => unknown,
): AsyncGenerator<Uint8Array> {
  const decoder = createDecompressor(kind);
  const input = Readable.from(source, { objectMode: false });
  // pipeline() wires backpressure and error propagation; its promise settles
  // on the decoder's writable side, so output is read through the decoder's
  // own async iterator (Bun can emit output after pipeline() resolved).
  let pipeError: unknown;
  const piped = pipeline(input, decoder).catch((e) => {
    pipeError = e;
  });
  const budget = options.budget;
  const member = options.member ?? options.what ?? "the compressed input";
  let overLimit: unknown;
  try {
    for await (const chunk of decoder as AsyncIterable<Uint8Array>) {
      if (budget) {
        try {
          budget.add(chunk.length, member);
        } catch (error) {
          overLimit = error;
          break;
        }
      }
      yield chunk;
    }
  } catch (e) {
    input.destroy();
    await piped;
    if (sourceError() !== undefined) throw sourceError();
    // Stopping the decoder early (over the budget) may reject with an abort: the budget's error wins.
    if (overLimit !== undefined) throw overLimit;
    throw new DecompressError(kind, e, options.what);
  } finally {
    // Early return by the consumer: stop reading the source.
    if (!decoder.readableEnded) {
      input.destroy();
      decoder.destroy();
    }
  }
  if (overLimit !== undefined) throw overLimit;
  await piped;
  if (sourceError() !== undefined) throw sourceError();
  if (pipeError !== undefined) throw new DecompressError(kind, pipeError, options.what);
}

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The bytes of a zstd stream, with `null` after the last byte of each frame
 * (RFC 8878): frame headers and block headers are read to find where a frame
 * ends; skippable frames (metadata, such as zstd:chunked's table of contents)
 * are left out. Bytes that are no frame at all are an error.
 */
async function* zstdFrames(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array | null> {
  type Mode =
    | "magic"
    | "descriptor"
    | "header"
    | "block"
    | "payload"
    | "checksum"
    | "skipSize"
    | "skip";
  let mode = "magic" as Mode;
  const field = new Uint8Array(4);
  let fieldLength = 0;
  let left = 0; // bytes still to pass (header, payload, checksum) or to drop (skip)
  let last = false;
  let checksum = false;
  for await (const chunk of source) {
    const out: Array<Uint8Array | null> = [];
    const inFrame = mode !== "magic" && mode !== "skipSize" && mode !== "skip";
    let run = inFrame ? 0 : -1; // where the bytes to pass on start in this chunk
    let i = 0;
    const endFrame = () => {
      if (run >= 0 && i > run) out.push(chunk.subarray(run, i));
      out.push(null);
      run = -1;
      mode = "magic";
    };
    const blockDone = () => {
      if (!last) mode = "block";
      else if (checksum) {
        mode = "checksum";
        left = 4;
      } else endFrame();
    };
    while (i < chunk.length) {
      switch (mode) {
        case "magic": {
          field[fieldLength++] = chunk[i++];
          if (fieldLength < 4) break;
          fieldLength = 0;
          const magic = (field[0] | field[1] << 8 | field[2] << 16 | field[3] << 24) >>> 0;
          if (magic === ZSTD_MAGIC) {
            out.push(field.slice(0, 4));
            run = i;
            mode = "descriptor";
          } else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) mode = "skipSize";
          else throw new Error("a zstd frame was expected (bad magic number)");
          break;
        }
        case "descriptor": {
          const d = chunk[i++];
          if (d & 0x08) throw new Error("a zstd frame header has its reserved bit set");
          const single = (d >> 5) & 1;
          checksum = ((d >> 2) & 1) === 1;
          left = (single ? 0 : 1) + [0, 1, 2, 4][d & 3] + [single, 2, 4, 8][d >> 6];
          mode = left > 0 ? "header" : "block";
          break;
        }
        case "header":
        case "payload":
        case "checksum": {
          const n = Math.min(left, chunk.length - i);
          i += n;
          left -= n;
          if (left > 0) break;
          if (mode === "header") mode = "block";
          else if (mode === "payload") blockDone();
          else endFrame();
          break;
        }
        case "block": {
          field[fieldLength++] = chunk[i++];
          if (fieldLength < 3) break;
          fieldLength = 0;
          const header = field[0] | field[1] << 8 | field[2] << 16;
          last = (header & 1) === 1;
          const type = (header >> 1) & 3;
          if (type === 3) throw new Error("a zstd block has the reserved type");
          left = type === 1 ? 1 : header >>> 3; // RLE: one byte
          mode = "payload";
          if (left === 0) blockDone();
          break;
        }
        case "skipSize": {
          field[fieldLength++] = chunk[i++];
          if (fieldLength < 4) break;
          fieldLength = 0;
          left = (field[0] | field[1] << 8 | field[2] << 16 | field[3] << 24) >>> 0;
          mode = left > 0 ? "skip" : "magic";
          break;
        }
        case "skip": {
          const n = Math.min(left, chunk.length - i);
          i += n;
          left -= n;
          if (left === 0) mode = "magic";
          break;
        }
      }
    }
    if (run >= 0 && run < chunk.length) out.push(chunk.subarray(run));
    for (const piece of out) yield piece;
  }
  if (mode === "magic" && fieldLength > 0) throw new Error("the zstd stream ends with stray bytes");
  if (mode === "skipSize" || mode === "skip") {
    throw new Error("a skippable zstd frame is cut short");
  }
  // A frame cut short: the decoders of Deno and Bun end quietly there, so it is said here.
  if (mode !== "magic") throw new Error("the zstd stream is cut short inside a frame");
}
