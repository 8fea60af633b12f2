/**
 * Building an image definition into an output: the step that turns a lazy
 * value into files.
 *
 * @module
 */

import { resolve } from "node:path";
import { BlobStore } from "../cache/blob_store.ts";
import { type Compressor, COMPRESSOR_EXTENSION } from "../codec/compress.ts";
import type { BuiltImage } from "../image/image.ts";
import { layersForSink } from "../image/convert_layers.ts";
import { ociManifest } from "../image/manifest.ts";
import { OCI } from "../image/media_types.ts";
import { writeDockerArchive } from "../sink/docker_archive.ts";
import { writeOciArchive, writeOciLayout } from "../sink/oci_layout.ts";
import { Progress } from "../util/progress.ts";
import { createContext, type ImageDefinition } from "./image_definition.ts";

/** Output formats. */
export const FORMATS = ["docker-archive", "oci", "oci-archive"] as const;

/** One of {@link FORMATS}. */
export type OutputFormat = typeof FORMATS[number];

/** Options of {@link build}. */
export interface BuildOptions {
  /** Output format. Default `"docker-archive"` (what `docker load`/`podman load` read). */
  format?: OutputFormat;
  /** Output path. Default: `<name>.tar[.gz|.zst]`, `<name>.oci` or `<name>.oci.tar` in the working directory. */
  out?: string;
  /** Overrides the image's own `compressor`. */
  compressor?: Compressor;
  /** Cache folder (blob store). Default: `$DOCKWRIGHT_CACHE_DIR` or `$XDG_CACHE_HOME/dockwright`. */
  cacheDir?: string;
  /** Progress on stderr. Default: on when stderr is a terminal and CI is unset. */
  progress?: boolean;
}

/** Descriptor of one layer in a {@link BuildResult}. */
export interface LayerSummary {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

/** What a build produced; the `--json` output of the command line. */
export interface BuildResult {
  name: string;
  tag: string;
  format: OutputFormat;
  path: string;
  /** Digest of the OCI manifest that describes the output's layers (as stored). */
  manifestDigest: string;
  configDigest: string;
  layers: LayerSummary[];
}

/**
 * Default output path for `image` in `format`, following Nix's names.
 *
 * @example
 * ```ts
 * defaultOutputPath(image, "docker-archive", "gz"); // "/cwd/hello.tar.gz"
 * ```
 */
export function defaultOutputPath(image: ImageDefinition, format: OutputFormat, compressor: Compressor): string {
  const base = image.baseName;
  switch (format) {
    case "docker-archive":
      return resolve(`${base}.tar${COMPRESSOR_EXTENSION[compressor]}`);
    case "oci":
      return resolve(`${base}.oci`);
    case "oci-archive":
      return resolve(`${base}.oci.tar`);
  }
}

function summary(image: BuiltImage, format: OutputFormat, path: string): BuildResult {
  return {
    name: image.repoName,
    tag: image.tag,
    format,
    path,
    manifestDigest: ociManifest(image).digest,
    configDigest: image.config.digest,
    layers: image.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, mediaType: OCI.layer[l.compressor] })),
  };
}

/**
 * Builds `image` and writes it in `format`.
 *
 * @example
 * ```ts
 * import { build, buildImage } from "dockwright";
 * const result = await build(buildImage({ name: "hello", copyToRoot: "./rootfs" }), { format: "oci", out: "hello.oci" });
 * console.log(result.manifestDigest);
 * ```
 */
export async function build(image: ImageDefinition, options: BuildOptions = {}): Promise<BuildResult> {
  const format = options.format ?? "docker-archive";
  const compressor = options.compressor ?? image.compressor;
  const store = BlobStore.open(options.cacheDir);
  const progress = options.progress === undefined ? Progress.auto() : new Progress(options.progress);
  const layerCompressor: Compressor = format === "docker-archive" ? "none" : compressor;
  const resolved = await image.resolve(createContext(store, layerCompressor, progress));
  const built = {
    ...resolved,
    layers: await layersForSink(store, resolved.layers, format === "docker-archive" ? "docker-archive" : "oci", compressor),
  };
  const path = resolve(options.out ?? defaultOutputPath(image, format, compressor));
  progress.begin(`${built.repoName}:${built.tag}: writing ${format}`);
  const count = (n: number) => progress.add(n);
  switch (format) {
    case "docker-archive":
      await writeDockerArchive(store, [built], path, compressor, count);
      break;
    case "oci":
      await writeOciLayout(store, [built], path);
      break;
    case "oci-archive":
      await writeOciArchive(store, [built], path, count);
      break;
  }
  progress.end();
  return summary(built, format, path);
}
