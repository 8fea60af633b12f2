/**
 * Layers applied in order, as a container runtime applies them, over headers
 * only: OCI whiteouts (`.wh.<name>` deletes `<name>` of lower layers,
 * `.wh..wh..opq` hides every lower child of its folder, both applied before
 * the layer's other members), a folder over a folder merging, anything else
 * replacing. On the way it counts what dive calls waste: bytes of files a
 * later layer overwrites or deletes, and the same content stored in several
 * layers.
 *
 * @module
 */

import type { LayerScan, PathRecord } from "./scan.ts";

/**
 * A path of the final file system, with the layer (1-based) it comes from.
 *
 * @example
 * ```ts
 * const p: PlacedRecord = { path: "bin/sh", type: "file", mode: 0o755, uid: 0, gid: 0, size: 9, layer: 2 };
 * ```
 */
export interface PlacedRecord extends PathRecord {
  /** The layer (1 = bottom) this version of the path comes from. */
  layer: number;
  /** For a hard link: the size of the file it names (its content is that file's). */
  linkedSize?: number;
}

/**
 * One cause of waste.
 *
 * @example
 * ```ts
 * const item: WasteItem = { kind: "overwritten", path: "/etc/big.db", bytes: 4096, layers: [1, 3] };
 * ```
 */
export interface WasteItem {
  /**
   * `overwritten`: stored in a layer, replaced by a later layer's entry at
   * the same path; `deleted`: removed by a later whiteout; `duplicate`: the
   * same content visible in files of several layers (bytes of all copies
   * but one).
   */
  kind: "overwritten" | "deleted" | "duplicate";
  /** The path (for `duplicate`: one of the paths holding that content). */
  path: string;
  /** Bytes wasted. */
  bytes: number;
  /** Layers (1 = bottom) involved: where the bytes are stored, and the one that hides them. */
  layers: number[];
  /** For `duplicate`: paths holding the content (the first 10). */
  paths?: string[];
  /** For `duplicate`: how many files of the final file system hold the content. */
  files?: number;
}

/**
 * Waste over all layers, as dive reports it.
 *
 * @example
 * ```ts
 * declare const waste: WasteReport;
 * console.log(`${(waste.efficiency * 100).toFixed(1)}% efficient, ${waste.wastedBytes} bytes wasted`);
 * ```
 */
export interface WasteReport {
  /** Content bytes of every regular file of every layer. */
  totalBytes: number;
  /** Bytes of files a later layer replaces. */
  overwrittenBytes: number;
  /** Bytes of files a later layer's whiteouts delete. */
  deletedBytes: number;
  /** Bytes of visible files whose content another layer also stores (all copies but one). */
  duplicateBytes: number;
  /** The sum of the three. */
  wastedBytes: number;
  /** `(totalBytes - wastedBytes) / totalBytes`, 1 for an image without file content. */
  efficiency: number;
  /** The biggest causes, biggest first. */
  items: WasteItem[];
}

interface Node {
  rec?: PlacedRecord;
  children?: Map<string, Node>;
}

/**
 * The file system of a stack of layers, built one layer at a time.
 *
 * @example
 * ```ts
 * import type { LayerScan } from "./scan.ts";
 * declare const scans: LayerScan[];
 * const fs = new StackedFs();
 * scans.forEach((scan) => fs.apply(scan));
 * const waste = fs.waste(20);
 * for (const rec of fs.records()) console.log(rec.path, rec.layer);
 * ```
 */
export class StackedFs {
  readonly #root: Node = { children: new Map() };
  #layers = 0;
  #total = 0;
  #overwritten = 0;
  #deleted = 0;
  readonly #items: WasteItem[] = [];

  /** Applies the next layer (the first call is layer 1). */
  apply(scan: LayerScan): void {
    const layer = ++this.#layers;
    for (const dir of scan.opaque) {
      const node = this.#lookup(dir);
      if (!node?.children) continue;
      for (const [name, child] of [...node.children]) {
        node.children.delete(name);
        this.#hide(child, dir === "" ? name : `${dir}/${name}`, layer, "deleted");
      }
    }
    for (const path of scan.whiteouts) {
      const { parent, name } = this.#parentOf(path, layer, false);
      const child = parent?.children?.get(name);
      if (!child) continue;
      parent!.children!.delete(name);
      this.#hide(child, path, layer, "deleted");
    }
    for (const rec of scan.records) {
      this.#total += rec.size;
      const placed: PlacedRecord = { ...rec, layer };
      if (rec.type === "hardlink" && rec.linkTarget !== undefined) {
        const target = this.#lookup(rec.linkTarget)?.rec;
        if (target?.type === "file") {
          placed.hash = target.hash;
          placed.linkedSize = target.size;
        }
      }
      const { parent, name } = this.#parentOf(rec.path, layer, true);
      const existing = parent!.children!.get(name);
      if (existing) {
        if (existing.rec?.type === "directory" && rec.type === "directory") {
          existing.rec = placed;
          continue;
        }
        if (!existing.rec && rec.type === "directory") {
          existing.rec = placed; // a folder made for a child listed before it
          continue;
        }
        this.#hide(existing, rec.path, layer, "overwritten");
      }
      parent!.children!.set(
        name,
        rec.type === "directory" ? { rec: placed, children: new Map() } : { rec: placed },
      );
    }
  }

