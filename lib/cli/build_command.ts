/**
 * `dockwright build`: builds the images an image file exports. The same flags
 * work when an image file is run directly (`deno run -A image.ts --format oci`).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { type Compressor, COMPRESSORS } from "../codec/compress.ts";
import { resolve } from "node:path";
import {
  build,
  buildIntoCache,
  type BuildResult,
  FORMATS,
  type OutputFormat,
  streamImage,
  writeStreamScript,
} from "../dsl/build.ts";
import type { ImageDefinition } from "../dsl/image_definition.ts";
import { type Artifact, type ArtifactResult, isArtifact } from "../dsl/artifact.ts";
import { push } from "../dsl/push.ts";
import { BuildSession } from "../build/session.ts";
import { MANIFEST_FORMATS, type ManifestFormat } from "../transport/registry/push.ts";
import { type InvalidReferenceError, parseReference } from "../model/reference.ts";
import type { NamedImage } from "./load_images.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `build`. */
export const BUILD_HELP = `Build the images an image file exports.

Usage:
  dockwright build FILE [options]
  deno run -A FILE [options]      (a file that calls main(import.meta))
  bun FILE [options]

Options:
  -o, --out PATH          output path (default: <name>.tar[.gz|.zst], <name>.oci, <name>.oci.tar;
                          for a streamLayeredImage: the executable stream-<name>, as in Nix)
  -f, --format FORMAT     docker-archive (default), oci, oci-archive
  -c, --compressor C      none, gz, zstd: overrides the image's compressor; compresses
                          the whole docker-archive, or each layer of OCI outputs
      --image NAME        build only the export NAME (default: every exported image,
                          exportImage and mergeImages value)
      --stream            write the uncompressed docker-archive to stdout (| podman load)
  -t, --repo_tag N:T      name and tag written into the output (overrides name and tag)
      --cache-dir DIR     blob cache (default: $DOCKWRIGHT_CACHE_DIR or $XDG_CACHE_HOME/dockwright)
      --push REF          push the image to REF (registry/repository[:tag]; default tag: the
                          image's) with layers compressed per --compressor; writes no file
                          unless --out is given too
      --manifest-format F oci (default) or docker (Docker schema 2; needs gz or none layers)
      --creds USER:PASS   registry credentials for --push (default: DOCKWRIGHT_REGISTRY_USER/
                          DOCKWRIGHT_REGISTRY_PASSWORD, then podman/docker auth files)
      --tls-verify=false  allow plain HTTP (and, under Bun, unverified TLS) for --push
      --ca-file PATH      extra CA certificates (PEM) for --push (default: $DOCKWRIGHT_CA_FILE)
      --json              print the result as JSON on stdout (an array when several images)
      --quiet             no progress or summary on stderr
  -h, --help              show this help

Exit codes: 0 built, 1 build failed, 2 bad usage or invalid image definition.
`;

/** Parsed `build` flags. */
export interface BuildFlags {
  out?: string;
  format: OutputFormat;
  compressor?: Compressor;
  image?: string;
  cacheDir?: string;
  stream: boolean;
  repoTag?: string;
  /** --format was given explicitly. */
  formatGiven: boolean;
  /** `--push REF` and its registry options. */
  push?: string;
  manifestFormat?: ManifestFormat;
  creds?: string;
  tlsVerify?: boolean;
  caFile?: string;
  json: boolean;
  quiet: boolean;
  help: boolean;
  positionals: string[];
}

/**
 * Parses `build` flags.
 *
 * @example
 * ```ts
 * parseBuildFlags(["image.ts", "--format", "oci"]).format; // "oci"
 * ```
 */
export function parseBuildFlags(argv: string[]): BuildFlags {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: "string", short: "o" },
        format: { type: "string", short: "f" },
        compressor: { type: "string", short: "c" },
        image: { type: "string" },
        stream: { type: "boolean" },
        repo_tag: { type: "string", short: "t" },
        "cache-dir": { type: "string" },
        push: { type: "string" },
        "manifest-format": { type: "string" },
        creds: { type: "string" },
        "tls-verify": { type: "string" },
        "ca-file": { type: "string" },
        json: { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message, "see --help");
  }
  const v = parsed.values;
  const format = (v.format ?? "docker-archive") as OutputFormat;
  if (!FORMATS.includes(format)) {
    throw new UsageError(
      `unknown --format ${JSON.stringify(v.format)}`,
      `use one of: ${FORMATS.join(", ")}`,
    );
  }
  if (v.compressor !== undefined && !(COMPRESSORS as readonly string[]).includes(v.compressor)) {
    throw new UsageError(
      `unknown --compressor ${JSON.stringify(v.compressor)}`,
      `use one of: ${COMPRESSORS.join(", ")}`,
    );
  }
  const registry = parseRegistryFlags(v);
  return {
    ...registry,
    out: v.out,
    format,
    compressor: v.compressor as Compressor | undefined,
    image: v.image,
    cacheDir: v["cache-dir"],
    stream: v.stream ?? false,
    repoTag: v.repo_tag,
    formatGiven: v.format !== undefined,
    json: v.json ?? false,
    quiet: v.quiet ?? false,
    help: v.help ?? false,
    positionals: parsed.positionals,
  };
}

