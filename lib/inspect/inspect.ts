/**
 * `inspect`: what an image is made of. Manifest and config digests,
 * platform, config and history from the model; per layer its blobs, sizes,
 * member counts, the store paths it holds and its biggest files, read from
 * the layer's tar as it streams; then the layers stacked as a runtime stacks
 * them, for the waste dive reports and the biggest files of the result.
 *
 * @module
 */

import type { BlobStore } from "../cache/blob_store.ts";
import { hasLayer, layerTar } from "../cache/layer_encodings.ts";
import type { Digest } from "../codec/sha256.ts";
import type { Progress } from "../host/progress.ts";
import { configFileOf, type Image, platformOf } from "../model/image.ts";
import type { HistoryEntry, ImageConfig } from "../model/image_config.ts";
import type { Encoding } from "../model/layer.ts";
import { ociManifest } from "../model/manifest.ts";
import type { Platform } from "../model/platform.ts";
import { type LayerScan, recordedStorePaths, scanLayer, storePathFinder } from "./scan.ts";
import { sizeMap, type SizeNode } from "./size_map.ts";
import { StackedFs, type WasteReport } from "./stack.ts";

/**
 * A file and its size.
 *
 * @example
 * ```ts
 * const f: FileSize = { path: "/bin/sh", size: 1982256, layer: 3 };
 * ```
 */
export interface FileSize {
  /** Absolute path in the image. */
  path: string;
  /** Content bytes. */
  size: number;
  /** The layer (1 = bottom) it is stored in. */
  layer: number;
}

/**
 * A store path and how much of a layer (or of the image) it takes.
 *
 * @example
 * ```ts
 * const p: StorePathSize = { path: "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12", size: 71680, entries: 9, layers: [2] };
 * ```
 */
export interface StorePathSize {
  /** The store path, absolute (`/nix/store/<hash>-<name>`, or under a custom store folder). */
  path: string;
  /** Content bytes of its regular files. */
  size: number;
  /** Tar members under it, itself included. */
  entries: number;
  /** Layers (1 = bottom) holding it. */
  layers: number[];
}

/**
 * One layer of an {@link ImageReport}.
 *
 * @example
 * ```ts
 * declare const layer: LayerReport;
 * console.log(layer.number, layer.diffId, layer.compressedSize, layer.size, layer.files);
 * ```
 */
export interface LayerReport {
  /** Position, 1 = bottom. */
  number: number;
  /** sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: Digest;
  /** sha256 of the blob as the source stores it (equals diffId for an uncompressed layer). */
  digest: Digest;
  /** How that blob is compressed: `none`, `gz` or `zstd`. */
  encoding: Encoding;
  /** Bytes of that blob. */
  compressedSize: number;
  /** Bytes of the uncompressed tar. */
  size: number;
  /** Tar members, as many as `tar -tv` lists. */
  members: number;
  /** Regular files. */
  files: number;
  /** Folders. */
  directories: number;
  /** Symbolic links. */
  symlinks: number;
  /** Hard links. */
  hardlinks: number;
  /** Whiteout members (`.wh.*`, opaque markers included). */
  whiteouts: number;
  /** Content bytes of the regular files. */
  fileBytes: number;
  /** The layer's history entry (the n-th entry that is not `empty_layer`). */
  history?: HistoryEntry;
  /** Store paths with members in the layer, biggest first. */
  storePaths: Omit<StorePathSize, "layers">[];
  /** The layer's biggest files, biggest first. */
  biggestFiles: Omit<FileSize, "layer">[];
}

/**
 * Everything `inspect` reports about an image.
 *
 * @example
 * ```ts
 * declare const report: ImageReport;
 * console.log(report.manifest.digest, report.layers.length, report.waste.efficiency);
 * ```
 */
