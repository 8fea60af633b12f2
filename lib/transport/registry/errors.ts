/**
 * Errors of the registry client. Messages name the registry, the repository
 * and what to do next; they never contain credentials or tokens.
 *
 * @module
 */

/**
 * A registry request that failed: an HTTP error, an unreachable host, or a
 * response that breaks the distribution spec.
 *
 * @example
 * ```ts
 * const error = new RegistryError(
 *   "127.0.0.1:5000/app: manifest upload failed (HTTP 400 MANIFEST_INVALID)",
 *   400,
 *   ["MANIFEST_INVALID"],
 * );
 * error.status; // 400
 * error.codes; // ["MANIFEST_INVALID"]
 * ```
 */
export class RegistryError extends Error {
  /**
   * A failed registry request.
   *
   * @param message the whole message, naming the registry and repository
   * @param status the HTTP status, when there was a response
   * @param codes the distribution-spec error codes of the response body (`MANIFEST_INVALID`, ...)
   */
  constructor(message: string, readonly status?: number, readonly codes: readonly string[] = []) {
    super(message);
    this.name = "RegistryError";
  }
}

/**
 * The registry wants credentials, refused the ones given, or denied access.
 *
 * @example
 * ```ts
 * import { buildImage, push } from "../../../mod.ts";
 *
 * try {
 *   await push(buildImage({ name: "app" }), "ghcr.io/me/app:1.0");
 * } catch (error) {
 *   if (error instanceof RegistryAuthError) console.error("log in first");
 *   else throw error;
 * }
 * ```
 */
export class RegistryAuthError extends RegistryError {
  /**
   * A refused login or denied access.
   *
   * @param message what was refused and how to log in
   * @param status the HTTP status (401 or 403), when there was a response
   */
  constructor(message: string, status?: number) {
    super(message, status);
    this.name = "RegistryAuthError";
  }
}

/**
 * A manifest or blob the registry does not have.
 *
 * @example
 * ```ts
 * import { build, pullImage } from "../../../mod.ts";
 *
 * const digest = "sha256:81d93757457f988523814ae0009837ae893f38d3fe123f2c37896f118b4c7804";
 * try {
 *   await build(pullImage({ imageName: "debian", imageDigest: digest }));
 * } catch (error) {
 *   if (error instanceof RegistryNotFoundError) console.error("check the digest");
 *   else throw error;
 * }
 * ```
 */
export class RegistryNotFoundError extends RegistryError {
  /**
   * A missing manifest or blob (HTTP 404).
   *
   * @param message what is missing, naming the registry and repository
   * @param codes the distribution-spec error codes (`MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, ...)
   */
  constructor(message: string, codes: readonly string[] = []) {
    super(message, 404, codes);
    this.name = "RegistryNotFoundError";
  }
}

/**
 * `HTTP 400 DIGEST_INVALID: ...` from a response's status and the
 * distribution-spec error body (`{"errors":[{"code","message"}]}`), if any.
 * Only the first 4 KiB of the body are read; the rest is cancelled.
 *
 * @example
 * ```ts
 * const response = new Response('{"errors":[{"code":"DIGEST_INVALID","message":"bad digest"}]}', {
 *   status: 400,
 * });
 * await describeFailure(response); // { text: "HTTP 400 DIGEST_INVALID: bad digest", codes: ["DIGEST_INVALID"] }
 * ```
 */
export async function describeFailure(
  response: Response,
): Promise<{ text: string; codes: string[] }> {
  let body = "";
  try {
    // At most 4 KiB: a registry may send an endless error page.
    body = await bodyPrefix(response, 4096);
  } catch {
    // The body is only decoration.
  }
  const codes: string[] = [];
  const details: string[] = [];
  try {
    const parsed = JSON.parse(body) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    for (const e of parsed.errors ?? []) {
      if (typeof e.code === "string") codes.push(e.code);
      details.push([e.code, e.message].filter((x) => typeof x === "string" && x !== "").join(": "));
    }
  } catch {
    // Not JSON: keep the status only (an HTML error page says nothing useful).
  }
  const detail = details.filter(Boolean).join("; ");
  return { text: `HTTP ${response.status}${detail ? ` ${detail}` : ""}`, codes };
}

/** The first `limit` bytes of a body as text; the rest is cancelled unread. */
async function bodyPrefix(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const out = new Uint8Array(limit);
  let total = 0;
  try {
    while (total < limit) {
      const next = await reader.read();
      if (next.done) break;
      const piece = next.value.subarray(0, limit - total);
      out.set(piece, total);
      total += piece.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  return new TextDecoder().decode(out.subarray(0, total));
}