function parseRegistryFlags(v: Record<string, string | boolean | undefined>): Partial<BuildFlags> {
  const str = (k: string) => v[k] as string | undefined;
  const given = ["manifest-format", "creds", "tls-verify", "ca-file"].filter((k) =>
    v[k] !== undefined
  );
  if (str("push") === undefined) {
    if (given.length > 0) {
      throw new UsageError(
        `--${given[0]} only applies to --push`,
        "add --push REGISTRY/REPOSITORY[:TAG]",
      );
    }
    return {};
  }
  try {
    parseReference(str("push")!);
  } catch (error) {
    throw new UsageError(
      `--push: ${(error as InvalidReferenceError).message}`,
      "e.g. --push registry.example.com:5000/team/app:1.0",
    );
  }
  const format = str("manifest-format");
  if (format !== undefined && !(MANIFEST_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `unknown --manifest-format ${JSON.stringify(format)}`,
      `use one of: ${MANIFEST_FORMATS.join(", ")}`,
    );
  }
  const tls = str("tls-verify");
  if (tls !== undefined && tls !== "true" && tls !== "false") {
    throw new UsageError(
      `--tls-verify takes true or false (got ${JSON.stringify(tls)})`,
      "e.g. --tls-verify=false",
    );
  }
  const creds = str("creds");
  if (creds !== undefined && creds.indexOf(":") <= 0) {
    throw new UsageError(
      "--creds must look like USER:PASSWORD",
      "or set DOCKWRIGHT_REGISTRY_USER and DOCKWRIGHT_REGISTRY_PASSWORD",
    );
  }
  return {
    push: str("push"),
    manifestFormat: format as ManifestFormat | undefined,
    creds,
    tlsVerify: tls === undefined ? undefined : tls === "true",
    caFile: str("ca-file"),
  };
}

/** What `build` reports for one export: an image, an artifact, or a stream script. */
export type CliResult = BuildResult | ArtifactResult | StreamScriptResult;

/** A `streamLayeredImage` built into the cache, and the `stream-<name>` script written for it. */
export interface StreamScriptResult extends Omit<BuildResult, "format"> {
  format: "stream-script";
}

/** A selected export known to be an image (not an `exportImage`/`mergeImages` artifact). */
type ImageOnly = NamedImage & { image: ImageDefinition };

/** `--stream` and `--push` need images: an artifact writes its own kind of file. */
function onlyImages(selected: NamedImage[], flag: string): ImageOnly[] {
  const artifact = selected.find((i) => isArtifact(i.image));
  if (artifact) {
    const builder = (artifact.image as Artifact).builder;
    throw new UsageError(
      `${flag} needs an image, but ${artifact.exportName} is ${
        builder === "exportImage" ? "an" : "a"
      } ${builder} value`,
      "choose an image with --image NAME",
    );
  }
  return selected as ImageOnly[];
}

/** Builds an `exportImage`/`mergeImages` value: `--out` and `--compressor` apply, the summary names its images. */
async function buildArtifactForCli(
  session: BuildSession,
  artifact: Artifact,
  flags: BuildFlags,
  started: number,
): Promise<ArtifactResult> {
  const result = await build(artifact, {
    out: flags.out,
    compressor: flags.compressor,
    format: flags.formatGiven ? flags.format : undefined,
    repoTag: flags.repoTag,
    session,
  });
  if (!flags.quiet && !flags.json) {
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    const images = result.images.map((i) => `${i.name}:${i.tag}`).join(", ");
    process.stderr.write(
      `built ${artifact.builder} ${result.name} -> ${result.path} (${result.format}, ${
        humanSize(result.size)
      }, ${seconds}s; ${images})\n`,
    );
  }
  return result;
}

