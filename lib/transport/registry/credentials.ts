/**
 * Where registry credentials come from, in this order:
 *
 * 1. given explicitly (`--creds user:password`, the `creds` option of `push`);
 * 2. `DOCKWRIGHT_REGISTRY_USER` / `DOCKWRIGHT_REGISTRY_PASSWORD`, for the
 *    registry named in `DOCKWRIGHT_REGISTRY_HOST`, or, when that is unset, only
 *    for the registry being pushed to (so a CI token is never sent to Docker
 *    Hub while pulling a public base image);
 * 3. the first auth file with an entry for the registry, as podman and skopeo
 *    look them up: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
 *    `~/.config/containers/auth.json`, `$DOCKER_CONFIG/config.json` (default
 *    `~/.docker/config.json`). Entries are `auths.<key>.auth` (base64
 *    `user:password`) or `auths.<key>.username`/`password`; a key may be a
 *    host, `host/repository` (longest match wins) or a URL like
 *    `https://index.docker.io/v1/`. Credential helpers (`credsStore`,
 *    `credHelpers`) are not supported: such a registry is tried anonymously,
 *    and if it then asks for a login the error names the helper.
 *
 * A password is kept in a private field: printing, logging or
 * JSON-serialising a {@link Credentials} shows only where it came from.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DOCKER_HUB } from "../../model/reference.ts";

/** User name and password (or token) for one registry. */
export class Credentials {
  readonly #password: string;

  /**
   * Credentials for one registry.
   *
   * @param username the user name
   * @param password the password or token (never printed)
   * @param source where they came from, for messages (e.g. `"--creds"`, a file path)
   */
  constructor(readonly username: string, password: string, readonly source: string) {
    this.#password = password;
  }

  /** The password or token. */
  password(): string {
    return this.#password;
  }

  /** `Basic base64(user:password)`. */
  basicHeader(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.#password}`).toString("base64")}`;
  }

  /** What logs may show. */
  toJSON(): { source: string } {
    return { source: this.source };
  }

  /** What logs may show. */
  toString(): string {
    return `[credentials from ${this.source}]`;
  }

  /** Keeps `console.log` (Node, Deno and Bun inspectors) from printing the password. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  /** Deno's inspector. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}

/** Credentials that cannot be used as configured (a helper, a malformed entry). */
export class CredentialsError extends Error {
  /**
   * Credentials that cannot be used.
   *
   * @param message what is wrong and what to set instead
   */
  constructor(message: string) {
    super(message);
    this.name = "CredentialsError";
  }
}

/** What `creds` options accept. */
export type CredsOption = string | { username: string; password: string } | Credentials | null;

/**
 * Parses `user:password` (as `--creds` takes it); the password may contain `:`.
 *
 * @example
 * ```ts
 * parseCreds("ci:s3cret", "--creds").username; // "ci"
 * ```
 */
export function parseCreds(value: string, source: string): Credentials {
  const colon = value.indexOf(":");
  if (colon <= 0) {
    throw new CredentialsError(
      `${source} must look like USER:PASSWORD (the user name is empty or there is no ":")`,
    );
  }
  return new Credentials(value.slice(0, colon), value.slice(colon + 1), source);
}

/** Environment and home folder to read; the real ones by default (tests pass their own). */
export interface CredentialEnvironment {
  /** Environment variables. Default: `process.env`. */
  env?: Record<string, string | undefined>;
  /** Home folder (for `~/.docker/config.json`, ...). Default: the user's. */
  home?: string;
}

/**
 * The auth files searched, in order.
 *
 * @example
 * ```ts
 * authFiles({ env: {}, home: "/home/me" });
 * // ["/home/me/.config/containers/auth.json", "/home/me/.docker/config.json"]
 * ```
 */
export function authFiles(environment: CredentialEnvironment = {}): string[] {
  const env = environment.env ?? process.env;
  const home = environment.home ?? homedir();
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, "containers", "auth.json"));
  files.push(join(home, ".config", "containers", "auth.json"));
  files.push(join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json"));
  return files;
}

/** `https://index.docker.io/v1/` -> `docker.io`; `http://host:5000/v2/` -> `host:5000`; `host/repo` stays. */
function normaliseKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  k = k.replace(/\/v[12]$/, "");
  const [host, ...path] = k.split("/");
  const h = ["index.docker.io", "registry-1.docker.io", "docker.io"].includes(host.toLowerCase())
    ? DOCKER_HUB
    : host;
  return [h, ...path].join("/");
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: unknown;
  credHelpers?: Record<string, unknown>;
}

function readAuthFile(path: string): AuthFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text);
    return parsed && typeof parsed === "object" ? parsed as AuthFile : undefined;
  } catch (error) {
    throw new CredentialsError(
      `${path} is not valid JSON (${(error as Error).message}); fix or remove it`,
    );
  }
}

