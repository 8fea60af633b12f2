/**
 * Registry authentication from the `WWW-Authenticate` challenge:
 *
 * - `Basic`: the credentials are sent with every request (anonymous when there are none);
 * - `Bearer realm=...,service=...,scope=...`: the Docker token flow. A token is
 *   asked from `realm?service=<service>&scope=repository:<name>:pull[,push]`
 *   (plus any scope a later challenge names, e.g. the source repository of a
 *   cross-repository mount), with the credentials as HTTP basic when known, and
 *   sent as `Authorization: Bearer <token>`.
 *
 * Nothing here prints a password or a token.
 *
 * @module
 */

import { checkJsonDepth, inputLimits } from "../../host/input_limits.ts";
import { readBody } from "./body.ts";
import type { CredentialLookup } from "./credentials.ts";
import { describeFailure, RegistryAuthError, RegistryError } from "./errors.ts";

/** A parsed `WWW-Authenticate` header. */
export interface Challenge {
  /** Lowercased scheme: `basic`, `bearer`, ... */
  scheme: string;
  /** Parameters, keys lowercased. */
  params: Record<string, string>;
}

/**
 * Parses the first challenge of a `WWW-Authenticate` header (quoted values may hold commas).
 *
 * @example
 * ```ts
 * parseChallenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull,push"');
 * // { scheme: "bearer", params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a:pull,push" } }
 * ```
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/gy;
  const rest = m[2];
  let match: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (match = re.exec(rest)) !== null) {
    params[match[1].toLowerCase()] = match[2] !== undefined
      ? match[2].replace(/\\(.)/g, "$1")
      : match[3];
    if (match[0] === "") break;
  }
  return { scheme: m[1].toLowerCase(), params };
}

/** Sends a request with the client's retries; used for the token endpoint. */
export type Send = (url: string, init: RequestInit) => Promise<Response>;

/**
 * Holds the `Authorization` header for one registry and repository, and
 * answers challenges.
 *
 * @example
 * ```ts
 * import { findCredentials } from "./credentials.ts";
 *
 * const lookup = findCredentials("127.0.0.1:5000", "app", { pushTarget: true });
 * const auth = new Authenticator("127.0.0.1:5000", "app", ["pull", "push"], lookup, fetch);
 * const url = "http://127.0.0.1:5000/v2/app/tags/list";
 * const response = await fetch(url, { headers: auth.headers() });
 * if (response.status === 401) {
 *   await response.body?.cancel();
 *   await auth.answer(response.headers.get("www-authenticate"), "listing tags"); // or throws
 *   await fetch(url, { headers: auth.headers() }); // now with a token or basic credentials
 * }
 * ```
 */
export class Authenticator {
  #header: string | undefined;
  #challenge: Challenge | undefined;
  readonly #scopes = new Set<string>();
  /** Scopes the current token was asked for (a new scope needs a new token). */
  #tokenScopes = "";

  /**
   * An authenticator with no header yet (anonymous until a challenge is answered).
   *
   * @param registry the registry, for messages and the token request
   * @param repository the repository the first scope is for
   * @param actions what the first scope asks to do (`pull`, `push`)
   * @param lookup the credentials found, if any
   * @param send how the token request is sent (the client's fetch with retries)
   */
  constructor(
    readonly registry: string,
    readonly repository: string,
    readonly actions: readonly ("pull" | "push")[],
    readonly lookup: CredentialLookup,
    readonly send: Send,
  ) {
    this.#scopes.add(`repository:${repository}:${actions.join(",")}`);
  }

  /** The headers to add to a request (none while anonymous). */
  headers(): Record<string, string> {
    return this.#header ? { authorization: this.#header } : {};
  }

  /** True when the registry challenged and the answer was a bearer token or basic credentials. */
  get authenticated(): boolean {
    return this.#header !== undefined;
  }

