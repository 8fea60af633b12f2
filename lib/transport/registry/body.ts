/**
 * Reading registry response bodies within bounds: every body is read in
 * chunks with a cap on its size (a registry that sends an endless body is
 * refused, not buffered), and {@link Transport} stops a body that stalls.
 *
 * @module
 */

import { concatBytes } from "../../host/concat_bytes.ts";
import { formatBytes } from "../../host/input_limits.ts";
import { RegistryError } from "./errors.ts";

/**
 * A response body as an async iterable; the body is cancelled when the
 * consumer stops early.
 *
 * @example
 * ```ts
 * const response = new Response("hello");
 * let n = 0;
 * for await (const chunk of bodyChunks(response)) n += chunk.length; // 5
 * ```
 */
export async function* bodyChunks(response: Response): AsyncGenerator<Uint8Array> {
  if (!response.body) return;
  const reader = response.body.getReader();
  let done = false;
  try {
    while (true) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * The whole body of `response`, refusing (and cancelling) it past `limit`
 * bytes with a {@link RegistryError} that names `what` and the limit.
 *
 * @example
 * ```ts
 * const bytes = await readBody(new Response("{}"), 1024, "127.0.0.1:5000/app: manifest 1.0");
 * bytes.length; // 2
 * ```
 */
export async function readBody(
  response: Response,
  limit: number,
  what: string,
  hint = "",
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of bodyChunks(response)) {
    total += chunk.length;
    if (total > limit) {
      throw new RegistryError(
        `${what} is larger than ${formatBytes(limit)}; refusing it${hint}`,
      );
    }
    chunks.push(chunk);
  }
  return concatBytes(chunks, total);
}
