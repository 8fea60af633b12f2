/**
 * An HTTP client for one repository of a registry (distribution spec v2):
 * picks the scheme (HTTPS, or plain HTTP when `tlsVerify` is false),
 * authenticates from the `GET /v2/` challenge, retries with exponential
 * backoff on 5xx, 429, 408, dropped connections and registries that stop
 * answering (honouring `Retry-After`), and follows redirects of blob
 * downloads, to http: and https: URLs only, without sending the
 * `Authorization` header to another origin.
 *
 * @module
 */

import { Authenticator } from "./auth.ts";
import { type CredentialLookup, type CredsOption, findCredentials } from "./credentials.ts";
import { describeFailure, RegistryError } from "./errors.ts";
import { apiHost } from "../../model/reference.ts";
import { networkProblem, readCaFile, readTimeoutMs, Transport } from "./transport.ts";

/** Connection options shared by pulls and pushes. */
export interface RegistryOptions {
  /**
   * Verify TLS certificates and require HTTPS. `false` also allows plain HTTP
   * (HTTPS is tried first). Default: true, except for registries on this
   * machine (`localhost`, `127.0.0.0/8`, `::1`), which may answer in plain
   * HTTP as docker allows (certificates are still verified when they speak
   * HTTPS); `true` makes them use HTTPS too.
   */
  tlsVerify?: boolean;
  /** A PEM file of extra CA certificates. Default `$DOCKWRIGHT_CA_FILE`. */
  caFile?: string;
  /** Credentials (`"user:password"` or an object); `null` forces anonymous access. Default: looked up (see README "Registries"). */
  creds?: CredsOption;
  /** Attempts per request on 5xx, 429 and dropped connections. Default 5. */
  attempts?: number;
  /** First backoff delay in milliseconds; doubles on each retry. Default 250. */
  retryDelayMs?: number;
  /**
   * Milliseconds a request may wait for the registry's answer, and a body for
   * its next bytes, before it is given up (and retried where safe). Default
   * `$DOCKWRIGHT_REGISTRY_TIMEOUT` seconds, else 30 s.
   */
  readTimeoutMs?: number;
}

