/**
 * `buildImage`: a single-layer image from `copyToRoot`, as Nix's
 * `dockerTools.buildImage` builds it.
 *
 * Layer contents follow Nix's pure path: every `copyToRoot` item is merged
 * into the root with rsync's rules (`-k`: symlinks to folders inside the item
 * become folders; `keepContentsDirlinks` gives `-K`), then archived with
 * `--sort=name`, owner `uid:gid`, and mtime 1980-01-01 (Nix's
 * SOURCE_DATE_EPOCH); `created` only goes into the config.
 *
 * @module
 */

import { type Compressor, COMPRESSORS } from "../codec/compress.ts";
import { sha256Hex } from "../codec/sha256.ts";
import { jqBytes, nixJsonOrder } from "../model/config_json.ts";
import { namingSource } from "../model/errors.ts";
import { configFileOf, type Image } from "../model/image.ts";
import type { ImageConfig } from "../model/image_config.ts";
import { writeLayer } from "../build/write_layer.ts";
import { SOURCE_DATE_EPOCH } from "../model/constants.ts";
import { callerDirectory } from "./caller.ts";
import { AttributeError } from "./errors.ts";
import { type BuildContext, ImageDefinition } from "./image_definition.ts";
import {
  isArchitecture,
  isImageConfig,
  isImageName,
  isTag,
  isTimestamp,
  repositoryName,
  resolveTimestamp,
} from "./image_attrs.ts";
import { hostArchitecture } from "../model/platform.ts";
import { resolveSources, type Source } from "./sources.ts";
import { buildTree, type ResolvedSource } from "../tree/sources.ts";
import {
  type Check,
  isAttrs,
  isBool,
  isInt,
  isString,
  nullable,
  oneOf,
  validateAttrs,
} from "./validate.ts";
import {
  type FromImage,
  loadBaseImage,
  type ResolvedFrom,
  resolveFromImage,
} from "./from_image.ts";
import { mkdirSync } from "node:fs";
import { discardTemp, tempPathFor } from "../host/temp_files.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { flattenLayers } from "../tree/flatten.ts";
import { materializeTree, readTreeBack } from "../build/run/materialize.ts";
import { nixDbScript } from "../build/run/nix_db.ts";
import {
  overlayTree,
  RUN_AS_ROOT_MODES,
  runAsRootLayer,
  type RunAsRootMode,
} from "../build/run/run_as_root.ts";
import { runShell } from "../host/shell.ts";
import type { TarEntry } from "../tar/entry.ts";
import { FileTree } from "../tree/file_tree.ts";
import { fingerprintEntries } from "../cache/fingerprint.ts";
import type { Layer } from "../model/layer.ts";
import { hasLayer } from "../cache/layer_encodings.ts";
import { closureEntries, layerMemberNames, referencedStorePaths } from "../store/layer_closure.ts";
import { classifyContents } from "../build/layered/contents.ts";

/**
 * Attributes of {@link buildImage}, with Nix's names and defaults.
 *
 * @example
 * ```ts
 * const args: BuildImageArgs = { name: "hello", tag: "latest", copyToRoot: ["./rootfs"], config: { Cmd: ["/hello"] } };
 * ```
 */
