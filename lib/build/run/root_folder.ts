/**
 * Writing a root file system tree (base layers + `copyToRoot`) into a real
 * folder for `runAsRoot`: the folder `mkfs.ext4 -d` turns into the VM's disk,
 * or the chroot of the VM-less mode.
 *
 * Contents, modes (setuid bits included) and mtimes are always written; the
 * mtimes matter, since they tell afterwards which files the script touched.
 * As root, owners are set and devices and fifos made (`mknod`) too; otherwise
 * they are returned as "not applied" for the caller to apply another way
 * (`debugfs` on the VM's disk) or to keep aside. With `deferSpecialFiles`
 * (the VM's disk) devices and fifos are never made on the host, even as root:
 * `debugfs` makes them inside the disk image only. Files are copies (reflinks
 * where the file system can), never hard links into the caller's files.
 * Extended attributes are not written.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { chmodSync, lchownSync, lutimesSync, mkdirSync, symlinkSync, utimesSync } from "node:fs";
import { refuseRawBytes, writeFileNode } from "./materialize.ts";
import { join } from "node:path";
import process from "node:process";
import type { FileTree, TreeNode } from "../../tree/file_tree.ts";

/** An entry whose owner (or, for devices and fifos, whose existence) could not be written. */
export interface Unapplied {
  path: string;
  node: TreeNode;
  /** True when the entry itself is missing from the folder (a device or fifo). */
  missing: boolean;
}

/** The mode to write: the real one as root, else with the owner bits `owner` added. */
function accessibleMode(mode: number, isRoot: boolean, owner: number): number {
  return isRoot ? mode & 0o7777 : (mode & 0o7777) | owner;
}

/**
 * Writes `tree` into the existing empty folder `dir`.
 *
 * @example
 * ```ts
 * import { FileTree } from "../../tree/file_tree.ts";
 * const tree = new FileTree();
 * tree.put("dev/null", { type: "char", mode: 0o666, size: 0, devMajor: 1, devMinor: 3 });
 * const unapplied = writeRootFolder(tree, "/tmp/run/rootfs");
 * // as root: []; else "", "dev" (owned by root, missing: false) and "dev/null" (missing: true)
 * ```
 */
export function writeRootFolder(
  tree: FileTree,
  dir: string,
  options: { deferSpecialFiles?: boolean } = {},
): Unapplied[] {
  const isRoot = process.getuid?.() === 0;
  const myUid = process.getuid?.() ?? 0;
  const myGid = process.getgid?.() ?? 0;
  const unapplied: Unapplied[] = [];
  const dirs: Array<[string, TreeNode]> = [];
  for (const [path, node] of tree.walk()) {
    refuseRawBytes(path, node);
    const target = path === "" ? dir : join(dir, path);
    switch (node.type) {
      case "directory":
        if (path !== "") mkdirSync(target, { mode: 0o700 });
        dirs.push([target, node]);
        break;
      case "file":
        writeFileNode(node, target, path);
        break;
      case "symlink":
        symlinkSync(node.linkTarget ?? "", target);
        break;
      case "hardlink":
        throw new Error(`internal: hard link ${path} in a flattened tree`);
      default: {
        if (!isRoot || options.deferSpecialFiles) {
          unapplied.push({ path, node, missing: true });
          continue;
        }
        const kind = node.type === "char" ? "c" : node.type === "block" ? "b" : "p";
        const args = kind === "p"
          ? [target, "p"]
          : [target, kind, String(node.devMajor ?? 0), String(node.devMinor ?? 0)];
        const r = spawnSync("mknod", args, { encoding: "utf8" });
        if (r.status !== 0) {
          throw new Error(`cannot create ${node.type} /${path}: ${r.stderr || r.error}`);
        }
      }
    }
    const uid = node.uid ?? 0;
    const gid = node.gid ?? 0;
    if (isRoot) lchownSync(target, uid, gid);
    // Without root the folder must stay readable (mkfs.ext4 -d reads it) and removable by us: an entry
    // whose mode would lock us out is written with owner access, and its real mode left to the caller.
    const locksOut = !isRoot && node.type !== "symlink" &&
      (node.mode & (node.type === "directory" ? 0o700 : 0o600)) !==
        (node.type === "directory" ? 0o700 : 0o600);
    if (!isRoot && (uid !== myUid || gid !== myGid || locksOut)) {
      unapplied.push({ path, node, missing: false });
    }
    if (node.type === "symlink") lutimesSync(target, node.mtime ?? 0, node.mtime ?? 0);
    else if (node.type !== "directory") {
      chmodSync(target, accessibleMode(node.mode, isRoot, 0o600)); // after chown, which clears setuid bits
      utimesSync(target, node.mtime ?? 0, node.mtime ?? 0);
    }
  }
  // Folders last and deepest first: their own mode may forbid creating children, and creating them changes mtimes.
  for (const [target, node] of dirs.reverse()) {
    chmodSync(target, accessibleMode(node.mode, isRoot, 0o700));
    utimesSync(target, node.mtime ?? 0, node.mtime ?? 0);
  }
  return unapplied;
}