/** Options of one request. */
export interface RequestOptions {
  /** Headers to send (the client adds `Authorization`). */
  headers?: Record<string, string>;
  /** The request body (manifests, small uploads). */
  body?: Uint8Array;
  /** What the request is for, in messages: `"manifest sha256:..."`. */
  what: string;
  /** Follow redirects (blob downloads). Default false. */
  follow?: boolean;
  /** Retry on 5xx/429/dropped connections. Default true; uploads handle their own retries. */
  retry?: boolean;
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * True for a registry on this machine (`localhost`, `127.0.0.0/8`, `::1`,
 * any port), which, as docker does, may answer in plain HTTP by default.
 *
 * @example
 * ```ts
 * isLoopbackRegistry("127.0.0.1:5000"); // true
 * isLoopbackRegistry("[::1]:5000"); // true
 * isLoopbackRegistry("registry.example.com"); // false
 * ```
 */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[")
    ? registry.slice(1, registry.indexOf("]"))
    : registry.replace(/:\d+$/, "");
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/** A TLS failure that retrying cannot fix. */
const CERTIFICATE_PROBLEM =
  /certificate|UnknownIssuer|CaUsedAsEndEntity|self.signed|unable to verify|TLS handshake/i;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * True for a status worth retrying (500, 502, 503, 504, 429, 408).
 *
 * @example
 * ```ts
 * isRetryableStatus(503); // true
 * isRetryableStatus(404); // false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE.has(status);
}

/**
 * A client for `registry/repository` with the given actions.
 *
 * @example
 * ```ts
 * const client = new RegistryClient({ registry: "127.0.0.1:5000", repository: "app" }, ["pull"], {
 *   tlsVerify: false,
 * });
 * try {
 *   const res = await client.request("GET", "/v2/app/manifests/1.0", {
 *     what: "manifest app:1.0",
 *     headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
 *   });
 *   console.log(res.status, res.headers.get("docker-content-digest"));
 * } finally {
 *   client.close();
 * }
 * ```
 */
export class RegistryClient {
  /** The registry as written, e.g. `127.0.0.1:5000` or `docker.io`. */
  readonly registry: string;
  /** The repository path on it, e.g. `library/debian`. */
  readonly repository: string;
  readonly #transport: Transport;
  readonly #auth: Authenticator;
  readonly #tlsVerify: boolean;
  /** Plain HTTP is allowed: `tlsVerify: false`, or a registry on this machine by default. */
  readonly #plainHttp: boolean;
  readonly #attempts: number;
  readonly #delay: number;
  #base: Promise<string> | undefined;

  /**
   * A client for one repository; nothing is sent until the first request.
   *
   * @param target the registry and repository requests go to
   * @param actions what the token asks to do in the repository
   * @param options connection options (TLS, CA file, credentials, retries)
   * @param lookup credentials already looked up; default: {@link findCredentials} with `options.creds`
   */
  constructor(
    target: { registry: string; repository: string },
    actions: readonly ("pull" | "push")[],
    options: RegistryOptions = {},
    lookup?: CredentialLookup,
  ) {
    this.registry = target.registry;
    this.repository = target.repository;
    this.#tlsVerify = options.tlsVerify ?? true;
    this.#plainHttp = options.tlsVerify === false ||
      (options.tlsVerify === undefined && isLoopbackRegistry(target.registry));
    this.#attempts = Math.max(1, options.attempts ?? 5);
    this.#delay = Math.max(0, options.retryDelayMs ?? 250);
    this.#transport = new Transport({
      caPem: readCaFile(options.caFile),
      insecure: !this.#tlsVerify,
      readTimeoutMs: readTimeoutMs(options.readTimeoutMs),
    });
    const credentials = lookup ??
      findCredentials(target.registry, target.repository, { creds: options.creds });
    this.#auth = new Authenticator(
      target.registry,
      target.repository,
      actions,
      credentials,
      (url, init) =>
        this.#withRetries(
          `a token for ${target.repository}`,
          () => this.#transport.fetch(url, init),
          true,
        ),
    );
  }

  /** The `Authenticator` (to add scopes, e.g. before a cross-repository mount). */
  get auth(): Authenticator {
    return this.#auth;
  }

  /** `https://host` or `http://host`, decided once with `GET /v2/`. */
  baseUrl(): Promise<string> {
    this.#base ??= this.#ping();
    return this.#base;
  }

  /**
   * Sends a request to `path` (`/v2/...`) or an absolute URL the registry gave
   * (an upload location), authenticating and retrying as needed. Returns the
   * response whatever its status, except 401s that cannot be answered.
   */
  async request(method: string, path: string, options: RequestOptions): Promise<Response> {
    const base = await this.baseUrl();
    const url = /^https?:\/\//.test(path) ? path : base + path;
    for (let authTries = 0;; authTries++) {
      const send = () => this.#fetchFollowing(method, url, options);
      const response = await this.#withRetries(options.what, send, options.retry ?? true);
      if (response.status !== 401 || authTries >= 3) return response;
      await response.body?.cancel();
      await this.#auth.answer(response.headers.get("www-authenticate"), options.what);
    }
  }

  /** Releases the connection pool. */
  close(): void {
    this.#transport.close();
  }

  async #fetchFollowing(method: string, url: string, options: RequestOptions): Promise<Response> {
    const origin = new URL(url).origin;
    let current = url;
    for (let hops = 0;; hops++) {
      const sameOrigin = new URL(current).origin === origin;
      // The token is for the registry only, never for a storage host it redirects to.
      const headers = { ...options.headers, ...(sameOrigin ? this.#auth.headers() : {}) };
      const response = await this.#transport.fetch(current, {
        method,
        headers,
        body: options.body as BodyInit | undefined,
      });
      const location = response.headers.get("location");
      if (!options.follow || !REDIRECTS.has(response.status) || !location) return response;
      await response.body?.cancel();
      if (hops >= 5) {
        throw new RegistryError(`${this.registry}: too many redirects for ${options.what}`);
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new RegistryError(
          `${this.registry}: ${options.what} redirects to an invalid URL ${
            JSON.stringify(location.slice(0, 200))
          }`,
        );
      }
      if (next.protocol !== "https:" && next.protocol !== "http:") {
        // Deno's fetch reads file: URLs from the local disk: never follow a registry there.
        throw new RegistryError(
          `${this.registry}: ${options.what} redirects to a ${next.protocol} URL; ` +
            "only http: and https: redirects are followed (the registry is broken or hostile)",
        );
      }
      current = next.href;
    }
  }