/** `--push`: optionally writes the output (`--out`), then pushes; prints the reference and manifest digest. */
async function pushSelected(
  session: BuildSession,
  selected: ImageOnly[],
  flags: BuildFlags,
): Promise<BuildResult[]> {
  if (selected.length !== 1) {
    throw new UsageError(
      `--push names one reference but the file exports ${selected.length} images`,
      "choose one with --image NAME",
    );
  }
  const started = performance.now();
  // One session: `--out` and the push get the very same image (a `created = "now"` config included).
  const image = selected[0].image;
  const output = flags.out === undefined ? undefined : await build(image, {
    format: flags.format,
    out: flags.out,
    compressor: flags.compressor,
    session,
  });
  const result = await push(image, flags.push!, {
    compressor: flags.compressor,
    manifestFormat: flags.manifestFormat,
    creds: flags.creds,
    tlsVerify: flags.tlsVerify,
    caFile: flags.caFile,
    session,
  });
  if (flags.json) {
    process.stdout.write(
      JSON.stringify({ ...result, ...(output ? { output } : {}) }, null, 2) + "\n",
    );
  } else if (!flags.quiet) {
    const b = result.blobs;
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    if (output) {
      process.stderr.write(
        `built ${output.name}:${output.tag} -> ${output.path} (${output.format})\n`,
      );
    }
    process.stderr.write(
      `pushed ${result.name}:${result.tag} -> ${result.reference} (${result.layers.length} layer(s); blobs: ${b.uploaded} uploaded, ` +
        `${b.mounted} mounted, ${b.existing} already there; ${seconds}s)\n  digest ${result.manifestDigest}\n`,
    );
  }
  return output ? [output] : [];
}

function humanSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) [n, i] = [n / 1024, i + 1];
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * Builds `images` with `flags`; prints JSON or a summary. Returns the results.
 *
 * @example
 * ```ts
 * import { loadImageFile } from "./load_images.ts";
 * await buildImages(await loadImageFile("image.ts"), parseBuildFlags(["--format", "oci"]));
 * ```
 */
export async function buildImages(
  images: NamedImage[],
  flags: BuildFlags,
  imageFile?: string,
): Promise<CliResult[]> {
  // One session for the whole run: one cache, one progress display, each image built once.
  const session = BuildSession.open({
    cacheDir: flags.cacheDir,
    progress: flags.quiet || flags.json ? false : undefined,
  });
  let selected = images;
  if (flags.image !== undefined) {
    selected = images.filter((i) => i.exportName === flags.image || i.image.name === flags.image);
    if (selected.length === 0) {
      throw new UsageError(
        `no exported image named ${JSON.stringify(flags.image)}`,
        `exports: ${images.map((i) => i.exportName).join(", ")}`,
      );
    }
  }
  if (flags.stream) {
    if (flags.push !== undefined) {
      throw new UsageError("--stream and --push cannot be used together", "drop one of them");
    }
    if (selected.length !== 1) {
      throw new UsageError(
        `--stream writes one image but the file exports ${selected.length}`,
        "choose one with --image NAME",
      );
    }
    if (
      flags.json || flags.out !== undefined || flags.formatGiven || flags.compressor !== undefined
    ) {
      throw new UsageError(
        "--stream writes an uncompressed docker-archive to stdout",
        "drop --json, --out, --format and --compressor",
      );
    }
    return [
      await streamImage(onlyImages(selected, "--stream")[0].image, {
        repoTag: flags.repoTag,
        session,
      }),
    ];
  }
  if (flags.push !== undefined) {
    return await pushSelected(session, onlyImages(selected, "--push"), flags);
  }
  if (flags.out !== undefined && selected.length > 1) {
    throw new UsageError(
      `--out names one output but the file exports ${selected.length} images`,
      "choose one with --image NAME, or drop --out to use the default names",
    );
  }
  const results: CliResult[] = [];
  for (const { image } of selected) {
    const started = performance.now();
    if (isArtifact(image)) {
      results.push(await buildArtifactForCli(session, image, flags, started));
      continue;
    }
    if (image.streams && !flags.formatGiven && imageFile !== undefined) {
      // Nix's result of streamLayeredImage is the stream-<name> script; build now so the script's first run is fast.
      const result = await buildIntoCache(image, { repoTag: flags.repoTag, session });
      const path = resolve(flags.out ?? `stream-${image.baseName}`);
      await writeStreamScript(path, resolve(imageFile), image.name, flags.cacheDir);
      results.push({ ...result, format: "stream-script", path });
      if (!flags.quiet && !flags.json) {
        process.stderr.write(
          `wrote ${path}: run it to stream ${result.name}:${result.tag} (${path} | podman load)\n`,
        );
      }
      continue;
    }
    const result = await build(image, {
      format: flags.format,
      out: flags.out,
      compressor: flags.compressor,
      repoTag: flags.repoTag,
      session,
    });
    results.push(result);
    if (!flags.quiet && !flags.json) {
      const size = result.layers.reduce((n, l) => n + l.size, 0);
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      process.stderr.write(
        `built ${result.name}:${result.tag} -> ${result.path} (${result.format}, ${result.layers.length} layer(s), ` +
          `${humanSize(size)}, ${seconds}s)\n  manifest ${result.manifestDigest}\n`,
      );
    }
  }
  if (flags.json) {
    process.stdout.write(
      JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + "\n",
    );
  }
  return results;
}