function fromEntry(entry: AuthEntry, where: string): Credentials | undefined {
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    return parseCreds(decoded, `${where} (auth)`);
  }
  if (
    typeof entry.username === "string" && entry.username !== "" &&
    typeof entry.password === "string"
  ) {
    return new Credentials(entry.username, entry.password, where);
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
    throw new CredentialsError(
      `${where} holds an identity token, which dockwright does not support; use a user name and password or access token instead`,
    );
  }
  return undefined;
}

/** A credential helper dockwright skipped, for the message when the registry then asks for a login. */
function helperNote(path: string, registry: string, helper: unknown): string {
  return `${path} keeps the credentials for ${registry} in "docker-credential-${
    String(helper)
  }", a credential helper, ` +
    `which dockwright does not support; set DOCKWRIGHT_REGISTRY_USER/DOCKWRIGHT_REGISTRY_PASSWORD ` +
    `(with DOCKWRIGHT_REGISTRY_HOST=${registry}), or put an "auth" entry in a file named by $REGISTRY_AUTH_FILE`;
}

function lookupInFile(
  path: string,
  file: AuthFile,
  registry: string,
  repository: string,
): CredentialLookup {
  const wanted = `${registry}/${repository}`;
  for (const [key, helper] of Object.entries(file.credHelpers ?? {})) {
    if (normaliseKey(key) === registry) return { note: helperNote(path, registry, helper) };
  }
  const matches = Object.entries(file.auths ?? {})
    .map(([key, entry]) => ({ key: normaliseKey(key), entry }))
    .filter(({ key }) => key === registry || wanted === key || wanted.startsWith(`${key}/`))
    .sort((a, b) => b.key.length - a.key.length);
  for (const { key, entry } of matches) {
    const credentials = entry && typeof entry === "object"
      ? fromEntry(entry, `${path} (auths["${key}"])`)
      : undefined;
    if (credentials) return { credentials };
  }
  // Docker Desktop writes empty `auths` entries and keeps the secrets in its store.
  if (typeof file.credsStore === "string" && file.credsStore !== "") {
    return { note: helperNote(path, registry, file.credsStore) };
  }
  return {};
}

/** What {@link findCredentials} found. */
export interface CredentialLookup {
  /** The credentials, or undefined for anonymous access. */
  credentials?: Credentials;
  /** Why no credentials were found although some may exist (an unsupported credential helper). */
  note?: string;
}

/** Options of {@link findCredentials}. */
export interface FindCredentialsOptions extends CredentialEnvironment {
  /** Explicit credentials; `null` means anonymous, whatever the files say. */
  creds?: CredsOption;
  /** True for the registry being pushed to: the `DOCKWRIGHT_REGISTRY_*` variables apply without `DOCKWRIGHT_REGISTRY_HOST`. */
  pushTarget?: boolean;
}

/**
 * The credentials to use for `registry`/`repository`; none means anonymous access.
 *
 * @example
 * ```ts
 * const env = { DOCKWRIGHT_REGISTRY_USER: "ci", DOCKWRIGHT_REGISTRY_PASSWORD: "s3cret" };
 * const { credentials } = findCredentials("ghcr.io", "me/app", { pushTarget: true, env });
 * credentials?.source; // "DOCKWRIGHT_REGISTRY_USER/DOCKWRIGHT_REGISTRY_PASSWORD"
 * findCredentials("ghcr.io", "me/app", { creds: "bot:t0ken" }).credentials?.username; // "bot"
 * findCredentials("ghcr.io", "me/app", { creds: null }); // {} (anonymous)
 * ```
 */
export function findCredentials(
  registry: string,
  repository: string,
  options: FindCredentialsOptions = {},
): CredentialLookup {
  const { creds } = options;
  if (creds === null) return {};
  if (creds instanceof Credentials) return { credentials: creds };
  if (typeof creds === "string") return { credentials: parseCreds(creds, "--creds") };
  if (creds) {
    return { credentials: new Credentials(creds.username, creds.password, "the creds option") };
  }
  const env = options.env ?? process.env;
  const user = env.DOCKWRIGHT_REGISTRY_USER;
  if (user) {
    const host = env.DOCKWRIGHT_REGISTRY_HOST;
    const applies = host ? normaliseKey(host) === registry : options.pushTarget === true;
    if (applies) {
      if (env.DOCKWRIGHT_REGISTRY_PASSWORD === undefined) {
        throw new CredentialsError(
          "DOCKWRIGHT_REGISTRY_USER is set but DOCKWRIGHT_REGISTRY_PASSWORD is not; set both",
        );
      }
      return {
        credentials: new Credentials(
          user,
          env.DOCKWRIGHT_REGISTRY_PASSWORD,
          "DOCKWRIGHT_REGISTRY_USER/DOCKWRIGHT_REGISTRY_PASSWORD",
        ),
      };
    }
  }
  let note: string | undefined;
  for (const path of authFiles(options)) {
    const file = readAuthFile(path);
    if (!file) continue;
    const found = lookupInFile(path, file, registry, repository);
    if (found.credentials) return found;
    note ??= found.note;
  }
  return note ? { note } : {};
}
