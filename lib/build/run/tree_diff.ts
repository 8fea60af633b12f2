/**
 * The layer a `runAsRoot` script made: what changed between the root file
 * system below the new layer (the base image's layers) and the root after the
 * script, as an overlay file system's upper folder would hold it.
 *
 * New and changed entries are kept with the attributes the script left
 * (owner, mode, setuid bits, device numbers), with their parent folders;
 * entries that disappeared become `.wh.<name>` whiteouts (one for a removed
 * folder, not one per child). A file counts as changed when its type, mode,
 * owner, size or mtime differ (rsync's quick check: a script that rewrites a
 * file with the same size and then restores its mtime is not seen).
 *
 * @module
 */

import { FileTree, shallowCopy, type TreeNode } from "../../tree/file_tree.ts";

/**
 * True when `a` and `b` describe the same entry (folders: same attributes, whatever their children).
 *
 * @example
 * ```ts
 * sameEntry({ type: "file", mode: 0o644, size: 1, mtime: 5 }, { type: "file", mode: 0o644, size: 1, mtime: 5 }); // true
 * ```
 */
export function sameEntry(a: TreeNode, b: TreeNode): boolean {
  if (a.type !== b.type || (a.uid ?? 0) !== (b.uid ?? 0) || (a.gid ?? 0) !== (b.gid ?? 0)) {
    return false;
  }
  if (a.type !== "symlink" && (a.mode & 0o7777) !== (b.mode & 0o7777)) return false;
  switch (a.type) {
    case "file":
      return a.size === b.size && (a.mtime ?? 0) === (b.mtime ?? 0);
    case "symlink":
      return a.linkTarget === b.linkTarget;
    case "char":
    case "block":
      return a.devMajor === b.devMajor && a.devMinor === b.devMinor;
    default:
      return true;
  }
}

/** A whiteout file's node. */
const WHITEOUT: TreeNode = { type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 };

/**
 * The changes from `lower` to `after`, as a layer tree. Entries for which
 * `keep` is true are in the layer even when they equal the lower ones (what
 * `copyToRoot` put into Nix's overlay upper folder is always in the layer).
 *
 * @example
 * ```ts
 * import type { FileTree } from "../../tree/file_tree.ts";
 * declare const baseTree: FileTree, treeAfterScript: FileTree;
 * const layer = changesBetween(baseTree, treeAfterScript);
 * layer.get("etc/.wh.motd"); // a whiteout when the script removed /etc/motd
 * ```
 */
export function changesBetween(
  lower: FileTree,
  after: FileTree,
  keep: (path: string) => boolean = () => false,
): FileTree {
  const layer = new FileTree();
  layer.put("", shallowCopy(after.root));
  const withParents = (path: string) => {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (!layer.get(p)) layer.put(p, shallowCopy(after.get(p)!));
    }
  };
  for (const [path, node] of after.walk()) {
    if (path === "") continue;
    const before = lower.get(path);
    if (before && sameEntry(before, node) && !keep(path)) continue;
    withParents(path);
    layer.put(path, shallowCopy(node));
  }
  for (const [path] of lower.walk()) {
    if (path === "" || after.get(path)) continue;
    const slash = path.lastIndexOf("/");
    const parent = slash < 0 ? "" : path.slice(0, slash);
    if (
      after.get(parent)?.type !== "directory" ||
      (parent !== "" && lower.get(parent)?.type !== "directory")
    ) continue;
    const whiteout = `${parent === "" ? "" : parent + "/"}.wh.${path.slice(slash + 1)}`;
    withParents(whiteout);
    layer.put(whiteout, { ...WHITEOUT });
  }
  return layer;
}
