/**
 * Reading one layer for `inspect` and `diff`: every member's header and the
 * sha256 of every file's content, in one pass over the tar as it streams
 * (nothing but headers is kept in memory), plus the store paths the layer
 * holds and its biggest files.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Digest } from "../codec/sha256.ts";
import type { EntryType } from "../tar/entry.ts";
import { readTar } from "../tar/reader.ts";
import { normalizeMemberPath } from "../tar/safe_path.ts";

/**
 * One path of a layer as `inspect` and `diff` see it.
 *
 * @example
 * ```ts
 * const motd: PathRecord = {
 *   path: "etc/motd", type: "file", mode: 0o644, uid: 0, gid: 0, size: 3,
 *   hash: "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4",
 * };
 * ```
 */
export interface PathRecord {
  /** Path from the image root, without a leading `/` (`etc/motd`). */
  path: string;
  /** The entry's type. */
  type: EntryType;
  /** Permission bits (`0o7777`). */
  mode: number;
  /** Owner's user id. */
  uid: number;
  /** Owner's group id. */
  gid: number;
  /** Content bytes of a regular file; 0 for anything else. */
  size: number;
  /** sha256 (hex) of a regular file's content. */
  hash?: string;
  /** Target of a symlink, or the path a hard link names (normalised). */
  linkTarget?: string;
  /** `major,minor` of a character or block device. */
  device?: string;
}

/**
 * A layer read by {@link scanLayer}.
 *
 * @example
 * ```ts
 * declare const scan: LayerScan;
 * scan.records.filter((r) => r.type === "file").length; // regular files
 * ```
 */
export interface LayerScan {
  /** Bytes of the uncompressed tar (the size its diffId is taken over). */
  tarSize: number;
  /** sha256 of the uncompressed tar, as read. */
  diffId: Digest;
  /** Every member, as `tar -tv` lists them (whiteouts and the root `./` included). */
  members: number;
  /** Members other than whiteouts and the root folder, in archive order. */
  records: PathRecord[];
  /** Paths `.wh.<name>` members delete from lower layers. */
  whiteouts: string[];
  /** Folders whose lower contents a `.wh..wh..opq` member hides. */
  opaque: string[];
}

/** Options of {@link scanLayer}. */
export interface ScanOptions {
  /** Counts the tar's bytes as they are read (progress). */
  onBytes?: (n: number) => void;
  /** Called for every member; may throw to stop the scan (a limit on entries). */
  onMember?: () => void;
  /**
   * The caller hashes these same bytes already (an uncompressed blob, checked
   * against its digest): the tar is not hashed twice, and the scan's `diffId`
   * is left "" for the caller to set.
   */
  hashedByCaller?: boolean;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/**
 * Reads a layer's uncompressed tar: headers, content hashes, whiteouts.
 * Memory holds the headers only; file contents stream through sha256.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * import { layerTar } from "../cache/layer_encodings.ts";
 * import type { Layer } from "../model/layer.ts";
 * declare const store: BlobStore;
 * declare const layer: Layer;
 * const scan = await scanLayer(layerTar(store, layer));
 * scan.diffId === layer.diffId; // true
 * ```
 */
export async function scanLayer(
  tar: AsyncIterable<Uint8Array>,
  options: ScanOptions = {},
): Promise<LayerScan> {
  const { onBytes, onMember } = options;
  const hashed = options.hashedByCaller === true;
  const whole = createHash("sha256");
  let tarSize = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of tar) {
      if (!hashed) whole.update(chunk);
      tarSize += chunk.length;
      onBytes?.(chunk.length);
      yield chunk;
    }
  }
  const scan: LayerScan = {
    tarSize: 0,
    diffId: "sha256:",
    members: 0,
    records: [],
    whiteouts: [],
    opaque: [],
  };
  for await (const { header, body } of readTar(counted())) {
    scan.members++;
    onMember?.();
    const path = normalizeMemberPath(header.path, { allowAbsolute: true });
    if (path === "") continue; // the root folder itself
    const slash = path.lastIndexOf("/");
    const base = path.slice(slash + 1);
    const dir = slash < 0 ? "" : path.slice(0, slash);
    if (base === OPAQUE) {
      scan.opaque.push(dir);
      continue;
    }
    if (base.startsWith(WHITEOUT)) {
      scan.whiteouts.push(dir === "" ? base.slice(4) : `${dir}/${base.slice(4)}`);
      continue;
    }
    const record: PathRecord = {
      path,
      type: header.type,
      mode: header.mode & 0o7777,
      uid: header.uid,
      gid: header.gid,
      size: header.type === "file" ? header.size : 0,
    };
    if (header.type === "file") {
      const hash = createHash("sha256");
      for await (const chunk of body) hash.update(chunk);
      record.hash = hash.digest("hex");
    } else if (header.type === "symlink") {
      record.linkTarget = header.linkTarget ?? "";
    } else if (header.type === "hardlink") {
      record.linkTarget = normalizeMemberPath(header.linkTarget ?? "", { allowAbsolute: true });
    } else if (header.type === "char" || header.type === "block") {
      record.device = `${header.devMajor ?? 0},${header.devMinor ?? 0}`;
    }
    scan.records.push(record);
  }
  scan.tarSize = tarSize;
  scan.diffId = hashed ? "" as Digest : `sha256:${whole.digest("hex")}`;
  return scan;
}

/** A store path's base name: `<32 nix-base32 characters>-<name>`. */
const STORE_NAME = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/;

/**
 * Finds the store path a layer path belongs to: a path under one of `known`
 * (store paths from build records and history), or whose first
 * `<hash>-<name>` component sits in a folder called `store` (`/nix/store`,
 * a custom `storeDir`). Paths are relative to the root, without a leading `/`.
 *
 * @example
 * ```ts
 * const find = storePathFinder([]);
 * find("nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12/bin/hello");
 * // "nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"
 * find("etc/motd"); // undefined
 * ```
 */
export function storePathFinder(known: Iterable<string>): (path: string) => string | undefined {
  const knownSet = new Set<string>();
  for (const k of known) knownSet.add(k.replace(/^\/+/, "").replace(/\/+$/, ""));
  return (path) => {
    let end = -1;
    let previous = "";
    for (;;) {
      const start = end + 1;
      end = path.indexOf("/", start);
      const prefix = end < 0 ? path : path.slice(0, end);
      const part = end < 0 ? path.slice(start) : path.slice(start, end);
      if (knownSet.has(prefix)) return prefix;
      if (previous === "store" && STORE_NAME.test(part)) return prefix;
      if (end < 0) return undefined;
      previous = part;
    }
  };
}

/**
 * Store paths named by a layer's build record (`Layer.comment`, a JSON list)
 * or its history comment (Nix's `store paths: ['/nix/store/...', ...]`).
 *
 * @example
 * ```ts
 * recordedStorePaths("store paths: ['/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12']");
 * // ["/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"]
 * ```
 */
export function recordedStorePaths(...comments: Array<string | undefined>): string[] {
  const out = new Set<string>();
  for (const comment of comments) {
    if (!comment) continue;
    let list: unknown;
    if (comment.startsWith("[")) {
      try {
        list = JSON.parse(comment);
      } catch {
        list = undefined;
      }
    }
    if (Array.isArray(list)) {
      for (const p of list) if (typeof p === "string" && p.startsWith("/")) out.add(p);
      continue;
    }
    const m = /^store paths: \[(.*)\]$/s.exec(comment);
    if (m) { for (const q of m[1].matchAll(/'([^']*)'|"([^"]*)"/g)) out.add(q[1] ?? q[2]); }
  }
  return [...out].filter((p) => p.startsWith("/"));
}
