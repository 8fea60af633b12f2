/**
 * The image config document (`application/vnd.oci.image.config.v1+json`) and
 * its `config` object, typed with the keys Docker and OCI define, so an editor
 * flags `config.cmd`; and the field-by-field check every reader applies to a
 * config it did not write.
 *
 * @module
 */

import { checkLimit } from "../host/input_limits.ts";
import { ImageFormatError, parseJson } from "./errors.ts";

/**
 * The container config (`config` of the image config; Nix's `config`
 * attribute): what a runtime starts the container with.
 *
 * @example
 * ```ts
 * const config: ImageConfig = { Cmd: ["/bin/hello"], Env: ["LANG=C.UTF-8"], ExposedPorts: { "80/tcp": {} } };
 * ```
 */
export interface ImageConfig {
  /** `user`, `uid`, `user:group` or `uid:gid`. */
  User?: string;
  /** Ports as `port/proto` keys with empty objects. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** `NAME=value` entries. */
  Env?: string[];
  /** The program to run; `Cmd` is appended to it as arguments. */
  Entrypoint?: string[];
  /** The command to run, or the default arguments of `Entrypoint`. */
  Cmd?: string[];
  /** Folders as keys with empty objects. */
  Volumes?: Record<string, Record<string, never>>;
  /** The working directory of the process. */
  WorkingDir?: string;
  /** Free-form metadata (`org.opencontainers.image.*` and others). */
  Labels?: Record<string, string>;
  /** The signal that stops the container, e.g. `SIGTERM` or `15`. */
  StopSignal?: string;
  /** Docker only. */
  ArgsEscaped?: boolean;
  /** Docker only; durations in nanoseconds. */
  Healthcheck?: {
    Test?: string[];
    Interval?: number;
    Timeout?: number;
    StartPeriod?: number;
    StartInterval?: number;
    Retries?: number;
  };
  /** Docker only. */
  OnBuild?: string[];
  /** Docker only. */
  Shell?: string[];
  /** Docker only; seconds. */
  StopTimeout?: number;
  /** Docker's legacy container config; kept as read. */
  Hostname?: string;
  /** Docker's legacy container config; kept as read. */
  Domainname?: string;
  /** Docker's legacy container config; kept as read. */
  AttachStdin?: boolean;
  /** Docker's legacy container config; kept as read. */
  AttachStdout?: boolean;
  /** Docker's legacy container config; kept as read. */
  AttachStderr?: boolean;
  /** Docker's legacy container config; kept as read. */
  Tty?: boolean;
  /** Docker's legacy container config; kept as read. */
  OpenStdin?: boolean;
  /** Docker's legacy container config; kept as read. */
  StdinOnce?: boolean;
  /** Docker's legacy container config; kept as read. */
  Image?: string;
  /** Docker's legacy container config; kept as read. */
  NetworkDisabled?: boolean;
  /** Docker's legacy container config; kept as read. */
  MacAddress?: string;
}

/** The shape of a config key's value. */
export type ConfigValueKind = "strings" | "string" | "object" | "bool" | "int";

/** Every key of {@link ImageConfig} with the shape of its value. */
export const IMAGE_CONFIG_KEYS = {
  User: "string",
  ExposedPorts: "object",
  Env: "strings",
  Entrypoint: "strings",
  Cmd: "strings",
  Volumes: "object",
  WorkingDir: "string",
  Labels: "object",
  StopSignal: "string",
  ArgsEscaped: "bool",
  Healthcheck: "object",
  OnBuild: "strings",
  Shell: "strings",
  StopTimeout: "int",
  Hostname: "string",
  Domainname: "string",
  AttachStdin: "bool",
  AttachStdout: "bool",
  AttachStderr: "bool",
  Tty: "bool",
  OpenStdin: "bool",
  StdinOnce: "bool",
  Image: "string",
  NetworkDisabled: "bool",
  MacAddress: "string",
} as const satisfies Record<keyof ImageConfig, ConfigValueKind>;

