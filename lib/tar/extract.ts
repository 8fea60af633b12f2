/**
 * Safe extraction of a (possibly compressed) tar stream into a directory.
 *
 * Guarantees, for an extraction root that no other process modifies
 * meanwhile:
 * - nothing is written outside the root: names are normalised with
 *   {@link normalizeMemberPath}, every existing parent directory is checked
 *   with lstat and a symlink parent is refused ({@link TarLinkEscapeError}),
 *   and the last component is never followed (files are created with
 *   O_EXCL; mkdir, symlink and link fail on an existing entry, which is then
 *   removed and the creation retried);
 * - symlinks are created as-is: their target is data, never followed;
 * - hardlinks must name a regular file already inside the root, reached
 *   without crossing a symlink.
 *
 * Existing entries are replaced as OCI layer changesets do: a directory over
 * a directory is kept (its attributes are updated), anything else is removed
 * (recursively, without following links) and recreated.
 *
 * Not applied: extended attributes (`node:` has no setxattr; they remain
 * visible to `onEntry`) and the ownership/mode of hardlinks (they share the
 * target's inode). Devices are created with `mknod(1)` only when running as
 * root, fifos with `mknod(1)` always; when that is impossible (no
 * CAP_MKNOD, no `mknod` binary) the member is skipped and reported to
 * `onEntry` with outcome `"skipped"`.
 *
 * @module
 */

import { execFile } from "node:child_process";
import type { FileHandle } from "node:fs/promises";
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readlink,
  rm,
  symlink,
  unlink,
  utimes,
} from "node:fs/promises";
import type { Stats } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { decompress, DecompressError } from "../codec/decompress.ts";
import { quoteEntry, TarError, TarLinkEscapeError, TarUnsafePathError } from "./errors.ts";
import { readTar, type TarHeader } from "./reader.ts";
import { normalizeMemberPath } from "./safe_path.ts";
import { hasRawBytes, showName } from "./names.ts";

/**
 * What happened to one member: written, or skipped (devices and fifos that
 * cannot be created here, hardlinks to themselves).
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * await extractTar(createReadStream("layer.tar"), "/tmp/rootfs", {
 *   onEntry: (h, o) => o === "skipped" && console.warn(`skipped ${h.path}`),
 * });
 * ```
 */
export type ExtractOutcome = "created" | "skipped";

/**
 * Options of {@link extractTar}.
 *
 * @example
 * ```ts
 * const opts: ExtractOptions = { allowAbsolute: false, preserveOwnership: false };
 * ```
 */
export interface ExtractOptions {
  /** Accept absolute member names, meaning the root (default true: Nix layers name `/nix/store/...`). */
  allowAbsolute?: boolean;
  /** lchown every member to its uid/gid (default: only when running as root). */
  preserveOwnership?: boolean;
  /** Called after each member is handled. */
  onEntry?: (header: TarHeader, outcome: ExtractOutcome) => void;
}

/** Bytes gathered before a write when the input arrives in small chunks. */
const WRITE_BUFFER = 256 * 1024;

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

/** Chunks at least this large are written as they are (no copy). */
const SMALL_CHUNK = WRITE_BUFFER / 4;

/**
 * Streams `body` into `fh`. Small chunks are gathered in `scratch` (shared by
 * the whole extraction) so a 1-byte-chunk input does not mean 1-byte writes;
 * a body that arrives as one small chunk is written without a copy.
 */
async function writeBody(
  fh: FileHandle,
  body: AsyncIterable<Uint8Array>,
  scratch: () => Uint8Array,
): Promise<void> {
  let pending: Uint8Array | undefined; // a lone small chunk, not copied yet
  let buffer: Uint8Array | undefined;
  let used = 0;
  const flush = async () => {
    if (pending) await writeAll(fh, pending);
    else if (used > 0) await writeAll(fh, buffer!.subarray(0, used));
    pending = undefined;
    used = 0;
  };
  for await (const chunk of body) {
    if (chunk.length >= SMALL_CHUNK) {
      await flush(); // keep byte order: gathered bytes go first
      await writeAll(fh, chunk);
      continue;
    }
    if (pending === undefined && used === 0) {
      pending = chunk;
      continue;
    }
    buffer ??= scratch();
    if (pending !== undefined) {
      buffer.set(pending, 0);
      used = pending.length;
      pending = undefined;
    }
    if (used + chunk.length > buffer.length) {
      await writeAll(fh, buffer.subarray(0, used));
      used = 0;
    }
    buffer.set(chunk, used);
    used += chunk.length;
  }
  await flush();
}

/** Runs `mknod(1)`; false when the node cannot be created here. */
function mknod(path: string, args: string[]): Promise<boolean> {
  return new Promise((done) => execFile("mknod", [path, ...args], (err) => done(!err)));
}

