/**
 * Flattening image layers into one root file system, as container runtimes
 * (containerd, docker, umoci) apply them: each layer in order, each member in
 * the order of its tar. A member's folder is found by following the symlinks
 * of the tree as the kernel would, but inside the image root (an absolute
 * link starts at the image root, `..` stops there), so `lib/b` lands in
 * `usr/lib/b` when `lib` is a link to `usr/lib`; the last part of a member's
 * name is never followed. A folder over a folder merges; anything else
 * replaces what was there. OCI whiteouts are found the same way:
 * `.wh.<name>` deletes `<name>` and `.wh..wh..opq` hides every child of its
 * folder, in both cases only what lower layers made (never what the same
 * layer adds, whatever the order). A hard link names a member of the image
 * that is not a folder.
 *
 * Hostile layers are refused, not followed: names over `PATH_MAX`, more than
 * 40 links on one path, a member below a file, a tree over `maxEntries`
 * (see `host/input_limits.ts`).
 *
 * The result is a {@link FileTree} with every header field kept (owners,
 * modes, devices, xattrs), whatever the privileges of this process: nothing is
 * extracted to a real root file system. File contents are spilled into
 * `spillDir` (one file per file member), so memory holds headers only.
 *
 * Used for `runAsRoot`'s pre-script tree and for `exportImage`.
 *
 * @module
 */

import { closeSync, openSync, unlinkSync } from "node:fs";
import { writeAll } from "../host/write_all.ts";
import { join } from "node:path";
import type { BlobStore } from "../cache/blob_store.ts";
import { layerTar } from "../cache/layer_encodings.ts";
import {
  checkFreeSpace,
  FREE_SPACE_CHECK_BYTES,
  inputLimits,
  limitError,
} from "../host/input_limits.ts";
import type { TarHeader } from "../tar/reader.ts";
import { readTar } from "../tar/reader.ts";
import { checkNameLength, normalizeMemberPath } from "../tar/safe_path.ts";
import { FileTree, type TreeNode } from "./file_tree.ts";
import type { Layer } from "../model/layer.ts";

/** A layer that cannot be applied (a hard link to nothing, a bare `.wh.`). */
export class FlattenError extends Error {
  constructor(readonly layer: string, problem: string) {
    super(`layer ${layer}: ${problem}; the image is malformed`);
    this.name = "FlattenError";
  }
}

/** Options of {@link flattenLayers}. */
export interface FlattenOptions {
  /** Folder (existing, owned by the caller) that receives file contents. */
  spillDir: string;
  /**
   * Apply a layer listed several times only at its last position, as Nix's
   * `runWithOverlay` does (`tac | dedup | tac`). Default false.
   */
  dedupeKeepLast?: boolean;
  /** Called with uncompressed bytes as they are read. */
  onBytes?: (n: number) => void;
}

/**
 * The layers Nix unpacks for a VM step: each distinct layer once, at its last
 * position (nixpkgs #214434: a base listing a layer twice).
 *
 * @example
 * ```ts
 * const a = { diffId: "sha256:aa" }, b = { diffId: "sha256:bb" };
 * dedupeLayersKeepLast([a, b, a]); // [b, a]
 * ```
 */
export function dedupeLayersKeepLast<T extends { diffId: string }>(layers: readonly T[]): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    if (seen.has(layers[i].diffId)) continue;
    seen.add(layers[i].diffId);
    out.unshift(layers[i]);
  }
  return out;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
/** Links followed on one path at most, as Linux's `MAXSYMLINKS`. */
const MAX_LINK_HOPS = 40;
/** Components walked to resolve one member's folder at most (links that point at links). */
const MAX_RESOLVE_STEPS = 64 * 1024;

function nodeOf(header: TarHeader, spill: string | undefined): TreeNode {
  const node: TreeNode = {
    type: header.type,
    mode: header.mode & 0o7777,
    uid: header.uid,
    gid: header.gid,
    mtime: header.mtime,
    size: header.type === "file" ? header.size : 0,
  };
  if (header.type === "file" && spill) node.body = { kind: "host", path: spill };
  if (header.linkTarget !== undefined && header.type === "symlink") {
    node.linkTarget = header.linkTarget;
  }
  if (header.type === "char" || header.type === "block") {
    node.devMajor = header.devMajor ?? 0;
    node.devMinor = header.devMinor ?? 0;
  }
  if (header.type === "directory") node.children = new Map();
  if (header.xattrs && Object.keys(header.xattrs).length > 0) node.xattrs = header.xattrs;
  return node;
}

/**
 * The tree being built and what applying layers to it needs: the entries it
 * holds (against `maxEntries`), the spill files its nodes use (removed when no
 * node uses them any more), and what the current layer added.
 */
