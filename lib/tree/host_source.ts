/**
 * Reading host folders and files into a {@link FileTree}, the way Nix's
 * `rsync -a` puts `copyToRoot` items into a layer.
 *
 * @module
 */

import { lstatSync, readdirSync, readlinkSync, realpathSync, type Stats, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
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

function identity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** Converts one lstat result into a node (without children). Sockets give undefined. */
export function nodeFromStat(path: string, st: Stats): TreeNode | undefined {
  const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), size: 0 };
  if (st.isDirectory()) return { ...base, type: "directory", children: new Map() };
  if (st.isFile()) {
    return { ...base, type: "file", size: st.size, body: { kind: "host", path, identity: identity(st) } };
  }
  if (st.isSymbolicLink()) return { ...base, mode: 0o777, type: "symlink", linkTarget: readlinkSync(path) };
  if (st.isCharacterDevice()) return { ...base, type: "char", ...devNumbers(st.rdev) };
  if (st.isBlockDevice()) return { ...base, type: "block", ...devNumbers(st.rdev) };
  if (st.isFIFO()) return { ...base, type: "fifo" };
  return undefined;
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
 * const tree = new FileTree();
 * addHostPath(tree, "./rootfs", { copyDirlinks: true });
 * ```
 */
export function addHostPath(tree: FileTree, hostPath: string, options: HostSourceOptions): void {
  const absolute = resolve(hostPath);
  let st: Stats;
  try {
    st = statSync(absolute);
  } catch (error) {
    throw new SourceError(
      `${hostPath}: cannot read this source (${(error as NodeJS.ErrnoException).code ?? error}); ` +
        `check that the path exists (relative paths are resolved from the image file's folder)`,
    );
  }
  if (!st.isDirectory()) {
    const node = nodeFromStat(absolute, lstatSync(absolute)) ?? nodeFromStat(absolute, st)!;
    tree.put(basename(absolute), node);
    return;
  }
  const sourceRoot = realpathSync(absolute);
  const storeDir = options.storeDir ?? "/nix/store";
  const visiting = new Set<string>();

  const copyDir = (hostDir: string, treePath: string, dirStat: Stats) => {
    const real = realpathSync(hostDir);
    if (visiting.has(real)) throw new SourceError(`${hostDir}: symlink loop while copying ${hostPath}`);
    visiting.add(real);
    const node = nodeFromStat(hostDir, dirStat)!;
    if (treePath === "") node.mode |= 0o220; // Nix runs `chmod ug+w layer` on the root.
    tree.put(treePath, node);
    let names: string[];
    try {
      names = readdirSync(hostDir);
    } catch (error) {
      throw new SourceError(`${hostDir}: cannot list folder (${(error as NodeJS.ErrnoException).code})`);
    }
    for (const name of names) {
      const child = join(hostDir, name);
      const childPath = treePath === "" ? name : `${treePath}/${name}`;
      const lst = lstatSync(child);
      if (lst.isDirectory()) {
        copyDir(child, childPath, lst);
        continue;
      }
      if (lst.isSymbolicLink() && options.copyDirlinks) {
        let target: string | undefined;
        try {
          target = realpathSync(child);
        } catch {
          target = undefined; // dangling: copied as a symlink
        }
        if (target && (isInside(target, sourceRoot) || isInside(target, storeDir)) && statSync(target).isDirectory()) {
          copyDir(target, childPath, statSync(target));
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
