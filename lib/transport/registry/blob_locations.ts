/**
 * A small record in the blob store of the repositories a blob was pulled
 * from or pushed to, per registry, so a push to another repository of the
 * same registry can mount the blob (`POST ...?mount=<digest>&from=<repo>`)
 * instead of uploading it again.
 *
 * @module
 */

import type { BlobStore } from "../../cache/blob_store.ts";
import type { Digest } from "../../codec/sha256.ts";

const KIND = "registry-blobs";
/** Enough candidates to find a mountable one; old entries drop off. */
const KEEP = 8;

type Locations = Record<string, string[]>;

/**
 * Remembers that `registry/repository` holds `digest`.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Digest } from "../../codec/sha256.ts";
 *
 * declare const store: BlobStore;
 * declare const digest: Digest; // a layer just pushed to 127.0.0.1:5000/team/app
 * rememberBlobLocation(store, digest, "127.0.0.1:5000", "team/app");
 * ```
 */
export function rememberBlobLocation(
  store: BlobStore,
  digest: Digest,
  registry: string,
  repository: string,
): void {
  const key = digest.slice(7);
  const known = store.getRecord<Locations>(KIND, key) ?? {};
  const repos = (known[registry] ?? []).filter((r) => r !== repository);
  known[registry] = [repository, ...repos].slice(0, KEEP);
  store.putRecord(KIND, key, known);
}

/**
 * Repositories of `registry` known to hold `digest`, most recent first.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Digest } from "../../codec/sha256.ts";
 *
 * declare const store: BlobStore;
 * declare const digest: Digest; // a blob the store knows no location of yet
 * rememberBlobLocation(store, digest, "127.0.0.1:5000", "team/app");
 * rememberBlobLocation(store, digest, "127.0.0.1:5000", "team/web");
 * blobLocations(store, digest, "127.0.0.1:5000"); // ["team/web", "team/app"]
 * blobLocations(store, digest, "ghcr.io"); // []
 * ```
 */
export function blobLocations(store: BlobStore, digest: Digest, registry: string): string[] {
  const known = store.getRecord<Locations>(KIND, digest.slice(7));
  const repos = known?.[registry];
  return Array.isArray(repos) ? repos.filter((r): r is string => typeof r === "string") : [];
}