class Applier {
  readonly tree: FileTree;
  readonly maxEntries = inputLimits().maxEntries;
  /** Nodes of the tree, the root included. */
  entries = 1;
  /** Spill files and how many nodes use each. */
  readonly #spillUses = new Map<string, number>();
  /** What the layer being applied made or declared: its whiteouts never remove those. */
  added = new Set<TreeNode>();
  /** The layer being applied, for messages. */
  what = "";

  constructor(readonly spillDir: string) {
    this.tree = new FileTree();
    this.tree.root.mode = 0o755;
  }

  /** Starts a layer: nothing added yet. */
  begin(what: string): void {
    this.what = what;
    this.added = new Set();
  }

  #error(member: string, problem: string): FlattenError {
    return new FlattenError(this.what, `${JSON.stringify(member)}: ${problem}`);
  }

  /** Counts `n` new nodes against `maxEntries`. */
  #grow(n: number): void {
    this.entries += n;
    if (this.entries > this.maxEntries) {
      throw limitError(
        `layer ${this.what}`,
        "the image's files",
        this.entries,
        "maxEntries",
        this.maxEntries,
      );
    }
  }

  #useSpill(node: TreeNode): void {
    if (node.body?.kind === "host") {
      this.#spillUses.set(node.body.path, (this.#spillUses.get(node.body.path) ?? 0) + 1);
    }
  }

  /** Forgets `node` and everything below it: entry counts, and spill files nobody uses any more. */
  #drop(node: TreeNode): void {
    const stack = [node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      this.entries--;
      if (n.body?.kind === "host") {
        const left = (this.#spillUses.get(n.body.path) ?? 1) - 1;
        if (left > 0) this.#spillUses.set(n.body.path, left);
        else {
          this.#spillUses.delete(n.body.path);
          try {
            unlinkSync(n.body.path);
          } catch {
            // Already gone.
          }
        }
      }
      if (n.children) { for (const c of n.children.values()) stack.push(c); }
    }
  }

  /**
   * The folder `parts` names, following the tree's symlinks inside the image
   * root (as `securejoin` does for containerd and umoci). With `create`,
   * missing folders are made (0755) and a file on the way is an error;
   * without, undefined is returned for either.
   */
  resolveDir(parts: readonly string[], create: boolean, member: string): TreeNode | undefined {
    const stack: TreeNode[] = [this.tree.root];
    const todo = [...parts].reverse();
    let hops = 0;
    let steps = 0;
    while (todo.length > 0) {
      if (++steps > MAX_RESOLVE_STEPS) {
        throw this.#error(member, "its folder cannot be resolved (links that point at links)");
      }
      const part = todo.pop()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const dir = stack[stack.length - 1];
      let child = dir.children!.get(part);
      if (child?.type === "symlink") {
        if (++hops > MAX_LINK_HOPS) {
          throw this.#error(member, "too many levels of symbolic links on its path");
        }
        const target = child.linkTarget ?? "";
        if (target.startsWith("/")) stack.length = 1;
        const more = target.split("/");
        for (let i = more.length - 1; i >= 0; i--) todo.push(more[i]);
        continue;
      }
      if (!child) {
        if (!create) return undefined;
        child = { type: "directory", mode: 0o755, size: 0, children: new Map() };
        dir.children!.set(part, child);
        this.added.add(child);
        this.#grow(1);
      } else if (child.type !== "directory") {
        if (!create) return undefined;
        throw this.#error(
          member,
          `${JSON.stringify(part)} on its path is a ${child.type}, not a folder`,
        );
      }
      stack.push(child);
    }
    return stack[stack.length - 1];
  }

  /** Applies one member of the current layer. */
  apply(path: string, header: TarHeader, spill: string | undefined): void {
    if (header.type === "symlink") checkNameLength(header.linkTarget ?? "", "link target");
    if (path === "") {
      if (header.type === "directory") {
        const { children: _ignored, ...attrs } = nodeOf(header, undefined);
        Object.assign(this.tree.root, attrs);
      }
      return;
    }
    const parts = path.split("/");
    const base = parts.pop()!;
    if (base === OPAQUE) {
      const dir = this.resolveDir(parts, false, path);
      if (dir) this.#hideLower(dir);
      return;
    }
    if (base.startsWith(WHITEOUT)) {
      const name = base.slice(WHITEOUT.length);
      if (name === "" || name === "." || name === "..") {
        throw new FlattenError(this.what, `bad whiteout ${JSON.stringify(path)}`);
      }
      const dir = this.resolveDir(parts, false, path);
      const victim = dir?.children?.get(name);
      if (victim && !this.added.has(victim)) {
        dir!.children!.delete(name);
        this.#drop(victim);
      }
      return;
    }
    let node: TreeNode;
    if (header.type === "hardlink") {
      const targetPath = normalizeMemberPath(header.linkTarget ?? "", { allowAbsolute: true });
      const targetParts = targetPath.split("/");
      const targetName = targetParts.pop()!;
      const target = targetPath === ""
        ? undefined
        : this.resolveDir(targetParts, false, path)?.children?.get(targetName);
      if (!target || target.type === "directory") {
        throw this.#error(
          path,
          `its hard link names ${JSON.stringify(header.linkTarget)}, which is ${
            target ? "a folder" : "not a file of the image"
          }`,
        );
      }
      // Stored as an entry of its own, as Nix's `tar --hard-dereference` does; the content is shared.
      node = {
        ...target,
        uid: header.uid,
        gid: header.gid,
        mode: header.mode & 0o7777,
        mtime: header.mtime,
      };
    } else node = nodeOf(header, spill);
    const dir = this.resolveDir(parts, true, path)!;
    const existing = dir.children!.get(base);
    if (existing?.type === "directory" && node.type === "directory") {
      const { children: _ignored, ...attrs } = node;
      Object.assign(existing, attrs);
      this.added.add(existing);
      return;
    }
    this.#grow(1);
    this.#useSpill(node);
    dir.children!.set(base, node);
    this.added.add(node);
    if (existing) this.#drop(existing);
  }

  /** An opaque folder: every child a lower layer made goes, recursively below what this layer declared. */
  #hideLower(dir: TreeNode): void {
    for (const [name, child] of [...dir.children!]) {
      if (!this.added.has(child)) {
        dir.children!.delete(name);
        this.#drop(child);
      } else if (child.type === "directory") this.#hideLower(child);
    }
  }
}