  /**
   * Asks for `scope` too (e.g. `repository:other:pull` before a cross-repository mount);
   * refreshes the token when the registry uses tokens.
   */
  async addScope(scope: string): Promise<void> {
    if (this.#scopes.has(scope)) return;
    this.#scopes.add(scope);
    if (this.#challenge?.scheme === "bearer") await this.#fetchToken(this.#challenge);
  }

  /**
   * Answers a 401's challenge: returns true when a retry may now succeed;
   * throws a {@link RegistryAuthError} when there is no way to log in, or
   * when the same credentials were already refused for these scopes.
   */
  async answer(header: string | null, what: string): Promise<boolean> {
    const challenge = parseChallenge(header);
    if (!challenge) {
      throw new RegistryAuthError(
        `${this.registry} refused ${what} (HTTP 401) without saying how to log in (no WWW-Authenticate header)`,
        401,
      );
    }
    if (challenge.scheme === "basic") {
      const creds = this.lookup.credentials;
      if (!creds) throw this.#loginNeeded(what);
      if (this.#header === creds.basicHeader()) throw this.#refused(what);
      this.#challenge = challenge;
      this.#header = creds.basicHeader();
      return true;
    }
    if (challenge.scheme === "bearer") {
      if (challenge.params.scope) {
        for (const s of challenge.params.scope.split(" ")) this.#scopes.add(s);
      }
      const before = this.#tokenScopes;
      const hadToken = this.#header !== undefined && this.#challenge?.scheme === "bearer";
      this.#challenge = challenge;
      if (
        hadToken && before === [...this.#scopes].sort().join(" ") &&
        challenge.params.error !== "invalid_token"
      ) {
        // Same scopes, fresh token, still refused: the account may not do this.
        if (!this.lookup.credentials) throw this.#loginNeeded(what);
        throw this.#denied(what);
      }
      await this.#fetchToken(challenge);
      return true;
    }
    throw new RegistryAuthError(
      `${this.registry} asks for "${challenge.scheme}" authentication, which dockwright does not support (only Basic and Bearer)`,
      401,
    );
  }

  /** Called once at the start, with the challenge of `GET /v2/`, to avoid a 401 round trip per request. */
  async prime(header: string | null): Promise<void> {
    const challenge = parseChallenge(header);
    if (!challenge) return;
    if (challenge.scheme === "basic" && this.lookup.credentials) {
      this.#challenge = challenge;
      this.#header = this.lookup.credentials.basicHeader();
    } else if (challenge.scheme === "bearer" && challenge.params.realm) {
      this.#challenge = challenge;
      await this.#fetchToken(challenge);
    }
  }

  async #fetchToken(challenge: Challenge): Promise<void> {
    const realm = challenge.params.realm;
    if (!realm) {
      throw new RegistryAuthError(
        `${this.registry} asks for a bearer token but names no realm (token server)`,
        401,
      );
    }
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryAuthError(
        `${this.registry} names an invalid token server URL ${JSON.stringify(realm.slice(0, 200))}`,
        401,
      );
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      // Deno's fetch would read a file: realm from the local disk.
      throw new RegistryAuthError(
        `${this.registry} names a token server at a ${url.protocol} URL; only http: and https: ` +
          "token servers are asked (the registry is broken or hostile)",
        401,
      );
    }
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    const scopes = [...this.#scopes].sort();
    for (const scope of scopes) url.searchParams.append("scope", scope);
    const creds = this.lookup.credentials;
    if (creds) url.searchParams.set("account", creds.username);
    const headers: Record<string, string> = { accept: "application/json" };
    if (creds) headers.authorization = creds.basicHeader();
    const response = await this.send(url.href, { method: "GET", headers });
    const where = `the token server of ${this.registry} (${url.origin})`;
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      if (!creds) throw this.#loginNeeded(`a token for ${this.repository}`);
      throw this.#refused(`a token for ${this.repository}`, response.status);
    }
    if (!response.ok) {
      const { text, codes } = await describeFailure(response);
      throw new RegistryError(
        `${where} failed: ${text}`,
        response.status,
        codes,
      );
    }
    // Bounded: a token server may send an endless body (or stall: the transport stops it).
    let bytes: Uint8Array;
    try {
      bytes = await readBody(response, inputLimits().maxJsonBytes, `the answer of ${where}`);
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw new RegistryError(`${where} stopped answering: ${(error as Error).message}`);
    }
    checkJsonDepth(where, "its answer", bytes);
    let token: unknown;
    try {
      const body = JSON.parse(new TextDecoder().decode(bytes)) as {
        token?: unknown;
        access_token?: unknown;
      };
      token = body?.token ?? body?.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== "string" || token === "") {
      throw new RegistryAuthError(`${where} answered without a token`, response.status);
    }
    this.#header = `Bearer ${token}`;
    this.#tokenScopes = scopes.join(" ");
  }

  #loginNeeded(what: string): RegistryAuthError {
    const how = this.lookup.note ??
      "log in with `podman login` or `docker login` (dockwright reads their auth files), set DOCKWRIGHT_REGISTRY_USER and " +
        "DOCKWRIGHT_REGISTRY_PASSWORD (with DOCKWRIGHT_REGISTRY_HOST for pulls), or pass --creds USER:PASSWORD";
    return new RegistryAuthError(
      `${this.registry} needs a login for ${what} (${
        this.actions.join(",")
      } on ${this.repository}): ${how}`,
      401,
    );
  }

  #refused(what: string, status = 401): RegistryAuthError {
    return new RegistryAuthError(
      `${this.registry} refused the credentials from ${
        this.lookup.credentials!.source
      } for ${what} (HTTP ${status}): check the user name and password or token`,
      status,
    );
  }

  #denied(what: string): RegistryAuthError {
    return new RegistryAuthError(
      `${this.registry} denied ${what} (${
        this.actions.join(",")
      } on ${this.repository}) to the credentials from ${this.lookup.credentials!.source}: ` +
        "check the repository name and that this account may access it",
      401,
    );
  }
}