export interface BuildImageArgs {
  /** Image name; the repository is `name` lowercased, and may start with a registry host. Required. */
  name: string;
  /** Tag. Default null: a tag derived from the image content. */
  tag?: string | null;
  /**
   * Base image (Dockerfile `FROM`): an image archive (docker-archive, plain or
   * compressed, or OCI archive), an OCI layout folder, or another image value.
   * Its layers come first; its `Env` is prepended to `config.Env`. Default null.
   */
  fromImage?: FromImage | null;
  /** As in Nix: only names the legacy parent in a multi-image archive; layers always come from its first image. */
  fromImageName?: string | null;
  /** See `fromImageName`. */
  fromImageTag?: string | null;
  /** Files copied into the root of the layer: host paths (relative to the image file) or generated trees. Default null. */
  copyToRoot?: Source | Source[] | null;
  /** Deprecated name of `copyToRoot` (warns; an error together with `copyToRoot`). */
  contents?: Source | Source[] | null;
  /** rsync `-K` instead of `-k`: keep symlinks to folders in the destination. Default false. */
  keepContentsDirlinks?: boolean;
  /** Docker image config (Cmd, Entrypoint, Env, WorkingDir, User, ExposedPorts, Volumes, Labels, ...). Default null. */
  config?: ImageConfig | null;
  /** GOARCH of the image. Default: the host's (`amd64` on x86-64). */
  architecture?: string;
  /** `created` of the config: RFC 3339, or `"now"`. Default `"1970-01-01T00:00:01Z"`. */
  created?: string;
  /** Owner uid of every entry of the layer. Default 0. */
  uid?: number;
  /** Owner gid of every entry of the layer. Default 0. */
  gid?: number;
  /** `"none"`, `"gz"` or `"zstd"`: compresses the docker-archive as a whole, or each layer of OCI outputs. Default `"gz"`. */
  compressor?: Compressor;
  /**
   * Bash run after `runAsRoot` (or alone), with cwd = the future `/`: use
   * relative paths (`mkdir -p data`). Without `runAsRoot` it runs on the host
   * as the building user, as in Nix; with it, in the VM as root. Default `""`.
   */
  extraCommands?: string;
  /**
   * A script run as real root, chrooted into the base image's layers plus
   * `copyToRoot` (Dockerfile `RUN`); its changes become the layer, owners kept
   * (`uid`/`gid` are then ignored, as in Nix). Runs in a QEMU VM, or with
   * `runAsRootMode: "userns"` in a Linux namespace. Default null.
   */
  runAsRoot?: string | null;
  /** Size in MiB of the VM's disk, which holds the whole root file system. Default 1024. */
  diskSize?: number;
  /** Memory in MiB of the VM. Default 512. */
  buildVMMemorySize?: number;
  /** Register the closure of `copyToRoot`'s store paths in a Nix database in the image (needs nix-store). Default false. */
  includeNixDB?: boolean;
  /**
   * dockwright only: how `runAsRoot` gets root. `"vm"` (default, as Nix: a
   * QEMU VM, KVM when it works, else TCG) or `"userns"` (no VM: mount and PID
   * namespaces on the host; same result as root, limited without root).
   * `$DOCKWRIGHT_RUN_AS_ROOT_MODE` sets the default.
   */
  runAsRootMode?: RunAsRootMode;
  /** Free-form metadata, as Nix `meta`. */
  meta?: Record<string, unknown>;
}

const CHECKS: Record<string, Check> = {
  name: isImageName,
  tag: isTag,
  copyToRoot: () => {},
  contents: () => {},
  keepContentsDirlinks: isBool,
  config: isImageConfig,
  architecture: isArchitecture,
  created: isTimestamp,
  uid: isInt(0, 2 ** 32 - 1),
  gid: isInt(0, 2 ** 32 - 1),
  compressor: oneOf(COMPRESSORS),
  meta: isAttrs,
  fromImage: () => {},
  fromImageName: nullable(isString),
  fromImageTag: nullable(isString),
  extraCommands: isString,
  runAsRoot: nullable(isString),
  diskSize: isInt(16, 2 ** 20),
  buildVMMemorySize: isInt(64, 2 ** 20),
  includeNixDB: isBool,
  runAsRootMode: oneOf(RUN_AS_ROOT_MODES),
};

class BuildImageDefinition extends ImageDefinition {
  readonly builder = "buildImage";
  readonly name: string;
  readonly imageName: string;
  readonly tag: string | null;
  readonly compressor: Compressor;
  readonly meta: Record<string, unknown>;
  readonly #sources: ResolvedSource[];
  readonly #from: ResolvedFrom | null;
  readonly #args: BuildImageArgs;
  readonly #mode: RunAsRootMode;

