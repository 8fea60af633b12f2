/**
 * `diff`: what differs between two images. Layers shared and not; per path
 * of the final file systems, added, removed and changed (type, mode, owner,
 * size, content, link target, device); store paths added and removed; and
 * the config, key by key.
 *
 * @module
 */

import type { BlobStore } from "../cache/blob_store.ts";
import type { Digest } from "../codec/sha256.ts";
import type { Progress } from "../host/progress.ts";
import { configFileOf, type Image } from "../model/image.ts";
import { analyseImage, type ImageReport, manifestOf, tarSizes } from "./inspect.ts";
import type { LayerScan, PathRecord } from "./scan.ts";
import type { PlacedRecord } from "./stack.ts";

/**
 * A path's state on one side of a diff.
 *
 * @example
 * ```ts
 * const s: PathState = { type: "file", mode: 0o644, uid: 0, gid: 0, size: 3, hash: "ab12...", layer: 1 };
 * ```
 */
export interface PathState extends Omit<PathRecord, "path"> {
  /** The layer (1 = bottom) this version comes from. */
  layer: number;
}

/** What can differ between two versions of a path. */
export type PathField = "type" | "mode" | "owner" | "size" | "content" | "target" | "device";

/**
 * One path that differs.
 *
 * @example
 * ```ts
 * declare const change: PathChange;
 * if (change.change === "changed") console.log(change.path, change.fields.join(", "));
 * ```
 */
export type PathChange =
  | { path: string; change: "added"; b: PathState }
  | { path: string; change: "removed"; a: PathState }
  | { path: string; change: "changed"; fields: PathField[]; a: PathState; b: PathState };

/**
 * A config key whose value differs (`config.Cmd`, `created`, `history[2].comment`, ...).
 *
 * @example
 * ```ts
 * const c: ConfigChange = { key: "config.Cmd", a: ["/bin/a"], b: ["/bin/b"] };
 * ```
 */
export interface ConfigChange {
  /** The key: a top-level key, `config.<Key>`, `history[<i>].<key>` or `rootfs.<key>`. */
  key: string;
  /** The value in A (absent: A has no such key). */
  a?: unknown;
  /** The value in B (absent: B has no such key). */
  b?: unknown;
}

/**
 * A layer on one side of a diff.
 *
 * @example
 * ```ts
 * const l: DiffLayer = { number: 1, diffId: `sha256:${"a".repeat(64)}`, size: 10240 };
 * ```
 */
export interface DiffLayer {
  /** Position, 1 = bottom. */
  number: number;
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  /** Bytes of the uncompressed tar (when it was read). */
  size?: number;
}

/**
 * One side of a diff.
 *
 * @example
 * ```ts
 * declare const side: DiffSide;
 * console.log(side.source, side.manifestDigest);
 * ```
 */
export interface DiffSide {
  /** The image as it was named (path, reference, `image.ts#name`). */
  source: string;
  /** Repository name ("" when the source names none). */
  name: string;
  /** Tag ("" when the source names none). */
  tag: string;
  /** The manifest's digest, as `inspect` reports it (read, or computed for docker-archives). */
  manifestDigest: Digest;
  /** The config's digest. */
  configDigest: Digest;
  /** Number of layers. */
  layers: number;
}

/**
 * What `diff` reports.
 *
 * @example
 * ```ts
 * declare const diff: ImageDiff;
 * process.exitCode = diff.same ? 0 : 1;
 * ```
 */
export interface ImageDiff {
  /** The first image. */
  a: DiffSide;
  /** The second image. */
  b: DiffSide;
  /** Same config and same layers (the manifests may still differ by compression). */
  same: boolean;
  /** Layers by diffId: in both, only in A, only in B. */
  layers: {
    shared: Array<{ diffId: Digest; a: number; b: number }>;
    onlyA: DiffLayer[];
    onlyB: DiffLayer[];
  };
  /** Paths of the final file systems that differ, sorted by path. */
  paths: PathChange[];
  /** Store paths present in one final file system only. */
  storePaths: { added: string[]; removed: string[] };
  /** Config keys that differ (`rootfs.diff_ids` is left to `layers`). */
  config: ConfigChange[];
  /**
   * Paths added, removed and changed, and each image's size: the bytes of its
   * layer tars, uncompressed (`sizeA`, `sizeB`).
   */
  summary: { added: number; removed: number; changed: number; sizeA: number; sizeB: number };
}