/** Ignores "not supported" from lutimes on platforms without it. */
async function lutimesIfPossible(path: string, mtime: number): Promise<void> {
  try {
    await lutimes(path, mtime, mtime);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== "ENOSYS" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e;
  }
}

function depth(rel: string): number {
  let n = 0;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 0x2f) n++;
  return rel === "" ? -1 : n;
}

/**
 * Extracts a tar stream (gzip, zstd or uncompressed, detected automatically)
 * into `targetDir`, created if missing. Throws a {@link TarError} subclass on
 * a corrupt or hostile archive, `DecompressError` on corrupt compressed data.
 * Directory modes and mtimes are applied last, so a read-only directory does
 * not block writing its children.
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * const { entries } = await extractTar(createReadStream("layer.tar.zst"), "/tmp/rootfs");
 * ```
 */
export async function extractTar(
  source: AsyncIterable<Uint8Array>,
  targetDir: string,
  opts: ExtractOptions = {},
): Promise<{ entries: number }> {
  const root = resolve(targetDir);
  const allowAbsolute = opts.allowAbsolute ?? true;
  const isRoot = process.getuid?.() === 0;
  const preserveOwnership = opts.preserveOwnership ?? isRoot;
  await mkdir(root, { recursive: true });

  /** Relative paths known to be real directories (checked or created by us) and not replaced since. */
  const knownDirs = new Set<string>([""]);
  let scratchBuffer: Uint8Array | undefined;
  const scratch = () => (scratchBuffer ??= new Uint8Array(WRITE_BUFFER));
  /** Directory attributes applied at the end. */
  const dirAttrs = new Map<string, TarHeader>();

  /** Drops what we know about `rel` and everything below it, after it was removed. */
  function forget(rel: string): void {
    const below = rel + "/";
    for (const d of knownDirs) if (d === rel || d.startsWith(below)) knownDirs.delete(d);
    for (const d of dirAttrs.keys()) if (d === rel || d.startsWith(below)) dirAttrs.delete(d);
  }

  /**
   * Walks the parents of `rel` inside the root: a symlink is refused, a
   * missing directory is created (or refused when `create` is false).
   */
  async function checkParents(rel: string, entry: string, create: boolean): Promise<void> {
    const parts = rel.split("/");
    let cur = "";
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur === "" ? parts[i] : `${cur}/${parts[i]}`;
      if (knownDirs.has(cur)) continue;
      const full = join(root, cur);
      const st = await lstatOrNull(full);
      if (st === null) {
        if (!create) {
          throw new TarLinkEscapeError(
            entry,
            `its target's parent ${quoteEntry(cur)} does not exist`,
          );
        }
        await mkdir(full, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        const to = await readlink(full).catch(() => "?");
        throw new TarLinkEscapeError(
          entry,
          `the path goes through ${quoteEntry(cur)}, a symlink to ${quoteEntry(to)}`,
        );
      } else if (!st.isDirectory()) {
        throw new TarError(
          `cannot extract ${quoteEntry(entry)}: its parent ${quoteEntry(cur)} is not a directory`,
          {
            entry,
            code: "TAR_NOT_DIRECTORY",
          },
        );
      }
      knownDirs.add(cur);
    }
  }

  /** Removes whatever is at `rel` unless it is a directory and `keepDirectory`; returns true if a directory is kept. */
  async function clear(rel: string, keepDirectory: boolean): Promise<boolean> {
    const full = join(root, rel);
    const st = await lstatOrNull(full);
    if (st === null) return false;
    if (st.isDirectory()) {
      if (keepDirectory) return true;
      await rm(full, { recursive: true, force: true }); // removes links, never follows them
      forget(rel);
    } else {
      await unlink(full);
    }
    return false;
  }

  /**
   * Runs `make` (which must fail with EEXIST rather than follow an existing
   * entry); when something is already there, it is replaced and `make` runs
   * again. Optimistic: a fresh tree costs no extra lstat per member.
   * Returns true when an existing directory is kept instead.
   */
  async function createAt(
    rel: string,
    make: () => Promise<unknown>,
    keepDirectory = false,
  ): Promise<boolean> {
    try {
      await make();
      return false;
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
    }
    if (await clear(rel, keepDirectory)) return true;
    await make();
    return false;
  }

  async function setOwnerAndTimes(full: string, h: TarHeader): Promise<void> {
    if (preserveOwnership) await lchown(full, h.uid, h.gid);
    await lutimesIfPossible(full, h.mtime);
  }

  /** Writes one member; returns what happened. */
  async function extractOne(
    h: TarHeader,
    body: AsyncIterable<Uint8Array>,
    rel: string,
  ): Promise<ExtractOutcome> {
    if (rel === "") {
      if (h.type !== "directory") {
        throw new TarUnsafePathError(h.path, `it names the extraction root but is a ${h.type}`);
      }
      dirAttrs.delete("");
      dirAttrs.set("", h);
      return "created";
    }
    const full = join(root, rel);
    if (h.type === "hardlink") {
      let targetRel: string;
      try {
        targetRel = normalizeMemberPath(h.linkTarget ?? "", { allowAbsolute });
      } catch (e) {
        if (!(e instanceof TarUnsafePathError)) throw e;
        throw new TarLinkEscapeError(
          h.path,
          `it is a hardlink to ${
            quoteEntry(h.linkTarget ?? "")
          }, which is empty, absolute or leaves the archive root`,
        );
      }
      if (targetRel === rel) return "skipped"; // a link to itself: already there
      if (targetRel === "") {
        throw new TarLinkEscapeError(h.path, "it is a hardlink to the extraction root");
      }
      await checkParents(targetRel, h.path, false);
      const target = join(root, targetRel);
      const st = await lstatOrNull(target);
      if (st === null || !st.isFile()) {
        const what = st === null
          ? "does not exist"
          : st.isSymbolicLink()
          ? "is a symlink"
          : "is not a regular file";
        throw new TarLinkEscapeError(
          h.path,
          `it is a hardlink to ${
            quoteEntry(h.linkTarget ?? "")
          }, which ${what}; a hardlink must name a regular file extracted earlier`,
        );
      }
      await checkParents(rel, h.path, true);
      await createAt(rel, () => link(target, full));
      return "created";
    }

    await checkParents(rel, h.path, true);
    switch (h.type) {
      case "directory":
        await createAt(rel, () => mkdir(full, { mode: 0o700 }), true); // writable until the final mode is applied
        knownDirs.add(rel);
        dirAttrs.delete(rel); // re-insert: the last header wins
        dirAttrs.set(rel, h);
        return "created";
      case "file": {
        let fh!: FileHandle;
        await createAt(rel, async () => fh = await open(full, "wx", 0o600)); // O_EXCL: never follows a link
        try {
          await writeBody(fh, body, scratch);
          if (preserveOwnership) await fh.chown(h.uid, h.gid);
          await fh.chmod(h.mode); // after chown, which clears setuid/setgid
          await fh.utimes(h.mtime, h.mtime);
        } finally {
          await fh.close();
        }
        return "created";
      }
      case "symlink":
        await createAt(rel, () => symlink(h.linkTarget ?? "", full));
        await setOwnerAndTimes(full, h);
        return "created";
      case "char":
      case "block":
      case "fifo": {
        if (h.type !== "fifo" && !isRoot) return "skipped";
        await clear(rel, false); // mknod(1) gives no EEXIST to react to
        const args = h.type === "fifo"
          ? ["p"]
          : [h.type === "char" ? "c" : "b", String(h.devMajor ?? 0), String(h.devMinor ?? 0)];
        if (!(await mknod(full, args))) return "skipped";
        if (preserveOwnership) await lchown(full, h.uid, h.gid);
        await chmod(full, h.mode);
        await lutimesIfPossible(full, h.mtime);
        return "created";
      }
      default:
        throw new TarError(`cannot extract ${quoteEntry(h.path)}: unknown type ${String(h.type)}`, {
          entry: h.path,
        });
    }
  }

  let entries = 0;
  for await (const { header, body } of readTar(decompress(source))) {
    entries++;
    const rel = normalizeMemberPath(header.path, { allowAbsolute });
    if (hasRawBytes(header.path) || hasRawBytes(header.linkTarget ?? "")) {
      // The runtimes' file APIs take UTF-8 text: such a name would be written under another name.
      throw new TarUnsafePathError(
        showName(header.path),
        "its name or link target is not valid UTF-8, and cannot be created byte for byte here",
      );
    }
    let outcome: ExtractOutcome;
    try {
      outcome = await extractOne(header, body, rel);
    } catch (e) {
      if (e instanceof TarError || e instanceof DecompressError) throw e;
      const detail = e instanceof Error ? e.message : String(e);
      throw new TarError(`could not extract ${quoteEntry(header.path)}: ${detail}`, {
        entry: header.path,
        code: "TAR_EXTRACT",
        cause: e,
      });
    }
    opts.onEntry?.(header, outcome);
  }

  // Deepest first: a parent's mode (say 0555) must not stop its children's updates.
  const dirs = [...dirAttrs].sort((a, b) => depth(b[0]) - depth(a[0]));
  for (const [rel, h] of dirs) {
    const full = join(root, rel);
    try {
      if (preserveOwnership) await lchown(full, h.uid, h.gid);
      await chmod(full, h.mode);
      await utimes(full, h.mtime, h.mtime);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      throw new TarError(`could not set the attributes of ${quoteEntry(h.path)}: ${detail}`, {
        entry: h.path,
        code: "TAR_EXTRACT",
        cause: e,
      });
    }
  }
  return { entries };
}
