/**
 * Member names that are not valid UTF-8, kept byte for byte. Linux names are
 * bytes; a layer may hold `caf\xe9` (Latin-1) next to `caf\xc3\xa9` (UTF-8).
 * Decoding both lossily would give one name and lose a file, so names are
 * decoded as Python's `tarfile` does (`surrogateescape`): valid UTF-8 as
 * usual, every other byte `b` as the lone surrogate `U+DC00 + b`. Encoding
 * turns those back into the same bytes, and the header writer marks such
 * names with PAX `hdrcharset=BINARY`, as Python does.
 *
 * @module
 */

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** The number of continuation bytes after lead byte `b`, and the allowed range of the first one. */
function sequence(b: number): [number, number, number] | undefined {
  if (b >= 0xc2 && b <= 0xdf) return [1, 0x80, 0xbf];
  if (b === 0xe0) return [2, 0xa0, 0xbf];
  if (b === 0xed) return [2, 0x80, 0x9f]; // no UTF-16 surrogates
  if (b >= 0xe1 && b <= 0xef) return [2, 0x80, 0xbf];
  if (b === 0xf0) return [3, 0x90, 0xbf];
  if (b >= 0xf1 && b <= 0xf3) return [3, 0x80, 0xbf];
  if (b === 0xf4) return [3, 0x80, 0x8f];
  return undefined;
}

/** Decodes with every byte that is not part of valid UTF-8 as `U+DC00 + byte`. */
function decodeEscaped(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    const seq = sequence(b);
    let ok = seq !== undefined && i + seq[0] < bytes.length;
    if (ok) {
      const [n, lo, hi] = seq!;
      ok = bytes[i + 1] >= lo && bytes[i + 1] <= hi;
      for (let k = 2; ok && k <= n; k++) ok = (bytes[i + k] & 0xc0) === 0x80;
      if (ok) {
        out += strict.decode(bytes.subarray(i, i + n + 1));
        i += n + 1;
        continue;
      }
    }
    out += String.fromCharCode(0xdc00 + b);
    i++;
  }
  return out;
}

/**
 * Decodes a name from a tar header: UTF-8, with bytes that are not valid
 * UTF-8 kept as `U+DC80`..`U+DCFF` (Python's `surrogateescape`).
 *
 * @example
 * ```ts
 * decodeName(new Uint8Array([0x63, 0x61, 0x66, 0xe9])); // "caf\udce9"
 * decodeName(new TextEncoder().encode("café")); // "café"
 * ```
 */
export function decodeName(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    return decodeEscaped(bytes);
  }
}

/**
 * True when `name` holds bytes that are not UTF-8 (escaped by {@link decodeName}).
 *
 * @example
 * ```ts
 * hasRawBytes("caf\udce9"); // true
 * hasRawBytes("café"); // false
 * ```
 */
export function hasRawBytes(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      continue;
    }
    if (c >= 0xdc80 && c <= 0xdcff) return true;
  }
  return false;
}

/**
 * The bytes of a name: UTF-8, with `U+DC80`..`U+DCFF` turned back into the
 * raw bytes {@link decodeName} read.
 *
 * @example
 * ```ts
 * encodeName("caf\udce9"); // Uint8Array [0x63, 0x61, 0x66, 0xe9]
 * ```
 */
export function encodeName(name: string): Uint8Array {
  if (!hasRawBytes(name)) return encoder.encode(name);
  const parts: number[] = [];
  let start = 0;
  const flush = (end: number) => {
    if (end > start) { for (const b of encoder.encode(name.slice(start, end))) parts.push(b); }
  };
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      continue;
    }
    if (c >= 0xdc80 && c <= 0xdcff) {
      flush(i);
      parts.push(c - 0xdc00);
      start = i + 1;
    }
  }
  flush(name.length);
  return new Uint8Array(parts);
}

/**
 * A name as people read it: raw bytes as `\xNN`.
 *
 * @example
 * ```ts
 * showName("caf\udce9"); // "caf\\xe9"
 * ```
 */
export function showName(name: string): string {
  if (!hasRawBytes(name)) return name;
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const next = name.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      out += name.slice(i, i + 2);
      i++;
    } else if (c >= 0xdc80 && c <= 0xdcff) out += `\\x${(c - 0xdc00).toString(16)}`;
    else out += name[i];
  }
  return out;
}
