/**
 * The store paths a `buildImage` layer refers to, added to it as Nix adds
 * them: Nix takes the closure of the layer's output (every store path whose
 * hash appears in the copied files, and their references), lists their files
 * with `find`, drops those the base image already has, and appends them to
 * `layer.tar` as `nix/store/...` (owner 0:0, mtime 1980-01-01, hard links
 * stored as files), after `nix` and `nix/store` (mode 0555) when the base has
 * no `/nix/store`.
 *
 * References are found by scanning file contents and symlink targets for
 * `/nix/store/<hash>-<name>`, only when the host has a Nix store; the
 * closure comes from `nix-store --query --requisites`.
 *
 * @module
 */

import { existsSync } from "node:fs";
import type { BlobStore } from "../cache/blob_store.ts";
import { fingerprintEntries } from "../cache/fingerprint.ts";
import { layerTar } from "../cache/layer_encodings.ts";
import type { Layer } from "../model/layer.ts";
import { requireHostTool } from "../host/shell.ts";
import type { TarEntry } from "../tar/entry.ts";
import { readTar } from "../tar/reader.ts";
import { normalizeMemberPath } from "../tar/safe_path.ts";
import { FileTree, shallowCopy } from "../tree/file_tree.ts";
import { addHostPath, nodeFromStat } from "../tree/host_source.ts";
import { fastLstat } from "../host/fast_fs.ts";
import { queryNixClosure } from "./nix_store.ts";
import { resolveStoreRefs, scanFileStorePaths, scanStorePaths } from "./store_path.ts";

const STORE_DIR = "/nix/store";
const decoder = new TextDecoder("latin1");

/**
 * Store paths that the files of `tree` mention and that exist on this host.
 *
 * @example
 * ```ts
 * import { FileTree } from "../tree/file_tree.ts";
 * const hello = "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12";
 * const tree = new FileTree();
 * tree.put("bin/hello", { type: "symlink", mode: 0o777, size: 0, linkTarget: `${hello}/bin/hello` });
 * referencedStorePaths(tree); // [hello] when this host has it, else []
 * ```
 */
export function referencedStorePaths(tree: FileTree, store?: BlobStore): string[] {
  if (!existsSync(STORE_DIR)) return [];
  // Reading every file again on each build would undo the layer cache: the result is kept per
  // tree, keyed by the stat identities of its host files (as layer fingerprints are).
  const recordKey = fingerprintEntries(tree.toEntries({ root: "." }), "store-refs");
  const cached = recordKey ? store?.getRecord<string[]>("store-refs", recordKey) : undefined;
  if (cached) return cached.filter((p) => existsSync(p));
  const candidates = new Set<string>();
  for (const [, node] of tree.walk()) {
    let text: string | undefined;
    if (node.type === "symlink") text = node.linkTarget;
    else if (node.type === "file" && node.body?.kind === "bytes") {
      text = decoder.decode(node.body.bytes);
    } else if (node.type === "file" && node.body?.kind === "host") {
      for (const p of scanFileStorePaths(node.body.path, STORE_DIR)) candidates.add(p);
    }
    if (text?.includes(STORE_DIR)) {
      for (const p of scanStorePaths(text, STORE_DIR)) candidates.add(p);
    }
  }
  const found = resolveStoreRefs([...candidates], existsSync);
  if (recordKey) store?.putRecord("store-refs", recordKey, found);
  return found;
}

/**
 * Member names of `layers` (normalised, no leading `./`), for Nix's
 * "files the base already has" filter.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../cache/blob_store.ts";
 * import type { Layer } from "../model/layer.ts";
 * declare const store: BlobStore;
 * declare const baseLayers: Layer[];
 * const names = await layerMemberNames(store, baseLayers); // Set { "bin", "bin/sh", ... }
 * ```
 */
export async function layerMemberNames(
  store: BlobStore,
  layers: readonly Layer[],
): Promise<Set<string>> {
  const names = new Set<string>();
  for (const layer of layers) {
    for await (const { header } of readTar(layerTar(store, layer))) {
      names.add(normalizeMemberPath(header.path, { allowAbsolute: true }));
    }
  }
  return names;
}

/**
 * The entries Nix appends to a `buildImage` layer for the closure of
 * `references`, leaving out paths in `existing` (the base image's and the
 * layer's own, without `./`); empty without references.
 *
 * @example
 * ```ts
 * const existing = new Set(["bin", "bin/hello"]); // the base image's members and the layer's own
 * const hello = "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12";
 * closureEntries([hello], existing, 315532800);
 * // ./nix, ./nix/store, then nix/store/...-hello-2.12 and the rest of its closure, file by file
 * ```
 */
export function closureEntries(
  references: readonly string[],
  existing: ReadonlySet<string>,
  mtime: number,
): TarEntry[] {
  if (references.length === 0) return [];
  requireHostTool(
    "nix-store",
    "a buildImage layer that refers to Nix store paths",
    "apt-get install nix-bin",
  );
  const closure = queryNixClosure(references).map((n) => n.path).sort();
  const tree = new FileTree();
  for (const path of closure) {
    const at = `nix/store/${path.slice(STORE_DIR.length + 1)}`;
    const st = fastLstat(path);
    if (st.kind !== "directory") {
      // Files and symlinks as they are (`find` does not follow a symlinked store path).
      const node = nodeFromStat(path, st);
      if (node) tree.put(at, node);
      continue;
    }
    const one = new FileTree();
    addHostPath(one, path, { copyDirlinks: false });
    for (const [p, node] of one.walk()) {
      // The store path's own folder keeps its own attributes (addHostPath merges a folder's contents only).
      const own = p === "" ? nodeFromStat(path, st)! : node;
      tree.put(p === "" ? at : `${at}/${p}`, shallowCopy(own));
    }
  }
  // Nix appends even paths the layer itself has (e.g. /nix/store from includeNixDB); podman refuses
  // a layer with a path twice, so those are left out here.
  const hasStore = existing.has("nix/store");
  const entries = tree.toEntries({ root: null, uid: 0, gid: 0, mtime });
  return entries
    .filter((e) => !existing.has(e.path) && (e.path.startsWith("nix/store/") || !hasStore))
    .map((
      e,
    ) => (e.path === "nix" || e.path === "nix/store"
      ? { ...e, mode: 0o555, path: `./${e.path}` }
      : e)
    );
}
