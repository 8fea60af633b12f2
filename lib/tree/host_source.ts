/**
 * Reading host folders and files into a {@link FileTree}, the way Nix's
 * `rsync -a` puts `copyToRoot` items into a layer.
 *
 * @module
 */

import { realpathSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import {
  fastLstat,
  fastReadDir,
  fastReadLink,
  type FastStat,
  fileIdentity,
} from "../host/fast_fs.ts";
import type { FileTree, TreeNode } from "./file_tree.ts";

/** Raised when a source named in an image definition is missing or unreadable. */
export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceError";
  }
}

/** Options of {@link addHostPath}. */
export interface HostSourceOptions {
  /**
   * rsync `-k` (Nix's default for buildImage): a symlink in the source that
   * resolves to a folder is copied as that folder. Only links that resolve
   * inside the source itself or under `storeDir` are followed, so a source
   * never pulls in unrelated host folders.
   */
  copyDirlinks: boolean;
  /** Store folder whose contents dir-links may point into. Default `/nix/store`. */
  storeDir?: string;
}

function devNumbers(rdev: number): { devMajor: number; devMinor: number } {
  // Linux's new_encode_dev layout, as glibc's major()/minor() decode it.
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev >>> 0;
  const devMajor = ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0);
  const devMinor = (low & 0xff) | ((low >>> 12) & 0xfff00);
  return { devMajor, devMinor };
}

/** Converts one lstat result into a node (without children). Sockets give undefined. */
export function nodeFromStat(path: string, st: FastStat): TreeNode | undefined {
  const base = {
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.floor(st.mtimeMs / 1000),
    size: 0,
  };
  switch (st.kind) {
    case "directory":
      return { ...base, type: "directory", children: new Map() };
    case "file":
      return {
        ...base,
        type: "file",
        size: st.size,
        body: { kind: "host", path, identity: fileIdentity(st) },
      };
    case "symlink":
      return { ...base, mode: 0o777, type: "symlink", linkTarget: fastReadLink(path) };
    case "char":
    case "block":
      return { ...base, type: st.kind, ...devNumbers(st.rdev) };
    case "fifo":
      return { ...base, type: "fifo" };
    default:
      return undefined;
  }
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : dir + "/");
}

/**
 * Adds a host path to `tree`: a folder's contents are merged into the root
 * (rsync `item/ layer/`), a single file lands at `/<basename>`.
 *
 * @example
 * ```ts
 * import { FileTree } from "./file_tree.ts";
 * const tree = new FileTree();
 * addHostPath(tree, "./rootfs", { copyDirlinks: true });
 * ```
 */
export function addHostPath(tree: FileTree, hostPath: string, options: HostSourceOptions): void {
  const absolute = resolve(hostPath);
  let st: FastStat;
  try {
    st = fastLstat(realpathSync(absolute));
  } catch (error) {
    throw new SourceError(
      `${hostPath}: cannot read this source (${(error as NodeJS.ErrnoException).code ?? error}); ` +
        `check that the path exists (relative paths are resolved from the image file's folder)`,
    );
  }
  if (st.kind !== "directory") {
    const node = nodeFromStat(absolute, fastLstat(absolute)) ?? nodeFromStat(absolute, st)!;
    tree.put(basename(absolute), node);
    return;
  }
  const sourceRoot = realpathSync(absolute);
  const storeDir = options.storeDir ?? "/nix/store";
  const visiting = new Set<string>();

  const copyDir = (hostDir: string, treePath: string, dirStat: FastStat) => {
    const real = realpathSync(hostDir);
    if (visiting.has(real)) {
      throw new SourceError(`${hostDir}: symlink loop while copying ${hostPath}`);
    }
    visiting.add(real);
    const node = nodeFromStat(hostDir, dirStat)!;
    if (treePath === "") node.mode |= 0o220; // Nix runs `chmod ug+w layer` on the root.
    tree.put(treePath, node);
    let names: string[];
    try {
      names = fastReadDir(hostDir);
    } catch (error) {
      throw new SourceError(
        `${hostDir}: cannot list folder (${(error as NodeJS.ErrnoException).code})`,
      );
    }
    for (const name of names) {
      const child = join(hostDir, name);
      const childPath = treePath === "" ? name : `${treePath}/${name}`;
      const lst = fastLstat(child);
      if (lst.kind === "directory") {
        copyDir(child, childPath, lst);
        continue;
      }
      if (lst.kind === "symlink" && options.copyDirlinks) {
        let target: string | undefined;
        try {
          target = realpathSync(child);
        } catch {
          target = undefined; // dangling: copied as a symlink
        }
        if (
          target && (isInside(target, sourceRoot) || isInside(target, storeDir)) &&
          statSync(target).isDirectory()
        ) {
          copyDir(target, childPath, fastLstat(target));
          continue;
        }
      }
      const childNode = nodeFromStat(child, lst);
      if (childNode) tree.put(childPath, childNode);
    }
    visiting.delete(real);
  };
  copyDir(absolute, "", st);
}
