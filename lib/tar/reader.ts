/**
 * A streaming tar reader for ustar, PAX, GNU and v7 archives.
 *
 * Member bodies are streamed as views of the input chunks (no copy, no
 * whole-member buffering), so multi-GB layers are read in constant memory.
 *
 * Supported: ustar (with the 155-byte prefix), old GNU and v7 headers; PAX
 * `x` and `g` records (`path`, `linkpath`, `size`, `uid`, `gid`, `uname`,
 * `gname`, `mtime`, `SCHILY.xattr.*`; other keys are ignored, and so are
 * `path`, `linkpath` and `size` in global records); GNU `L`/`K`
 * long names; base-256 numbers; both unsigned and signed header checksums.
 *
 * Names (paths, link targets, owner names) are UTF-8; bytes that are not
 * valid UTF-8 are kept as lone surrogates (Python's `surrogateescape`, see
 * `names.ts`), so two names never collapse into one.
 *
 * Type flags: `0`, NUL and `7` (contiguous) are files (NUL with a trailing
 * `/` is an old-style directory); `1`..`6` map to {@link EntryType}; GNU `D`
 * (dump directory) is a directory whose listing body is skipped; GNU `V`
 * (volume label) is skipped. Anything else, notably GNU sparse (`S`, or PAX
 * `GNU.sparse.*`) and multi-volume (`M`) members, is a {@link TarFormatError}:
 * reading them as plain files would give wrong content.
 *
 * End of archive: a zero block ends the archive, the second zero block is
 * optional, and so are both when the input ends at a block boundary right
 * after a complete member (GNU tar tolerates both). A lone zero block
 * followed by data also ends it, as in GNU tar. The rest of the input is then
 * read and discarded so a compressed source verifies its trailer (CRC).
 *
 * @module
 */

import type { EntryType, TarEntry } from "./entry.ts";
import { BLOCK_SIZE } from "./entry.ts";
import { TarChecksumError, TarFormatError, TarTruncatedError } from "./errors.ts";
import { decodeName } from "./names.ts";

/**
 * Header fields of a member as read: a {@link TarEntry} without a body.
 *
 * @example
 * ```ts
 * const h: TarHeader = { path: "etc", type: "directory", mode: 0o755, uid: 0, gid: 0,
 *   uname: "root", gname: "root", mtime: 1, size: 0 };
 * ```
 */
export type TarHeader = Omit<TarEntry, "body">;

/**
 * One member of an archive: its header and its streamed content.
 *
 * `header.path` is exactly as decoded (after PAX / GNU long-name resolution)
 * with any trailing `/` removed from directories; it is not sanitised (see
 * `normalizeMemberPath`). `body` yields the content of regular files (empty
 * for every other type); it is valid until the next member is requested, when
 * whatever was not read is skipped.
 *
 * @example
 * ```ts
 * declare const src: AsyncIterable<Uint8Array>;
 * for await (const m of readTar(src)) {
 *   let read = 0;
 *   for await (const chunk of m.body) read += chunk.length;
 *   console.log(m.header.path, read); // m.header.size for files, 0 for anything else
 * }
 * ```
 */
export interface TarMember {
  header: TarHeader;
  body: AsyncIterable<Uint8Array>;
}

