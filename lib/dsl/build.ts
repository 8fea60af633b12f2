/**
 * Building an image definition into an output: the step that turns a lazy
 * value into files.
 *
 * @module
 */

import { existsSync, writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import process from "node:process";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { BuildSession } from "../build/session.ts";
import { type Compressor, COMPRESSOR_EXTENSION, compressorId } from "../codec/compress.ts";
import type { EncodedImage, Image } from "../model/image.ts";
import { ociManifest } from "../model/manifest.ts";
import { OCI } from "../model/media_types.ts";
import { isRepositoryName, isValidTag, splitNameTag } from "../model/reference.ts";
import { dockerArchiveEntries, writeDockerArchive } from "../transport/docker_archive/write.ts";
import { encodeImage } from "../transport/encode.ts";
import { writeOciArchive, writeOciIndex, writeOciLayout } from "../transport/oci_layout/write.ts";
import type { Platform } from "../model/platform.ts";
import { type IndexDefinition, isIndexDefinition } from "./image_index.ts";
import { writeTar } from "../tar/writer.ts";
import { writeTarTo } from "../transport/archive_file.ts";
import { checkOutputFolder, writeAtomically } from "../host/atomic.ts";
import { shellQuote } from "../host/shell.ts";
import { OptionError } from "./errors.ts";
import type { ImageDefinition } from "./image_definition.ts";
import { type Artifact, type ArtifactResult, buildArtifact, isArtifact } from "./artifact.ts";

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
  /** Overrides the image's `name:tag` in the output (the streamer's `--repo_tag`). */
  repoTag?: string;
  /**
   * Build in this session instead of opening one: images it already built
   * are reused (a `--push` with `--out` writes and pushes the very same
   * image), and `cacheDir`/`progress` are the session's.
   */
  session?: BuildSession;
}

/** Descriptor of one layer in a {@link BuildResult}. */
export interface LayerSummary {
  /** sha256 of the blob as written. */
  digest: string;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** Byte size of the blob as written. */
  size: number;
  /** The layer's OCI media type as written. */
  mediaType: string;
  /** True when the layer came from the cache or a base image; false when this build made it. */
  cached: boolean;
}

/** What a build produced; the `--json` output of the command line. */
export interface BuildResult {
  /** The image's repository name as written (`--repo_tag` applied). */
  name: string;
  /** The image's tag as written. */
  tag: string;
  /** The output format. */
  format: OutputFormat;
  /** Absolute path of the output; `""` when built into the cache only, `"-"` when streamed. */
  path: string;
  /** Digest of the OCI manifest that describes the output's layers (as stored). */
  manifestDigest: string;
  /** Digest of the image config (the image ID `docker images` shows). */
  configDigest: string;
  /** The layers, bottom first. */
  layers: LayerSummary[];
}

/**
 * Default output path for `image` in `format`, following Nix's names.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * // Paths are in the working directory (here /work):
 * defaultOutputPath(buildImage({ name: "hello" }), "docker-archive", "gz"); // "/work/hello.tar.gz"
 * defaultOutputPath(buildImage({ name: "ghcr.io/me/app" }), "oci", "none"); // "/work/app.oci"
 * ```
 */
