/**
 * Trees generated in memory (`writeTextFile`, `writeTextDir`, ...): the
 * stand-in for small Nix store paths made by trivial builders.
 *
 * Their files have the modes Nix store files have: 0444, or 0555 when
 * executable; folders 0555.
 *
 * @module
 */

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
  readonly nodes = new Map<string, TreeNode>();

  /** @param name what Nix would call the derivation; used in messages and history. */
  constructor(readonly name: string) {}

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
    this.nodes.set(splitTreePath(path).join("/"), { type: "symlink", mode: 0o777, size: 0, linkTarget: target });
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


  /** Merges this tree into `tree` at the root (rsync `item/ layer/`). */
  applyTo(tree: FileTree): void {
    const keys = [...this.nodes.keys()].sort((a, b) => splitTreePath(a).length - splitTreePath(b).length);
    for (const key of keys) {
      const node = this.nodes.get(key)!;
      tree.put(key, node.type === "directory" ? { ...node, children: new Map() } : { ...node });
    }
  }
}
