/**
 * An in-memory picture of a root file system: metadata and where each file's
 * bytes come from, never the bytes of host files themselves.
 *
 * Sources (host folders, generated files) are merged into one tree with
 * rsync's rules: a folder over a folder merges and takes the newer folder's
 * attributes; anything else replaces what was there. The tree is then
 * serialised in a stable order: depth first, each folder's children sorted by
 * the bytes of their names (GNU tar `--sort=name`).
 *
 * @module
 */

import type { EntryBody, EntryType, TarEntry } from "../tar/entry.ts";

/** One node of a {@link FileTree}. */
export interface TreeNode {
  type: EntryType;
  mode: number;
  /** Owner; the serialiser may force another. */
  uid?: number;
  gid?: number;
  /** mtime in seconds; the serialiser may force another. */
  mtime?: number;
  size: number;
  body?: EntryBody;
  linkTarget?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, Uint8Array | string>;
  children?: Map<string, TreeNode>;
}

/** How {@link FileTree.toEntries} names members and fills in owners and times. */
export interface SerializeOptions {
  /** Name of the root member; `"."` gives `./`, `./bin`, ... (GNU tar `-C dir .`). Null omits the root. */
  root: string | null;
  /** Forced owner for every entry (tar `--owner/--group`); otherwise the node's own (default 0). */
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Forced mtime (tar `--mtime`); otherwise the node's own (default 0). */
  mtime?: number;
}

/**
 * Orders names by their UTF-8 bytes, as C's strcmp does, without encoding
 * them: UTF-16 code units sort like UTF-8 bytes except that surrogates
 * (code points above U+FFFF) must sort after U+E000..U+FFFF.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y;
  }
  return a.length - b.length;
}

/** Moves surrogates above U+E000..U+FFFF, keeping each group's own order. */
function codePointRank(unit: number): number {
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

/**
 * A copy of `node` without what is below it (a folder gets an empty
 * `children` map), to put into another tree.
 *
 * @example
 * ```ts
 * declare const tree: FileTree;
 * const other = new FileTree();
 * other.put("etc", shallowCopy(tree.get("etc")!)); // "etc" without its files
 * ```
 */
export function shallowCopy(node: TreeNode): TreeNode {
  return node.type === "directory"
    ? { ...node, children: new Map() }
    : { ...node, children: undefined };
}

/** Splits a tree path ("a/b/c", "/a/b", "./a") into components, rejecting "..". */
export function splitTreePath(path: string): string[] {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) {
    throw new TypeError(`path ${JSON.stringify(path)} must not contain ".."`);
  }
  return parts;
}

/**
 * A merged root file system.
 *
 * @example
 * ```ts
 * const tree = new FileTree();
 * tree.put("etc/motd", { type: "file", mode: 0o644, size: 3,
 *   body: { kind: "bytes", bytes: new TextEncoder().encode("hi\n") } });
 * const entries = tree.toEntries({ root: ".", mtime: 315532800 });
 * ```
 */
export class FileTree {
  readonly root: TreeNode = { type: "directory", mode: 0o755, size: 0, children: new Map() };

  /**
   * With `keepDirlinks` (rsync `-K`), a symlink in the tree that points to a
   * folder of the tree is followed when a later source writes beneath it.
   */
  constructor(readonly keepDirlinks = false) {}

