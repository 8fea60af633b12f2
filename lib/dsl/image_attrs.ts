/**
 * Checks and defaults for the attributes every image builder shares: `name`,
 * `tag`, `architecture`, `created`, `config`.
 *
 * @module
 */

import {
  CONFIG_KIND_NAME,
  type ConfigValueKind,
  hasConfigShape,
  IMAGE_CONFIG_KEYS,
} from "../model/image_config.ts";
import { isRepositoryName, isValidTag } from "../model/reference.ts";
import { AttributeError, suggest } from "./errors.ts";
import { type Check, isAttrs, isString } from "./validate.ts";

/** GOARCH values, the only ones the image spec allows for `architecture`. */
export const GOARCH = [
  "386",
  "amd64",
  "arm",
  "arm64",
  "loong64",
  "mips",
  "mips64",
  "mips64le",
  "mipsle",
  "ppc64",
  "ppc64le",
  "riscv64",
  "s390x",
  "wasm",
] as const;

/** `architecture` must be a GOARCH value (Docker rejects `arm32v7` and the like). */
export const isArchitecture: Check = (fn, attr, v) => {
  isString(fn, attr, v);
  if (!(GOARCH as readonly string[]).includes(v as string)) {
    const hint = suggest(v as string, GOARCH);
    throw new AttributeError(
      fn,
      attr,
      `must be a Go architecture name (${GOARCH.join(", ")}), got ${JSON.stringify(v)}` +
        (hint ? `; did you mean "${hint}"?` : ""),
    );
  }
};

/**
 * The repository name Nix derives from `name` (`lib.toLower name`), checked
 * against the distribution reference grammar. The whole name is lowercased,
 * a registry host included.
 *
 * @example
 * ```ts
 * repositoryName("buildImage", "Registry.example.com:5000/Team/App");
 * // "registry.example.com:5000/team/app"
 * ```
 */
export function repositoryName(fn: string, name: string): string {
  const lower = name.toLowerCase();
  if (!isRepositoryName(lower)) {
    throw new AttributeError(
      fn,
      "name",
      `${
        JSON.stringify(name)
      } is not a valid image name: use lowercase letters, digits and separators ` +
        `(".", "_", "__", "-") in "/"-separated parts, optionally after a registry host like "registry.example.com:5000/"`,
    );
  }
  return lower;
}

/** `name`: a non-empty image reference name. */
export const isImageName: Check = (fn, attr, v) => {
  isString(fn, attr, v);
  repositoryName(fn, v as string);
};

/** `tag`: null or a valid tag. */
export const isTag: Check = (fn, attr, v) => {
  if (v === null) return;
  isString(fn, attr, v);
  if (!isValidTag(v as string)) {
    throw new AttributeError(
      fn,
      attr,
      `${
        JSON.stringify(v)
      } is not a valid tag: up to 128 of [A-Za-z0-9_.-], not starting with "." or "-"`,
    );
  }
};

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** `created`/`mtime`: `"now"` or an RFC 3339 / ISO-8601 date-time with a time zone. */
export const isTimestamp: Check = (fn, attr, v) => {
  isString(fn, attr, v);
  if (v === "now") return;
  if (!RFC3339.test(v as string) || Number.isNaN(Date.parse(v as string))) {
    throw new AttributeError(
      fn,
      attr,
      `must be "now" or a date-time like "1970-01-01T00:00:01Z" (RFC 3339, with a time zone), got ${
        JSON.stringify(v)
      }`,
    );
  }
};

/**
 * Resolves `"now"` to the current time in Nix's form (`date --iso-8601=seconds`, UTC).
 *
 * @example
 * ```ts
 * resolveTimestamp("now"); // the current time, e.g. "2026-11-22T10:00:00+00:00"
 * resolveTimestamp("1970-01-01T00:00:01Z"); // "1970-01-01T00:00:01Z" (anything else is kept)
 * ```
 */
export function resolveTimestamp(value: string): string {
  if (value !== "now") return value;
  return new Date().toISOString().replace(/\.\d{3}Z$/, "+00:00");
}

/** Seconds since the epoch of a (resolved) timestamp. */
export function epochSeconds(value: string): number {
  return Math.floor(Date.parse(resolveTimestamp(value)) / 1000);
}

/** `config`: the Docker image config object (Cmd, Env, ...), keys and value shapes checked. */
export const isImageConfig: Check = (fn, attr, v) => {
  if (v === null) return;
  isAttrs(fn, attr, v);
  for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
    const kind = (IMAGE_CONFIG_KEYS as Record<string, ConfigValueKind>)[key];
    const where = `${attr}.${key}`;
    if (!kind) {
      const hint = suggest(key, Object.keys(IMAGE_CONFIG_KEYS));
      throw new AttributeError(
        fn,
        where,
        `is not a key of the image config${hint ? `; did you mean "${hint}"?` : ""} (known: ${
          Object.keys(IMAGE_CONFIG_KEYS).join(", ")
        })`,
      );
    }
    if (value === null || value === undefined) continue;
    if (!hasConfigShape(kind, value)) {
      throw new AttributeError(
        fn,
        where,
        `must be ${kind === "object" ? "an attribute set" : CONFIG_KIND_NAME[kind]}`,
      );
    }
    if (key === "Env") {
      for (const e of value as string[]) {
        if (!e.includes("=") || e.startsWith("=")) {
          throw new AttributeError(
            fn,
            where,
            `entries must look like "NAME=value" (got ${JSON.stringify(e)})`,
          );
        }
      }
    }
    if (key === "Labels") {
      for (const [lk, lv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof lv !== "string") {
          throw new AttributeError(fn, `${where}.${lk}`, "must be a string");
        }
      }
    }
  }
};
