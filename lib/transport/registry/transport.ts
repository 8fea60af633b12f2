/**
 * `fetch` with the TLS settings a registry needs, on both runtimes. The two
 * differ here and nowhere else in the registry client:
 *
 * - an extra CA (a registry with a private CA): Deno takes
 *   `client: Deno.createHttpClient({ caCerts })`, Bun takes `tls: { ca }`.
 *   Deno (rustls) refuses a self-signed certificate marked `CA:TRUE` used as
 *   the server's own certificate (`CaUsedAsEndEntity`): give it a CA and a
 *   leaf signed by it, or a self-signed certificate with `CA:FALSE`.
 * - skipping verification (`tlsVerify: false` on an HTTPS registry): Bun
 *   takes `tls: { rejectUnauthorized: false }`; Deno has no per-request
 *   switch, so there it only works with `deno run --unsafely-ignore-certificate-errors`.
 *
 * Redirects are never followed by fetch itself: both runtimes keep the
 * `Authorization` header across origins, which would hand a registry token
 * to a blob storage host. {@link RegistryClient} follows them by hand.
 *
 * Only http: and https: URLs are fetched (Deno's fetch would read a `file:`
 * URL from the local disk), and every request is bounded in time: the answer
 * must start within the read timeout, and a body that stalls longer errors
 * (`RegistryStallError`).
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import { clearImmediate, setImmediate } from "node:timers";
import { RegistryError } from "./errors.ts";

/**
 * TLS settings for one registry, and how long it may stay silent.
 *
 * @example
 * ```ts
 * const tls: TlsSettings = { caPem: readCaFile("/etc/registry/ca.pem"), readTimeoutMs: 10_000 };
 * ```
 */
export interface TlsSettings {
  /** PEM text of extra CA certificates. */
  caPem?: string;
  /** Do not verify the server certificate (honoured by Bun only, see the module doc). */
  insecure?: boolean;
  /** Milliseconds a request may wait for an answer, or a body for its next bytes. Default {@link readTimeoutMs}. */
  readTimeoutMs?: number;
}

/**
 * How long a registry may stay silent by default: 30 s.
 *
 * @example
 * ```ts
 * readTimeoutMs() === DEFAULT_READ_TIMEOUT_MS; // true unless DOCKWRIGHT_REGISTRY_TIMEOUT is set
 * ```
 */
export const DEFAULT_READ_TIMEOUT_MS = 30_000;

/** Bytes per second an upload is given on top of the read timeout before its answer is due. */
const MIN_UPLOAD_RATE = 64 * 1024;

/** Statuses whose responses have no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * The read timeout: `option` when given, else `$DOCKWRIGHT_REGISTRY_TIMEOUT`
 * (seconds, fractions allowed), else 30 s.
 *
 * @example
 * ```ts
 * readTimeoutMs(); // 30000 unless DOCKWRIGHT_REGISTRY_TIMEOUT is set
 * readTimeoutMs(500); // 500
 * ```
 */
export function readTimeoutMs(option?: number): number {
  if (option !== undefined) return Math.max(1, option);
  const text = process.env.DOCKWRIGHT_REGISTRY_TIMEOUT;
  if (text === undefined || text.trim() === "") return DEFAULT_READ_TIMEOUT_MS;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new RegistryError(
      `DOCKWRIGHT_REGISTRY_TIMEOUT is ${
        JSON.stringify(text)
      }, not a number of seconds (such as 30)`,
    );
  }
  return Math.max(1, Math.round(seconds * 1000));
}

/**
 * A registry that stopped answering: no response, or no more bytes of a
 * body, within the read timeout. A plain `Error`, so the client retries it
 * where retrying is safe.
 *
 * @example
 * ```ts
 * throw new RegistryStallError("no data for 30 s while reading http://127.0.0.1:5000/v2/");
 * ```
 */
export class RegistryStallError extends Error {
  /**
   * A silent registry.
   *
   * @param message what was waited for, and how long
   */
  constructor(message: string) {
    super(message);
    this.name = "RegistryStallError";
  }
}

/** `30 s`, `0.3 s`. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** Only http: and https: URLs are fetched, wherever they come from (redirects, token realms, uploads). */
function checkScheme(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new RegistryError(`refusing the invalid URL ${JSON.stringify(url.slice(0, 200))}`);
  }
  if (protocol !== "https:" && protocol !== "http:") {
    throw new RegistryError(
      `refusing to fetch ${JSON.stringify(url.slice(0, 200))}: only http: and https: URLs are ` +
        "fetched from a registry (a registry that names a file: URL is broken or hostile)",
    );
  }
}

/**
 * `response` with a body that errors with a {@link RegistryStallError} (and
 * aborts the request) when no bytes come for `timeoutMs`.
 */
