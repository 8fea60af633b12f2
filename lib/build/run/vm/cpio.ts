/**
 * A cpio "newc" writer: the archive format of a Linux initramfs. Entries are
 * owned by 0:0 and dated 0, so the same inputs give the same bytes.
 *
 * @module
 */

import { concatBytes } from "../../../host/concat_bytes.ts";

/** One member of an initramfs. */
export interface CpioEntry {
  /** Path without a leading `/`, e.g. `bin/busybox`. Parents must come first. */
  path: string;
  type: "file" | "directory" | "symlink";
  /** Permission bits. */
  mode: number;
  /** Content of a file. */
  data?: Uint8Array;
  /** Target of a symlink. */
  linkTarget?: string;
}

const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;
const encoder = new TextEncoder();

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/**
 * Writes `entries` as one newc archive (with its `TRAILER!!!`).
 *
 * @example
 * ```ts
 * const cpio = writeCpio([{ path: "init", type: "file", mode: 0o755, data: new TextEncoder().encode("#!/bin/sh\n") }]);
 * ```
 */
export function writeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let ino = 1;
  const add = (path: string, mode: number, data: Uint8Array) => {
    const name = encoder.encode(path + "\0");
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = encoder.encode("070701" + fields.map(hex8).join(""));
    parts.push(
      header,
      name,
      new Uint8Array(pad4(header.length + name.length)),
      data,
      new Uint8Array(pad4(data.length)),
    );
  };
  for (const e of entries) {
    const data = e.type === "symlink"
      ? encoder.encode(e.linkTarget ?? "")
      : e.type === "file"
      ? e.data ?? new Uint8Array()
      : new Uint8Array();
    add(e.path, TYPE_BITS[e.type] | (e.mode & 0o7777), data);
  }
  add("TRAILER!!!", 0, new Uint8Array());
  const total = parts.reduce((n, p) => n + p.length, 0);
  return concatBytes(parts, total + pad4(total) + ((512 - ((total + pad4(total)) % 512)) % 512));
}