  constructor(args: BuildImageArgs, baseDir: string) {
    super();
    validateAttrs("buildImage", args, CHECKS, ["name"]);
    if (args.contents != null && args.copyToRoot != null) {
      throw new AttributeError(
        "buildImage",
        "contents",
        "cannot be used together with copyToRoot (contents is the deprecated name of copyToRoot)",
      );
    }
    if (args.contents != null) {
      console.warn(
        `warning: in docker image ${args.name}: The contents parameter is deprecated. Change to copyToRoot if the contents are designed to be copied to the root filesystem, such as when you use \`buildEnv\` or similar between contents and your packages. Use copyToRoot = buildEnv { ... }; or similar if you intend to add packages to /bin.`,
      );
    }
    const attr = args.contents != null ? "contents" : "copyToRoot";
    this.#sources = resolveSources("buildImage", attr, args.contents ?? args.copyToRoot, baseDir);
    this.#from = resolveFromImage("buildImage", args.fromImage, baseDir);
    this.#args = args;
    const envMode = process.env.DOCKWRIGHT_RUN_AS_ROOT_MODE;
    if (
      args.runAsRootMode === undefined && envMode !== undefined &&
      !(RUN_AS_ROOT_MODES as readonly string[]).includes(envMode)
    ) {
      throw new AttributeError(
        "buildImage",
        "runAsRootMode",
        `from DOCKWRIGHT_RUN_AS_ROOT_MODE=${envMode} must be one of ${
          RUN_AS_ROOT_MODES.join(", ")
        }`,
      );
    }
    this.#mode = args.runAsRootMode ?? (envMode as RunAsRootMode | undefined) ?? "vm";
    this.name = args.name;
    this.imageName = repositoryName("buildImage", args.name);
    this.tag = args.tag ?? null;
    this.compressor = args.compressor ?? "gz";
    this.meta = args.meta ?? {};
  }

  /** The store paths among `copyToRoot` (the roots of `includeNixDB`'s database). */
  #storePathRoots(): string[] {
    return classifyContents(this.#sources, "/nix/store").storePaths;
  }

  /** The extraCommands to run, with the Nix database snippet first when `includeNixDB`. */
  #extraScript(work: string): string {
    const args = this.#args;
    let extra = args.extraCommands ?? "";
    if (args.includeNixDB) extra = nixDbScript(this.#storePathRoots(), work) + "\n" + extra;
    return extra;
  }