/** What each {@link ConfigValueKind} is called in an error message. */
export const CONFIG_KIND_NAME: Record<ConfigValueKind, string> = {
  strings: "a list of strings",
  string: "a string",
  object: "an object",
  bool: "true or false",
  int: "an integer",
};

/**
 * True when `value` has the shape `kind` asks for.
 *
 * @example
 * ```ts
 * hasConfigShape("strings", ["a", "b"]); // true
 * hasConfigShape("strings", "a b"); // false
 * ```
 */
export function hasConfigShape(kind: ConfigValueKind, value: unknown): boolean {
  switch (kind) {
    case "strings":
      return Array.isArray(value) && value.every((x) => typeof x === "string");
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "bool":
      return typeof value === "boolean";
    case "int":
      return Number.isInteger(value);
    case "string":
      return typeof value === "string";
  }
}

/**
 * One `history` entry of an image config.
 *
 * @example
 * ```ts
 * const entry: HistoryEntry = { created: "1970-01-01T00:00:01Z", comment: "store paths" };
 * ```
 */
export interface HistoryEntry {
  /** When the step ran (RFC 3339). */
  created?: string;
  /** The command that made the layer (a Dockerfile line, for Docker). */
  created_by?: string;
  /** Who made it. */
  author?: string;
  /** Free text; Nix writes the store paths a layer holds. */
  comment?: string;
  /** True for a step that made no layer (the entry then has no diffId). */
  empty_layer?: boolean;
}

/**
 * The image config document.
 *
 * @example
 * ```ts
 * const file: ImageConfigFile = {
 *   architecture: "amd64",
 *   os: "linux",
 *   config: { Cmd: ["/bin/sh"] },
 *   rootfs: { type: "layers", diff_ids: [] },
 * };
 * ```
 */
export interface ImageConfigFile {
  /** GOARCH of the image (`amd64`, `arm64`, ...). */
  architecture?: string;
  /** GOOS of the image (`linux`). */
  os?: string;
  /** CPU variant (`v7` for `arm`, `v8` for `arm64`). */
  variant?: string;
  /** When the image was made (RFC 3339). */
  created?: string;
  /** Who made it. */
  author?: string;
  /** What a runtime starts the container with. */
  config?: ImageConfig | null;
  /** The layers: `type` is `"layers"`, `diff_ids` the sha256 of each uncompressed tar, bottom first. */
  rootfs: { type: string; diff_ids: string[] };
  /** One entry per step, layers and empty layers alike, bottom first. */
  history?: HistoryEntry[];
  /** Other keys are kept as they are. */
  [key: string]: unknown;
}

