/**
 * Flattening image layers into one root file system, as a container runtime
 * applies them: each layer in order, with OCI whiteouts (`.wh.<name>` deletes
 * `<name>` of lower layers, `.wh..wh..opq` hides every lower child of its
 * folder, applied before the layer's other entries whatever their order),
 * a folder over a folder merging, anything else replacing.
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

import { closeSync, openSync } from "node:fs";
import { writeAll } from "../host/write_all.ts";
import { join } from "node:path";
import type { BlobStore } from "../cache/blob_store.ts";
import { layerTar } from "../cache/layer_encodings.ts";
import type { TarHeader } from "../tar/reader.ts";
import { readTar } from "../tar/reader.ts";
import { normalizeMemberPath } from "../tar/safe_path.ts";
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

/** One member of a layer, read and spilled, waiting to be applied. */
interface Pending {
  path: string;
  header: TarHeader;
  spill?: string;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

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
  if (header.xattrs && Object.keys(header.xattrs).length > 0) node.xattrs = header.xattrs;
  return node;
}

/** Removes every child of the folder at `dir` that this layer did not add. */
function applyOpaque(tree: FileTree, dir: string, added: Set<string>): void {
  const node = tree.get(dir);
  if (!node?.children) return;
  for (const [name, child] of [...node.children]) {
    const path = dir === "" ? name : `${dir}/${name}`;
    if (!added.has(path)) node.children.delete(name);
    else if (child.type === "directory") applyOpaque(tree, path, added);
  }
}

/** Reads one layer's tar: headers in order, file contents spilled to numbered files. */
async function readMembers(
  source: AsyncIterable<Uint8Array>,
  o: FlattenOptions,
  counter: { n: number },
): Promise<Pending[]> {
  const pending: Pending[] = [];
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
      spill = join(o.spillDir, String(counter.n++));
      const fd = openSync(spill, "w", 0o600);
      try {
        for await (const chunk of body) writeAll(fd, chunk);
      } finally {
        closeSync(fd);
      }
    }
    pending.push({ path, header, spill });
  }
  return pending;
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
  const tree = new FileTree();
  tree.root.mode = 0o755;
  const counter = { n: 0 };
  const applied = options.dedupeKeepLast ? dedupeLayersKeepLast(layers) : layers;
  for (const layer of applied) {
    applyMembers(tree, await readMembers(layerTar(store, layer), options, counter), layer.diffId);
  }
  return tree;
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
  const tree = new FileTree();
  tree.root.mode = 0o755;
  applyMembers(tree, await readMembers(source, options, { n: 0 }), options.what ?? "tar");
  return tree;
}

/** Applies one layer's members to `tree`: opaque markers, then whiteouts, then entries. */
function applyMembers(tree: FileTree, members: Pending[], what: string): void {
  const added = new Set<string>();
  const markAdded = (path: string) => {
    const parts = path.split("/");
    for (let i = 1; i <= parts.length; i++) added.add(parts.slice(0, i).join("/"));
  };
  for (const m of members) {
    const base = m.path.split("/").pop()!;
    if (base !== OPAQUE && !base.startsWith(WHITEOUT)) markAdded(m.path);
  }
  // Opaque markers first, then plain whiteouts: both only hide lower layers.
  for (const m of members) {
    const parts = m.path.split("/");
    if (parts[parts.length - 1] === OPAQUE) applyOpaque(tree, parts.slice(0, -1).join("/"), added);
  }
  for (const m of members) {
    const parts = m.path.split("/");
    const base = parts[parts.length - 1];
    if (base === OPAQUE || !base.startsWith(WHITEOUT)) continue;
    const name = base.slice(WHITEOUT.length);
    if (name === "" || name === "." || name === "..") {
      throw new FlattenError(what, `bad whiteout ${JSON.stringify(m.path)}`);
    }
    const victim = [...parts.slice(0, -1), name].join("/");
    if (!added.has(victim)) {
      const parent = tree.get(parts.slice(0, -1).join("/"));
      if (parent?.type === "directory") tree.remove(victim);
    }
  }
  for (const m of members) {
    const base = m.path.split("/").pop()!;
    if (base === OPAQUE || base.startsWith(WHITEOUT)) continue;
    if (m.path === "") {
      if (m.header.type === "directory") tree.put("", nodeOf(m.header, undefined));
      continue;
    }
    if (m.header.type === "hardlink") {
      const targetPath = normalizeMemberPath(m.header.linkTarget ?? "", { allowAbsolute: true });
      const target = tree.get(targetPath);
      if (!target || target.type !== "file") {
        throw new FlattenError(
          what,
          `hard link ${JSON.stringify(m.path)} names ${
            JSON.stringify(m.header.linkTarget)
          }, which is not a file of the image`,
        );
      }
      // Stored as a file of its own, as Nix's `tar --hard-dereference` does; the content is shared.
      tree.put(m.path, {
        ...target,
        uid: m.header.uid,
        gid: m.header.gid,
        mode: m.header.mode & 0o7777,
        mtime: m.header.mtime,
      });
      continue;
    }
    tree.put(m.path, nodeOf(m.header, m.spill));
  }
}