/** Options of {@link diffStored}. */
export interface DiffStoredOptions {
  /** Progress while layers are read. */
  progress?: Progress;
  /** How the two sides were named, for the report. */
  sources?: [string, string];
  /** Layers read already, by diffId (see `ScanSink`). */
  scans?: Map<Digest, Promise<LayerScan>>;
}

/** JSON with sorted keys, for comparing values. */
function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
        : v,
  );
}

function compareObjects(
  prefix: string,
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  skip: ReadonlySet<string>,
  out: ConfigChange[],
): void {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !skip.has(k));
  for (const key of keys.sort()) {
    const va = a[key];
    const vb = b[key];
    if (canonical(va) === canonical(vb)) continue;
    out.push({
      key: `${prefix}${key}`,
      ...(va !== undefined ? { a: va } : {}),
      ...(vb !== undefined ? { b: vb } : {}),
    });
  }
}

/**
 * The config keys that differ between two images.
 *
 * @example
 * ```ts
 * import type { Image } from "../model/image.ts";
 * declare const a: Image, b: Image;
 * configChanges(a, b).map((c) => c.key); // ["config.Cmd", "created"]
 * ```
 */
export function configChanges(a: Image, b: Image): ConfigChange[] {
  const out: ConfigChange[] = [];
  if (a.config.digest === b.config.digest) return out;
  const fa = configFileOf(a) as Record<string, unknown>;
  const fb = configFileOf(b) as Record<string, unknown>;
  compareObjects("", fa, fb, new Set(["config", "rootfs", "history"]), out);
  compareObjects(
    "config.",
    (fa.config ?? {}) as Record<string, unknown>,
    (fb.config ?? {}) as Record<string, unknown>,
    new Set(),
    out,
  );
  const ha = Array.isArray(fa.history) ? fa.history as Record<string, unknown>[] : [];
  const hb = Array.isArray(fb.history) ? fb.history as Record<string, unknown>[] : [];
  for (let i = 0; i < Math.max(ha.length, hb.length); i++) {
    if (i >= ha.length) out.push({ key: `history[${i}]`, b: hb[i] });
    else if (i >= hb.length) out.push({ key: `history[${i}]`, a: ha[i] });
    else compareObjects(`history[${i}].`, ha[i] ?? {}, hb[i] ?? {}, new Set(), out);
  }
  const ra = (fa.rootfs ?? {}) as Record<string, unknown>;
  const rb = (fb.rootfs ?? {}) as Record<string, unknown>;
  compareObjects("rootfs.", ra, rb, new Set(["diff_ids"]), out);
  if (out.length === 0 && canonical(ra.diff_ids) === canonical(rb.diff_ids)) {
    // Same values, other bytes (key order, spacing): still another config.
    out.push({ key: "(config document bytes)", a: a.config.digest, b: b.config.digest });
  }
  return out;
}

function stateOf(rec: PlacedRecord): PathState {
  const hardlink = rec.type === "hardlink" && rec.hash !== undefined;
  const state: PathState = {
    type: hardlink ? "file" : rec.type,
    mode: rec.mode,
    uid: rec.uid,
    gid: rec.gid,
    size: hardlink ? rec.linkedSize ?? 0 : rec.size,
    layer: rec.layer,
  };
  if (rec.hash !== undefined) state.hash = rec.hash;
  if (rec.type === "symlink" || (rec.type === "hardlink" && !hardlink)) {
    state.linkTarget = rec.linkTarget;
  }
  if (rec.device !== undefined) state.device = rec.device;
  return state;
}

function fieldsChanged(a: PathState, b: PathState): PathField[] {
  const out: PathField[] = [];
  if (a.type !== b.type) out.push("type");
  if (a.mode !== b.mode) out.push("mode");
  if (a.uid !== b.uid || a.gid !== b.gid) out.push("owner");
  if (a.size !== b.size) out.push("size");
  if (a.hash !== b.hash) out.push("content");
  if (a.linkTarget !== b.linkTarget) out.push("target");
  if (a.device !== b.device) out.push("device");
  return out;
}

function side(manifestDigest: Digest, image: Image, source: string): DiffSide {
  return {
    source,
    name: image.repoName,
    tag: image.tag,
    manifestDigest,
    configDigest: image.config.digest,
    layers: image.layers.length,
  };
}

/**
 * Compares two images whose blobs are in `store`. Layers are read (each
 * distinct one once) only when the two have different layers.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * import type { Image } from "../model/image.ts";
 * declare const a: Image, b: Image;
 * const diff = await diffStored(BlobStore.open(), a, b);
 * for (const p of diff.paths) console.log(p.change, p.path);
 * ```
 */
