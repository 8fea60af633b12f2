/**
 * Joining byte chunks into one array: read bodies, small documents kept
 * while they stream, peeked headers.
 *
 * @module
 */

/**
 * `parts` one after the other in a new array of `length` bytes (default:
 * their total; a longer array is zero-padded).
 *
 * @example
 * ```ts
 * concatBytes([new Uint8Array([1, 2]), new Uint8Array([3])]); // Uint8Array [1, 2, 3]
 * concatBytes([new Uint8Array([1])], 4); // Uint8Array [1, 0, 0, 0]
 * ```
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  length = parts.reduce((n, p) => n + p.length, 0),
): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
