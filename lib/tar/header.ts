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
 *
 * @module
 */

import { BLOCK_SIZE, type TarEntry, TYPE_FLAGS } from "./entry.ts";

const encoder = new TextEncoder();

/** Writes `text` (ASCII, `?` for anything else) NUL-padded into `buf` at `offset`, cut at `length`. */
function putAscii(buf: Uint8Array, offset: number, length: number, text: string): void {
  const n = Math.min(text.length, length);
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    buf[offset + i] = c < 0x80 ? c : 0x3f;
  }
}

/**
 * Python's `tarfile.stn` with errors="replace": encodes to ASCII with `?` per
 * code point that is not ASCII. A surrogate pair is one code point.
 */
function asciiReplace(text: string): string {
  let out = "";
  for (const ch of text) out += ch.charCodeAt(0) < 0x80 ? ch : "?";
  return out;
}

/** Python's `tarfile.itn` for values that fit: zero-padded octal of `digits - 1` chars + NUL. */
function putOctal(buf: Uint8Array, offset: number, digits: number, value: number): void {
  putAscii(buf, offset, digits - 1, value.toString(8).padStart(digits - 1, "0"));
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** Encodes one PAX record `"<len> <key>=<value>\n"` where `<len>` counts itself. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const keyBytes = encoder.encode(key);
  const base = keyBytes.length + value.length + 3;
  let p = 0;
  for (;;) {
    const n = base + String(p).length;
    if (n === p) break;
    p = n;
  }
  const lenBytes = encoder.encode(`${p} `);
  const out = new Uint8Array(p);
  out.set(lenBytes, 0);
  out.set(keyBytes, lenBytes.length);
  out[lenBytes.length + keyBytes.length] = 0x3d; // "="
  out.set(value, lenBytes.length + keyBytes.length + 1);
  out[p - 1] = 0x0a;
  return out;
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

/** Encodes one 512-byte ustar header block with its checksum. */
function ustarBlock(f: UstarFields): Uint8Array {
  const b = new Uint8Array(BLOCK_SIZE);
  putAscii(b, 0, 100, asciiReplace(f.name));
  putOctal(b, 100, 8, f.mode & 0o7777);
  putOctal(b, 108, 8, f.uid);
  putOctal(b, 116, 8, f.gid);
  putOctal(b, 124, 12, f.size);
  putOctal(b, 136, 12, f.mtime);
  b.fill(0x20, 148, 156); // checksum is computed over spaces
  b[156] = f.typeflag.charCodeAt(0);
  putAscii(b, 157, 100, asciiReplace(f.linkname));
  putAscii(b, 257, 8, "ustar\x0000");
  putAscii(b, 265, 32, asciiReplace(f.uname));
  putAscii(b, 297, 32, asciiReplace(f.gname));
  if (f.devMajor !== undefined) putOctal(b, 329, 8, f.devMajor);
  if (f.devMinor !== undefined) putOctal(b, 337, 8, f.devMinor);
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += b[i];
  putAscii(b, 148, 7, sum.toString(8).padStart(6, "0") + "\0");
  return b;
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
  if (!Number.isSafeInteger(entry.mtime)) {
    throw new TypeError(`tar entry ${entry.path}: mtime must be whole seconds, got ${entry.mtime}`);
  }
  const name = memberName(entry);
  const linkname = entry.linkTarget ?? "";
  const isDevice = entry.type === "char" || entry.type === "block";
  const size = entry.type === "file" ? entry.size : 0;
  const pax: Array<[string, Uint8Array]> = [];
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
  for (
    const [field, key, limit] of [
      ["name", "path", 100],
      ["linkname", "linkpath", 100],
      ["uname", "uname", 32],
      ["gname", "gname", 32],
    ] as const
  ) {
    const value = fields[field];
    if (!isAscii(value) || value.length > limit) pax.push([key, encoder.encode(value)]);
  }
  for (const [field, digits] of [["uid", 8], ["gid", 8], ["size", 12], ["mtime", 12]] as const) {
    const value = fields[field];
    if (value < 0 || value >= 8 ** (digits - 1)) {
      pax.push([field, encoder.encode(String(value))]);
      fields[field] = 0;
    }
  }
  const header = ustarBlock(fields);
  if (pax.length === 0) return header;
  const records = pax.map(([k, v]) => paxRecord(k, v));
  const recordsLength = records.reduce((n, r) => n + r.length, 0);
  const paxHeader = ustarBlock({
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
  const out = new Uint8Array(
    BLOCK_SIZE + recordsLength + blockPadding(recordsLength) + BLOCK_SIZE,
  );
  out.set(paxHeader, 0);
  let at = BLOCK_SIZE;
  for (const r of records) {
    out.set(r, at);
    at += r.length;
  }
  out.set(header, out.length - BLOCK_SIZE);
  return out;
}
