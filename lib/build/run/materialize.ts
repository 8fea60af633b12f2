/**
 * Writing a {@link FileTree} to a real folder, so that shell commands
 * (`extraCommands`, `fakeRootCommands`) can work on it, and reading the
 * folder back afterwards.
 *
 * Files are copied (reflinked where the file system can), never hard-linked:
 * a script that appends to a file must not change the user's source.
 *
 * @module
 */

import {
  chmodSync,
  constants,
  copyFileSync,
  mkdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fastLstat, fastReadDir } from "../../host/fast_fs.ts";
import { FileTree, type TreeNode } from "../../tree/file_tree.ts";
import { nodeFromStat } from "../../tree/host_source.ts";
import type { FakerootState } from "./fakeroot_state.ts";
import { hasRawBytes, showName } from "../../tar/names.ts";

/**
 * Writes a file node's contents to `target`: a copy (reflinked where the file
 * system can) of its host file, or its bytes.
 *
 * @example
 * ```ts
 * import type { TreeNode } from "../../tree/file_tree.ts";
 * const motd: TreeNode = { type: "file", mode: 0o644, size: 3,
 *   body: { kind: "bytes", bytes: new TextEncoder().encode("hi\n") } };
 * writeFileNode(motd, "/tmp/root/etc/motd", "etc/motd");
 * ```
 */
export function writeFileNode(node: TreeNode, target: string, path: string): void {
  const body = node.body;
  if (body?.kind === "host") copyFileSync(body.path, target, constants.COPYFILE_FICLONE);
  else if (body?.kind === "bytes") writeFileSync(target, body.bytes);
  else if (!body) writeFileSync(target, new Uint8Array());
  else throw new Error(`internal: cannot write streamed file ${path}`);
}

/**
 * Throws when a path or link target holds bytes that are not UTF-8: the
 * runtimes' file APIs take text, so the entry would be written under another
 * name (and two such names as one).
 *
 * @example
 * ```ts
 * refuseRawBytes("etc/caf\udce9", { type: "file", mode: 0o644, size: 0 }); // throws
 * ```
 */
export function refuseRawBytes(path: string, node: TreeNode): void {
  if (hasRawBytes(path) || hasRawBytes(node.linkTarget ?? "")) {
    throw new Error(
      `cannot write /${showName(path)} to a folder for a script: its name or link target is not ` +
        "valid UTF-8 (only exportImage and image outputs keep such names byte for byte)",
    );
  }
}

/**
 * Writes `tree` below `dir` (which must exist). Folders are left writable by
 * their owner while scripts run; file modes are kept.
 *
 * @example
 * ```ts
 * import { FileTree } from "../../tree/file_tree.ts";
 * const tree = new FileTree();
 * tree.put("etc/motd", { type: "file", mode: 0o644, size: 3,
 *   body: { kind: "bytes", bytes: new TextEncoder().encode("hi\n") } });
 * materializeTree(tree, "/tmp/work/root");
 * ```
 */
export function materializeTree(tree: FileTree, dir: string): void {
  for (const [path, node] of tree.walk()) {
    refuseRawBytes(path, node);
    const target = path === "" ? dir : join(dir, path);
    switch (node.type) {
      case "directory":
        if (path !== "") mkdirSync(target);
        chmodSync(target, (node.mode & 0o7777) | 0o700);
        break;
      case "file": {
        writeFileNode(node, target, path);
        chmodSync(target, node.mode & 0o7777);
        break;
      }
      case "symlink":
        symlinkSync(node.linkTarget ?? "", target);
        break;
      default:
        // Devices and fifos cannot be created without privileges; scripts rarely need them.
        throw new Error(
          `cannot materialise ${node.type} ${path} for a script; create it in the script instead`,
        );
    }
  }
}

/**
 * Reads the folder `dir` back into a tree: symlinks stay symlinks, files
 * become host bodies. Owners are 0 (what Nix's tar inside fakeroot reports for
 * files nobody chowned) unless `state` (a fakeroot save file) says otherwise;
 * `state` also turns `mknod` placeholders into real device entries.
 *
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { parseFakerootState } from "./fakeroot_state.ts";
 * const state = parseFakerootState(readFileSync("/tmp/work/fakeroot.state", "utf8"));
 * const tree = readTreeBack("/tmp/work/root", state);
 * ```
 */
export function readTreeBack(dir: string, state?: FakerootState, keepOwners = false): FileTree {
  const tree = new FileTree();
  const visit = (hostPath: string, treePath: string) => {
    const st = fastLstat(hostPath);
    const node = nodeFromStat(hostPath, st) as TreeNode | undefined;
    if (!node) return;
    if (!keepOwners) {
      node.uid = 0;
      node.gid = 0;
    }
    const faked = state?.get(`${st.dev}:${st.ino}`);
    if (faked) {
      node.uid = faked.uid;
      node.gid = faked.gid;
      node.mode = faked.mode & 0o7777;
      const type = (faked.mode >> 12) & 0o17;
      if (type === 0o02 || type === 0o06) {
        Object.assign(node, { type: type === 0o02 ? "char" : "block", size: 0, body: undefined });
        node.devMajor = (faked.rdev >> 8) & 0xfff;
        node.devMinor = (faked.rdev & 0xff) | ((faked.rdev >> 12) & 0xfff00);
      } else if (type === 0o01) {
        Object.assign(node, { type: "fifo", size: 0, body: undefined });
      }
    }
    if (node.type === "symlink") node.linkTarget = readlinkSync(hostPath);
    tree.put(treePath, node);
    if (node.type === "directory") {
      for (const name of fastReadDir(hostPath)) {
        visit(join(hostPath, name), treePath === "" ? name : `${treePath}/${name}`);
      }
    }
  };
  visit(dir, "");
  return tree;
}
