/**
 * Encoding of tar headers, byte-for-byte as Python's `tarfile` writes them in
 * its default PAX format (the format of the Nix `stream_layered_image.py`
 * streamer), so layers we write can share diff_ids with layers Nix writes.
 *
 * Rules (from CPython `tarfile.TarInfo.create_pax_header`):
 * - ustar header with magic `ustar\0` and version `00`; numbers are zero-padded
 *   octal with a trailing NUL; device fields are NUL unless the entry is a device.
 * - a PAX `x` record named `././@PaxHeader` precedes the header when a string
 *   field is not ASCII or longer than its field (path, linkpath: 100; uname,
 *   gname: 32), or a number does not fit its field (uid/gid >= 8^7,
 *   size/mtime >= 8^11); the ustar field then holds a `?`-substituted,
 *   truncated name or 0.
 * - xattrs become `SCHILY.xattr.<name>` records, written first.
 * - a name holding bytes that are not UTF-8 (read with `surrogateescape`, see
 *   `names.ts`) is written as those bytes, after a first `hdrcharset=BINARY`
 *   record.
 *
 * @module
 */

import { BLOCK_SIZE, type TarEntry, TYPE_FLAGS } from "./entry.ts";
import { encodeName, hasRawBytes } from "./names.ts";

const encoder = new TextEncoder();

/**
 * Writes `text` (ASCII, `?` for anything else) NUL-padded into `buf` at
 * `offset`, cut at `length`. The put functions return the sum of the bytes
 * they wrote, for the header checksum.
 */
function putAscii(buf: Uint8Array, offset: number, length: number, text: string): number {
  const n = Math.min(text.length, length);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    const b = c < 0x80 ? c : 0x3f;
    buf[offset + i] = b;
    sum += b;
  }
  return sum;
}

/**
 * Python's `tarfile.stn` with errors="replace", written straight into `buf`:
 * ASCII as is, `?` per code point that is not ASCII (a surrogate pair is one
 * code point), cut at `length` bytes, without building a string.
 */
function putReplaced(buf: Uint8Array, offset: number, length: number, text: string): number {
  let at = 0;
  let sum = 0;
  for (let i = 0; i < text.length && at < length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      buf[offset + at++] = c;
      sum += c;
      continue;
    }
    buf[offset + at++] = 0x3f;
    sum += 0x3f;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
  }
  return sum;
}

/** Python's `tarfile.itn` for values that fit: zero-padded octal of `digits - 1` chars + NUL. */
function putOctal(buf: Uint8Array, offset: number, digits: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value >= OCTAL_LIMIT[digits]) {
    return putAscii(buf, offset, digits - 1, value.toString(8).padStart(digits - 1, "0"));
  }
  // Digits from the right, without building a string (most of a header's cost otherwise).
  let sum = 0;
  if (value < 0x80000000) {
    let v = value | 0;
    for (let i = offset + digits - 2; i >= offset; i--) {
      const b = 0x30 + (v & 7);
      buf[i] = b;
      sum += b;
      v >>>= 3;
    }
    return sum;
  }
  for (let i = offset + digits - 2; i >= offset; i--) {
    const b = 0x30 + (value % 8);
    buf[i] = b;
    sum += b;
    value = Math.floor(value / 8);
  }
  return sum;
}

