/**
 * Image contents as the build sees them: host paths (absolute) and generated
 * trees, merged in order into one {@link FileTree} with rsync's rules.
 *
 * @module
 */

import { FileTree } from "./file_tree.ts";
import type { GeneratedTree } from "./generated_tree.ts";
import { addHostPath } from "./host_source.ts";

/** A source with its host path made absolute. */
export type ResolvedSource = { kind: "host"; path: string } | {
  kind: "generated";
  tree: GeneratedTree;
};

/** Options of {@link buildTree}. */
export interface TreeOptions {
  /** rsync `-K`: follow symlinks to folders already in the tree (Nix `keepContentsDirlinks`). */
  keepDirlinks: boolean;
}

/**
 * Merges `sources` in order into one tree, like Nix's `rsync -a{k,K}` loop.
 *
 * @example
 * ```ts
 * import { GeneratedTree } from "./generated_tree.ts";
 * const tree = buildTree([
 *   { kind: "host", path: "/srv/rootfs" },
 *   { kind: "generated", tree: new GeneratedTree("motd").file("etc/motd", "hi\n") },
 * ], { keepDirlinks: false });
 * ```
 */
export function buildTree(sources: readonly ResolvedSource[], options: TreeOptions): FileTree {
  const tree = new FileTree(options.keepDirlinks);
  for (const source of sources) {
    if (source.kind === "host") {
      addHostPath(tree, source.path, { copyDirlinks: !options.keepDirlinks });
    } else source.tree.applyTo(tree);
  }
  return tree;
}
