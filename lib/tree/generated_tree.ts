/**
 * Trees generated in memory (`writeTextFile`, `writeTextDir`, ...): the
 * stand-in for small Nix store paths made by trivial builders.
 *
 * Their files have the modes Nix store files have: 0444, or 0555 when
 * executable; folders 0555.
 *
 * @module
 */

import { statSync } from "node:fs";
import { fileIdentity } from "../host/fast_fs.ts";
import type { FileTree, TreeNode } from "./file_tree.ts";
import { splitTreePath } from "./file_tree.ts";

/**
 * A small generated file tree, used as a `copyToRoot`/`contents` source.
 *
 * @example
 * ```ts
 * const motd = new GeneratedTree("motd").file("etc/motd", "hi\n");
 * ```
 */
export class GeneratedTree {
  /**
   * The tree's entries by path (`etc/motd`), parents included.
   *
   * @internal How builders read the tree; add entries with the methods below.
   */
  readonly nodes: Map<string, TreeNode> = new Map();

  #fill?: (tree: GeneratedTree) => void;

  /**
   * An empty tree; add to it with {@link GeneratedTree.file}, `dir`, `symlink` and `hostFile`.
   *
   * @param name what Nix would call the derivation; used in messages and history.
   */
  constructor(readonly name: string) {}

  /**
   * A tree whose files are decided when it is first used (a build), not when
   * it is defined: for helpers that take files from the host, so that merely
   * importing an image file never fails.
   *
   * @example
   * ```ts
   * import { staticBusyboxPath } from "../host/busybox.ts";
   * const sh = GeneratedTree.lazy("bin-sh", (t) => t.hostFile("bin/sh", staticBusyboxPath("binSh"), true));
   * ```
   */
  static lazy(name: string, fill: (tree: GeneratedTree) => void): GeneratedTree {
    const tree = new GeneratedTree(name);
    tree.#fill = fill;
    return tree;
  }

  /** Adds a copy of host file `hostPath` at `path` (0444, or 0555 when executable). */
  hostFile(path: string, hostPath: string, executable = false): this {
    this.#parents(path);
    const size = statSync(hostPath).size;
    this.nodes.set(splitTreePath(path).join("/"), {
      type: "file",
      mode: executable ? 0o555 : 0o444,
      size,
      body: { kind: "host", path: hostPath, identity: identityOf(hostPath) },
    });
    return this;
  }

  /** Adds a file (0444, or 0555 when executable) at `path`. */
  file(path: string, content: string | Uint8Array, executable = false): this {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    this.#parents(path);
    this.nodes.set(splitTreePath(path).join("/"), {
      type: "file",
      mode: executable ? 0o555 : 0o444,
      size: bytes.length,
      body: { kind: "bytes", bytes },
    });
    return this;
  }

  /** Adds a symlink at `path` pointing to `target`. */
  symlink(path: string, target: string): this {
    this.#parents(path);
    this.nodes.set(splitTreePath(path).join("/"), {
      type: "symlink",
      mode: 0o777,
      size: 0,
      linkTarget: target,
    });
    return this;
  }

  /** Adds an empty folder (0555) at `path`. */
  dir(path: string): this {
    this.#parents(path);
    const key = splitTreePath(path).join("/");
    if (!this.nodes.has(key)) this.nodes.set(key, { type: "directory", mode: 0o555, size: 0 });
    return this;
  }

  #parents(path: string): void {
    const parts = splitTreePath(path);
    for (let i = 1; i < parts.length; i++) {
      const key = parts.slice(0, i).join("/");
      if (!this.nodes.has(key)) this.nodes.set(key, { type: "directory", mode: 0o555, size: 0 });
    }
  }

  /**
   * Merges this tree into `tree` at the root (rsync `item/ layer/`).
   *
   * @internal Called by the builders when they assemble a layer.
   */
  applyTo(tree: FileTree): void {
    if (this.#fill) {
      const fill = this.#fill;
      this.#fill = undefined;
      fill(this);
    }
    const keys = [...this.nodes.keys()].sort((a, b) =>
      splitTreePath(a).length - splitTreePath(b).length
    );
    for (const key of keys) {
      const node = this.nodes.get(key)!;
      tree.put(key, node.type === "directory" ? { ...node, children: new Map() } : { ...node });
    }
  }
}

function identityOf(path: string): string {
  const st = statSync(path);
  return fileIdentity(st);
}