export async function diffStored(
  store: BlobStore,
  a: Image,
  b: Image,
  options: DiffStoredOptions = {},
): Promise<ImageDiff> {
  const [sourceA, sourceB] = options.sources ??
    [`${a.repoName}:${a.tag}`, `${b.repoName}:${b.tag}`];
  const idsA = a.layers.map((l) => l.diffId);
  const idsB = b.layers.map((l) => l.diffId);
  const sameLayers = idsA.length === idsB.length && idsA.every((d, i) => d === idsB[i]);

  // Layers matched by diffId, in order, as a multiset.
  const left = new Map<Digest, number[]>();
  idsA.forEach((d, i) => left.set(d, [...(left.get(d) ?? []), i + 1]));
  const shared: ImageDiff["layers"]["shared"] = [];
  const onlyB: DiffLayer[] = [];
  idsB.forEach((d, i) => {
    const match = left.get(d);
    if (match && match.length > 0) shared.push({ diffId: d, a: match.shift()!, b: i + 1 });
    else onlyB.push({ number: i + 1, diffId: d });
  });
  const onlyA: DiffLayer[] = [];
  for (const [diffId, numbers] of left) for (const n of numbers) onlyA.push({ number: n, diffId });
  onlyA.sort((x, y) => x.number - y.number);

  const paths: PathChange[] = [];
  const storeAdded: string[] = [];
  const storeRemoved: string[] = [];
  let reportA: ImageReport | undefined;
  let reportB: ImageReport | undefined;
  let sizeA = 0;
  let sizeB = 0;
  if (!sameLayers) {
    const scans = options.scans ?? new Map<Digest, Promise<LayerScan>>();
    const common = { top: 0, progress: options.progress, scans };
    const analysisA = await analyseImage(store, a, { ...common, source: sourceA });
    const analysisB = await analyseImage(store, b, { ...common, source: sourceB });
    reportA = analysisA.report;
    reportB = analysisB.report;
    sizeA = reportA.totals.size;
    sizeB = reportB.totals.size;
    for (const l of [...onlyA]) l.size = reportA.layers[l.number - 1].size;
    for (const l of [...onlyB]) l.size = reportB.layers[l.number - 1].size;
    const before = new Map<string, PlacedRecord>();
    for (const rec of analysisA.fs.records()) before.set(rec.path, rec);
    for (const rec of analysisB.fs.records()) {
      const old = before.get(rec.path);
      const path = `/${rec.path}`;
      if (!old) {
        paths.push({ path, change: "added", b: stateOf(rec) });
        continue;
      }
      before.delete(rec.path);
      const sa = stateOf(old);
      const sb = stateOf(rec);
      const fields = fieldsChanged(sa, sb);
      if (fields.length > 0) paths.push({ path, change: "changed", fields, a: sa, b: sb });
    }
    for (const rec of before.values()) {
      paths.push({ path: `/${rec.path}`, change: "removed", a: stateOf(rec) });
    }
    paths.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    const storeA = new Set(reportA.storePaths.map((p) => p.path));
    const storeB = new Set(reportB.storePaths.map((p) => p.path));
    for (const p of storeB) if (!storeA.has(p)) storeAdded.push(p);
    for (const p of storeA) if (!storeB.has(p)) storeRemoved.push(p);
  }
  const config = configChanges(a, b);
  // Equal layers are not analysed: their sizes come from the scans or the store.
  const tarSizesA = reportA ? [] : await tarSizes(store, a, options.scans);
  const tarSizesB = reportB ? [] : await tarSizes(store, b, options.scans);
  if (!reportA) sizeA = tarSizesA.reduce((n, s) => n + s, 0);
  if (!reportB) sizeB = tarSizesB.reduce((n, s) => n + s, 0);
  const summary = {
    added: paths.filter((p) => p.change === "added").length,
    removed: paths.filter((p) => p.change === "removed").length,
    changed: paths.filter((p) => p.change === "changed").length,
    sizeA,
    sizeB,
  };
  const manifestA = reportA?.manifest.digest ?? manifestOf(a, tarSizesA).digest;
  const manifestB = reportB?.manifest.digest ?? manifestOf(b, tarSizesB).digest;
  return {
    a: side(manifestA, a, sourceA),
    b: side(manifestB, b, sourceB),
    same: sameLayers && a.config.digest === b.config.digest,
    layers: { shared, onlyA, onlyB },
    paths,
    storePaths: { added: storeAdded.sort(), removed: storeRemoved.sort() },
    config,
    summary,
  };
}