export interface ImageReport {
  /** What was inspected, as given (a path, a reference, `image.ts#name`). */
  source: string;
  /** Repository name ("" when the source names none). */
  name: string;
  /** Tag ("" when the source names none). */
  tag: string;
  /**
   * The manifest: `origin: "source"` is the manifest the image was read with
   * (OCI layouts and archives, registries); `"computed"` is the OCI manifest
   * of the layers as stored (docker-archives: the uncompressed layer tars;
   * images built here: their tars), what `build --json` reports.
   */
  manifest: { digest: Digest; mediaType: string; size: number; origin: "source" | "computed" };
  /** The config document's digest and size. */
  config: { digest: Digest; size: number };
  /** `os`, `architecture`, `variant`. */
  platform: Platform;
  /**
   * The multi-platform index the image was chosen from (by the platform
   * asked for, else this machine's), with every platform it lists; absent for
   * a single image.
   */
  index?: { digest?: Digest; platforms: Platform[] };
  /** The config's `created`. */
  created?: string;
  /** The config's `author`. */
  author?: string;
  /** The container config (`Cmd`, `Entrypoint`, `Env`, `User`, ...). */
  containerConfig: ImageConfig;
  /** The history, as the config has it. */
  history: HistoryEntry[];
  /** Layers, bottom first. */
  layers: LayerReport[];
  /** Sums over the layers. */
  totals: {
    compressedSize: number;
    size: number;
    members: number;
    files: number;
    fileBytes: number;
    /** Regular files and their bytes in the final file system (what a container sees). */
    visibleFiles: number;
    visibleBytes: number;
  };
  /** Store paths of all layers, biggest first. */
  storePaths: StorePathSize[];
  /** The biggest files of the final file system, biggest first. */
  biggestFiles: FileSize[];
  /** Bytes stored but hidden or stored twice, and the efficiency dive reports. */
  waste: WasteReport;
  /** The size tree for `--html` and `--tree` (only when asked for with `map`). */
  map?: SizeNode;
}

/** Options of {@link inspectStored}. */
export interface InspectStoredOptions {
  /** How many biggest files and waste items to keep (per layer and for the image). Default 10. */
  top?: number;
  /** Build {@link ImageReport.map}. Default false. */
  map?: boolean;
  /** Progress while layers are read. */
  progress?: Progress;
  /** The source as the user named it, for the report. Default: `name:tag`. */
  source?: string;
  /** Layers read already, by diffId (shared by the two sides of a diff). */
  scans?: Map<Digest, Promise<LayerScan>>;
}

/**
 * An image analysed: the report, and the stacked file system and layer scans
 * `diff` compares.
 *
 * @example
 * ```ts
 * declare const analysis: Analysis;
 * for (const rec of analysis.fs.records()) console.log(rec.path);
 * ```
 */
export interface Analysis {
  report: ImageReport;
  fs: StackedFs;
  scans: LayerScan[];
}