/** Extension headers (PAX records, GNU long names) larger than this are refused: they are held in memory. */
const MAX_EXTENSION_SIZE = 16 * 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * A FIFO of input chunks. Reads return views of the chunks where possible;
 * consumed chunks are dropped by index (no array shifting, no concatenation).
 */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private offset = 0;
  private ended = false;
  /** Bytes held and not yet consumed. */
  buffered = 0;
  /** Bytes consumed since the start of the input. */
  consumed = 0;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Appends the next non-empty input chunk; false at the end of the input. */
  async pull(): Promise<boolean> {
    while (!this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      if (r.value.length === 0) continue;
      if (this.head > 64 && this.head * 2 >= this.chunks.length) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
      this.chunks.push(r.value);
      this.buffered += r.value.length;
      return true;
    }
    return false;
  }

  /** Makes at least `n` bytes available; false if the input ends first. */
  async ensure(n: number): Promise<boolean> {
    while (this.buffered < n) if (!(await this.pull())) return false;
    return true;
  }

  /** Consumes exactly `n` available bytes: a view when they lie in one chunk, else a copy. */
  take(n: number): Uint8Array {
    const first = this.chunks[this.head];
    if (first.length - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n);
      this.advance(n);
      return view;
    }
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const c = this.chunks[this.head];
      const m = Math.min(c.length - this.offset, n - o);
      out.set(c.subarray(this.offset, this.offset + m), o);
      o += m;
      this.advance(m);
    }
    return out;
  }

  /** Consumes up to `max` bytes from the first available chunk, as a view. Needs `buffered > 0`. */
  takeSome(max: number): Uint8Array {
    const first = this.chunks[this.head];
    const n = Math.min(first.length - this.offset, max);
    const view = first.subarray(this.offset, this.offset + n);
    this.advance(n);
    return view;
  }

  /** Discards `n` bytes; returns how many could be discarded before the input ended. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.pull())) break;
      left -= this.takeSome(left).length;
    }
    return n - left;
  }

  /** Reads and discards the rest of the input. */
  async drain(): Promise<void> {
    while (this.buffered > 0 || await this.pull()) this.takeSome(this.buffered);
  }

  /** Stops the input early (closes files, stops decompressors). */
  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      // A failing return() must not mask the error that stopped reading.
      await Promise.resolve(this.it.return?.()).catch(() => {});
    }
  }

  private advance(n: number): void {
    this.offset += n;
    this.buffered -= n;
    this.consumed += n;
    if (this.offset === this.chunks[this.head].length) {
      // Drop the reference so consumed chunks can be collected.
      (this.chunks as Array<Uint8Array | undefined>)[this.head] = undefined;
      this.head++;
      this.offset = 0;
    }
  }
}

/** Bytes needed after `size` bytes of content to reach a block boundary. */
function padding(size: number): number {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? 0 : BLOCK_SIZE - rest;
}

function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < BLOCK_SIZE; i++) if (b[i] !== 0) return false;
  return true;
}

/** A NUL-terminated string field, decoded as UTF-8 (bytes that are not UTF-8 kept, see `names.ts`). */
function cString(b: Uint8Array, offset: number, length: number): string {
  let end = offset;
  const limit = offset + length;
  while (end < limit && b[end] !== 0) end++;
  return decodeName(b.subarray(offset, end));
}

/**
 * A numeric header field: octal text as Python's tarfile reads it (up to the
 * first NUL, surrounding spaces ignored, empty is 0) or GNU base-256 (first
 * byte 0x80 positive, 0xff negative two's complement).
 */
function parseNumber(
  b: Uint8Array,
  offset: number,
  length: number,
  field: string,
  entry: string,
  allowNegative = false,
): number {
  const first = b[offset];
  if (first === 0x80 || first === 0xff) {
    const negative = first === 0xff;
    let v = 0;
    for (let i = 1; i < length; i++) {
      v = v * 256 + (negative ? b[offset + i] ^ 0xff : b[offset + i]);
    }
    if (negative) v = -(v + 1);
    if (!Number.isSafeInteger(v)) {
      throw new TarFormatError(entry, `the ${field} field is too large`);
    }
    if (v < 0 && !allowNegative) throw new TarFormatError(entry, `the ${field} field is negative`);
    return v;
  }
  let end = offset;
  const limit = offset + length;
  while (end < limit && b[end] !== 0) end++;
  let i = offset;
  while (i < end && b[i] === 0x20) i++;
  let j = end;
  while (j > i && b[j - 1] === 0x20) j--;
  let v = 0;
  for (let k = i; k < j; k++) {
    const d = b[k] - 0x30;
    if (d < 0 || d > 7) {
      const text = String.fromCharCode(...b.subarray(offset, limit));
      throw new TarFormatError(
        entry,
        `the ${field} field is not an octal number: ${JSON.stringify(text)}`,
      );
    }
    v = v * 8 + d;
  }
  return v;
}

