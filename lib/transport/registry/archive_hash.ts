/**
 * The `sha256`/`hash` check of `pullImage`. In Nix it is the fixed-output
 * hash of the docker-archive skopeo writes. Here it is the sha256 of the
 * docker-archive dockwright writes for the pulled image with compressor
 * `none` (what `build(pullImage(...), { compressor: "none" })` writes): its
 * bytes depend only on the config, the layers' uncompressed content, the
 * name and the tag, so the hash is stable. `sha256sum` of that file gives it
 * in hex. The hash is computed without writing the archive, and remembered
 * in the store.
 *
 * Accepted forms: SRI (`sha256-<base64>`, Nix's `hash`), and for `sha256`
 * also hex (64 digits), Nix base-32 (52 characters), base64, each optionally
 * prefixed `sha256:`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { BlobStore } from "../../cache/blob_store.ts";
import { sha256Hex } from "../../codec/sha256.ts";
import type { Image } from "../../model/image.ts";
import { encodeImage } from "../encode.ts";
import { dockerArchiveEntries } from "../docker_archive/write.ts";
import { writeTar } from "../../tar/writer.ts";
import { fromNix32, toNix32 } from "../../codec/nix_base32.ts";

export { toNix32 };

/**
 * The SRI form Nix prints: `sha256-<base64>`.
 *
 * @example
 * ```ts
 * import { createHash } from "node:crypto";
 *
 * sri(createHash("sha256").update("").digest()); // "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
 * ```
 */
export function sri(hash: Uint8Array): string {
  return `sha256-${Buffer.from(hash).toString("base64")}`;
}

/**
 * Parses a sha256 given as SRI, hex, Nix base-32 or base64; undefined when it is none of them.
 *
 * @example
 * ```ts
 * parseSha256("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")?.length; // 32
 * parseSha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"); // the same 32 bytes
 * parseSha256("sha256-tooShort"); // undefined
 * ```
 */
export function parseSha256(value: string): Uint8Array | undefined {
  let text = value.trim();
  if (text.startsWith("sha256-")) text = text.slice(7);
  else if (text.startsWith("sha256:")) text = text.slice(7);
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, "hex"));
  if (text.length === 52) return fromNix32(text, 32);
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return new Uint8Array(Buffer.from(text, "base64"));
  return undefined;
}

/**
 * The sha256 of the docker-archive (compressor `none`) of `image`, computed
 * by streaming the archive into a hash; remembered in the store.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Image } from "../../model/image.ts";
 *
 * declare const store: BlobStore;
 * declare const image: Image; // e.g. a pulled image
 * sri(await dockerArchiveHash(store, image)); // "sha256-<base64>", the form pullImage's `hash` takes
 * ```
 */
export async function dockerArchiveHash(store: BlobStore, image: Image): Promise<Uint8Array> {
  // Everything the archive's bytes depend on (and the writer's version, "v1").
  const key = sha256Hex(JSON.stringify({
    v: 1,
    config: image.config.digest,
    diffIds: image.layers.map((l) => l.diffId),
    name: image.repoName,
    tag: image.tag,
    layout: image.archiveLayout,
    mtime: image.streamMtime ?? null,
  }));
  const known = store.getRecord<{ sha256: string }>("archive-hashes", key);
  if (known) return new Uint8Array(Buffer.from(known.sha256, "hex"));
  const encoded = await encodeImage(store, image, { kind: "tar" });
  const hash = createHash("sha256");
  for await (const chunk of writeTar(dockerArchiveEntries(store, [encoded]))) {
    hash.update(chunk);
  }
  const digest = hash.digest();
  store.putRecord("archive-hashes", key, { sha256: digest.toString("hex") });
  return new Uint8Array(digest);
}
