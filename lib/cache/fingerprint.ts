/**
 * Layer fingerprints: a hash of everything that determines a layer's bytes,
 * computed from metadata only, so an unchanged layer is found in the cache
 * without reading its files again.
 *
 * A host file contributes its path and its stat identity (device, inode,
 * size, mtime in milliseconds and ctime in seconds, see `fileIdentity`): an
 * edit changes mtime, and setting mtime back changes ctime, which an
 * unprivileged process cannot forge. Keys are the same in Deno and Bun.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { TarEntry } from "../tar/entry.ts";

/** Bumped whenever the tar encoding changes, so old cache records are not reused. */
const FORMAT_VERSION = "dockwright-layer-v2";

/**
 * Fingerprint of a layer made of `entries` plus `extra` settings, or null when
 * some entry's content cannot be identified without reading it.
 *
 * @example
 * ```ts
 * import { FileTree } from "../tree/file_tree.ts";
 * const tree = new FileTree();
 * tree.put("etc/motd", { type: "file", mode: 0o644, size: 3,
 *   body: { kind: "bytes", bytes: new TextEncoder().encode("hi\n") } });
 * const fp = fingerprintEntries(tree.toEntries({ root: "." }), { recordSize: 10240 }); // 64 hex digits
 * ```
 */
export function fingerprintEntries(entries: readonly TarEntry[], extra: unknown): string | null {
  const h = createHash("sha256");
  // Text is hashed in batches: one update per entry field costs more than the hashing (Deno).
  let pending = "";
  const text = (t: string) => {
    pending += t;
    if (pending.length > 1 << 16) {
      h.update(pending);
      pending = "";
    }
  };
  const bytes = (b: Uint8Array | string) => {
    if (pending) h.update(pending);
    pending = "";
    h.update(b);
  };
  text(FORMAT_VERSION + "\0" + JSON.stringify(extra ?? null) + "\0");
  for (const e of entries) {
    // Strings carry their length, so no content can be mistaken for a separator
    // (cheaper than JSON.stringify of an array: this runs for every file of a closure).
    const link = e.linkTarget;
    text(
      `${e.path.length}:${e.path}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.uname.length}:${e.uname}\0${e.gname.length}:${e.gname}\0${e.mtime}\0${e.size}\0${
        link === undefined ? "-" : `${link.length}:${link}`
      }\0${e.devMajor ?? "-"}\0${e.devMinor ?? "-"}`,
    );
    if (e.xattrs) {
      for (const k of Object.keys(e.xattrs).sort()) {
        text("\0x" + k + "\0");
        bytes(e.xattrs[k]);
      }
    }
    const body = e.body;
    if (body?.kind === "bytes") {
      text("\0b");
      bytes(body.bytes);
    } else if (body?.kind === "host") {
      if (!body.identity) return null;
      text(`\0h${body.path.length}:${body.path}\0${body.identity}`);
    } else if (body?.kind === "stream") {
      if (!body.fingerprint) return null;
      text("\0s" + body.fingerprint);
    }
    text("\n");
  }
  if (pending) h.update(pending);
  return h.digest("hex");
}
