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
 * throw new RegistryError("127.0.0.1:5000/app: manifest upload failed (HTTP 400 MANIFEST_INVALID)", 400);
 * ```
 */
export class RegistryError extends Error {
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
 * if (error instanceof RegistryAuthError) console.error("log in first");
 * ```
 */
export class RegistryAuthError extends RegistryError {
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
 * if (error instanceof RegistryNotFoundError) console.error("check the digest");
 * ```
 */
export class RegistryNotFoundError extends RegistryError {
  constructor(message: string, codes: readonly string[] = []) {
    super(message, 404, codes);
    this.name = "RegistryNotFoundError";
  }
}

/**
 * `HTTP 400 DIGEST_INVALID: ...` from a response's status and the
 * distribution-spec error body (`{"errors":[{"code","message"}]}`), if any.
 *
 * @example
 * ```ts
 * const { text, codes } = await describeFailure(response);
 * ```
 */
export async function describeFailure(
  response: Response,
): Promise<{ text: string; codes: string[] }> {
  let body = "";
  try {
    body = (await response.text()).slice(0, 4096);
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
