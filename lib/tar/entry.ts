/**
 * The tar entry model shared by the writer and the reader.
 *
 * Every header field is explicit: the writer never consults the clock, the
 * host's user database or the file system for a header value.
 *
 * @module
 */

/** The kinds of tar members dockwright writes and reads. */
export type EntryType =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "char"
  | "block"
  | "fifo";

/** Where a regular file's bytes come from. */
export type EntryBody =
  /** Bytes held in memory (generated files, JSON documents). */
  | { kind: "bytes"; bytes: Uint8Array }
  /**
   * A host file, read when the entry is written; `size` is checked against what
   * is read. `identity` (stat data) lets the layer cache skip unchanged files.
   */
  | { kind: "host"; path: string; identity?: string }
  /**
   * Any byte stream whose total length equals the header's `size`;
   * `fingerprint` identifies its content. With `file`, the bytes are exactly
   * that file's (a blob in the store): writers read it directly, as they read
   * a host file, and `open` is not called.
   */
  | {
    kind: "stream";
    open: () => AsyncIterable<Uint8Array>;
    fingerprint?: string;
    file?: string;
  };

/**
 * One tar member: header fields plus, for regular files, where the bytes come from.
 *
 * @example
 * ```ts
 * const motd: TarEntry = {
 *   path: "etc/motd", type: "file", mode: 0o644, uid: 0, gid: 0,
 *   uname: "", gname: "", mtime: 1, size: 3,
 *   body: { kind: "bytes", bytes: new TextEncoder().encode("hi\n") },
 * };
 * ```
 */
export interface TarEntry {
  /** Member name exactly as written (no trailing slash; the writer adds it for directories). */
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (masked to 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Modification time in whole seconds since the epoch. */
  mtime: number;
  /** Byte length of a regular file's content; 0 for every other type. */
  size: number;
  /** Target of a symlink or hardlink. */
  linkTarget?: string;
  /** Device numbers of char/block devices. */
  devMajor?: number;
  devMinor?: number;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, Uint8Array | string>;
  /** Content of a regular file. */
  body?: EntryBody;
}

/** POSIX tar type flags, by entry type. */
export const TYPE_FLAGS: Record<EntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};

/** Tar block size in bytes. */
export const BLOCK_SIZE = 512;
