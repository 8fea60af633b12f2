/**
 * Finding a statically linked busybox on the host: the shell and tools
 * dockwright puts where an image has none (`binSh`, `usrBinEnv`,
 * `enableFakechroot`).
 *
 * @module
 */

import { closeSync, existsSync, openSync, readSync, realpathSync } from "node:fs";
import process from "node:process";
import { MissingToolError } from "./shell.ts";

/** True when `path` is an ELF file without a program interpreter (statically linked). */
export function isStaticElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const head = new Uint8Array(64);
    readSync(fd, head, 0, 64, 0);
    if (
      head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46 || head[4] !== 2
    ) return false;
    const view = new DataView(head.buffer);
    const phoff = Number(view.getBigUint64(32, true));
    const phentsize = view.getUint16(54, true);
    const phnum = view.getUint16(56, true);
    const ph = new Uint8Array(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    const pv = new DataView(ph.buffer);
    for (let i = 0; i < phnum; i++) if (pv.getUint32(i * phentsize, true) === 3) return false; // PT_INTERP
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The path of a static busybox: `$DOCKWRIGHT_BUSYBOX`, else the usual
 * places (Debian's busybox-static installs `/bin/busybox`).
 *
 * @example
 * ```ts
 * staticBusyboxPath("binSh"); // "/usr/bin/busybox"
 * ```
 */
export function staticBusyboxPath(purpose: string): string {
  const configured = process.env.DOCKWRIGHT_BUSYBOX;
  const candidates = configured
    ? [configured]
    : ["/bin/busybox", "/usr/bin/busybox", "/usr/lib/busybox/busybox", "/sbin/busybox"];
  for (const c of candidates) {
    if (existsSync(c) && isStaticElf(c)) return realpathSync(c);
  }
  throw new MissingToolError(
    "a statically linked busybox",
    purpose,
    configured
      ? `DOCKWRIGHT_BUSYBOX=${configured} is not a static executable`
      : "apt-get install busybox-static, or set DOCKWRIGHT_BUSYBOX",
  );
}
