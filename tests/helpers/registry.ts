/**
 * Test servers for registry tests, all on 127.0.0.1:
 *
 * - {@link startRegistry}: the real `docker-registry serve` (distribution 2.8)
 *   with a temp storage folder, optionally with TLS, htpasswd basic auth, or
 *   token auth;
 * - {@link startTokenServer}: a Docker token endpoint (node:http) issuing
 *   RS256 JWTs with an `x5c` certificate chain, which distribution verifies
 *   against its `rootcertbundle`;
 * - {@link startProxy}: a reverse proxy in front of a registry that logs every
 *   request (to count blob uploads and downloads) and injects faults;
 * - {@link makeCertificates}, {@link htpasswdFile}: a CA with a server
 *   certificate for 127.0.0.1 (openssl), a bcrypt htpasswd file.
 *
 * Only `node:` built-ins, so it runs under Deno and Bun.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import { createSign, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { join } from "node:path";
import process from "node:process";
import { runOk } from "./tools.ts";

/**
 * A free TCP port on 127.0.0.1 (bound, read, released).
 *
 * @example
 * ```ts
 * const port = await freePort();
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(
  port: number,
  child: ChildProcess,
  stderr: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) {
        reject(
          new Error(`docker-registry exited (${child.exitCode}) before listening:\n${stderr()}`),
        );
        return;
      }
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", () => {
        socket.destroy();
        if (Date.now() > deadline) {
          reject(
            new Error(
              `docker-registry did not listen on ${port} within ${timeoutMs} ms:\n${stderr()}`,
            ),
          );
        } else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

const liveChildren = new Set<ChildProcess>();
let exitHook = false;

/** A running registry. */
export interface RegistryServer {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  port: number;
  /** Its folder (config, storage). */
  dir: string;
  /** Stops the process (SIGTERM, then SIGKILL) and waits for it. */
  stop(): Promise<void>;
}

