/**
 * `dockwright build`: builds the images an image file exports. The same flags
 * work when an image file is run directly (`deno run -A image.ts --format oci`).
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { basename, dirname, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { BuildSession } from "../build/session.ts";
import { type Compressor, COMPRESSORS } from "../codec/compress.ts";
import type { Digest } from "../codec/sha256.ts";
import { type ArtifactResult, isArtifact } from "../dsl/artifact.ts";
import {
  build,
  buildIntoCache,
  type BuildResult,
  defaultOutputPath,
  FORMATS,
  type IndexBuildResult,
  type OutputFormat,
  parseRepoTag,
  streamImage,
  writeStreamScript,
} from "../dsl/build.ts";
import type { ImageDefinition } from "../dsl/image_definition.ts";
import { type IndexDefinition, isIndexDefinition } from "../dsl/image_index.ts";
import { type Engine, ENGINES, load } from "../dsl/load.ts";
import { push } from "../dsl/push.ts";
import { expandGlob, isGlob } from "../host/glob.ts";
import { mapLimit } from "../host/map_limit.ts";
import { hostToolPath } from "../host/shell.ts";
import { platformName } from "../model/platform.ts";
import { type InvalidReferenceError, parseReference } from "../model/reference.ts";
import {
  MANIFEST_FORMATS,
  type ManifestFormat,
  type PushIndexResult,
  type PushResult,
} from "../transport/registry/push.ts";
import { checkCacheDir, flagError, wholeNumber } from "./flags.ts";
import { loadImageFile, type NamedImage } from "./load_images.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `build`. */
export const BUILD_HELP = `Build the images image files export, in one session: shared layers
are built once, independent images in parallel.

Usage:
  dockwright build FILE... [options]   (files or quoted patterns: 'services/*/image.ts')
  deno run -A FILE [options]           (a file that calls main(import.meta))
  bun FILE [options]

Options:
  -o, --out PATH          output path (default: <name>.tar[.gz|.zst], <name>.oci, <name>.oci.tar;
                          for a streamLayeredImage: the executable stream-<name>, as in Nix);
                          with several images a template: {name} {tag} {export} {file},
                          e.g. --out 'dist/{export}.tar'
  -j, --jobs N            images built at once (default: the number of cores)
      --load ENGINE       load the image(s) into podman or docker (uncompressed, whatever the
                          compressor); writes no file unless --out or --format is given too
  -f, --format FORMAT     docker-archive (default), oci, oci-archive
  -c, --compressor C      none, gz, zstd: overrides the image's compressor; compresses
                          the whole docker-archive, or each layer of OCI outputs
      --image NAME        build only the export NAME (default: every exported image,
                          exportImage and mergeImages value)
      --stream            write the uncompressed docker-archive to stdout (| podman load)
  -t, --repo_tag N:T      name and tag written into the output (overrides name and tag)
      --cache-dir DIR     blob cache (default: $DOCKWRIGHT_CACHE_DIR, else $XDG_CACHE_HOME/dockwright,
                          else ~/.cache/dockwright)
      --push REF          push the image to REF (registry/repository[:tag]; default tag: the
                          image's) with layers compressed per --compressor; with several
                          images REF is a prefix: each goes to REF/<name>:<tag>; writes no
                          file unless --out is given too
      --manifest-format F oci (default) or docker (Docker schema 2; needs gz or none layers)
      --creds USER:PASS   registry credentials for --push (default: DOCKWRIGHT_REGISTRY_USER/
                          DOCKWRIGHT_REGISTRY_PASSWORD, then podman/docker auth files)
      --tls-verify=BOOL   false: allow plain HTTP (and, under Bun, unverified TLS) for --push;
                          true: require HTTPS even for localhost/127.0.0.0/8/::1, which
                          may answer in plain HTTP by default (as docker allows)
      --ca-file PATH      extra CA certificates (PEM) for --push (default: $DOCKWRIGHT_CA_FILE)
      --json              print the result as JSON on stdout (an array when several images)
      --quiet             no progress or summary on stderr
  -h, --help              show this help

Each layer is reported as built or cached (--json: "cached": true).
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
  /** `--load ENGINE`. */
  load?: Engine;
  /** `-j/--jobs`: images built at once. */
  jobs: number;
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
        load: { type: "string" },
        jobs: { type: "string", short: "j" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw flagError(error, argv, "see --help");
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
  if (v.load !== undefined && !(ENGINES as readonly string[]).includes(v.load)) {
    throw new UsageError(
      `unknown --load ${JSON.stringify(v.load)}`,
      `use one of: ${ENGINES.join(", ")}`,
    );
  }
  const jobs = wholeNumber(v.jobs, "-j/--jobs", availableParallelism(), 1);
  return {
    load: v.load as Engine | undefined,
    jobs,
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

/** What `build` reports for one export: an image, an index, an artifact, or a stream script. */
export type CliResult = BuildResult | IndexBuildResult | ArtifactResult | StreamScriptResult;

/** A `streamLayeredImage` built into the cache, and the `stream-<name>` script written for it. */
export interface StreamScriptResult extends Omit<BuildResult, "format"> {
  format: "stream-script";
}

/** A selected export known to be an image (not an artifact or an index). */
type ImageOnly = NamedImage & { image: ImageDefinition };

/** `--stream` and `--load` need images: an artifact writes its own kind of file, an index is several. */
function onlyImages(selected: NamedImage[], flag: string): ImageOnly[] {
  for (const { image, exportName } of selected) {
    if (isArtifact(image) || isIndexDefinition(image)) {
      throw new UsageError(
        `${flag} needs an image, but ${exportName} is ${
          image.builder === "exportImage" || image.builder === "imageIndex" ? "an" : "a"
        } ${image.builder} value`,
        "choose an image with --image NAME",
      );
    }
  }
  return selected as ImageOnly[];
}

/** A selected export that a registry takes: an image or an index. */
type Pushable = NamedImage & { image: ImageDefinition | IndexDefinition };

function onlyPushable(selected: NamedImage[]): Pushable[] {
  const artifact = selected.find((i) => isArtifact(i.image));
  if (artifact) {
    throw new UsageError(
      `--push needs an image, but ${artifact.exportName} is a ${artifact.image.builder} value`,
      "choose an image with --image NAME",
    );
  }
  return selected as Pushable[];
}

const seconds = (started: number) => ((performance.now() - started) / 1000).toFixed(2);

/** "3 layer(s): 1 built, 2 cached". */
function layerCounts(layers: readonly { cached: boolean }[]): string {
  const cached = layers.filter((l) => l.cached).length;
  return `${layers.length} layer(s): ${layers.length - cached} built, ${cached} cached`;
}

/** Image files whose name (without folder and extension) the `{file}` placeholder gives. */
function fileStem(file: string | undefined): string {
  if (!file) return "image";
  const base = basename(file).replace(/\.(m?ts|m?js)$/, "");
  // `image.ts` in a folder of its own: the folder names it.
  return base === "image" ? basename(dirname(file)) : base;
}

/** `--out` holds a template when it has a placeholder. */
const isTemplate = (out: string | undefined) =>
  out !== undefined && /\{(name|tag|export|file)\}/.test(out);

/** The output path of one export, or undefined when it writes none (push, load without --out). */
function outputPathOf(named: NamedImage, flags: BuildFlags, streamScript: boolean): string {
  const image = named.image;
  if (flags.out !== undefined && !isTemplate(flags.out)) return resolve(flags.out);
  const tag = "tag" in image && typeof image.tag === "string" ? image.tag : "latest";
  const name = isArtifact(image) ? image.name : image.baseName;
  if (isTemplate(flags.out)) {
    return resolve(
      flags.out!.replaceAll("{name}", name).replaceAll("{tag}", tag)
        .replaceAll("{export}", named.exportName.replace(/[^\w.-]+/g, "_"))
        .replaceAll("{file}", fileStem(named.file)),
    );
  }
  if (streamScript) return resolve(`stream-${name}`);
  if (isArtifact(image)) return resolve(image.name);
  if (isIndexDefinition(image)) {
    return resolve(`${name}${flags.format === "oci-archive" ? ".oci.tar" : ".oci"}`);
  }
  return defaultOutputPath(image, flags.format, flags.compressor ?? image.compressor);
}

/** Refuses two exports that would write one path, before any work. */
function checkDistinctOutputs(paths: ReadonlyMap<NamedImage, string>): void {
  const seen = new Map<string, NamedImage>();
  for (const [named, path] of paths) {
    const other = seen.get(path);
    if (other) {
      const who = (n: NamedImage) => (n.file ? `${n.exportName} of ${n.file}` : n.exportName);
      throw new UsageError(
        `${who(other)} and ${who(named)} would both be written to ${path}`,
        "give --out a template such as 'dist/{file}-{export}.tar' (placeholders: {name} {tag} " +
          "{export} {file}), or build one with --image NAME",
      );
    }
    seen.set(path, named);
  }
}

/** Where `--push PREFIX` sends an image of several: PREFIX/<name without its registry>:<tag>. */
function pushTarget(prefix: string, image: ImageDefinition | IndexDefinition): string {
  const parts = image.imageName.split("/");
  const local = parts.length > 1 && /[.:]|^localhost$/.test(parts[0]) ? parts.slice(1) : parts;
  return `${prefix.replace(/\/+$/, "")}/${local.join("/")}${image.tag ? `:${image.tag}` : ""}`;
}

/** What `--push` reports for one export: the push, and the file written with `--out`. */
export type PushReport = (PushResult | PushIndexResult) & {
  output?: BuildResult | IndexBuildResult;
};

/** `--push`: optionally writes the outputs (`--out`), then pushes each image; prints references and digests. */
async function pushSelected(
  session: BuildSession,
  selected: Pushable[],
  flags: BuildFlags,
  outputs: ReadonlyMap<NamedImage, string>,
): Promise<PushReport[]> {
  if (selected.length > 1 && /[:@][^/]*$/.test(flags.push!.replace(/^[^/]*\//, ""))) {
    throw new UsageError(
      `--push ${flags.push}: with ${selected.length} images it is a prefix (REGISTRY/PATH), ` +
        "without a tag or digest",
      "each image goes to PREFIX/<name>:<tag>; or choose one with --image NAME",
    );
  }
  // Build everything at once (and write the --out files); then push one image after another,
  // so a blob the first push uploads is mounted, not uploaded again, by the next.
  const written = await mapLimit(selected, flags.jobs, async (named) => {
    const image = named.image;
    // One session: `--out` and the push get the very same image (a `created = "now"` config included).
    if (isIndexDefinition(image)) await image.resolveIndex(session);
    else await session.resolveImage(image);
    if (flags.out === undefined) return undefined;
    return isIndexDefinition(image)
      ? await build(image, {
        format: flags.formatGiven ? flags.format : "oci",
        out: outputs.get(named),
        compressor: flags.compressor,
        session,
      })
      : await build(image, {
        format: flags.format,
        out: outputs.get(named),
        compressor: flags.compressor,
        session,
      });
  });
  const results: PushReport[] = [];
  for (const [i, named] of selected.entries()) {
    const started = performance.now();
    const image = named.image;
    const output = written[i];
    const reference = selected.length > 1 ? pushTarget(flags.push!, image) : flags.push!;
    const registry = {
      compressor: flags.compressor,
      manifestFormat: flags.manifestFormat,
      creds: flags.creds,
      tlsVerify: flags.tlsVerify,
      caFile: flags.caFile,
      session,
    };
    const result = isIndexDefinition(image)
      ? await push(image, reference, registry)
      : await push(image, reference, registry);
    if (!flags.quiet && !flags.json) {
      if (output) process.stderr.write(`built ${output.name}:${output.tag} -> ${output.path}\n`);
      if ("blobs" in result) {
        const b = result.blobs;
        process.stderr.write(
          `pushed ${result.name}:${result.tag} -> ${result.reference} (${
            layerCounts(
              result.layers.map((l) => ({ cached: session.isCached(l.diffId as Digest) })),
            )
          }; blobs: ${b.uploaded} uploaded, ${b.mounted} mounted, ${b.existing} already there; ` +
            `${seconds(started)}s)\n  digest ${result.manifestDigest}\n`,
        );
      } else {
        process.stderr.write(
          `pushed index -> ${result.reference} (${
            result.manifests.map((m) => platformName(m.platform)).join(", ")
          }; ${seconds(started)}s)\n  digest ${result.manifestDigest}\n`,
        );
      }
    }
    results.push(output ? { ...result, output } : result);
  }
  return results;
}

function humanSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) [n, i] = [n / 1024, i + 1];
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Builds one selected export into its output; prints its summary line. */
async function buildOne(
  session: BuildSession,
  named: NamedImage,
  flags: BuildFlags,
  path: string,
  streamScript: boolean,
): Promise<CliResult> {
  const started = performance.now();
  const image = named.image;
  const say = (line: string) => {
    if (!flags.quiet && !flags.json) process.stderr.write(line);
  };
  if (isArtifact(image)) {
    const result = await build(image, {
      out: flags.out === undefined ? undefined : path,
      compressor: flags.compressor,
      format: flags.formatGiven ? flags.format : undefined,
      repoTag: flags.repoTag,
      session,
    });
    const images = result.images.map((i) => `${i.name}:${i.tag}`).join(", ");
    say(
      `built ${image.builder} ${result.name} -> ${result.path} (${result.format}, ${
        humanSize(result.size)
      }, ${seconds(started)}s; ${images})\n`,
    );
    return result;
  }
  if (isIndexDefinition(image)) {
    const result = await build(image, {
      format: flags.formatGiven ? flags.format : "oci",
      out: path,
      compressor: flags.compressor,
      session,
    });
    say(
      `built index ${result.name}:${result.tag} -> ${result.path} (${result.format}, ${
        result.manifests.map((m) => platformName(m.platform)).join(", ")
      }, ${seconds(started)}s)\n  index ${result.indexDigest}\n`,
    );
    return result;
  }
  if (streamScript) {
    // Nix's result of streamLayeredImage is the stream-<name> script; build now so the script's first run is fast.
    const result = await buildIntoCache(image, { repoTag: flags.repoTag, session });
    await writeStreamScript(path, named.file!, image.name, flags.cacheDir);
    say(`wrote ${path}: run it to stream ${result.name}:${result.tag} (${path} | podman load)\n`);
    return { ...result, format: "stream-script", path };
  }
  const result = await build(image, {
    format: flags.format,
    out: path,
    compressor: flags.compressor,
    repoTag: flags.repoTag,
    session,
  });
  const size = result.layers.reduce((n, l) => n + l.size, 0);
  say(
    `built ${result.name}:${result.tag} -> ${result.path} (${result.format}, ${
      layerCounts(result.layers)
    }, ${humanSize(size)}, ${seconds(started)}s)\n  manifest ${result.manifestDigest}\n`,
  );
  return result;
}

/** Loads the built images into the engine `--load` names. */
async function loadSelected(
  session: BuildSession,
  selected: ImageOnly[],
  flags: BuildFlags,
): Promise<string[]> {
  const started = performance.now();
  const images = [];
  for (const { image } of selected) images.push(await session.resolveImage(image));
  const renamed = flags.repoTag === undefined
    ? images
    : images.map((i) => ({ ...i, ...parseRepoTag(flags.repoTag!) }));
  const names = await load(renamed, flags.load!, { session });
  if (!flags.quiet && !flags.json) {
    process.stderr.write(`loaded into ${flags.load}: ${names.join(", ")} (${seconds(started)}s)\n`);
  }
  return names;
}

/**
 * Once per run: a compressed docker-archive that the podman or skopeo on
 * this machine cannot read (Debian 12's podman 4.3 and skopeo 1.9 read no
 * gzip docker-archive) gets a note with commands that work.
 */
function noteUnreadableArchives(results: readonly CliResult[], flags: BuildFlags): void {
  if (flags.quiet || flags.json || flags.load) return;
  const gz = results.find((r): r is BuildResult =>
    r.format === "docker-archive" && "path" in r && r.path.endsWith(".gz")
  );
  if (!gz || !hostToolPath("podman")) return;
  const version = spawnSync("podman", ["--version"], { encoding: "utf8" }).stdout ?? "";
  const m = /(\d+)\.(\d+)/.exec(version);
  if (!m || Number(m[1]) > 4 || (Number(m[1]) === 4 && Number(m[2]) > 3)) return;
  process.stderr.write(
    `note: podman ${m[0]} on this machine cannot load a gzip docker-archive; ` +
      `use --load podman, or -c zstd / -c none, or: gunzip -c ${gz.path} | podman load\n`,
  );
}

/**
 * Builds `images` with `flags` in one session (independent images at once,
 * up to `--jobs`); prints JSON or a summary. Returns the results.
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
): Promise<Array<CliResult | PushReport>> {
  const started = performance.now();
  if (flags.cacheDir !== undefined) checkCacheDir(flags.cacheDir);
  // One session for the whole run: one cache, one progress display, each image built once.
  const session = BuildSession.open({
    cacheDir: flags.cacheDir,
    progress: flags.quiet || flags.json ? false : undefined,
  });
  let selected = images.map((i) => ({ ...i, file: i.file ?? (imageFile && resolve(imageFile)) }));
  if (flags.image !== undefined) {
    selected = selected.filter((i) => i.exportName === flags.image || i.image.name === flags.image);
    if (selected.length === 0) {
      throw new UsageError(
        `no exported image named ${JSON.stringify(flags.image)}`,
        `exports: ${images.map((i) => i.exportName).join(", ")}`,
      );
    }
  }
  if (flags.stream) {
    if (flags.push !== undefined || flags.load !== undefined) {
      throw new UsageError(
        `--stream and --${flags.push !== undefined ? "push" : "load"} cannot be used together`,
        "drop one of them",
      );
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
  if (flags.out !== undefined && !isTemplate(flags.out) && selected.length > 1) {
    throw new UsageError(
      `--out names one output but the ${
        new Set(selected.map((n) => n.file)).size > 1 ? "files export" : "file exports"
      } ${selected.length} images`,
      "give a template such as --out 'dist/{export}.tar' ({name} {tag} {export} {file}), " +
        "choose one with --image NAME, or drop --out to use the default names",
    );
  }
  const writesFiles = flags.push === undefined && flags.load === undefined
    ? true
    : flags.out !== undefined || (flags.load !== undefined && flags.formatGiven);
  const streamScripts = new Set(
    selected.filter((n) =>
      !isArtifact(n.image) && !isIndexDefinition(n.image) && n.image.streams &&
      !flags.formatGiven && n.file !== undefined
    ),
  );
  const outputs = new Map<NamedImage, string>();
  if (writesFiles) {
    for (const n of selected) outputs.set(n, outputPathOf(n, flags, streamScripts.has(n)));
    checkDistinctOutputs(outputs);
  }
  let results: Array<CliResult | PushReport>;
  if (flags.push !== undefined) {
    results = await pushSelected(session, onlyPushable(selected), flags, outputs);
  } else {
    const loadable = flags.load !== undefined ? onlyImages(selected, "--load") : [];
    results = writesFiles
      ? await mapLimit(
        selected,
        flags.jobs,
        (n) => buildOne(session, n, flags, outputs.get(n)!, streamScripts.has(n)),
      )
      : [];
    if (flags.load !== undefined) {
      const names = await loadSelected(session, loadable, flags);
      if (!writesFiles) {
        results = await Promise.all(loadable.map(async ({ image }, i) => {
          const built = await session.resolveImage(image);
          return {
            name: built.repoName,
            tag: built.tag,
            loaded: names[i] ?? "",
            configDigest: built.config.digest,
            layers: built.layers.map((l) => ({
              diffId: l.diffId,
              cached: session.isCached(l.diffId),
            })),
          } as unknown as CliResult;
        }));
      }
    }
  }
  if (!flags.quiet && !flags.json && selected.length > 1) {
    const layers = results.flatMap((r) => ("layers" in r ? r.layers : []))
      .map((l) => ({ cached: session.isCached(l.diffId as Digest) }));
    process.stderr.write(
      `${selected.length} exports in ${seconds(started)}s (-j ${flags.jobs}): ${
        layerCounts(layers)
      }\n`,
    );
  }
  noteUnreadableArchives(results as CliResult[], flags);
  if (flags.json) {
    process.stdout.write(
      JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + "\n",
    );
  }
  return results;
}

/**
 * `dockwright build FILE...`: loads every image file (patterns expanded)
 * and builds all their exports in one session.
 *
 * @example
 * ```ts
 * await buildFiles(parseBuildFlags(["services/*\/image.ts", "-j", "2"]));
 * ```
 */
export async function buildFiles(flags: BuildFlags): Promise<void> {
  if (flags.positionals.length === 0) {
    throw new UsageError(
      "build takes one or more image files",
      "dockwright build image.ts [more.ts ...] [--format oci] [--out PATH]",
    );
  }
  if (flags.cacheDir !== undefined) checkCacheDir(flags.cacheDir); // before loading the files
  const files: string[] = [];
  for (const arg of flags.positionals) {
    const matched = isGlob(arg) ? expandGlob(arg) : [arg];
    if (matched.length === 0) {
      throw new UsageError(`no image file matches ${JSON.stringify(arg)}`, "check the pattern");
    }
    files.push(...matched);
  }
  const images: NamedImage[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    if (seen.has(resolve(file))) continue;
    seen.add(resolve(file));
    images.push(...await loadImageFile(file)); // errors name the file as given
  }
  await buildImages(images, flags);
}
