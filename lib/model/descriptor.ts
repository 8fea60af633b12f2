/**
 * Content descriptors: what manifests and indexes point at.
 *
 * @module
 */

import type { Digest } from "../codec/sha256.ts";
import type { Platform } from "./platform.ts";

/**
 * An OCI content descriptor.
 *
 * @example
 * ```ts
 * const d: Descriptor = {
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: `sha256:${"b".repeat(64)}`,
 *   size: 512,
 *   platform: { os: "linux", architecture: "arm64" },
 * };
 * ```
 */
export interface Descriptor {
  /** The media type of the content pointed at. */
  mediaType: string;
  /** sha256 of its bytes. */
  digest: Digest;
  /** Its byte size. */
  size: number;
  /** Free-form annotations, e.g. `org.opencontainers.image.ref.name`. */
  annotations?: Record<string, string>;
  /** The platform of an image, in an index. */
  platform?: Platform;
  /** Other places the content may be fetched from. */
  urls?: string[];
}