/** Options of {@link startRegistry}. */
export interface RegistryServerOptions {
  /** Serve HTTPS with this certificate and key. */
  tls?: { certFile: string; keyFile: string };
  /** Basic auth with this htpasswd file (bcrypt entries). */
  htpasswd?: string;
  /** Token auth. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/**
 * Starts `docker-registry serve` on a free port of 127.0.0.1 with storage in `dir`.
 *
 * @example
 * ```ts
 * const registry = await startRegistry(tempDir("reg-"));
 * try { console.log(registry.host); } finally { await registry.stop(); }
 * ```
 */
export async function startRegistry(
  dir: string,
  options: RegistryServerOptions = {},
): Promise<RegistryServer> {
  mkdirSync(join(dir, "storage"), { recursive: true });
  const port = await freePort();
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(join(dir, "storage"))}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
  ];
  if (options.tls) {
    lines.push(
      "  tls:",
      `    certificate: ${JSON.stringify(options.tls.certFile)}`,
      `    key: ${JSON.stringify(options.tls.keyFile)}`,
    );
  }
  if (options.htpasswd) {
    lines.push(
      "auth:",
      "  htpasswd:",
      "    realm: dockwright-test",
      `    path: ${JSON.stringify(options.htpasswd)}`,
    );
  }
  if (options.token) {
    const t = options.token;
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(t.realm)}`,
      `    service: ${JSON.stringify(t.service)}`,
      `    issuer: ${JSON.stringify(t.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(t.rootCertBundle)}`,
    );
  }
  const config = join(dir, "config.yml");
  writeFileSync(config, lines.join("\n") + "\n");
  const child = spawn("docker-registry", ["serve", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c: Uint8Array) => {
    stderr = (stderr + Buffer.from(c).toString("utf8")).slice(-8000);
  });
  liveChildren.add(child);
  if (!exitHook) {
    exitHook = true;
    process.on("exit", () => {
      for (const c of liveChildren) c.kill("SIGKILL");
    });
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    liveChildren.delete(child);
  };
  try {
    await waitForPort(port, child, () => stderr);
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: `127.0.0.1:${port}`, port, dir, stop };
}

/** Files of {@link makeCertificates}. */
export interface Certificates {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * A CA and a server certificate for IP 127.0.0.1 signed by it (a self-signed
 * `CA:TRUE` certificate used as the server's own is refused by Deno's rustls).
 *
 * @example
 * ```ts
 * const { caFile, certFile, keyFile } = await makeCertificates(dir);
 * ```
 */
export async function makeCertificates(dir: string): Promise<Certificates> {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  await runOk("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=dockwright test CA",
  ]);
  await runOk("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    f("server.key"),
    "-out",
    f("server.csr"),
    "-subj",
    "/CN=127.0.0.1",
  ]);
  writeFileSync(
    f("server.ext"),
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await runOk("openssl", [
    "x509",
    "-req",
    "-in",
    f("server.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-out",
    f("server.pem"),
    "-days",
    "2",
    "-extfile",
    f("server.ext"),
  ]);
  return { caFile: f("ca.pem"), certFile: f("server.pem"), keyFile: f("server.key") };
}

/**
 * An htpasswd file with one bcrypt entry (`htpasswd -B`, which distribution requires).
 *
 * @example
 * ```ts
 * const file = await htpasswdFile(dir, "alice", "s3cret");
 * ```
 */
export async function htpasswdFile(dir: string, user: string, password: string): Promise<string> {
  const { stdout } = await runOk("htpasswd", ["-Bbn", user, password]);
  const path = join(dir, "htpasswd");
  writeFileSync(path, stdout.trim() + "\n");
  return path;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    (server as http.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close(() => resolve());
  });
}

/** A running token server. */
export interface TokenServer {
  /** The realm URL to configure in the registry. */
  realm: string;
  service: string;
  issuer: string;
  /** The certificate the registry trusts (`rootcertbundle`). */
  certFile: string;
  /** Every token request: the scopes asked for and whether the credentials were accepted. */
  requests: Array<{ scopes: string[]; user?: string; ok: boolean }>;
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

/**
 * A Docker token endpoint: `GET /token?service=..&scope=..` with optional basic
 * auth. Known users get the actions they ask for; wrong credentials get 401;
 * anonymous requests get a token without access.
 *
 * @example
 * ```ts
 * const tokens = await startTokenServer(dir, { alice: "s3cret" });
 * const registry = await startRegistry(dir, { token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certFile } });
 * ```
 */
export async function startTokenServer(
  dir: string,
  users: Record<string, string>,
): Promise<TokenServer> {
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, "token.key");
  const certFile = join(dir, "token.pem");
  await runOk("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-subj",
    "/CN=dockwright token signer",
  ]);
  const key = readFileSync(keyFile, "utf8");
  const der = readFileSync(certFile, "utf8").replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const service = "dockwright-test";
  const issuer = "dockwright-test-issuer";
  const requests: TokenServer["requests"] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const scopes = url.searchParams.getAll("scope");
    let user: string | undefined;
    let ok = true;
    const header = req.headers.authorization;
    if (header?.startsWith("Basic ")) {
      const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      user = decoded.slice(0, colon);
      ok = users[user] !== undefined && users[user] === decoded.slice(colon + 1);
    }
    requests.push({ scopes, user, ok });
    if (!ok || url.pathname !== "/token") {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }),
      );
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = user === undefined ? [] : scopes.map((s) => {
      const [type, ...rest] = s.split(":");
      const actions = rest.pop()!.split(",");
      return { type, name: rest.join(":"), actions };
    });
    const head = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [der] }));
    const claims = b64url(JSON.stringify({
      iss: issuer,
      sub: user ?? "",
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    }));
    const signature = createSign("RSA-SHA256").update(`${head}.${claims}`).sign(key).toString(
      "base64url",
    );
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: `${head}.${claims}.${signature}`, expires_in: 300 }));
  });
  const port = await listen(server);
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    stop: () => close(server),
  };
}

/** One request seen by a {@link Proxy}. */
export interface ProxiedRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** Bytes of the request body. */
  bodyBytes: number;
  /** Status sent back to the client. */
  status?: number;
}

/**
 * What a {@link Proxy} does to a request instead of passing it through:
 * - `status`: answer with this status without asking the registry;
 * - `drop`: close the connection without an answer;
 * - `truncate`: pass it on, but cut the response body after `bytes` bytes;
 * - `corrupt`: pass it on, flipping the bits of the response body (same length);
 * - `replaceStatus`: pass it on (the registry does the work), then answer with this status.
 */
export type Fault =
  | { kind: "status"; status: number; headers?: Record<string, string> }
  | { kind: "drop" }
  | { kind: "truncate"; bytes: number }
  | { kind: "corrupt" }
  | { kind: "replaceStatus"; status: number };

/** A running proxy. */
export interface Proxy {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Every request, in order. */
  log: ProxiedRequest[];
  /** Decides a fault per request (undefined: pass through). */
  fault: ((request: ProxiedRequest) => Fault | undefined) | undefined;
  stop(): Promise<void>;
}

/**
 * A logging, fault-injecting reverse proxy to `127.0.0.1:targetPort` (plain HTTP).
 * The `Host` header is passed on, so the registry's upload locations point
 * back at the proxy.
 *
 * @example
 * ```ts
 * const proxy = await startProxy(registry.port);
 * proxy.fault = (r) => r.method === "GET" && r.path.includes("/blobs/") ? { kind: "status", status: 500 } : undefined;
 * ```
 */
export async function startProxy(targetPort: number): Promise<Proxy> {
  const proxy: Proxy = { host: "", log: [], fault: undefined, stop: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const entry: ProxiedRequest = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        bodyBytes: body.length,
      };
      proxy.log.push(entry);
      const fault = proxy.fault?.(entry);
      if (fault?.kind === "status") {
        entry.status = fault.status;
        res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
        res.end(JSON.stringify({ errors: [{ code: "UNKNOWN", message: "injected fault" }] }));
        return;
      }
      if (fault?.kind === "drop") {
        req.socket.destroy();
        return;
      }
      const upstream = http.request({
        host: "127.0.0.1",
        port: targetPort,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, "content-length": String(body.length) },
      }, (up) => {
        const status = fault?.kind === "replaceStatus" ? fault.status : up.statusCode ?? 502;
        entry.status = status;
        const headers = { ...up.headers };
        if (fault?.kind === "replaceStatus") {
          up.resume();
          res.writeHead(status, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              errors: [{ code: "UNKNOWN", message: "injected fault after the work was done" }],
            }),
          );
          return;
        }
        res.writeHead(status, headers);
        let sent = 0;
        up.on("data", (c: Buffer) => {
          if (fault?.kind === "truncate") {
            const room = fault.bytes - sent;
            if (room <= 0) return;
            res.write(c.subarray(0, room));
            sent += Math.min(room, c.length);
            if (sent >= fault.bytes) {
              // Let the partial body reach the client, then cut the connection mid-body.
              setTimeout(() => res.socket?.destroy(), 20);
            }
            return;
          }
          res.write(fault?.kind === "corrupt" ? Buffer.from(c.map((b) => b ^ 0xff)) : c);
        });
        up.on("end", () => {
          if (fault?.kind !== "truncate") res.end();
        });
      });
      upstream.on("error", () => res.socket?.destroy());
      upstream.end(body);
    });
  });
  const port = await listen(server);
  proxy.host = `127.0.0.1:${port}`;
  proxy.stop = () => close(server);
  return proxy;
}
