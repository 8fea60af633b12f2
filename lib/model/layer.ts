/**
 * A layer, known by its diffId. Its encodings (the tar itself, gzip, zstd)
 * live in the blob store; a writer asks for the one its output needs (see
 * `cache/layer_encodings.ts`), so how a layer was first stored never decides
 * how it is written.
 *
 * @module
 */

import type { Compressor } from "../codec/compress.ts";
import type { Digest } from "../codec/sha256.ts";

/**
 * How a layer's tar is stored or sent: `none` (the tar itself; its digest is
 * the diffId), `gz` or `zstd`. The values of Nix's `compressor`.
 */
export type Encoding = Compressor;

/**
 * One encoding of a layer: the blob's digest and byte size.
 *
 * @example
 * ```ts
 * const blob: LayerBlob = { encoding: "none", digest: `sha256:${"0".repeat(64)}`, size: 10240 };
 * ```
 */
export interface LayerBlob {
  /** How the blob encodes the layer's tar. */
  encoding: Encoding;
  /** sha256 of the blob (equals the diffId for `none`). */
  digest: Digest;
  /** Byte size of the blob. */
  size: number;
}

/**
 * One layer of an image.
 *
 * @example
 * ```ts
 * const layer: Layer = { diffId: `sha256:${"a".repeat(64)}`, comment: "store paths of hello" };
 * ```
 */
export interface Layer {
  /** sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: Digest;
  /**
   * The blob the layer came with when it was read from an image or a
   * registry. OCI outputs and pushes keep a compressed origin as it is, so a
   * base image's layer digests survive; absent for layers built here.
   */
  origin?: LayerBlob;
  /** History comment for this layer (Nix writes the store paths it holds). */
  comment?: string;
  /** Mode of this layer's `layer.tar` member in a streamed docker-archive (Nix: 0644; customisation layer 0444). */
  archiveMode?: number;
  /** Owner name of that member (Nix: empty; the customisation layer's store file: "root"). */
  archiveOwnerName?: string;
}

/**
 * A layer with the encoding a writer chose for it.
 *
 * @example
 * ```ts
 * declare const layer: Layer;
 * const encoded: EncodedLayer = { ...layer, encoding: "none", digest: layer.diffId, size: 10240 };
 * ```
 */
export interface EncodedLayer extends Layer, LayerBlob {}