  /** The node at `path`, or undefined. Symlinks are not followed. */
  get(path: string): TreeNode | undefined {
    let node: TreeNode | undefined = this.root;
    for (const part of splitTreePath(path)) {
      node = node?.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  /** Resolves a symlink's target to a folder node of this tree, if it is one (for `-K`). */
  #followDirlink(link: TreeNode, parents: string[]): TreeNode | undefined {
    let target = link;
    let dir = parents;
    for (let hops = 0; target.type === "symlink" && hops < 40; hops++) {
      const to = target.linkTarget ?? "";
      const parts = to.startsWith("/") ? [] : [...dir];
      for (const p of to.split("/")) {
        if (p === "" || p === ".") continue;
        if (p === "..") parts.pop();
        else parts.push(p);
      }
      const next = this.get(parts.join("/"));
      if (!next) return undefined;
      target = next;
      dir = parts.slice(0, -1);
    }
    return target.type === "directory" ? target : undefined;
  }

  /** The folder at `parts`, created (mode 0755) where missing. */
  #dir(parts: string[]): TreeNode {
    let node = this.root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      let child = node.children!.get(part);
      if (child?.type === "symlink" && this.keepDirlinks) {
        child = this.#followDirlink(child, parts.slice(0, i)) ?? child;
      }
      if (!child || child.type !== "directory") {
        child = { type: "directory", mode: 0o755, size: 0, children: new Map() };
        node.children!.set(part, child);
      }
      node = child;
    }
    return node;
  }

  /**
   * Puts `node` at `path` with rsync's merge rule: folder onto folder keeps the
   * children and takes the new attributes; otherwise the old node is replaced.
   * Returns the node now at `path`.
   */
  put(path: string, node: TreeNode): TreeNode {
    const parts = splitTreePath(path);
    if (parts.length === 0) {
      if (node.type !== "directory") throw new TypeError("the image root must be a folder");
      Object.assign(this.root, { ...node, children: this.root.children });
      return this.root;
    }
    const parent = this.#dir(parts.slice(0, -1));
    const name = parts[parts.length - 1];
    let existing = parent.children!.get(name);
    if (existing?.type === "symlink" && node.type === "directory" && this.keepDirlinks) {
      existing = this.#followDirlink(existing, parts.slice(0, -1)) ?? existing;
    }
    if (existing?.type === "directory" && node.type === "directory") {
      const { children: _ignored, ...attrs } = node;
      Object.assign(existing, attrs);
      return existing;
    }
    const fresh = node.type === "directory"
      ? { ...node, children: node.children ?? new Map() }
      : node;
    parent.children!.set(name, fresh);
    return fresh;
  }

  /** Removes the node at `path` (and everything below it). Returns whether it existed. */
  remove(path: string): boolean {
    const parts = splitTreePath(path);
    if (parts.length === 0) throw new TypeError("cannot remove the image root");
    const parent = this.get(parts.slice(0, -1).join("/"));
    return parent?.children?.delete(parts[parts.length - 1]) ?? false;
  }

  /** Visits every node depth first in serialisation order, with its relative path. */
  *walk(): Generator<[string, TreeNode]> {
    function* visit(prefix: string, node: TreeNode): Generator<[string, TreeNode]> {
      yield [prefix, node];
      if (!node.children) return;
      const names = [...node.children.keys()].sort(compareNames);
      for (const name of names) {
        yield* visit(prefix === "" ? name : `${prefix}/${name}`, node.children.get(name)!);
      }
    }
    yield* visit("", this.root);
  }

  /** Serialises the tree into tar entries in stable order. */
  toEntries(options: SerializeOptions): TarEntry[] {
    const out: TarEntry[] = [];
    for (const [path, node] of this.walk()) {
      let name: string;
      if (path === "") {
        if (options.root === null) continue;
        name = options.root;
      } else {
        name = options.root === null || options.root === "" ? path : `${options.root}/${path}`;
      }
      out.push({
        path: name,
        type: node.type,
        mode: node.mode & 0o7777,
        uid: options.uid ?? node.uid ?? 0,
        gid: options.gid ?? node.gid ?? 0,
        uname: options.uname ?? "",
        gname: options.gname ?? "",
        mtime: options.mtime ?? node.mtime ?? 0,
        size: node.type === "file" ? node.size : 0,
        linkTarget: node.linkTarget,
        devMajor: node.devMajor,
        devMinor: node.devMinor,
        xattrs: node.xattrs,
        body: node.type === "file" ? node.body : undefined,
      });
    }
    return out;
  }
}
