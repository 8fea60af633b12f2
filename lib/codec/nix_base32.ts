/**
 * Nix's base-32: the alphabet without e, o, t, u, least significant bits
 * first, as `nix-hash --to-base32` prints hashes and store paths name them.
 *
 * @module
 */

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

/**
 * Nix's base-32 text of a hash (its own alphabet, least significant bits first).
 *
 * @example
 * ```ts
 * import { createHash } from "node:crypto";
 * toNix32(createHash("sha256").update("").digest()); // "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
 * ```
 */
export function toNix32(hash: Uint8Array): string {
  const length = Math.ceil((hash.length * 8) / 5);
  let out = "";
  for (let n = length - 1; n >= 0; n--) {
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    const c = (hash[i] >> j) | (i >= hash.length - 1 ? 0 : (hash[i + 1] << (8 - j)) & 0xff);
    out += NIX32[c & 0x1f];
  }
  return out;
}

/**
 * Decodes Nix base-32 `text` into `size` bytes, or undefined when it is not valid.
 *
 * @example
 * ```ts
 * fromNix32("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", 32)?.length; // 32
 * ```
 */
export function fromNix32(text: string, size: number): Uint8Array | undefined {
  const out = new Uint8Array(size);
  for (let n = 0; n < text.length; n++) {
    const digit = NIX32.indexOf(text[text.length - n - 1]);
    if (digit < 0) return undefined;
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    out[i] |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i < size - 1) out[i + 1] |= carry;
    else if (carry) return undefined;
  }
  return out;
}