/** Reads one layer's tar and applies each member as it comes, file contents spilled to numbered files. */
async function applyLayer(
  applier: Applier,
  source: AsyncIterable<Uint8Array>,
  o: FlattenOptions,
  counter: { n: number; sinceCheck: number },
): Promise<void> {
  if (o.onBytes) {
    const inner = source;
    source = (async function* () {
      for await (const c of inner) {
        o.onBytes!(c.length);
        yield c;
      }
    })();
  }
  for await (const { header, body } of readTar(source)) {
    const path = normalizeMemberPath(header.path, { allowAbsolute: true });
    let spill: string | undefined;
    if (header.type === "file" && header.size > 0) {
      counter.sinceCheck += header.size;
      if (counter.sinceCheck >= FREE_SPACE_CHECK_BYTES || counter.n === 0) {
        checkFreeSpace(o.spillDir, `layer ${applier.what}`, JSON.stringify(path));
        counter.sinceCheck = 0;
      }
      spill = join(o.spillDir, String(counter.n++));
      const fd = openSync(spill, "w", 0o600);
      try {
        for await (const chunk of body) writeAll(fd, chunk);
      } finally {
        closeSync(fd);
      }
    }
    applier.apply(path, header, spill);
  }
}

/**
 * Applies `layers` (bottom first) into a tree. File bodies point into
 * `options.spillDir`, which must outlive the tree.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../cache/blob_store.ts";
 * import type { Layer } from "../model/layer.ts";
 * declare const store: BlobStore;
 * declare const layers: Layer[];
 * const tree = await flattenLayers(store, layers, { spillDir: "/tmp/spill" });
 * tree.get("etc/os-release")?.type; // "file"
 * ```
 */
export async function flattenLayers(
  store: BlobStore,
  layers: readonly Layer[],
  options: FlattenOptions,
): Promise<FileTree> {
  const applier = new Applier(options.spillDir);
  const counter = { n: 0, sinceCheck: 0 };
  const applied = options.dedupeKeepLast ? dedupeLayersKeepLast(layers) : layers;
  for (const layer of applied) {
    applier.begin(layer.diffId);
    await applyLayer(applier, layerTar(store, layer), options, counter);
  }
  return applier.tree;
}

/**
 * One tar stream (a root file system, or a layer applied to nothing) as a
 * tree, file contents spilled into `options.spillDir`.
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * const tree = await treeFromTar(createReadStream("rootfs.tar"), { spillDir: "/tmp/spill" });
 * ```
 */
export async function treeFromTar(
  source: AsyncIterable<Uint8Array>,
  options: FlattenOptions & { what?: string },
): Promise<FileTree> {
  const applier = new Applier(options.spillDir);
  applier.begin(options.what ?? "tar");
  await applyLayer(applier, source, options, { n: 0, sinceCheck: 0 });
  return applier.tree;
}
