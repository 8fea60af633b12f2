/**
 * A built layer: its uncompressed identity (diff_id) and its stored blob.
 *
 * @module
 */

import type { Compressor } from "../codec/compress.ts";
import type { Digest } from "../codec/sha256.ts";

/**
 * One layer of an image, as stored in the blob store.
 *
 * @example
 * ```ts
 * const layer: Layer = { diffId: "sha256:ab..", digest: "sha256:cd..", size: 1234, compressor: "gz" };
 * ```
 */
export interface Layer {
  /** sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: Digest;
  /** sha256 of the blob as stored (equals diffId when uncompressed). */
  digest: Digest;
  /** Byte size of the stored blob. */
  size: number;
  /** How the stored blob is compressed. */
  compressor: Compressor;
  /** History comment for this layer (Nix writes the store paths it holds). */
  comment?: string;
  /** Mode of this layer's `layer.tar` member in a streamed docker-archive (Nix: 0644; customisation layer 0444). */
  archiveMode?: number;
  /** Owner name of that member (Nix: empty; the customisation layer's store file: "root"). */
  archiveOwnerName?: string;
}
