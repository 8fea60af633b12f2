/**
 * The tar entries of a store-path layer, exactly as Nix's streamer
 * (`stream_layered_image.py`, `archive_paths_to`) writes them, so that the
 * same store paths and settings give the same diff_id as Nix:
 *
 * - `/nix/` and `/nix/store/` first, mode 0755, even when the store is elsewhere;
 * - each store path in the order given: a symlinked store path is one entry
 *   (not followed); otherwise the path and everything below it, sorted like
 *   Python sorts `pathlib.Path`s (component by component, by code point);
 * - absolute names; modes from the store; hard links as regular files;
 *   owner, names and mtime from the image settings.
 *
 * @module
 */

import {
  type FastDir,
  fastLstat,
  fastReadLink,
  type FastStat,
  fileIdentity,
  openFastDir,
} from "../host/fast_fs.ts";
import type { TarEntry } from "../tar/entry.ts";
import { compareNames } from "../tree/file_tree.ts";

/** Owner and time of every entry of a store layer. */
export interface StoreLayerSettings {
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  /**
   * Where the store's files are on this machine, when not at their store
   * path (a store rooted elsewhere, `--store local?root=DIR`). Default: none.
   */
  storeRoot?: string;
  /**
   * The store folder. When it is not `/nix/store`, its folders are added
   * (0755) after `/nix/store`, so that runtimes need not invent them (they may
   * create them unreadable for non-root users). Default `/nix/store`.
   */
  storeDir?: string;
}

/** Raised when a store path of the closure is not on this machine. */
export class MissingStorePathError extends Error {
  constructor(readonly path: string, where: string) {
    super(
      `store path ${path} is not on this machine (looked at ${where}); realise it first ` +
        `(nix-store --realise) or fix the closure graph`,
    );
    this.name = "MissingStorePathError";
  }
}

/** The entry of one store-path file (a literal per kind: this runs for every file of a closure). */
function entryFor(
  name: string,
  hostPath: string,
  st: FastStat,
  s: StoreLayerSettings,
): TarEntry | undefined {
  const mode = st.mode & 0o7777;
  switch (st.kind) {
    case "directory":
    case "char":
    case "block":
    case "fifo":
      // A Nix store holds no devices or fifos; keep them rather than drop them silently.
      return {
        path: name,
        type: st.kind,
        mode,
        uid: s.uid,
        gid: s.gid,
        uname: s.uname,
        gname: s.gname,
        mtime: s.mtime,
        size: 0,
      };
    case "file":
      return {
        path: name,
        type: "file",
        mode,
        uid: s.uid,
        gid: s.gid,
        uname: s.uname,
        gname: s.gname,
        mtime: s.mtime,
        size: st.size,
        body: { kind: "host", path: hostPath, identity: fileIdentity(st) },
      };
    case "symlink":
      return {
        path: name,
        type: "symlink",
        mode,
        uid: s.uid,
        gid: s.gid,
        uname: s.uname,
        gname: s.gname,
        mtime: s.mtime,
        size: 0,
        linkTarget: fastReadLink(hostPath),
      };
    default:
      return undefined;
  }
}

const SURROGATE = /[\ud800-\udfff]/;

/**
 * Names in `compareNames` order. Without surrogates (names outside the Basic
 * Multilingual Plane) that is plain UTF-16 order, which the runtime's own
 * sort gives much faster than a comparator called from JavaScript.
 */
function sortNames(names: string[]): string[] {
  return names.some((n) => SURROGATE.test(n)) ? names.sort(compareNames) : names.sort();
}

/**
 * Entries of one store layer holding `paths` (store paths, in layer order).
 *
 * @example
 * ```ts
 * const entries = storeLayerEntries(["/nix/store/abc-hello-2.12"], { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 });
 * entries[0].path; // "/nix"
 * ```
 */
export function storeLayerEntries(
  paths: readonly string[],
  settings: StoreLayerSettings,
): TarEntry[] {
  const dir = (path: string): TarEntry => ({
    path,
    type: "directory",
    mode: 0o755,
    uid: settings.uid,
    gid: settings.gid,
    uname: settings.uname,
    gname: settings.gname,
    mtime: settings.mtime,
    size: 0,
  });
  const out: TarEntry[] = [dir("/nix"), dir("/nix/store")];
  const storeDir = settings.storeDir ?? "/nix/store";
  if (storeDir !== "/nix/store" && storeDir !== "/nix/store/") {
    const parts = storeDir.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const path = "/" + parts.slice(0, i).join("/");
      if (path !== "/nix" && path !== "/nix/store") out.push(dir(path));
    }
  }
  const root = settings.storeRoot ?? "";
  // Each folder is held open while its entries are looked at (no lookup of the whole path per file).
  const visitDir = (name: string, dir: FastDir) => {
    for (const child of sortNames(dir.names())) {
      const st = dir.lstat(child);
      const entry = entryFor(`${name}/${child}`, `${dir.path}/${child}`, st, settings);
      if (entry) out.push(entry);
      if (st.kind !== "directory") continue;
      const sub = dir.openDir(child);
      try {
        visitDir(`${name}/${child}`, sub);
      } finally {
        sub.close();
      }
    }
  };
  const visit = (name: string, host: string, st: FastStat) => {
    const entry = entryFor(name, host, st, settings);
    if (entry) out.push(entry);
    if (st.kind !== "directory") return;
    const dir = openFastDir(host);
    try {
      visitDir(name, dir);
    } finally {
      dir.close();
    }
  };
  for (const path of paths) {
    const host = root + path;
    let st: FastStat;
    try {
      st = fastLstat(host);
    } catch {
      throw new MissingStorePathError(path, host);
    }
    visit(path, host, st);
  }
  return out;
}
