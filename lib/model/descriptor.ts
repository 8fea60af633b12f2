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
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
}
