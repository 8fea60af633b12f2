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

import { fastLstat, fastReadDir, type FastStat } from "../host/fast_fs.ts";
import { readlinkSync } from "node:fs";
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

function entryFor(
  name: string,
  hostPath: string,
  st: FastStat,
  s: StoreLayerSettings,
): TarEntry | undefined {
  const base = {
    path: name,
    mode: st.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
    uname: s.uname,
    gname: s.gname,
    mtime: s.mtime,
    size: 0,
  };
  switch (st.kind) {
    case "directory":
      return { ...base, type: "directory" };
    case "file":
      return {
        ...base,
        type: "file",
        size: st.size,
        body: {
          kind: "host",
          path: hostPath,
          identity: `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`,
        },
      };
    case "symlink":
      return { ...base, type: "symlink", linkTarget: readlinkSync(hostPath) };
    case "char":
    case "block":
    case "fifo":
      // A Nix store holds none of these; keep them rather than drop them silently.
      return { ...base, type: st.kind };
    default:
      return undefined;
  }
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
  const visit = (name: string, host: string, st: FastStat) => {
    const entry = entryFor(name, host, st, settings);
    if (entry) out.push(entry);
    if (st.kind !== "directory") return;
    for (const child of fastReadDir(host).sort(compareNames)) {
      visit(`${name}/${child}`, `${host}/${child}`, fastLstat(`${host}/${child}`));
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
