/**
 * Image references (`[host[:port]/]path[:tag][@digest]`) as Docker resolves
 * them: a first component without `.` or `:` (and not `localhost`) is a path
 * on Docker Hub, whose registry is `docker.io` (API host
 * `registry-1.docker.io`), and single-component Hub names get `library/`.
 *
 * @module
 */

import { type Digest, isDigest } from "../codec/sha256.ts";

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** Registry as written (`docker.io` for Docker Hub), e.g. `127.0.0.1:5000`. */
  registry: string;
  /** Repository path on that registry, e.g. `library/debian`. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** A string that is not a valid image reference. */
export class InvalidReferenceError extends Error {
  constructor(readonly reference: string, problem: string) {
    super(`${JSON.stringify(reference)} is not a valid image reference: ${problem}`);
    this.name = "InvalidReferenceError";
  }
}

/** Docker Hub's name, and the host its API really lives on. */
export const DOCKER_HUB = "docker.io";
const DOCKER_HUB_API = "registry-1.docker.io";
const HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** A repository name as written in image files and archives: an optional registry host, then path components. */
const REPOSITORY_NAME = new RegExp(
  `^(?:${HOST.source.slice(1, -1)}/)?${COMPONENT.source.slice(1, -1)}(?:/${
    COMPONENT.source.slice(1, -1)
  })*$`,
);

/**
 * True for a repository name: lowercase path components, optionally after a
 * registry host (`registry.example.com:5000/team/app`), at most 255 characters.
 *
 * @example
 * ```ts
 * isRepositoryName("localhost:5000/team/app"); // true
 * isRepositoryName("Team/App"); // false
 * ```
 */
export function isRepositoryName(name: string): boolean {
  return name.length <= 255 && REPOSITORY_NAME.test(name);
}

/**
 * True for a tag: up to 128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
 *
 * @example
 * ```ts
 * isValidTag("1.0-rc1"); // true
 * isValidTag(".hidden"); // false
 * ```
 */
export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * Splits `name[:tag]` at the tag's colon (a registry port is not a tag),
 * without checking or normalising either part.
 *
 * @example
 * ```ts
 * splitNameTag("localhost:5000/app:v1"); // { name: "localhost:5000/app", tag: "v1" }
 * splitNameTag("localhost:5000/app"); // { name: "localhost:5000/app" }
 * ```
 */
export function splitNameTag(value: string): { name: string; tag?: string } {
  const colon = value.lastIndexOf(":");
  return colon > value.lastIndexOf("/")
    ? { name: value.slice(0, colon), tag: value.slice(colon + 1) }
    : { name: value };
}

function looksLikeHost(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost" ||
    component.startsWith("[");
}

/**
 * Parses and normalises an image reference.
 *
 * @example
 * ```ts
 * parseReference("debian:12");
 * // { registry: "docker.io", repository: "library/debian", tag: "12" }
 * parseReference("127.0.0.1:5000/team/app@sha256:" + "a".repeat(64)).registry; // "127.0.0.1:5000"
 * ```
 */
export function parseReference(reference: string): ImageReference {
  let rest = reference;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) {
      throw new InvalidReferenceError(
        reference,
        `the digest must be sha256:<64 lowercase hex digits> (got ${JSON.stringify(d)})`,
      );
    }
    digest = d;
    rest = rest.slice(0, at);
  }
  const split = splitNameTag(rest);
  const tag = split.tag;
  rest = split.name;
  if (tag !== undefined) {
    if (!isValidTag(tag)) {
      throw new InvalidReferenceError(
        reference,
        `the tag ${
          JSON.stringify(tag)
        } must be up to 128 of [A-Za-z0-9_.-], not starting with "." or "-"`,
      );
    }
  }
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeHost(parts[0])) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) {
      throw new InvalidReferenceError(
        reference,
        `${JSON.stringify(registry)} is not a valid registry host`,
      );
    }
    if (HUB_ALIASES.has(registry.toLowerCase())) registry = DOCKER_HUB;
  }
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    throw new InvalidReferenceError(
      reference,
      'the repository must be lowercase letters, digits and separators (".", "_", "__", "-") in "/"-separated parts',
    );
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (repository.length > 255) {
    throw new InvalidReferenceError(reference, "the repository is longer than 255 characters");
  }
  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest ? { digest } : {}),
  };
}

/**
 * The host (and port) the registry's HTTP API is served on.
 *
 * @example
 * ```ts
 * apiHost("docker.io"); // "registry-1.docker.io"
 * apiHost("127.0.0.1:5000"); // "127.0.0.1:5000"
 * ```
 */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/**
 * The canonical text form: `registry/repository[:tag][@digest]`.
 *
 * @example
 * ```ts
 * formatReference({ registry: "docker.io", repository: "library/debian", tag: "12" }); // "docker.io/library/debian:12"
 * ```
 */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
    ref.digest ? `@${ref.digest}` : ""
  }`;
}
