/**
 * Store path helpers: recognising store paths, Nix's base-32, and finding
 * the store paths a file or a config mentions (Nix's reference scanning).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { toNix32 } from "../codec/nix_base32.ts";

/**
 * A 32-character store-style hash of `text`: sha256 compressed to 160 bits
 * (XOR-folded, as Nix compresses hashes) in Nix base-32.
 *
 * @example
 * ```ts
 * storeHash("hello"); // 32 chars of [0-9a-z] without e, o, t, u
 * ```
 */
export function storeHash(text: string): string {
  const full = createHash("sha256").update(text).digest();
  const folded = new Uint8Array(20);
  for (let i = 0; i < full.length; i++) folded[i % 20] ^= full[i];
  return toNix32(folded);
}

/**
 * True when `path` is a store path or inside one (`<storeDir>/<hash>-<name>[/...]`).
 *
 * @example
 * ```ts
 * isStorePath("/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12/bin/hello", "/nix/store"); // true
 * ```
 */
export function isStorePath(path: string, storeDir: string): boolean {
  return storePathOf(path, storeDir) !== undefined;
}

/**
 * The store path that `path` is or is inside, or undefined.
 *
 * @example
 * ```ts
 * storePathOf("/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12/bin/hello", "/nix/store");
 * // "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"
 * ```
 */
export function storePathOf(path: string, storeDir: string): string | undefined {
  const prefix = storeDir.endsWith("/") ? storeDir : storeDir + "/";
  if (!path.startsWith(prefix)) return undefined;
  const name = path.slice(prefix.length).split("/")[0];
  return /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/.test(name) ? prefix + name : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The store paths mentioned in `text` (Nix finds references by scanning for
 * store hashes; this finds full `<storeDir>/<hash>-<name>` occurrences).
 *
 * @example
 * ```ts
 * const hello = "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12";
 * scanStorePaths(`{"Cmd":["${hello}/bin/hello"]}`, "/nix/store"); // [hello]
 * ```
 */
export function scanStorePaths(text: string, storeDir: string): string[] {
  const dir = storeDir.replace(/\/+$/, "");
  const re = new RegExp(`${escapeRegExp(dir)}/([0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\\-._?=]+)`, "g");
  const found = new Set<string>();
  for (const m of text.matchAll(re)) found.add(`${dir}/${m[1]}`);
  return [...found].sort();
}

/** Bytes a file is read in by {@link scanFileStorePaths}. */
const SCAN_CHUNK = 1 << 20;
/** Longer than any store path (`<store>/<32 hash>-<name of at most 211>`): kept between chunks. */
const SCAN_OVERLAP = 512;

/**
 * The store paths under `storeDir` that the file at `path` mentions, as
 * {@link scanStorePaths} finds them, read in 1 MiB pieces: a file may be
 * bigger than memory or than a string can be. A path cut by a piece's end is
 * found whole in the next piece, which starts with the previous one's last
 * 512 bytes (a cut-off name is left to {@link resolveStoreRefs}).
 *
 * @example
 * ```ts
 * scanFileStorePaths("./result/bin/hello", "/nix/store"); // ["/nix/store/...-glibc-2.40", ...]
 * ```
 */
export function scanFileStorePaths(path: string, storeDir: string): string[] {
  const found = new Set<string>();
  const decoder = new TextDecoder("latin1");
  const chunk = new Uint8Array(SCAN_CHUNK);
  const fd = openSync(path, "r");
  try {
    let carry = "";
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      const text = carry + decoder.decode(chunk.subarray(0, n));
      if (text.includes(storeDir)) { for (const p of scanStorePaths(text, storeDir)) found.add(p); }
      carry = text.slice(-SCAN_OVERLAP);
    }
  } finally {
    closeSync(fd);
  }
  return [...found].sort();
}

/**
 * Store paths among `candidates` (from {@link scanStorePaths}) as they really
 * are: a name found in binary data may run on into the bytes after it
 * (`...-bbdirsha256`), so each candidate is matched to a known store path
 * with the same hash whose name is a prefix of the candidate's.
 *
 * @example
 * ```ts
 * const hello = "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12";
 * resolveStoreRefs([`${hello}foo`], (p) => p === hello); // [hello]
 * ```
 */
export function resolveStoreRefs(
  candidates: readonly string[],
  exists: (path: string) => boolean,
): string[] {
  const out = new Set<string>();
  for (const candidate of candidates) {
    const cut = candidate.lastIndexOf("/") + 34; // <hash>- is 33 characters after the slash
    for (let end = candidate.length; end > cut; end--) {
      const path = candidate.slice(0, end);
      if (exists(path)) {
        out.add(path);
        break;
      }
    }
  }
  return [...out].sort();
}