  /** The node at `path`, if any. */
  #lookup(path: string): Node | undefined {
    if (path === "") return this.#root;
    let node: Node | undefined = this.#root;
    for (const part of path.split("/")) {
      node = node?.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  /** The folder holding `path` (made, with missing parents, when `make`). */
  #parentOf(
    path: string,
    layer: number,
    make: boolean,
  ): { parent: Node | undefined; name: string } {
    const parts = path.split("/");
    const name = parts.pop()!;
    let node: Node = this.#root;
    for (const [i, part] of parts.entries()) {
      let next = node.children?.get(part);
      if (!next || !next.children) {
        if (!make) return { parent: undefined, name };
        // A file where a folder is needed is replaced, as tar and runtimes do.
        if (next) this.#hide(next, parts.slice(0, i + 1).join("/"), layer, "overwritten");
        next = { children: new Map() };
        (node.children ??= new Map()).set(part, next);
      }
      node = next;
    }
    return { parent: node, name };
  }

  /** Counts the bytes under `node`, which `layer` hides, as waste. */
  #hide(node: Node, path: string, layer: number, kind: "overwritten" | "deleted"): void {
    let bytes = 0;
    const layers = new Set<number>();
    const visit = (n: Node) => {
      if (n.rec && n.rec.size > 0) {
        bytes += n.rec.size;
        layers.add(n.rec.layer);
      }
      if (n.children) { for (const c of n.children.values()) visit(c); }
    };
    visit(node);
    if (bytes === 0) return;
    if (kind === "overwritten") this.#overwritten += bytes;
    else this.#deleted += bytes;
    const involved = [...layers].sort((a, b) => a - b);
    this.#items.push({
      kind,
      path: `/${path}`,
      bytes,
      layers: [...involved, layer],
    });
  }

  /** Every path of the file system (explicit members only), depth first, names sorted. */
  *records(): Generator<PlacedRecord> {
    const walk = function* (node: Node): Generator<PlacedRecord> {
      if (!node.children) return;
      for (const name of [...node.children.keys()].sort()) {
        const child = node.children.get(name)!;
        if (child.rec) yield child.rec;
        yield* walk(child);
      }
    };
    yield* walk(this.#root);
  }

  /** The waste so far, with the `top` biggest items. */
  waste(top: number): WasteReport {
    const byHash = new Map<
      string,
      { size: number; layers: Set<number>; paths: string[]; files: number }
    >();
    for (const rec of this.records()) {
      if (rec.type !== "file" || rec.size === 0 || rec.hash === undefined) continue;
      let group = byHash.get(rec.hash);
      if (!group) {
        byHash.set(rec.hash, group = { size: rec.size, layers: new Set(), paths: [], files: 0 });
      }
      group.layers.add(rec.layer);
      group.files++;
      if (group.paths.length < 10) group.paths.push(`/${rec.path}`);
    }
    let duplicate = 0;
    const items = [...this.#items];
    for (const group of byHash.values()) {
      if (group.layers.size < 2) continue;
      const bytes = group.size * (group.layers.size - 1);
      duplicate += bytes;
      items.push({
        kind: "duplicate",
        path: group.paths[0],
        bytes,
        layers: [...group.layers].sort((a, b) => a - b),
        paths: group.paths,
        files: group.files,
      });
    }
    items.sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path));
    const wasted = this.#overwritten + this.#deleted + duplicate;
    return {
      totalBytes: this.#total,
      overwrittenBytes: this.#overwritten,
      deletedBytes: this.#deleted,
      duplicateBytes: duplicate,
      wastedBytes: wasted,
      efficiency: this.#total === 0 ? 1 : (this.#total - wasted) / this.#total,
      items: items.slice(0, top),
    };
  }
}
