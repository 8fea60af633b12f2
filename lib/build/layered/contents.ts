/**
 * The `contents` of a layered image and the customisation layer built from
 * them, as Nix's `symlinkJoin` builds it: store paths are linked in file by
 * file (real folders, one symlink per file, pointing into the store); other
 * sources (host folders, generated trees), which Nix would first copy into
 * the store, are copied into the tree as real files instead, since without
 * Nix there is no store copy for a link to point to.
 *
 * @module
 */

import { realpathSync } from "node:fs";
import { type FastDir, fastLstat, openFastDir } from "../../host/fast_fs.ts";
import { buildTree, type ResolvedSource } from "../../tree/sources.ts";
import { FileTree, type TreeNode } from "../../tree/file_tree.ts";
import { storePathOf } from "../../store/store_path.ts";
import { MissingStorePathError } from "../../store/store_layer.ts";

/** `contents` split by kind. */
export interface ClassifiedContents {
  /** Store paths (roots of the closure), in order. */
  storePaths: string[];
  /** Every content in order, store paths included (as host sources). */
  sources: Array<{ kind: "store"; path: string } | ResolvedSource>;
}

/**
 * Separates store paths (under `storeDir`) from other sources, keeping order.
 *
 * @example
 * ```ts
 * const contents = classifyContents([
 *   { kind: "host", path: "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12/bin" },
 *   { kind: "host", path: "/srv/app/rootfs" },
 * ], "/nix/store");
 * contents.storePaths; // ["/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"]
 * contents.sources.map((s) => s.kind); // ["store", "host"]
 * ```
 */
export function classifyContents(
  sources: readonly ResolvedSource[],
  storeDir: string,
): ClassifiedContents {
  const out: ClassifiedContents = { storePaths: [], sources: [] };
  for (const s of sources) {
    const storePath = s.kind === "host" ? storePathOf(s.path, storeDir) : undefined;
    if (storePath && s.kind === "host") {
      if (!out.storePaths.includes(storePath)) out.storePaths.push(storePath);
      out.sources.push({ kind: "store", path: s.path });
    } else {
      out.sources.push(s);
    }
  }
  return out;
}

/**
 * `lndir -silent STORE_PATH TREE`: real folders (0755), a symlink per file to
 * its store location; an existing entry wins (first content wins, as in
 * `symlinkJoin`). Symlinks to folders are descended into, as lndir does.
 * Each folder's entries go straight into the folder's node (no lookup of the
 * whole tree path per file: a big package has tens of thousands).
 */
function linkStorePath(tree: FileTree, storePath: string, storeRoot: string): void {
  /** Links the entries of the store folder `logical` (open as `dir`) into the tree folder `node`. */
  const visit = (logical: string, dir: FastDir, node: TreeNode, depth: number) => {
    if (depth >= 64) return;
    const children = node.children!;
    for (const name of dir.names()) {
      const childLogical = `${logical}/${name}`;
      let st = dir.lstat(name);
      let real: string | undefined;
      if (st.kind === "symlink") {
        try {
          const target = realpathSync(storeRoot + childLogical);
          const targetStat = fastLstat(target);
          if (targetStat.kind === "directory") {
            st = targetStat;
            real = target;
          }
        } catch {
          // dangling: linked as a file below
        }
      }
      const existing = children.get(name);
      if (st.kind === "directory") {
        if (existing && existing.type !== "directory") continue;
        let folder = existing;
        if (!folder) {
          folder = { type: "directory", mode: 0o755, size: 0, children: new Map() };
          children.set(name, folder);
        }
        const sub = real === undefined ? dir.openDir(name) : openFastDir(real);
        try {
          const subLogical = real === undefined
            ? childLogical
            : storeRoot
            ? real.slice(storeRoot.length)
            : real;
          visit(subLogical, sub, folder, depth + 1);
        } finally {
          sub.close();
        }
        continue;
      }
      if (existing) continue;
      children.set(name, { type: "symlink", mode: 0o777, size: 0, linkTarget: childLogical });
    }
  };
  let st;
  try {
    st = fastLstat(storeRoot + storePath);
  } catch {
    throw new MissingStorePathError(storePath, storeRoot + storePath);
  }
  // A store path that is not a folder (a symlink, a file) links nothing in.
  if (st.kind !== "directory") return;
  const dir = openFastDir(storeRoot + storePath);
  try {
    visit(storePath, dir, tree.root, 0);
  } finally {
    dir.close();
  }
}

/**
 * The customisation layer's tree before any script runs.
 *
 * @example
 * ```ts
 * const contents = classifyContents([
 *   { kind: "host", path: "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12" },
 * ], "/nix/store");
 * const tree = customisationTree(contents, { storeRoot: "" }); // the store path must exist here
 * tree.get("bin/hello")?.linkTarget; // "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12/bin/hello"
 * ```
 */
export function customisationTree(
  contents: ClassifiedContents,
  options: { storeRoot: string },
): FileTree {
  const tree = new FileTree();
  tree.root.mode = 0o755;
  for (const source of contents.sources) {
    if (source.kind === "store") linkStorePath(tree, source.path, options.storeRoot);
    else {
      const copied = buildTree([source], { keepDirlinks: false });
      for (const [path, node] of copied.walk()) {
        if (path === "") continue;
        const existing = tree.get(path);
        if (existing?.type === "directory" && node.type === "directory") continue;
        tree.put(
          path,
          node.type === "directory" ? { ...node, mode: 0o755, children: new Map() } : node,
        );
      }
    }
  }
  return tree;
}