  /** Nix's pure layer: `copyToRoot`, then `extraCommands` as this user, owned by `uid:gid`. */
  async #pureLayerEntries(
    context: BuildContext,
    tree: FileTree,
    base: Image | null,
    work: string,
  ): Promise<TarEntry[]> {
    const args = this.#args;
    if (this.#sources.every((s) => s.kind !== "host")) tree.root.mode = 0o775; // mkdir + chmod ug+w
    const extra = this.#extraScript(work);
    if (extra) {
      const root = join(work, "root");
      mkdirSync(root);
      materializeTree(tree, root);
      await runShell(extra, { attribute: "extraCommands", cwd: root });
      const rootMode = tree.root.mode;
      tree = readTreeBack(root);
      tree.root.mode = rootMode; // materializeTree made it writable for the script
    }
    const entries = tree.toEntries({
      root: ".",
      uid: args.uid ?? 0,
      gid: args.gid ?? 0,
      mtime: SOURCE_DATE_EPOCH,
    });
    return [...entries, ...await this.#closureEntries(context, tree, base)];
  }

  /** Nix's assembly step: the layer's store-path closure, minus what the base has, appended to the layer. */
  async #closureEntries(
    context: BuildContext,
    tree: FileTree,
    base: Image | null,
  ): Promise<TarEntry[]> {
    const references = referencedStorePaths(tree, context.store);
    if (references.length === 0) return [];
    const existing = base ? await layerMemberNames(context.store, base.layers) : new Set<string>();
    for (const [path] of tree.walk()) if (path !== "") existing.add(path);
    return closureEntries(references, existing, SOURCE_DATE_EPOCH);
  }

  /** Nix's root layer: `runAsRoot` (then `extraCommands`) as root over the base; owners as root left them. */
  async #rootLayerEntries(
    context: BuildContext,
    upper: FileTree,
    base: Image | null,
    work: string,
  ): Promise<TarEntry[]> {
    const args = this.#args;
    const spillDir = join(work, "base");
    mkdirSync(spillDir);
    context.progress.begin(
      `${this.imageName}: unpacking ${base?.layers.length ?? 0} base layer(s) for runAsRoot`,
    );
    let lower: FileTree;
    try {
      lower = base
        ? await flattenLayers(context.store, base.layers, {
          spillDir,
          dedupeKeepLast: true,
          onBytes: (n) => context.progress.add(n),
        })
        : new FileTree();
    } catch (error) {
      // A base layer that cannot be applied: say which base.
      throw namingSource(error, this.#from?.kind === "path" ? this.#from.path : undefined);
    }
    context.progress.end();
    // rsync --chown=0:0 into the overlay's upper folder.
    for (const [, node] of upper.walk()) {
      node.uid = 0;
      node.gid = 0;
    }
    upper.root.mode = lower.root.mode;
    if (args.includeNixDB) {
      // The database is made on the host (the VM has no nix-store) and joins copyToRoot.
      const dbRoot = join(work, "nix-db");
      mkdirSync(dbRoot);
      await runShell(nixDbScript(this.#storePathRoots(), work), {
        attribute: "includeNixDB",
        cwd: dbRoot,
      });
      overlayTree(upper, readTreeBack(dbRoot));
    }
    const runDir = join(work, "run");
    mkdirSync(runDir);
    const layer = await runAsRootLayer({
      lower,
      upper,
      script: args.runAsRoot!,
      extraCommands: args.extraCommands ?? "",
      mode: this.#mode,
      diskSizeMiB: args.diskSize ?? 1024,
      memoryMiB: args.buildVMMemorySize ?? 512,
      cacheDir: context.store.root,
      workDir: runDir,
      progress: context.progress,
    });
    return [
      ...layer.toEntries({ root: ".", mtime: SOURCE_DATE_EPOCH }),
      ...await this.#closureEntries(context, layer, base),
    ];
  }

  /**
   * The cache key of a layer made by scripts (`runAsRoot`, `extraCommands`,
   * `includeNixDB`), or null when there is no script or a source cannot be
   * identified without reading it. It covers every input of the scripts, as
   * Nix's derivation does, and never the output format: a script runs once
   * whatever the build writes.
   */
  #scriptLayerKey(upper: FileTree, base: Image | null): string | null {
    const args = this.#args;
    const runAsRoot = args.runAsRoot ?? null;
    if (runAsRoot === null && !args.extraCommands && !args.includeNixDB) return null;
    return fingerprintEntries(upper.toEntries({ root: "." }), {
      v: 2,
      runAsRoot,
      extraCommands: args.extraCommands ?? "",
      includeNixDB: args.includeNixDB ?? false,
      mode: runAsRoot === null ? null : this.#mode,
      owner: runAsRoot === null ? [args.uid ?? 0, args.gid ?? 0] : null,
      base: base?.layers.map((l) => l.diffId) ?? [],
    });
  }

  async resolve(session: BuildContext): Promise<Image> {
    const args = this.#args;
    const base = this.#from ? await loadBaseImage(session, this.#from) : null;
    const tree = buildTree(this.#sources, { keepDirlinks: args.keepContentsDirlinks ?? false });
    // A script or VM run costs seconds: its layer is kept, keyed by everything that goes into it.
    const key = this.#scriptLayerKey(tree, base);
    const cached = key
      ? session.store.getRecord<{ diffId: Layer["diffId"] }>("script-layers", key)
      : undefined;
    let layer: Layer;
    if (cached && hasLayer(session.store, cached)) {
      layer = { diffId: cached.diffId };
    } else {
      // Tracked, so Ctrl-C removes it too (it may hold a whole root file system).
      const work = tempPathFor(join(tmpdir(), "dockwright-layer"));
      mkdirSync(work, { mode: 0o700 });
      try {
        const entries = args.runAsRoot != null
          ? await this.#rootLayerEntries(session, tree, base, work)
          : await this.#pureLayerEntries(session, tree, base, work);
        session.progress.begin(`${this.imageName}: layer 1/1`);
        layer = await writeLayer(session, entries, {
          onBytes: (n) => session.progress.add(n),
        });
        session.progress.end();
        if (key) {
          session.store.putRecord("script-layers", key, { diffId: layer.diffId });
          session.markBuilt(layer.diffId); // the scripts ran, even if their tar was known
        }
      } finally {
        discardTemp(work); // may hold folders a script made read-only
      }
    }
    const created = resolveTimestamp(args.created ?? "1970-01-01T00:00:01Z");
    const ownConfig = nixJsonOrder({
      architecture: args.architecture ?? hostArchitecture(),
      config: args.config ?? null,
      created,
      os: "linux",
    }) as Record<string, unknown>;
    const config = { ...(ownConfig.config as Record<string, unknown> | null ?? {}) };
    // jq: .config.Env = $baseenv + .config.Env (no de-duplication in buildImage)
    config.Env = [
      ...(base ? configFileOf(base).config?.Env ?? [] : []),
      ...((config.Env as string[] | undefined) ?? []),
    ];
    const layers = [...(base?.layers ?? []), layer];
    const imageConfig = {
      ...ownConfig,
      config,
      rootfs: { diff_ids: layers.map((l) => l.diffId), type: "layers" },
      history: layers.map(() => ({ created })),
    };
    const bytes = jqBytes(imageConfig);
    const ref = session.store.putBytes(bytes);
    return {
      repoName: this.imageName,
      tag: this.tag ?? sha256Hex(ref.digest).slice(0, 32),
      config: { ...ref, bytes },
      layers,
      archiveLayout: "buildImage",
    };
  }
}

