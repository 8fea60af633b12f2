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
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";

/** TLS settings for one registry. */
export interface TlsSettings {
  /** PEM text of extra CA certificates. */
  caPem?: string;
  /** Do not verify the server certificate (honoured by Bun only, see the module doc). */
  insecure?: boolean;
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
   * @param tls an extra CA and whether to verify certificates
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

  /** `fetch(url, init)` with the TLS settings and manual redirects. */
  fetch(url: string, init: RequestInit): Promise<Response> {
    return fetch(url, { ...init, redirect: "manual", ...this.#extra } as RequestInit);
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
