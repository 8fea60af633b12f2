/**
 * The image as a tree of sizes for the page's treemap and `inspect --tree`:
 * image, then layers, then the store paths and top folders of each layer,
 * then folders and files. The folders that only lead to store paths
 * (`/nix`, `/nix/store`) are left out. Small nodes are merged into one "N more" node, so
 * the tree stays small (a few thousand nodes) whatever the image.
 *
 * @module
 */

import type { LayerScan } from "./scan.ts";

/**
 * One block of the map.
 *
 * @example
 * ```ts
 * const node: SizeNode = { name: "etc", kind: "dir", path: "/etc", size: 1200, entries: 14 };
 * ```
 */
export interface SizeNode {
  /** What the block is called: `layer 2`, a store path, a folder or file name. */
  name: string;
  /** `image`, `layer`, `store` (a store path), `dir`, `file` (anything not a folder), `rest` (merged small nodes). */
  kind: "image" | "layer" | "store" | "dir" | "file" | "rest";
  /** Full path in the image, for store paths, folders and files. */
  path?: string;
  /** Content bytes of the regular files under it. */
  size: number;
  /** Tar members under it (itself included). */
  entries: number;
  /** Children, biggest first. */
  children?: SizeNode[];
}

/**
 * The weight that decides a block's area: content bytes plus 512 bytes per
 * member (its tar header), so a layer's blocks add up to about its tar size
 * and folders of empty files still show.
 *
 * @example
 * ```ts
 * nodeWeight({ size: 100, entries: 1 }); // 612
 * ```
 */
export function nodeWeight(node: Pick<SizeNode, "size" | "entries">): number {
  return node.size + 512 * node.entries;
}

interface Trie {
  size: number;
  entries: number;
  kind: "store" | "dir" | "file";
  children?: Map<string, Trie>;
}

/** Counts one member at `parts` in every node on its way. */
function add(top: Map<string, Trie>, parts: string[], size: number, kind: Trie["kind"]): void {
  let map = top;
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    let node = map.get(part);
    if (!node) map.set(part, node = { size: 0, entries: 0, kind: last ? kind : "dir" });
    node.size += size;
    node.entries += 1;
    if (last) {
      if (node.kind !== "store" && !node.children) node.kind = kind;
    } else {
      if (node.kind === "file") node.kind = "dir";
      map = node.children ??= new Map();
    }
  }
}

/** Options of {@link sizeMap}. */
export interface SizeMapOptions {
  /** A node smaller than this share of the image's weight is merged into "N more". Default 1/2000. */
  minShare?: number;
  /** At most this many children per node (the rest merged). Default 60. */
  maxChildren?: number;
}

/**
 * The size tree of an image from its layers' scans. `storePathOf` names the
 * store path (relative to the root) a layer path belongs to.
 *
 * @example
 * ```ts
 * import { type LayerScan, storePathFinder } from "./scan.ts";
 * declare const scans: LayerScan[];
 * const map = sizeMap("hello:latest", scans.map((scan, i) => ({ label: `layer ${i + 1}`, scan })),
 *   storePathFinder([]));
 * map.children?.length === scans.length; // true
 * ```
 */
export function sizeMap(
  name: string,
  layers: ReadonlyArray<
    { label: string; scan: LayerScan; storePathOf?: (path: string) => string | undefined }
  >,
  storePathOf: (path: string) => string | undefined,
  options: SizeMapOptions = {},
): SizeNode {
  const tries = layers.map(({ scan, storePathOf: own }) => {
    const find = own ?? storePathOf;
    const top = new Map<string, Trie>();
    // The folders that only lead to store paths (`nix`, `nix/store`) are left
    // out: a store layer's blocks are its store paths.
    const leading = new Set<string>();
    for (const rec of scan.records) {
      const store = find(rec.path);
      if (store === rec.path) {
        for (let i = store.indexOf("/"); i > 0; i = store.indexOf("/", i + 1)) {
          leading.add(store.slice(0, i));
        }
      }
    }
    for (const rec of scan.records) {
      if (rec.type === "directory" && leading.has(rec.path)) continue;
      const store = find(rec.path);
      const kind = rec.type === "directory" ? "dir" : "file";
      if (store) {
        const rest = rec.path.length > store.length
          ? rec.path.slice(store.length + 1).split("/")
          : [];
        add(top, [`/${store}`, ...rest], rec.size, rest.length === 0 ? "store" : kind);
        top.get(`/${store}`)!.kind = "store";
      } else {
        const parts = rec.path.split("/");
        add(top, [`/${parts[0]}`, ...parts.slice(1)], rec.size, kind);
      }
    }
    return top;
  });
  const layerNodes = layers.map(({ label, scan }, i) => {
    let size = 0;
    for (const rec of scan.records) size += rec.size;
    return { label, size, entries: scan.records.length, trie: tries[i] };
  });
  const total = layerNodes.reduce((s, l) => s + nodeWeight(l), 0);
  const minWeight = total * (options.minShare ?? 1 / 2000);
  const maxChildren = options.maxChildren ?? 60;

  const convert = (map: Map<string, Trie>, parentPath: string): SizeNode[] => {
    const all = [...map.entries()].map(([key, t]) => ({ key, t, w: nodeWeight(t) }));
    all.sort((a, b) => b.w - a.w || (a.key < b.key ? -1 : 1));
    const out: SizeNode[] = [];
    let restSize = 0;
    let restEntries = 0;
    let restCount = 0;
    for (const { key, t, w } of all) {
      if (out.length < maxChildren && w >= minWeight) {
        const path = key.startsWith("/") ? key : `${parentPath}/${key}`;
        const node: SizeNode = {
          name: key,
          kind: t.kind,
          path,
          size: t.size,
          entries: t.entries,
        };
        if (t.children && t.children.size > 0) node.children = convert(t.children, path);
        out.push(node);
      } else {
        restSize += t.size;
        restEntries += t.entries;
        restCount++;
      }
    }
    if (restCount > 0) {
      out.push({
        name: `${restCount} more`,
        kind: "rest",
        path: parentPath === "" ? "/" : parentPath,
        size: restSize,
        entries: restEntries,
      });
    }
    return out;
  };

  return {
    name,
    kind: "image",
    size: layerNodes.reduce((s, l) => s + l.size, 0),
    entries: layerNodes.reduce((s, l) => s + l.entries, 0),
    children: layerNodes.map((l) => ({
      name: l.label,
      kind: "layer",
      size: l.size,
      entries: l.entries,
      children: convert(l.trie, ""),
    })),
  };
}