/** Checks a header block's checksum; GNU tar accepts both the unsigned and the (historic) signed sum. */
function verifyChecksum(b: Uint8Array, at: number): void {
  const name = cString(b, 0, 100);
  const stored = parseNumber(b, 148, 8, "checksum", name);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const x = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += x;
    signed += x >= 0x80 ? x - 256 : x;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new TarChecksumError(name, stored, unsigned, at);
  }
}

/** Header formats, by magic. */
type Format = "ustar" | "gnu" | "v7";

function detectFormat(b: Uint8Array, entry: string): Format {
  // "ustar\0" + "00": POSIX; "ustar " + " \0": old GNU; all NUL: v7.
  if (b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72) {
    if (b[262] === 0) return "ustar";
    if (b[262] === 0x20) return "gnu";
  }
  let zero = true;
  for (let i = 257; i < 263; i++) if (b[i] !== 0) zero = false;
  if (zero) return "v7";
  const magic = String.fromCharCode(...b.subarray(257, 263));
  throw new TarFormatError(entry, `unknown header magic ${JSON.stringify(magic)}`);
}

/** PAX records, key to raw value bytes. */
type PaxRecords = Map<string, Uint8Array>;

/** Parses PAX extended header data: records `"<len> <key>=<value>\n"` where `<len>` counts the whole record. */
function parsePax(data: Uint8Array, entry: string): PaxRecords {
  const out: PaxRecords = new Map();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding after the last record (some writers)
    let len = 0;
    let i = pos;
    while (i < data.length && data[i] >= 0x30 && data[i] <= 0x39 && i - pos < 16) {
      len = len * 10 + data[i++] - 0x30;
    }
    const end = pos + len;
    if (
      i === pos || data[i] !== 0x20 || end > data.length || end <= i + 1 || data[end - 1] !== 0x0a
    ) {
      throw new TarFormatError(entry, `bad PAX record at offset ${pos} of the extended header`);
    }
    const eq = data.indexOf(0x3d, i + 1);
    if (eq < 0 || eq >= end - 1 || eq === i + 1) {
      throw new TarFormatError(
        entry,
        `bad PAX record at offset ${pos} of the extended header (no key=value)`,
      );
    }
    // Copy (Buffer#slice would not): values may be views of a large input chunk and outlive it (xattrs).
    out.set(utf8.decode(data.subarray(i + 1, eq)), new Uint8Array(data.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}

/** Applies records onto `into`; an empty value deletes the key (POSIX). */
function mergePax(into: PaxRecords, records: PaxRecords): void {
  for (const [k, v] of records) {
    if (v.length === 0) into.delete(k);
    else into.set(k, v);
  }
}

function paxInteger(records: PaxRecords, key: string, entry: string): number | undefined {
  const v = records.get(key);
  if (v === undefined) return undefined;
  const text = utf8.decode(v);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new TarFormatError(
      entry,
      `PAX ${key} is not a non-negative integer: ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}

/** PAX mtime: decimal seconds, possibly negative and fractional; fractions are floored. */
function paxTime(records: PaxRecords, entry: string): number | undefined {
  const v = records.get("mtime");
  if (v === undefined) return undefined;
  const text = utf8.decode(v);
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(text);
  const whole = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(whole)) {
    throw new TarFormatError(
      entry,
      `PAX mtime is not a number of seconds: ${JSON.stringify(text)}`,
    );
  }
  const fraction = m[3] !== undefined && /[1-9]/.test(m[3]);
  return m[1] === "-" ? -whole - (fraction ? 1 : 0) : whole;
}

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
  D: "directory",
};

/**
 * Reads the members of an uncompressed tar stream (see `decompress` for
 * compressed ones). Input chunks may have any size.
 *
 * Throws {@link TarTruncatedError}, {@link TarChecksumError} or
 * {@link TarFormatError}; member names are returned as found, unsanitised.
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * const utf8 = new TextDecoder();
 * for await (const { header, body } of readTar(createReadStream("layer.tar"))) {
 *   console.log(header.type, header.path, header.size);
 *   if (header.path === "etc/os-release") {
 *     for await (const chunk of body) console.log(utf8.decode(chunk, { stream: true }));
 *   }
 * }
 * ```
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarMember> {
  const q = new ByteQueue(source[Symbol.asyncIterator]());
  const global: PaxRecords = new Map();
  let local: PaxRecords | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  /** Name of the last member, for messages about what follows it. */
  let last: string | undefined;
  let pendingExtension = false;

  /** Consumes `n` bytes plus block padding of an extension header's data. */
  async function readExtension(n: number, entry: string, kind: string): Promise<Uint8Array> {
    if (n > MAX_EXTENSION_SIZE) {
      throw new TarFormatError(
        entry,
        `the ${kind} is ${n} bytes, more than the ${MAX_EXTENSION_SIZE} allowed`,
      );
    }
    const total = n + padding(n);
    if (!(await q.ensure(total))) {
      throw new TarTruncatedError(
        entry,
        `it ends inside a ${kind} (${q.buffered} of ${total} bytes)`,
      );
    }
    return q.take(total).subarray(0, n);
  }

  async function skipOrFail(n: number, entry: string, what: string): Promise<void> {
    const skipped = await q.skip(n);
    if (skipped < n) throw new TarTruncatedError(entry, `it ends inside ${what}`);
  }

  try {
    for (;;) {
      const at = q.consumed;
      if (!(await q.ensure(BLOCK_SIZE))) {
        if (q.buffered > 0) {
          const after = last === undefined ? "" : ` after member ${JSON.stringify(last)}`;
          throw new TarTruncatedError(
            undefined,
            `it ends with a partial ${q.buffered}-byte header block${after}`,
          );
        }
        if (pendingExtension) {
          throw new TarTruncatedError(
            last,
            "it ends after an extended header, before the header it extends",
          );
        }
        if (at === 0) throw new TarTruncatedError(undefined, "the input is empty");
        return; // no end-of-archive blocks, but a complete last member: tolerated like GNU tar
      }
      const block = q.take(BLOCK_SIZE);
      if (isZeroBlock(block)) {
        if (pendingExtension) {
          throw new TarFormatError(
            last,
            "an extended header is followed by the end of the archive",
          );
        }
        if (!(await q.ensure(BLOCK_SIZE)) && q.buffered > 0) {
          throw new TarTruncatedError(undefined, `it ends with a partial ${q.buffered}-byte block`);
        }
        await q.drain();
        return;
      }
      verifyChecksum(block, at);
      const rawName = cString(block, 0, 100);
      const format = detectFormat(block, rawName);
      const flag = String.fromCharCode(block[156]);
      const fieldSize = parseNumber(block, 124, 12, "size", rawName);

      switch (flag) {
        case "x":
        case "X": // Solaris' pre-POSIX name for the same thing
          local = parsePax(await readExtension(fieldSize, rawName, "PAX extended header"), rawName);
          pendingExtension = true;
          continue;
        case "g": {
          const records = parsePax(
            await readExtension(fieldSize, rawName, "PAX global header"),
            rawName,
          );
          // Per-member keys make no sense globally (every member would get
          // the same name or length): they are ignored.
          for (const k of ["path", "linkpath", "size"]) records.delete(k);
          mergePax(global, records);
          continue;
        }
        case "L":
          longName = cString(
            await readExtension(fieldSize, rawName, "GNU long name"),
            0,
            fieldSize,
          );
          pendingExtension = true;
          continue;
        case "K":
          longLink = cString(
            await readExtension(fieldSize, rawName, "GNU long link name"),
            0,
            fieldSize,
          );
          pendingExtension = true;
          continue;
        case "V": // GNU volume label: no file system meaning
          await skipOrFail(fieldSize + padding(fieldSize), rawName, "a volume label");
          continue;
      }

      const records: PaxRecords = new Map(global);
      if (local) mergePax(records, local);
      let path = decodeName(records.get("path") ?? new Uint8Array()) || longName;
      if (!path) {
        const prefix = format === "ustar" ? cString(block, 345, 155) : "";
        path = prefix ? `${prefix}/${rawName}` : rawName;
      }
      let type: EntryType | undefined = TYPES[flag];
      if (type === undefined) {
        const what = flag === "S"
          ? "GNU sparse files are not supported"
          : flag === "M"
          ? "GNU multi-volume continuation members are not supported"
          : `unsupported member type ${JSON.stringify(flag)}`;
        throw new TarFormatError(path, what);
      }
      for (const k of records.keys()) {
        if (k.startsWith("GNU.sparse.")) {
          throw new TarFormatError(path, "GNU sparse files (PAX GNU.sparse.*) are not supported");
        }
      }
      if (flag === "\0" && path.endsWith("/")) type = "directory"; // pre-POSIX directories
      if (type === "directory") {
        while (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
      }

      const header: TarHeader = {
        path,
        type,
        mode: parseNumber(block, 100, 8, "mode", path) & 0o7777,
        uid: paxInteger(records, "uid", path) ?? parseNumber(block, 108, 8, "uid", path),
        gid: paxInteger(records, "gid", path) ?? parseNumber(block, 116, 8, "gid", path),
        uname: records.has("uname") ? decodeName(records.get("uname")!) : cString(block, 265, 32),
        gname: records.has("gname") ? decodeName(records.get("gname")!) : cString(block, 297, 32),
        mtime: paxTime(records, path) ?? parseNumber(block, 136, 12, "mtime", path, true),
        size: 0,
      };
      if (type === "symlink" || type === "hardlink") {
        header.linkTarget = records.has("linkpath")
          ? decodeName(records.get("linkpath")!)
          : longLink ?? cString(block, 157, 100);
      }
      if (type === "char" || type === "block") {
        header.devMajor = parseNumber(block, 329, 8, "devmajor", path);
        header.devMinor = parseNumber(block, 337, 8, "devminor", path);
      }
      for (const [k, v] of records) {
        if (k.startsWith("SCHILY.xattr.")) (header.xattrs ??= {})[k.slice(13)] = v;
      }
      // Only files ('0', '7', NUL) and GNU dump directories carry data: like
      // Python and Go, the size field of other types is ignored.
      const dataSize = flag === "D" || type === "file"
        ? paxInteger(records, "size", path) ?? fieldSize
        : 0;
      if (type === "file") header.size = dataSize;
      local = undefined;
      longName = undefined;
      longLink = undefined;
      pendingExtension = false;
      last = path;

      const state = { remaining: type === "file" ? dataSize : 0, abandoned: false };
      const name = path;
      const body = (async function* (): AsyncGenerator<Uint8Array> {
        for (;;) {
          if (state.abandoned) {
            throw new Error(
              `tar member ${
                JSON.stringify(name)
              }: its body was read after the next member was requested`,
            );
          }
          if (state.remaining === 0) return;
          if (q.buffered === 0 && !(await q.pull())) {
            const got = dataSize - state.remaining;
            throw new TarTruncatedError(
              name,
              `its content stops after ${got} of ${dataSize} bytes`,
            );
          }
          const piece = q.takeSome(state.remaining);
          state.remaining -= piece.length;
          yield piece;
        }
      })();
      yield { header, body };

      if (state.remaining > 0) state.abandoned = true;
      const rest = (type === "file" ? state.remaining : dataSize) + padding(dataSize);
      await skipOrFail(
        rest,
        path,
        state.remaining > 0 ? "its content" : "the padding after its content",
      );
      state.remaining = 0;
    }
  } finally {
    await q.close();
  }
}