  /** Runs `send` until it gives a response that is not worth retrying, or attempts run out. */
  async #withRetries(
    what: string,
    send: () => Promise<Response>,
    retry: boolean,
  ): Promise<Response> {
    const attempts = retry ? this.#attempts : 1;
    for (let attempt = 1;; attempt++) {
      let response: Response;
      try {
        response = await send();
      } catch (error) {
        if (error instanceof RegistryError) throw error;
        const problem = networkProblem(error);
        const certificate = CERTIFICATE_PROBLEM.test(problem);
        if (attempt >= attempts || certificate) {
          throw new RegistryError(
            `cannot reach ${this.registry} for ${what}${
              attempt > 1 ? ` (tried ${attempt} times)` : ""
            }: ${problem}` +
              (certificate
                ? "; if the registry uses a private CA, pass it with caFile, --ca-file or DOCKWRIGHT_CA_FILE"
                : ""),
          );
        }
        await sleep(this.backoff(attempt));
        continue;
      }
      if (!isRetryableStatus(response.status) || attempt >= attempts) return response;
      const retryAfter = Number(response.headers.get("retry-after"));
      await response.body?.cancel();
      await sleep(
        Number.isFinite(retryAfter) && retryAfter > 0
          ? Math.min(retryAfter * 1000, 30_000)
          : this.backoff(attempt),
      );
    }
  }

  /** Delay before retry number `attempt` (1-based): base * 2^(attempt-1), +-20%, at most 10 s. */
  backoff(attempt: number): number {
    const jitter = 0.8 + Math.random() * 0.4;
    return Math.min(this.#delay * 2 ** (attempt - 1) * jitter, 10_000);
  }

  /** True when `http://host/v2/` answers like a registry (one quick try). */
  async #answersPlainHttp(host: string): Promise<boolean> {
    try {
      const response = await this.#transport.fetch(`http://${host}/v2/`, {
        method: "GET",
        signal: AbortSignal.timeout(5000),
      });
      await response.body?.cancel();
      return response.ok || response.status === 401;
    } catch {
      return false;
    }
  }

  async #ping(): Promise<string> {
    const host = apiHost(this.registry);
    // The transport's read timeout bounds every request: a host that swallows packets fails.
    const tryBase = async (base: string, retry: boolean): Promise<Response> =>
      await this.#withRetries(
        `the registry API (${base}/v2/)`,
        () => this.#transport.fetch(`${base}/v2/`, { method: "GET" }),
        retry,
      );
    let response: Response;
    let base = `https://${host}`;
    if (!this.#plainHttp) {
      try {
        response = await tryBase(base, false);
      } catch (error) {
        // A registry that answers plain HTTP: say which flag lets it, instead of a TLS riddle.
        if (error instanceof RegistryError && await this.#answersPlainHttp(host)) {
          throw new RegistryError(
            `${this.registry} speaks plain HTTP, not HTTPS: pass --tls-verify=false ` +
              "(tlsVerify: false) to use it without TLS",
          );
        }
        response = await tryBase(base, true);
      }
    } else {
      try {
        response = await tryBase(base, false);
      } catch (httpsError) {
        base = `http://${host}`;
        response = await tryBase(base, true);
        if (response.status === 400) {
          await response.body?.cancel();
          throw new RegistryError(
            `${this.registry} speaks HTTPS but its certificate was refused (${
              (httpsError as Error).message
            }): pass the CA with caFile, ` +
              "--ca-file or DOCKWRIGHT_CA_FILE (Deno cannot skip verification per request; `deno run --unsafely-ignore-certificate-errors` can)" +
              (this.#tlsVerify ? "" : ", or --tls-verify=true to require HTTPS"),
          );
        }
      }
    }
    if (response.status === 401) {
      await response.body?.cancel();
      await this.#auth.prime(response.headers.get("www-authenticate"));
      return base;
    }
    if (!response.ok) {
      const { text, codes } = await describeFailure(response);
      throw new RegistryError(
        `${base}/v2/ is not a registry API (${text}); check the registry host`,
        response.status,
        codes,
      );
    }
    await response.body?.cancel();
    return base;
  }
}