const DIFF_ID = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses and checks a config document that someone else wrote, field by
 * field: the platform strings, `rootfs` (`"layers"`, sha256 diff_ids, at most
 * `maxLayers`), `history` entries, and every key of `config` (lists of
 * strings without NUL, `NAME=value` in `Env`, `{}` values of `ExposedPorts`
 * and `Volumes`, string `Labels`, the `Healthcheck` numbers). A wrong shape is
 * an {@link ImageFormatError} naming the field. Keys it does not know are kept
 * as they are.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode('{"rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":["A=1"]}}');
 * parseConfigFile("./base.tar", bytes).config?.Env; // ["A=1"]
 * ```
 */
export function parseConfigFile(source: string, bytes: Uint8Array): ImageConfigFile {
  const value = parseJson(source, "the image config", bytes);
  const bad = (field: string, want: string) =>
    new ImageFormatError(source, `the image config's ${field} must be ${want}`);
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new ImageFormatError(source, "the image config is not a JSON object");
  }
  const file = value as Record<string, unknown>;
  for (const key of ["architecture", "os", "variant", "created", "author"]) {
    if (file[key] !== undefined && file[key] !== null && typeof file[key] !== "string") {
      throw bad(key, "a string");
    }
  }
  const rootfs = file.rootfs as { diff_ids?: unknown; type?: unknown } | undefined;
  if (
    !rootfs || typeof rootfs !== "object" || Array.isArray(rootfs) ||
    !Array.isArray(rootfs.diff_ids)
  ) {
    throw new ImageFormatError(source, "the image config has no rootfs.diff_ids");
  }
  if (rootfs.type !== undefined && rootfs.type !== "layers") {
    throw bad("rootfs.type", '"layers"');
  }
  checkLimit(source, "the image config's rootfs.diff_ids", rootfs.diff_ids.length, "maxLayers");
  for (const [i, d] of rootfs.diff_ids.entries()) {
    if (typeof d !== "string" || !DIFF_ID.test(d)) {
      throw bad(`rootfs.diff_ids[${i}]`, "a sha256 digest");
    }
  }
  if (file.history !== undefined && file.history !== null) {
    if (!Array.isArray(file.history)) throw bad("history", "a list");
    for (const [i, h] of file.history.entries()) {
      if (!hasConfigShape("object", h)) throw bad(`history[${i}]`, "an object");
      for (const key of ["created", "created_by", "author", "comment"]) {
        const v = (h as Record<string, unknown>)[key];
        if (v !== undefined && v !== null && typeof v !== "string") {
          throw bad(`history[${i}].${key}`, "a string");
        }
      }
      const empty = (h as Record<string, unknown>).empty_layer;
      if (empty !== undefined && empty !== null && typeof empty !== "boolean") {
        throw bad(`history[${i}].empty_layer`, "true or false");
      }
    }
  }
  const config = file.config;
  if (config !== undefined && config !== null) {
    if (!hasConfigShape("object", config)) throw bad("config", "an object");
    const c = config as Record<string, unknown>;
    for (const [key, kind] of Object.entries(IMAGE_CONFIG_KEYS)) {
      const v = c[key];
      if (v === undefined || v === null) continue;
      if (!hasConfigShape(kind, v)) throw bad(`config.${key}`, CONFIG_KIND_NAME[kind]);
    }
    const env = (config as ImageConfig).Env ?? [];
    for (const [i, entry] of env.entries()) {
      const eq = entry.indexOf("=");
      if (eq <= 0) throw bad(`config.Env[${i}] (${show(entry)})`, "NAME=value");
      if (entry.includes("\0")) throw bad(`config.Env[${i}] (${show(entry)})`, "free of NUL bytes");
    }
    for (const key of ["Cmd", "Entrypoint", "Shell", "OnBuild"] as const) {
      for (const [i, arg] of ((config as ImageConfig)[key] ?? []).entries()) {
        if (arg.includes("\0")) throw bad(`config.${key}[${i}]`, "free of NUL bytes");
      }
    }
    for (const key of ["ExposedPorts", "Volumes"] as const) {
      for (const [name, value] of Object.entries((c[key] ?? {}) as Record<string, unknown>)) {
        if (!hasConfigShape("object", value)) throw bad(`config.${key}[${show(name)}]`, "{}");
      }
    }
    for (const [name, value] of Object.entries((c.Labels ?? {}) as Record<string, unknown>)) {
      if (typeof value !== "string") throw bad(`config.Labels[${show(name)}]`, "a string");
    }
    const health = c.Healthcheck as Record<string, unknown> | undefined | null;
    if (health) {
      if (
        health.Test !== undefined && health.Test !== null && !hasConfigShape("strings", health.Test)
      ) {
        throw bad("config.Healthcheck.Test", "a list of strings");
      }
      for (const key of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"]) {
        const v = health[key];
        if (v !== undefined && v !== null && !hasConfigShape("int", v)) {
          throw bad(`config.Healthcheck.${key}`, "an integer");
        }
      }
    }
  }
  return file as ImageConfigFile;
}

/** A value for a message: JSON, cut at 100 characters. */
function show(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 100 ? `${text.slice(0, 100)}..."` : text;
}