/** Keeps the `n` biggest of what is offered. */
class Biggest<T extends { size: number }> {
  readonly items: T[] = [];
  #min = 0;
  constructor(readonly n: number) {}
  offer(item: T): void {
    if (this.n <= 0 || (this.items.length >= this.n && item.size <= this.#min)) return;
    this.items.push(item);
    if (this.items.length > this.n * 4) this.#trim();
  }
  #trim(): void {
    this.items.sort((a, b) => b.size - a.size);
    this.items.length = Math.min(this.items.length, this.n);
    this.#min = this.items.length >= this.n ? this.items[this.items.length - 1].size : 0;
  }
  result(): T[] {
    if (this.n <= 0) return [];
    this.#trim();
    return this.items;
  }
}

/**
 * Reads a layer of `image` once per `scans` map, checking it against its diffId.
 */
function scanOnce(
  store: BlobStore,
  image: Image,
  index: number,
  scans: Map<Digest, Promise<LayerScan>>,
  progress: Progress | undefined,
): Promise<LayerScan> {
  const layer = image.layers[index];
  let pending = scans.get(layer.diffId);
  if (!pending) {
    pending = (async () => {
      progress?.begin(`reading layer ${index + 1}/${image.layers.length}`);
      try {
        const scan = await scanLayer(layerTar(store, layer), {
          onBytes: (n) => progress?.add(n),
        });
        if (scan.diffId !== layer.diffId) {
          throw new Error(
            `layer ${layer.diffId} read back as ${scan.diffId}: the cache ${store.root} is corrupt; delete it and try again`,
          );
        }
        return scan;
      } finally {
        progress?.end();
      }
    })();
    scans.set(layer.diffId, pending);
  }
  return pending;
}

/**
 * Analyses `image`, whose blobs are in `store`: every layer is read once, as
 * a stream. Memory holds the members' headers, not their contents.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * import type { Image } from "../model/image.ts";
 * declare const image: Image;
 * const { report } = await analyseImage(BlobStore.open(), image, { top: 5 });
 * report.layers.map((l) => l.storePaths.map((p) => p.path));
 * ```
 */
export async function analyseImage(
  store: BlobStore,
  image: Image,
  options: InspectStoredOptions = {},
): Promise<Analysis> {
  const top = options.top ?? 10;
  const file = configFileOf(image);
  const history = Array.isArray(file.history) ? file.history : [];
  const layerHistory = history.filter((h) => !h.empty_layer);
  const scanMap = options.scans ?? new Map();
  const scans: LayerScan[] = [];
  // One at a time: a single progress line, and decompression is the bound anyway.
  for (let i = 0; i < image.layers.length; i++) {
    scans.push(await scanOnce(store, image, i, scanMap, options.progress));
  }

  const fs = new StackedFs();
  const imageStore = new Map<string, StorePathSize>();
  const finders: Array<(path: string) => string | undefined> = [];
  const layers: LayerReport[] = image.layers.map((layer, i) => {
    const scan = scans[i];
    const historyEntry = layerHistory[i];
    const finder = storePathFinder(recordedStorePaths(layer.comment, historyEntry?.comment));
    finders.push(finder);
    const counts = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, fileBytes: 0 };
    const biggest = new Biggest<Omit<FileSize, "layer">>(top);
    const storePaths = new Map<string, Omit<StorePathSize, "layers">>();
    for (const rec of scan.records) {
      if (rec.type === "file") {
        counts.files++;
        counts.fileBytes += rec.size;
        biggest.offer({ path: `/${rec.path}`, size: rec.size });
      } else if (rec.type === "directory") counts.directories++;
      else if (rec.type === "symlink") counts.symlinks++;
      else if (rec.type === "hardlink") counts.hardlinks++;
      const sp = finder(rec.path);
      if (sp) {
        let entry = storePaths.get(sp);
        if (!entry) storePaths.set(sp, entry = { path: `/${sp}`, size: 0, entries: 0 });
        entry.size += rec.size;
        entry.entries++;
      }
    }
    for (const sp of storePaths.values()) {
      let whole = imageStore.get(sp.path);
      if (!whole) imageStore.set(sp.path, whole = { ...sp, size: 0, entries: 0, layers: [] });
      whole.size += sp.size;
      whole.entries += sp.entries;
      whole.layers.push(i + 1);
    }
    fs.apply(scan);
    const stored = layer.origin ??
      { encoding: "none" as const, digest: layer.diffId, size: scan.tarSize };
    return {
      number: i + 1,
      diffId: layer.diffId,
      digest: stored.digest,
      encoding: stored.encoding,
      compressedSize: stored.size,
      size: scan.tarSize,
      members: scan.members,
      ...counts,
      whiteouts: scan.whiteouts.length + scan.opaque.length,
      ...(historyEntry ? { history: historyEntry } : {}),
      storePaths: [...storePaths.values()].sort((a, b) =>
        b.size - a.size || a.path.localeCompare(b.path)
      ),
      biggestFiles: biggest.result(),
    };
  });

  const visible = new Biggest<FileSize>(top);
  let visibleFiles = 0;
  let visibleBytes = 0;
  for (const rec of fs.records()) {
    if (rec.type !== "file") continue;
    visibleFiles++;
    visibleBytes += rec.size;
    visible.offer({ path: `/${rec.path}`, size: rec.size, layer: rec.layer });
  }

