/**
 * SHA-256 helpers on `node:crypto` (native, SHA-NI where the CPU has it; many
 * times faster than the WebAssembly alternatives in both runtimes).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

/** An OCI digest string, `sha256:<64 lowercase hex>`. */
export type Digest = `sha256:${string}`;

/**
 * Hex SHA-256 of `bytes`.
 *
 * @example
 * ```ts
 * sha256Hex(new Uint8Array()); // "e3b0c442...b855"
 * ```
 */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * OCI digest (`sha256:<hex>`) of `bytes`.
 *
 * @example
 * ```ts
 * digestOf("{}"); // "sha256:44136fa3..."
 * ```
 */
export function digestOf(bytes: Uint8Array | string): Digest {
  return `sha256:${sha256Hex(bytes)}`;
}

/**
 * An incremental SHA-256 that also counts bytes.
 *
 * @example
 * ```ts
 * const h = new Sha256Counter();
 * h.update(new Uint8Array([1, 2]));
 * h.digest(); // "sha256:..."; h.size === 2
 * ```
 */
export class Sha256Counter {
  #hash: Hash = createHash("sha256");
  size = 0;
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.size += chunk.length;
  }
  digest(): Digest {
    return `sha256:${this.#hash.digest("hex")}`;
  }
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/**
 * True when `value` is a well-formed sha256 digest (lowercase hex, as the OCI spec requires).
 *
 * @example
 * ```ts
 * isDigest("sha256:" + "0".repeat(64)); // true
 * ```
 */
export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}