/**
 * Nix `dockerTools.buildImage`: a one-layer image whose root holds `copyToRoot`.
 * Returns a lazy image value; nothing is read until it is built.
 *
 * @example
 * ```ts
 * // image.ts (in a project, import from "dockwright")
 * import { buildImage, main } from "../../mod.ts";
 *
 * export default buildImage({
 *   name: "hello",
 *   tag: "latest",
 *   copyToRoot: ["./rootfs"],
 *   config: { Cmd: ["/bin/hello"] },
 * });
 * main(import.meta);
 * ```
 */
export function buildImage(args: BuildImageArgs): ImageDefinition {
  return new BuildImageDefinition(args, callerDirectory());
}

/**
 * Nix `dockerTools.buildImageWithNixDb`: {@link buildImage} with
 * `includeNixDB: true`, so `nix-store -q` works inside the image for the
 * store paths of `copyToRoot`.
 *
 * @example
 * ```ts
 * import { buildImageWithNixDb, main } from "../../mod.ts";
 *
 * export default buildImageWithNixDb({
 *   name: "nix-tools",
 *   copyToRoot: ["/nix/store/4ddv3ilbcasl14ax8y3jm9qpz9yj4pw1-hello-2.12.1"],
 * });
 * main(import.meta);
 * ```
 */
export function buildImageWithNixDb(args: BuildImageArgs): ImageDefinition {
  return new BuildImageDefinition({ ...args, includeNixDB: true }, callerDirectory());
}