  const manifest = manifestOf(image, scans.map((s) => s.tarSize));
  const report: ImageReport = {
    source: options.source ?? `${image.repoName}:${image.tag}`,
    name: image.repoName,
    tag: image.tag,
    manifest,
    config: { digest: image.config.digest, size: image.config.size },
    platform: platformOf(image),
    ...(image.sourceIndex ? { index: image.sourceIndex } : {}),
    ...(file.created ? { created: file.created } : {}),
    ...(file.author ? { author: file.author } : {}),
    containerConfig: file.config ?? {},
    history,
    layers,
    totals: {
      compressedSize: layers.reduce((s, l) => s + l.compressedSize, 0),
      size: layers.reduce((s, l) => s + l.size, 0),
      members: layers.reduce((s, l) => s + l.members, 0),
      files: layers.reduce((s, l) => s + l.files, 0),
      fileBytes: layers.reduce((s, l) => s + l.fileBytes, 0),
      visibleFiles,
      visibleBytes,
    },
    storePaths: [...imageStore.values()].sort((a, b) =>
      b.size - a.size || a.path.localeCompare(b.path)
    ),
    biggestFiles: visible.result(),
    waste: fs.waste(top),
  };
  if (options.map) {
    const label = report.name
      ? `${report.name}${report.tag ? `:${report.tag}` : ""}`
      : report.source;
    report.map = sizeMap(
      label,
      scans.map((scan, i) => ({
        label: `layer ${i + 1}`,
        scan,
        storePathOf: finders[i],
      })),
      storePathFinder([]),
    );
  }
  return { report, fs, scans };
}

/**
 * The manifest of `image`: the one it was read with, else the OCI manifest of
 * its layers as stored (a layer without an origin blob is stored as its tar,
 * of `tarSizes[i]` bytes).
 *
 * @example
 * ```ts
 * import type { Image } from "../model/image.ts";
 * declare const image: Image;
 * manifestOf(image, image.layers.map(() => 10240)).digest;
 * ```
 */
export function manifestOf(image: Image, tarSizes: readonly number[]): ImageReport["manifest"] {
  if (image.sourceManifest) return { ...image.sourceManifest, origin: "source" };
  const m = ociManifest({
    ...image,
    layers: image.layers.map((l, i) => ({
      ...l,
      ...(l.origin ?? { encoding: "none" as const, digest: l.diffId, size: tarSizes[i] }),
    })),
  });
  return { digest: m.digest, mediaType: m.mediaType, size: m.size, origin: "computed" };
}

/**
 * Bytes of each layer's tar (without a full analysis): from its scan when
 * it was read already, the store's tar when it has one, else by reading the
 * layer from the store; 0 for a layer read elsewhere and not scanned.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * import type { Image } from "../model/image.ts";
 * declare const image: Image;
 * const sizes = await tarSizes(BlobStore.open(), image);
 * ```
 */
export async function tarSizes(
  store: BlobStore,
  image: Image,
  scans?: Map<Digest, Promise<LayerScan>>,
): Promise<number[]> {
  const out: number[] = [];
  for (const layer of image.layers) {
    const scan = scans?.get(layer.diffId);
    if (scan) out.push((await scan).tarSize);
    else if (store.has(layer.diffId)) out.push(store.size(layer.diffId));
    else if (hasLayer(store, layer)) {
      let n = 0;
      for await (const chunk of layerTar(store, layer)) n += chunk.length;
      out.push(n);
    } else out.push(0);
  }
  return out;
}

/**
 * The report of {@link analyseImage}.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * import type { Image } from "../model/image.ts";
 * declare const image: Image;
 * const report = await inspectStored(BlobStore.open(), image);
 * console.log(report.totals.size, report.waste.efficiency);
 * ```
 */
export async function inspectStored(
  store: BlobStore,
  image: Image,
  options: InspectStoredOptions = {},
): Promise<ImageReport> {
  return (await analyseImage(store, image, options)).report;
}