/** 8 ** (digits - 1): the first value that does not fit a field of `digits` bytes. */
const OCTAL_LIMIT: Record<number, number> = { 7: 8 ** 6, 8: 8 ** 7, 12: 8 ** 11 };

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** Writes chars of an ASCII string (as bytes) into `buf` at `at`. */
function putChars(buf: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/**
 * Writes one PAX record `"<len> <key>=<value>\n"`, where `<len>` counts itself,
 * into `buf` at `at`; returns where it ends. `key` is ASCII; a string `value` too.
 */
function putPaxRecord(
  buf: Uint8Array,
  at: number,
  key: string,
  value: Uint8Array | string,
): number {
  const base = key.length + value.length + 3;
  let p = 0;
  for (;;) {
    const n = base + String(p).length;
    if (n === p) break;
    p = n;
  }
  at = putChars(buf, at, `${p} `);
  at = putChars(buf, at, key);
  buf[at++] = 0x3d; // "="
  if (typeof value === "string") at = putChars(buf, at, value);
  else {
    buf.set(value, at);
    at += value.length;
  }
  buf[at++] = 0x0a;
  return at;
}

interface UstarFields {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devMajor?: number;
  devMinor?: number;
}

/** Writes one 512-byte ustar header block with its checksum into `buf` at `o`. */
function putUstar(buf: Uint8Array, o: number, f: UstarFields): void {
  buf.fill(0, o, o + BLOCK_SIZE);
  // The checksum is the sum of the block's bytes with its own field as spaces;
  // every other byte is a zero or was written here.
  const typeflag = f.typeflag.charCodeAt(0);
  let sum = 8 * 0x20 + typeflag;
  sum += putReplaced(buf, o, 100, f.name);
  sum += putOctal(buf, o + 100, 8, f.mode & 0o7777);
  sum += putOctal(buf, o + 108, 8, f.uid);
  sum += putOctal(buf, o + 116, 8, f.gid);
  sum += putOctal(buf, o + 124, 12, f.size);
  sum += putOctal(buf, o + 136, 12, f.mtime);
  buf[o + 156] = typeflag;
  sum += putReplaced(buf, o + 157, 100, f.linkname);
  sum += putAscii(buf, o + 257, 8, "ustar\x0000");
  sum += putReplaced(buf, o + 265, 32, f.uname);
  sum += putReplaced(buf, o + 297, 32, f.gname);
  if (f.devMajor !== undefined) sum += putOctal(buf, o + 329, 8, f.devMajor);
  if (f.devMinor !== undefined) sum += putOctal(buf, o + 337, 8, f.devMinor);
  putOctal(buf, o + 148, 7, sum); // six digits, a NUL, then a space
  buf[o + 155] = 0x20;
}

/** Number of padding bytes that complete a block after `size` bytes of content. */
export function blockPadding(size: number): number {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? 0 : BLOCK_SIZE - rest;
}

/** The member name as written: directories get a trailing slash, as tar and Python do. */
export function memberName(entry: Pick<TarEntry, "path" | "type">): string {
  return entry.type === "directory" && !entry.path.endsWith("/") ? entry.path + "/" : entry.path;
}

/**
 * Encodes the header blocks of one entry: an optional PAX record block group
 * followed by the ustar header. Content and its padding are not included.
 *
 * @example
 * ```ts
 * const blocks = encodeHeader({ path: "etc", type: "directory", mode: 0o755,
 *   uid: 0, gid: 0, uname: "", gname: "", mtime: 1, size: 0 });
 * // blocks.length === 512
 * ```
 */
export function encodeHeader(entry: TarEntry): Uint8Array {
  return encodeHeaderView(entry).slice();
}

/** Where {@link encodeHeaderView} writes; grown when a header needs more. */
let scratch = new Uint8Array(4096);

/**
 * {@link encodeHeader}'s bytes as a view of a buffer that the next call
 * overwrites: for a writer that copies them at once (no allocation per entry).
 *
 * @example
 * ```ts
 * const chunk = new Uint8Array(1 << 20);
 * const header = encodeHeaderView({ path: "etc", type: "directory", mode: 0o755,
 *   uid: 0, gid: 0, uname: "", gname: "", mtime: 1, size: 0 });
 * chunk.set(header, 0); // copied before the next entry is encoded
 * ```
 */
export function encodeHeaderView(entry: TarEntry): Uint8Array {
  if (!Number.isSafeInteger(entry.mtime)) {
    throw new TypeError(`tar entry ${entry.path}: mtime must be whole seconds, got ${entry.mtime}`);
  }
  const name = memberName(entry);
  const linkname = entry.linkTarget ?? "";
  const isDevice = entry.type === "char" || entry.type === "block";
  const size = entry.type === "file" ? entry.size : 0;
  // Values are bytes, or strings that are all ASCII (written char by char).
  const pax: Array<[string, Uint8Array | string]> = [];
  const fields: UstarFields = {
    name,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size,
    mtime: entry.mtime,
    typeflag: TYPE_FLAGS[entry.type],
    linkname,
    uname: entry.uname,
    gname: entry.gname,
    devMajor: isDevice ? entry.devMajor ?? 0 : undefined,
    devMinor: isDevice ? entry.devMinor ?? 0 : undefined,
  };
  if (entry.xattrs) {
    for (const key of Object.keys(entry.xattrs).sort()) {
      const value = entry.xattrs[key];
      pax.push([
        `SCHILY.xattr.${key}`,
        typeof value === "string" ? encoder.encode(value) : value,
      ]);
    }
  }
  let binary = false;
  for (
    const [field, key, limit] of [
      ["name", "path", 100],
      ["linkname", "linkpath", 100],
      ["uname", "uname", 32],
      ["gname", "gname", 32],
    ] as const
  ) {
    const value = fields[field];
    const ascii = isAscii(value);
    if (!ascii || value.length > limit) {
      // Bytes that are not UTF-8 are written back as they were read, marked as Python marks them.
      if (!ascii && hasRawBytes(value)) binary = true;
      pax.push([key, ascii ? value : encodeName(value)]);
    }
  }
  if (binary) pax.unshift(["hdrcharset", "BINARY"]);
  for (const [field, digits] of [["uid", 8], ["gid", 8], ["size", 12], ["mtime", 12]] as const) {
    const value = fields[field];
    if (value < 0 || value >= 8 ** (digits - 1)) {
      pax.push([field, String(value)]);
      fields[field] = 0;
    }
  }
  if (pax.length === 0) {
    putUstar(scratch, 0, fields);
    return scratch.subarray(0, BLOCK_SIZE);
  }
  // The records first (their length is the PAX block's size), then both ustar blocks.
  let room = 3 * BLOCK_SIZE;
  for (const [k, v] of pax) room += k.length + v.length + 32;
  if (scratch.length < room) scratch = new Uint8Array(Math.max(room, 2 * scratch.length));
  let at = BLOCK_SIZE;
  for (const [k, v] of pax) at = putPaxRecord(scratch, at, k, v);
  const recordsLength = at - BLOCK_SIZE;
  const padding = blockPadding(recordsLength);
  scratch.fill(0, at, at + padding);
  putUstar(scratch, 0, {
    name: "././@PaxHeader",
    mode: 0,
    uid: 0,
    gid: 0,
    size: recordsLength,
    mtime: 0,
    typeflag: "x",
    linkname: "",
    uname: "",
    gname: "",
  });
  putUstar(scratch, at + padding, fields);
  return scratch.subarray(0, at + padding + BLOCK_SIZE);
}