export function defaultOutputPath(
  image: ImageDefinition,
  format: OutputFormat,
  compressor: Compressor,
): string {
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

function summary(
  session: BuildSession,
  image: EncodedImage,
  format: OutputFormat,
  path: string,
): BuildResult {
  return {
    name: image.repoName,
    tag: image.tag,
    format,
    path,
    manifestDigest: ociManifest(image).digest,
    configDigest: image.config.digest,
    layers: image.layers.map((l) => ({
      digest: l.digest,
      diffId: l.diffId,
      size: l.size,
      mediaType: OCI.layer[l.encoding],
      cached: session.isCached(l.diffId),
    })),
  };
}

/**
 * The session a call builds in: the one given, or a new one on
 * `options.cacheDir`; new layers are first written in `layerEncoding`.
 */
function sessionOf(
  options: Pick<BuildOptions, "session" | "cacheDir" | "progress">,
  layerEncoding: Compressor,
): BuildSession {
  const session = options.session ??
    BuildSession.open({ cacheDir: options.cacheDir, progress: options.progress });
  session.layerEncoding = layerEncoding;
  return session;
}

/** `image` built in `session`, renamed per `repoTag`. */
async function resolveNamed(
  session: BuildSession,
  image: ImageDefinition,
  repoTag: string | undefined,
): Promise<Image> {
  const built = await session.resolveImage(image);
  if (repoTag === undefined) return built;
  const { repoName, tag } = parseRepoTag(repoTag);
  return { ...built, repoName, tag };
}

/**
 * Splits a `name:tag` reference (the streamer's `--repo_tag`); the tag is
 * what follows the last colon that is not part of a registry port.
 *
 * @example
 * ```ts
 * parseRepoTag("localhost:5000/app:v1"); // { repoName: "localhost:5000/app", tag: "v1" }
 * ```
 */
export function parseRepoTag(value: string): { repoName: string; tag: string } {
  const { name, tag } = splitNameTag(value);
  if (tag === undefined || tag === "") {
    throw new OptionError(
      `--repo_tag ${JSON.stringify(value)} needs the form NAME:TAG`,
      "e.g. -t hello:latest",
    );
  }
  if (name !== name.toLowerCase()) {
    throw new OptionError(`--repo_tag ${JSON.stringify(value)}: the name must be lowercase`);
  }
  if (!isRepositoryName(name)) {
    throw new OptionError(
      `--repo_tag ${JSON.stringify(value)}: ${JSON.stringify(name)} is not a valid image name`,
      'use lowercase letters, digits and separators (".", "_", "__", "-") in "/"-separated parts',
    );
  }
  if (!isValidTag(tag)) {
    throw new OptionError(
      `--repo_tag ${JSON.stringify(value)}: ${JSON.stringify(tag)} is not a valid tag`,
    );
  }
  return { repoName: name, tag };
}

/**
 * Builds `image` and writes it in `format`.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const image = buildImage({ name: "hello", copyToRoot: "./rootfs" });
 * const result = await build(image, { format: "oci", out: "hello.oci" });
 * console.log(result.path, result.manifestDigest);
 * ```
 */
export async function build(image: ImageDefinition, options?: BuildOptions): Promise<BuildResult>;
/** An artifact (`exportImage`, `mergeImages`) is written as its own kind of file; see {@link buildArtifact}. */
export async function build(artifact: Artifact, options?: BuildOptions): Promise<ArtifactResult>;
/** A multi-platform image (`imageIndex`) is written as an OCI index (`oci` or `oci-archive`). */
export async function build(
  index: IndexDefinition,
  options?: BuildOptions,
): Promise<IndexBuildResult>;
export async function build(
  image: ImageDefinition | Artifact | IndexDefinition,
  options: BuildOptions = {},
): Promise<BuildResult | ArtifactResult | IndexBuildResult> {
  if (isIndexDefinition(image)) return await buildIndex(image, options);
  if (isArtifact(image)) {
    if (
      options.format !== undefined &&
      !(image.builder === "mergeImages" && options.format === "docker-archive")
    ) {
      throw new OptionError(
        `${image.builder} writes one ${
          image.builder === "mergeImages" ? "docker-archive" : "root-file-system tar"
        }; --format does not apply`,
        "drop --format",
      );
    }
    if (options.repoTag !== undefined) {
      throw new OptionError(
        `${image.builder} keeps the names and tags of its images; --repo_tag does not apply`,
        "drop --repo_tag",
      );
    }
    return await buildArtifact(image, options);
  }
  const format = options.format ?? "docker-archive";
  const compressor = options.compressor ?? image.compressor;
  const path = resolve(options.out ?? defaultOutputPath(image, format, compressor));
  checkOutputFolder(path);
  await compressorId(compressor); // a missing libzstd fails here, before any work
  const session = sessionOf(options, format === "docker-archive" ? "none" : compressor);
  const built = await resolveNamed(session, image, options.repoTag);
  const { store, progress } = session;
  progress.begin(`${built.repoName}:${built.tag}: writing ${format}`);
  const count = (n: number) => progress.add(n);
  let written: EncodedImage;
  switch (format) {
    case "docker-archive":
      [written] = await writeDockerArchive(store, [built], path, compressor, count);
      break;
    case "oci":
      [written] = (await writeOciLayout(store, [built], path, compressor)).images;
      break;
    case "oci-archive":
      [written] = (await writeOciArchive(store, [built], path, compressor, count)).images;
      break;
  }
  progress.end();
  return summary(session, written, format, path);
}

/** What the build of an `imageIndex` wrote; the `--json` output of the command line for it. */
export interface IndexBuildResult {
  /** The index's repository name. */
  name: string;
  /** The index's tag. */
  tag: string;
  /** The output format (an index is written as an OCI layout or archive). */
  format: "oci" | "oci-archive";
  /** Absolute path of the output. */
  path: string;
  /** Digest of the image index (what a registry serves for the tag). */
  indexDigest: string;
  /** One entry per platform. */
  manifests: Array<Omit<BuildResult, "format" | "path"> & { platform: Platform }>;
}

/** Writes an `imageIndex` as an OCI layout or archive. */
async function buildIndex(
  index: IndexDefinition,
  options: BuildOptions,
): Promise<IndexBuildResult> {
  const format = options.format ?? "oci";
  if (format === "docker-archive") {
    throw new OptionError(
      `${index.name} is an imageIndex (one image per platform), which a docker-archive cannot hold`,
      "use --format oci or --format oci-archive, or --push it to a registry",
    );
  }
  if (options.repoTag !== undefined) {
    throw new OptionError("--repo_tag does not apply to an imageIndex", "set its name and tag");
  }
  const compressor = options.compressor ?? index.compressor;
  const path = resolve(
    options.out ?? `${index.baseName}${format === "oci" ? ".oci" : ".oci.tar"}`,
  );
  checkOutputFolder(path);
  await compressorId(compressor);
  const session = sessionOf(options, compressor);
  const resolved = await index.resolveIndex(session);
  const { progress, store } = session;
  progress.begin(`${resolved.repoName}:${resolved.tag}: writing ${format}`);
  const written = await writeOciIndex(
    store,
    resolved,
    path,
    compressor,
    format === "oci-archive",
    (n) => progress.add(n),
  );
  progress.end();
  return {
    name: resolved.repoName,
    tag: resolved.tag,
    format,
    path,
    indexDigest: written.plan.manifests.at(-1)!.digest,
    manifests: written.index.manifests.map((m) => {
      const { format: _f, path: _p, ...rest } = summary(session, m.image, format, path);
      return { ...rest, platform: m.platform };
    }),
  };
}

/**
 * Builds `image` into the cache only (layers and config), as a docker-archive
 * would hold it, and describes it; `path` is empty. Used before writing a
 * stream script, so the script's first run finds everything built.
 *
 * @example
 * ```ts
 * import { streamLayeredImage } from "../../mod.ts";
 *
 * const { manifestDigest, path } = await buildIntoCache(streamLayeredImage({ name: "hello" }));
 * path; // ""
 * ```
 */
export async function buildIntoCache(
  image: ImageDefinition,
  options: Omit<BuildOptions, "format" | "out"> = {},
): Promise<BuildResult> {
  const session = sessionOf(options, "none");
  const built = await resolveNamed(session, image, options.repoTag);
  return summary(
    session,
    await encodeImage(session.store, built, { kind: "tar" }),
    "docker-archive",
    "",
  );
}

/**
 * Builds `image` and writes it as an uncompressed docker-archive to `output`
 * (by default stdout), as Nix's `stream-<name>` script does. Backpressure is
 * honoured; a reader that goes away early (`| head`) ends the stream quietly.
 *
 * @example
 * ```ts
 * import { streamLayeredImage } from "../../mod.ts";
 *
 * // In stream.ts, run as `deno run -A stream.ts | podman load`:
 * await streamImage(streamLayeredImage({ name: "hello", contents: ["./rootfs"] }));
 * ```
 */
export async function streamImage(
  image: ImageDefinition,
  options: Omit<BuildOptions, "format" | "out" | "compressor"> = {},
  output: Writable = process.stdout,
): Promise<BuildResult> {
  const session = sessionOf(options, "none");
  const built = await resolveNamed(session, image, options.repoTag);
  const encoded = await encodeImage(session.store, built, { kind: "tar" });
  const entries = dockerArchiveEntries(session.store, [encoded]);
  try {
    if (output === process.stdout) {
      // Straight from the store's blobs to stdout: no stream copies or allocates per chunk.
      await writeTarTo(output, 1, entries);
    } else {
      await pipeline(Readable.from(writeTar(entries)), output);
    }
  } catch (error) {
    if ((error as { code?: string }).code !== "EPIPE") throw error;
  }
  return summary(session, encoded, "docker-archive", "-");
}

/**
 * Writes Nix's `stream-<name>` equivalent: an executable script that builds
 * the image from `imageFile` (reusing the cache) and streams it to stdout;
 * it takes `-t/--repo_tag NAME:TAG` like Nix's.
 *
 * @example
 * ```ts
 * await writeStreamScript("/work/stream-hello", "/work/image.ts", "hello");
 * // then: /work/stream-hello | podman load
 * ```
 */
export async function writeStreamScript(
  path: string,
  imageFile: string,
  imageName: string,
  cacheDir?: string,
): Promise<void> {
  const runtime = process.execPath;
  const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
  const compiled = !existsSync(cli);
  const argv = compiled
    ? [runtime]
    : "Deno" in globalThis
    ? [runtime, "run", "-A", "--quiet", cli]
    : [runtime, cli];
  const script = `#!/bin/sh
# Streams the image ${imageName} as an uncompressed docker-archive to stdout,
# like Nix's stream-<name> script:  ./${basename(path)} | podman load
# Options: -t/--repo_tag NAME:TAG overrides the tag. Made by dockwright.
exec ${argv.map(shellQuote).join(" ")} build ${shellQuote(imageFile)} --image ${
    shellQuote(imageName)
  } --stream ${cacheDir ? `--cache-dir ${shellQuote(cacheDir)} ` : ""}"$@"
`;
  await writeAtomically(path, (tmp) => {
    writeFileSync(tmp, script, { mode: 0o755 });
  });
}