function watchBody(
  response: Response,
  controller: AbortController,
  timeoutMs: number,
  url: string,
): Response {
  if (!response.body || NULL_BODY.has(response.status)) return response;
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(out) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let lastTurn: ReturnType<typeof setImmediate> | undefined;
      const stall = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // One more turn of the event loop first: bytes that came while this process was busy
          // (decompressing, hashing) are delivered then, and are not a stall.
          lastTurn = setImmediate(() =>
            reject(
              new RegistryStallError(
                `no data for ${seconds(timeoutMs)} while reading the answer of ${url}`,
              ),
            )
          );
        }, timeoutMs);
      });
      try {
        const next = await Promise.race([reader.read(), stall]);
        if (next.done) out.close();
        else out.enqueue(next.value);
      } catch (error) {
        controller.abort(error);
        reader.cancel(error).catch(() => {});
        out.error(error);
      } finally {
        clearTimeout(timer);
        if (lastTurn) clearImmediate(lastTurn);
      }
    },
    cancel(reason) {
      controller.abort(reason);
      return reader.cancel(reason).catch(() => {});
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

interface DenoHttpClient {
  close(): void;
}
interface DenoLike {
  createHttpClient(options: { caCerts?: string[] }): DenoHttpClient;
}

const deno = (globalThis as { Deno?: DenoLike }).Deno;

/**
 * Reads the extra CA file: `caFile`, else `$DOCKWRIGHT_CA_FILE`, else none.
 *
 * @example
 * ```ts
 * const transport = new Transport({ caPem: readCaFile("/etc/registry/ca.pem") });
 * readCaFile(); // the text of $DOCKWRIGHT_CA_FILE, or undefined when it is unset
 * ```
 */
export function readCaFile(caFile?: string): string | undefined {
  const path = caFile ?? process.env.DOCKWRIGHT_CA_FILE;
  if (!path) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(
      `cannot read the CA certificate file ${path} (${
        (error as NodeJS.ErrnoException).code ?? (error as Error).message
      }); check caFile / --ca-file / DOCKWRIGHT_CA_FILE`,
    );
  }
}

/**
 * A fetch bound to TLS settings; {@link Transport.close} releases Deno's HTTP client.
 *
 * @example
 * ```ts
 * const transport = new Transport({ caPem: readCaFile("/etc/registry/ca.pem") });
 * try {
 *   const res = await transport.fetch("https://registry.local/v2/", { method: "GET" });
 *   res.status; // 200 or 401 from a registry
 * } finally {
 *   transport.close();
 * }
 * ```
 */
export class Transport {
  #client?: DenoHttpClient;
  readonly #extra: Record<string, unknown> = {};

  /**
   * A transport with these TLS settings (Deno: its own HTTP client when a CA is given).
   *
   * @param tls an extra CA, whether to verify certificates, and the read timeout
   */
  constructor(readonly tls: TlsSettings = {}) {
    if (deno) {
      if (tls.caPem) {
        this.#client = deno.createHttpClient({ caCerts: [tls.caPem] });
        this.#extra.client = this.#client;
      }
    } else if (tls.caPem || tls.insecure) {
      this.#extra.tls = {
        ...(tls.caPem ? { ca: tls.caPem } : {}),
        ...(tls.insecure ? { rejectUnauthorized: false } : {}),
      };
    }
  }

  /**
   * `fetch(url, init)` with the TLS settings and manual redirects, for
   * http: and https: URLs only. The answer must start within the read
   * timeout (plus time to send a body at 64 KiB/s), and its body may stay
   * silent no longer than that: a {@link RegistryStallError} otherwise.
   */
  async fetch(url: string, init: RequestInit): Promise<Response> {
    checkScheme(url);
    const timeout = readTimeoutMs(this.tls.readTimeoutMs);
    const controller = new AbortController();
    const outer = init.signal;
    if (outer) {
      if (outer.aborted) controller.abort(outer.reason);
      else outer.addEventListener("abort", () => controller.abort(outer.reason), { once: true });
    }
    const sending = init.body instanceof Uint8Array ? init.body.length : 0;
    const wait = timeout + Math.ceil((sending / MIN_UPLOAD_RATE) * 1000);
    let stalled: RegistryStallError | undefined;
    const timer = setTimeout(() => {
      stalled = new RegistryStallError(`no answer from ${url} within ${seconds(wait)}`);
      controller.abort(stalled);
    }, wait);
    let response: Response;
    try {
      response = await fetch(url, {
        ...init,
        signal: controller.signal,
        redirect: "manual",
        ...this.#extra,
      } as RequestInit);
    } catch (error) {
      if (stalled) throw stalled;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return watchBody(response, controller, timeout, url);
  }

  /** Releases resources (Deno's HTTP client). */
  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}

/**
 * A one-line description of a fetch failure, with the cause the runtimes hide
 * behind "fetch failed" (certificate errors, refused connections).
 *
 * @example
 * ```ts
 * try {
 *   await fetch("https://self-signed.badssl.com/");
 * } catch (error) {
 *   networkProblem(error); // e.g. "fetch failed (invalid peer certificate: UnknownIssuer)"
 * }
 * ```
 */
export function networkProblem(error: unknown): string {
  const e = error as Error & { cause?: unknown; code?: string };
  let text = e?.message ?? String(error);
  const cause = e?.cause as (Error & { code?: string }) | undefined;
  if (cause && typeof cause === "object" && cause.message && !text.includes(cause.message)) {
    // Deno: "error sending request for url (...): client error (Connect): <reason>"; keep the reason.
    const reason = cause.message.replace(/^error sending request for url \([^)]*\): /, "");
    text += ` (${reason})`;
  }
  return text;
}
