/**
 * `streamLayeredImage` and `buildLayeredImage`: multi-layer images whose
 * store paths are split into layers by Nix's algorithms, plus a final
 * "customisation" layer holding the symlinked `contents` and whatever
 * `extraCommands` / `fakeRootCommands` made.
 *
 * @module
 */

import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { discardTemp, tempPathFor } from "../host/temp_files.ts";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import process from "node:process";
import { createHash } from "node:crypto";
import { type Compressor, COMPRESSORS } from "../codec/compress.ts";
import { configFileOf, type Image } from "../model/image.ts";
import type { Layer } from "../model/layer.ts";
import { writeLayer } from "../build/write_layer.ts";
import { classifyContents, customisationTree } from "../build/layered/contents.ts";
import { streamConfigBytes } from "../build/layered/stream_config.ts";
import { parseFakerootState } from "../build/run/fakeroot_state.ts";
import { materializeTree, readTreeBack } from "../build/run/materialize.ts";
import { requireHostTool, runShell } from "../host/shell.ts";
import { staticBusyboxPath } from "../host/busybox.ts";
import { closureOf, type GraphNode, parseClosureGraph } from "../store/closure_graph.ts";
import { autoLayer, layerBudget, runPipeline, validatePipeline } from "../store/layering/mod.ts";
import { narSizeOfFile, narSizeOfFlatDir } from "../store/nar_size.ts";
import { queryNixClosure } from "../store/nix_store.ts";
import { nixDbScript } from "../build/run/nix_db.ts";
import { buildStoreLayers, prestartStoreLayerWorkers } from "../store/store_layer_build.ts";
import {
  resolveStoreRefs,
  scanFileStorePaths,
  scanStorePaths,
  storeHash,
} from "../store/store_path.ts";
import { SOURCE_DATE_EPOCH } from "../model/constants.ts";
import type { FileTree } from "../tree/file_tree.ts";
import { callerDirectory } from "./caller.ts";
import { AttributeError } from "./errors.ts";
import {
  type FromImage,
  loadBaseImage,
  type ResolvedFrom,
  resolveFromImage,
} from "./from_image.ts";
import type { ImageConfig } from "../model/image_config.ts";
import { hasLayer } from "../cache/layer_encodings.ts";
import { type BuildContext, ImageDefinition } from "./image_definition.ts";
import {
  epochSeconds,
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
import { nixJsonOrder } from "../model/config_json.ts";

/**
 * Attributes of {@link streamLayeredImage}, with Nix's names and defaults,
 * plus `closureGraph`, `storeDir` and `storeRoot` for store paths without Nix.
 *
 * @example
 * ```ts
 * import { fakeNss } from "../../mod.ts";
 *
 * const args: StreamLayeredImageArgs = {
 *   name: "hello",
 *   contents: [fakeNss],
 *   config: { User: "nobody" },
 * };
 * ```
 */
export interface StreamLayeredImageArgs {
  /** Image name; repository = `name` lowercased; a registry host prefix is fine. Required. */
  name: string;
  /** Tag; null (default) gives a stable tag derived from the image config. */
  tag?: string | null;
  /** Base image: archive path, OCI layout folder, or an image value. Its layers are reused verbatim; only its Env is inherited (merged, last value wins). */
  fromImage?: FromImage | null;
  /**
   * Roots of the image. Store paths (under `storeDir`) bring their closure
   * into store layers and are symlinked into `/` in the customisation layer;
   * host folders, files and generated trees are copied into the customisation layer.
   */
  contents?: Source | Source[];
  /** Docker image config. Store paths it mentions join the closure. Default `{}`. */
  config?: ImageConfig | null;
  /** GOARCH. Default: the host's. */
  architecture?: string;
  /** Config `created`; RFC 3339 or `"now"`. Default `"1970-01-01T00:00:01Z"`. */
  created?: string;
  /** mtime of every store-layer entry and archive member; RFC 3339 or `"now"`. Default `"1970-01-01T00:00:01Z"`. */
  mtime?: string;
  /** Owner uid of store-layer entries. Default 0. */
  uid?: number;
  /** Owner gid of store-layer entries. Default 0. */
  gid?: number;
  /** Owner user name of store-layer entries. Default `"root"`. */
  uname?: string;
  /** Owner group name of store-layer entries. Default `"root"`. */
  gname?: string;
  /** Most layers in all, base and customisation layers included; > 1. Ignored with `layeringPipeline`. Default 100. */
  maxLayers?: number;
  /** Bash run in the customisation tree (cwd = the future `/`), unprivileged. */
  extraCommands?: string;
  /** Bash run under fakeroot after `extraCommands`; `chown` and `mknod` are recorded in the layer. */
  fakeRootCommands?: string;
  /** Run `fakeRootCommands` under proot with the tree as `/`. */
  enableFakechroot?: boolean;
  /** false: no store layers, only the customisation layer. Default true. */
  includeStorePaths?: boolean;
  /** Put a Nix database for `contents` into the image (needs nix-store and sqlite3 on the host). */
  includeNixDB?: boolean;
  /** Free-form attributes kept on the image value. */
  passthru?: Record<string, unknown>;
  /** Free-form metadata. */
  meta?: Record<string, unknown>;
  /** A layering pipeline (list of steps, or a path to a JSON file); replaces auto-layer and `maxLayers`. */
  layeringPipeline?: unknown[] | string | null;
  /** Print the layer table on stderr. */
  debug?: boolean;
  /** The closure as a graph (`[{path, narSize, references}]`), inline or a JSON file path; default: ask nix-store. */
  closureGraph?: GraphNode[] | string | null;
  /** The store folder of store paths. Default `"/nix/store"`. */
  storeDir?: string;
  /** Where the store's files are on this machine when not at their store path (a chroot store). Default `""`. */
  storeRoot?: string;
}

/** Attributes of {@link buildLayeredImage}: {@link StreamLayeredImageArgs} plus `compressor`. */
export interface BuildLayeredImageArgs extends StreamLayeredImageArgs {
  /** `"none"`, `"gz"` or `"zstd"`. Default `"gz"`. */
  compressor?: Compressor;
}

const isScript: Check = (fn, attr, v) => isString(fn, attr, v);
const isLayeringPipeline: Check = (fn, attr, v) => {
  if (v === null || typeof v === "string") return;
  try {
    validatePipeline(v);
  } catch (error) {
    throw new AttributeError(fn, attr, (error as Error).message);
  }
};
const isClosureGraph: Check = (fn, attr, v) => {
  if (v === null || typeof v === "string") return;
  try {
    parseClosureGraph(v);
  } catch (error) {
    throw new AttributeError(fn, attr, (error as Error).message);
  }
};
const isAbsolutePath: Check = (fn, attr, v) => {
  isString(fn, attr, v);
  if (!(v as string).startsWith("/")) {
    throw new AttributeError(fn, attr, `must be an absolute path (got ${JSON.stringify(v)})`);
  }
};

function checks(withCompressor: boolean): Record<string, Check> {
  const c: Record<string, Check> = {
    name: isImageName,
    tag: isTag,
    fromImage: () => {},
    contents: () => {},
    config: isImageConfig,
    architecture: isArchitecture,
    created: isTimestamp,
    mtime: isTimestamp,
    uid: isInt(0, 2 ** 32 - 1),
    gid: isInt(0, 2 ** 32 - 1),
    uname: isString,
    gname: isString,
    maxLayers: isInt(2, 125),
    extraCommands: isScript,
    fakeRootCommands: isScript,
    enableFakechroot: isBool,
    includeStorePaths: isBool,
    includeNixDB: isBool,
    passthru: isAttrs,
    meta: isAttrs,
    layeringPipeline: isLayeringPipeline,
    debug: isBool,
    closureGraph: isClosureGraph,
    storeDir: isAbsolutePath,
    storeRoot: nullable(isString),
  };
  if (withCompressor) c.compressor = oneOf(COMPRESSORS);
  return c;
}

/** What the cache remembers about a customisation layer built by scripts. */
interface CustomisationRecord {
  layer: Layer;
  storeRefs: string[];
  tarSize: number;
}

class LayeredImageDefinition extends ImageDefinition {
  readonly name: string;
  readonly imageName: string;
  readonly tag: string | null;
  readonly compressor: Compressor;
  readonly meta: Record<string, unknown>;
  override readonly passthru: Record<string, unknown>;
  readonly #args: BuildLayeredImageArgs;
  readonly #from: ResolvedFrom | null;
  readonly #baseDir: string;
  readonly #contents: ReturnType<typeof classifyContents>;
  readonly #storeDir: string;

  constructor(
    readonly builder: "streamLayeredImage" | "buildLayeredImage",
    args: BuildLayeredImageArgs,
    baseDir: string,
  ) {
    super();
    validateAttrs(builder, args, checks(builder === "buildLayeredImage"), ["name"]);
    if (args.enableFakechroot && process.platform !== "linux") {
      throw new AttributeError(builder, "enableFakechroot", "needs Linux (proot)");
    }
    this.#args = args;
    this.#baseDir = baseDir;
    this.#storeDir = (args.storeDir ?? "/nix/store").replace(/\/+$/, "");
    this.#from = resolveFromImage(builder, args.fromImage, baseDir);
    this.#contents = classifyContents(
      resolveSources(builder, "contents", args.contents ?? [], baseDir),
      this.#storeDir,
    );
    this.name = args.name;
    this.imageName = repositoryName(builder, args.name);
    this.tag = args.tag ?? null;
    this.compressor = args.compressor ?? "gz";
    this.meta = args.meta ?? {};
    this.passthru = args.passthru ?? {};
  }

  /** streamLayeredImage's result is a streaming script, as in Nix. */
  override get streams(): boolean {
    return this.builder === "streamLayeredImage";
  }

  /** Store paths found by scanning, matched against the closure graph, or the host's store. */
  #knownRefs(candidates: string[]): string[] {
    const given = this.#args.closureGraph;
    if (Array.isArray(given)) {
      const known = new Set(given.map((n) => n.path));
      return resolveStoreRefs(candidates, (p) => known.has(p));
    }
    if (typeof given === "string") {
      const known = new Set(this.#loadGraph(given).map((n) => n.path));
      return resolveStoreRefs(candidates, (p) => known.has(p));
    }
    const root = this.#args.storeRoot ?? "";
    return resolveStoreRefs(candidates, (p) => existsSync(root + p));
  }

  /** The closure graph file, read once per resolve (it is used four times). */
  #loadedGraph: GraphNode[] | undefined;

  #loadGraph(file: string): GraphNode[] {
    if (this.#loadedGraph) return this.#loadedGraph;
    const path = isAbsolute(file) ? file : resolve(this.#baseDir, file);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      throw new AttributeError(
        this.builder,
        "closureGraph",
        `cannot read ${path} as JSON (${(error as Error).message})`,
      );
    }
    return this.#loadedGraph = parseClosureGraph(json);
  }

  #graph(roots: string[]): GraphNode[] {
    const given = this.#args.closureGraph;
    if (given === null || given === undefined) return queryNixClosure(roots);
    const graph = typeof given === "string" ? this.#loadGraph(given) : parseClosureGraph(given);
    const known = new Set(graph.map((n) => n.path));
    for (const root of roots) {
      if (!known.has(root)) {
        throw new AttributeError(
          this.builder,
          "closureGraph",
          `does not contain ${root}, which the image needs (from contents, config or fakeRootCommands)`,
        );
      }
    }
    const keep = closureOf(graph, roots);
    return graph.filter((n) => keep.has(n.path));
  }

  async #customisationLayer(context: BuildContext): Promise<CustomisationRecord> {
    const args = this.#args;
    const storeRoot = args.storeRoot ?? "";
    const tree = customisationTree(this.#contents, { storeRoot });
    const scripted = Boolean(args.extraCommands || args.fakeRootCommands || args.includeNixDB);
    const write = async (t: FileTree, forceOwner: boolean): Promise<CustomisationRecord> => {
      const entries = t.toEntries({
        root: ".",
        mtime: SOURCE_DATE_EPOCH,
        ...(forceOwner ? { uid: 0, gid: 0 } : {}),
      });
      const layer = await writeLayer(context, entries, {
        onBytes: (n) => context.progress.add(n),
      });
      const refs = new Set<string>();
      for (const e of entries) {
        if (e.linkTarget) {
          for (const r of scanStorePaths(e.linkTarget, this.#storeDir)) refs.add(r);
        }
        if (e.body?.kind === "bytes" && e.size < 1 << 20) {
          for (const r of scanStorePaths(new TextDecoder().decode(e.body.bytes), this.#storeDir)) {
            refs.add(r);
          }
        } else if (e.body?.kind === "host" && e.size < 1 << 20) {
          for (const r of scanFileStorePaths(e.body.path, this.#storeDir)) refs.add(r);
        }
      }
      const tarSize = entries.reduce((n, e) => n + 512 + Math.ceil(e.size / 512) * 512, 1024);
      return { layer, storeRefs: [...refs].sort(), tarSize };
    };
    context.progress.begin(`${this.imageName}: customisation layer`);
    try {
      if (!scripted) return await write(tree, true);
      // Scripts are build steps, as in Nix: the same inputs give the cached result without running them again.
      // Never the output format or compressor: a script runs once whatever the build writes.
      const key = createHash("sha256").update(JSON.stringify({
        v: 2,
        entries: tree.toEntries({ root: ".", mtime: 0 }).map((
          e,
        ) => [
          e.path,
          e.type,
          e.mode,
          e.size,
          e.linkTarget ?? null,
          e.body?.kind === "host"
            ? `${e.body.path}:${e.body.identity}`
            : e.body?.kind === "bytes"
            ? createHash("sha256").update(e.body.bytes).digest("hex")
            : null,
        ]),
        extraCommands: args.extraCommands ?? "",
        fakeRootCommands: args.fakeRootCommands ?? "",
        enableFakechroot: args.enableFakechroot ?? false,
        includeNixDB: args.includeNixDB ?? false,
      })).digest("hex");
      const cached = context.store.getRecord<CustomisationRecord>("customisation", key);
      if (cached && hasLayer(context.store, cached.layer)) return cached;
      const record = await this.#runScripts(tree, write);
      context.store.putRecord("customisation", key, record);
      context.markBuilt(record.layer.diffId); // the scripts ran, even if their tar was known
      return record;
    } finally {
      context.progress.end();
    }
  }

  async #runScripts(
    tree: FileTree,
    write: (t: FileTree, forceOwner: boolean) => Promise<CustomisationRecord>,
  ): Promise<CustomisationRecord> {
    const args = this.#args;
    // Tracked, so Ctrl-C removes it too (it holds a copy of the customisation layer).
    const work = tempPathFor(join(tmpdir(), "dockwright-custom"));
    try {
      mkdirSync(work, { mode: 0o700 });
      const root = join(work, "root");
      mkdirSync(root);
      materializeTree(tree, root);
      let extra = args.extraCommands ?? "";
      if (args.includeNixDB) extra = nixDbScript(this.#contents.storePaths, work) + "\n" + extra;
      if (extra) await runShell(extra, { attribute: "extraCommands", cwd: root });
      let state;
      if (args.fakeRootCommands) {
        requireHostTool("fakeroot", "fakeRootCommands", "apt-get install fakeroot");
        const stateFile = join(work, "fakeroot.state");
        if (args.enableFakechroot) {
          await this.#runFakechroot(args.fakeRootCommands, root, work);
        } else {
          await runShell(args.fakeRootCommands, {
            attribute: "fakeRootCommands",
            cwd: root,
            wrapper: ["fakeroot", "-s", stateFile, "--"],
          });
        }
        try {
          state = parseFakerootState(readFileSync(stateFile, "utf8"));
        } catch {
          state = undefined;
        }
      }
      const after = readTreeBack(
        root,
        state,
        args.enableFakechroot === true && process.getuid?.() === 0,
      );
      return await write(after, false);
    } finally {
      discardTemp(work); // a script may have left read-only folders
    }
  }

  /**
   * fakeRootCommands under proot with the tree as `/`. The tree rarely has a
   * working shell of its own, so a static busybox from the host is bound in at
   * `/.dockwright/bin` and put last on PATH; `/nix` is bound when it exists.
   * fakeroot cannot follow static programs, so ownership is only recorded when
   * we run as real root (proot then performs real chowns on the tree).
   */
  async #runFakechroot(script: string, root: string, work: string): Promise<void> {
    requireHostTool("proot", "enableFakechroot", "apt-get install proot");
    if (process.getuid?.() !== 0) {
      throw new AttributeError(
        this.builder,
        "enableFakechroot",
        "needs root on this machine to record ownership changes (proot cannot fake chown for static tools); " +
          "run the build as root, or drop enableFakechroot and use relative paths in fakeRootCommands",
      );
    }
    const busybox = staticBusyboxPath("enableFakechroot");
    const bin = join(work, "bin");
    mkdirSync(bin);
    // A copy, not a link: inside the chroot the host's path to busybox does not exist.
    copyFileSync(busybox, join(bin, "busybox"));
    const applets = [
      "sh",
      "mkdir",
      "chown",
      "chmod",
      "ln",
      "ls",
      "cp",
      "mv",
      "rm",
      "touch",
      "cat",
      "echo",
      "mknod",
      "stat",
      "id",
      "env",
      "test",
      "[",
      "sed",
      "grep",
      "find",
      "install",
      "readlink",
      "basename",
      "dirname",
      "true",
      "false",
      "printf",
      "tee",
      "chgrp",
      "head",
      "tail",
      "sort",
      "xargs",
    ];
    for (const a of applets) symlinkSync("busybox", join(bin, a));
    const scriptFile = join(work, "fake-root-commands.sh");
    writeFileSync(scriptFile, `set -e\n${script}\n`);
    const binds = [
      "-b",
      `${bin}:/.dockwright/bin`,
      "-b",
      `${scriptFile}:/.dockwright/script.sh`,
      "-b",
      "/proc:/proc",
      "-b",
      "/dev:/dev",
    ];
    if (existsSync("/nix")) binds.push("-b", "/nix:/nix");
    await runShell("", {
      attribute: "fakeRootCommands",
      cwd: root,
      shell: [
        "proot",
        "-r",
        root,
        "-w",
        "/",
        ...binds,
        "/.dockwright/bin/sh",
        "/.dockwright/script.sh",
      ],
      env: {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.dockwright/bin",
        PROOT_NO_SECCOMP: "1",
      },
    });
  }

  /**
   * With a closure graph of 32 MiB or more, starts the store-layer workers
   * now: they load their code while the customisation layer is built and
   * the closure split.
   */
  #prestartWorkers(): void {
    const given = this.#args.closureGraph;
    if (given === null || given === undefined || this.#args.includeStorePaths === false) return;
    if (this.#contents.storePaths.length === 0) return;
    try {
      const graph = typeof given === "string" ? this.#loadGraph(given) : given;
      const bytes = graph.reduce((n, node) => n + (Number(node.narSize) || 0), 0);
      if (bytes >= 32 << 20) prestartStoreLayerWorkers();
    } catch {
      // A bad graph is reported where it is read.
    }
  }

  async resolve(context: BuildContext): Promise<Image> {
    const args = this.#args;
    const created = resolveTimestamp(args.created ?? "1970-01-01T00:00:01Z");
    const mtimeText = resolveTimestamp(args.mtime ?? "1970-01-01T00:00:01Z");
    const mtime = epochSeconds(mtimeText);
    const base = this.#from ? await loadBaseImage(context, this.#from) : null;
    const architecture = args.architecture ?? hostArchitecture();
    const config = (args.config ?? {}) as Record<string, unknown>;
    this.#loadedGraph = undefined; // the file may have changed since the last build
    this.#prestartWorkers();
    const custom = await this.#customisationLayer(context);

    const includeStore = args.includeStorePaths ?? true;
    const configJson = JSON.stringify(nixJsonOrder({ architecture, config, os: "linux" }));
    const configRefs = includeStore
      ? this.#knownRefs(scanStorePaths(configJson, this.#storeDir))
      : [];
    const customRefs = includeStore ? this.#knownRefs(custom.storeRefs) : [];
    const roots = includeStore
      ? [...new Set([...this.#contents.storePaths, ...configRefs, ...customRefs])].sort()
      : [];
    let storeGroups: string[][] = [];
    const narSizes = new Map<string, number>();
    if (roots.length > 0) {
      const graph = this.#graph(roots);
      for (const node of graph) narSizes.set(node.path, node.narSize);
      // The two small store paths Nix's layering also sees (§9): they count while auto-layer splits.
      const baseJsonPath = `${this.#storeDir}/${storeHash(configJson)}-${this.baseName}-base.json`;
      const customPath = `${this.#storeDir}/${
        storeHash(custom.layer.diffId)
      }-${this.baseName}-customisation-layer`;
      const withRoots: GraphNode[] = [
        ...graph,
        { path: baseJsonPath, narSize: narSizeOfFile(configJson.length), references: configRefs },
        {
          path: customPath,
          narSize: narSizeOfFlatDir({ checksum: 65, "layer.tar": custom.tarSize }),
          references: [...new Set([...this.#contents.storePaths, ...customRefs])].sort(),
        },
      ];
      const excludePaths = [baseJsonPath, customPath];
      const debug = args.debug ? (line: string) => process.stderr.write(line + "\n") : undefined;
      if (args.layeringPipeline !== null && args.layeringPipeline !== undefined) {
        let pipeline: unknown = args.layeringPipeline;
        if (typeof pipeline === "string") {
          const path = isAbsolute(pipeline) ? pipeline : resolve(this.#baseDir, pipeline);
          try {
            pipeline = JSON.parse(readFileSync(path, "utf8"));
          } catch (error) {
            throw new AttributeError(
              this.builder,
              "layeringPipeline",
              `cannot read ${path} as JSON (${(error as Error).message})`,
            );
          }
        }
        storeGroups = runPipeline(withRoots, pipeline, { excludePaths, debug });
      } else {
        const layerLimit = layerBudget(args.maxLayers ?? 100, base?.layers.length ?? 0);
        storeGroups = autoLayer(withRoots, { layerLimit, excludePaths, debug });
      }
      if (args.debug) process.stderr.write(JSON.stringify(storeGroups, null, 2) + "\n");
    }
    const settings = {
      uid: args.uid ?? 0,
      gid: args.gid ?? 0,
      uname: args.uname ?? "root",
      gname: args.gname ?? "root",
      mtime,
      storeRoot: args.storeRoot ?? "",
      storeDir: this.#storeDir,
    };
    // The store layers are independent: built (or found) at once, one per core.
    context.progress.begin(`${this.imageName}: ${storeGroups.length} store layers`);
    const built = await buildStoreLayers(context.store, storeGroups, settings, {
      encoding: context.layerEncoding,
      onBytes: (n) => context.progress.add(n),
      sizes: storeGroups.map((paths) =>
        paths.reduce((n, path) => n + (narSizes.get(path) ?? 0), 0)
      ),
    });
    context.progress.end();
    const storeLayers: Layer[] = built.map((result, i) => {
      if (result.built) context.markBuilt(result.diffId);
      return { diffId: result.diffId, comment: JSON.stringify(storeGroups[i]) };
    });
    const baseLayers = base?.layers ?? [];
    const customLayer: Layer = { ...custom.layer, archiveMode: 0o444, archiveOwnerName: "root" };
    const layers = [...baseLayers, ...storeLayers, customLayer];
    const customPathForHistory = `${this.#storeDir}/${
      storeHash(custom.layer.diffId)
    }-${this.baseName}-customisation-layer`;
    const bytes = streamConfigBytes({
      created,
      architecture,
      config,
      baseEnv: base ? (configFileOf(base).config?.Env ?? []) : undefined,
      diffIds: layers.map((l) => l.diffId),
      historyPaths: [
        ...baseLayers.map((l) => [`${l.diffId.slice(7)}/layer.tar`]),
        ...storeGroups,
        [customPathForHistory],
      ],
    });
    const ref = context.store.putBytes(bytes);
    return {
      repoName: this.imageName,
      tag: this.tag ?? storeHash(ref.digest),
      config: { ...ref, bytes },
      layers,
      archiveLayout: "stream",
      streamMtime: mtime,
    };
  }
}

/**
 * Nix `dockerTools.streamLayeredImage`: a layered image whose result streams
 * an uncompressed docker-archive. Built with the command line, it writes an
 * executable `stream-<name>` script (`./stream-hello | podman load`); `--stream`
 * writes the archive to stdout directly, and `--format` gives any other output.
 *
 * @example
 * ```ts
 * // image.ts (in a project, import from "dockwright")
 * import { fakeNss, main } from "../../mod.ts";
 *
 * export default streamLayeredImage({
 *   name: "hello",
 *   contents: [fakeNss],
 *   config: { User: "nobody" },
 * });
 * main(import.meta);
 * ```
 */
export function streamLayeredImage(args: StreamLayeredImageArgs): ImageDefinition {
  return new LayeredImageDefinition("streamLayeredImage", args, callerDirectory());
}

/**
 * Nix `dockerTools.buildLayeredImage`: {@link streamLayeredImage} written as
 * a (by default gzip-compressed) docker-archive.
 *
 * @example
 * ```ts
 * // image.ts (in a project, import from "dockwright")
 * import { main } from "../../mod.ts";
 *
 * export default buildLayeredImage({
 *   name: "app",
 *   contents: ["/nix/store/ab5a2k7vm0vsj8p6ncy1hq3rc8fkhgn9-app-1.0"],
 *   maxLayers: 50,
 *   compressor: "zstd",
 * });
 * main(import.meta);
 * ```
 */
export function buildLayeredImage(args: BuildLayeredImageArgs): ImageDefinition {
  return new LayeredImageDefinition("buildLayeredImage", args, callerDirectory());
}

/**
 * Nix `dockerTools.buildLayeredImageWithNixDb`: {@link buildLayeredImage} with `includeNixDB = true`.
 *
 * @example
 * ```ts
 * buildLayeredImageWithNixDb({
 *   name: "nix",
 *   contents: ["/nix/store/0v0psh8n2iz3bl0w7yj6rnj10q3m1b4w-nix-2.8.1"],
 * });
 * ```
 */
export function buildLayeredImageWithNixDb(args: BuildLayeredImageArgs): ImageDefinition {
  return new LayeredImageDefinition(
    "buildLayeredImage",
    { ...args, includeNixDB: true },
    callerDirectory(),
  );
}
