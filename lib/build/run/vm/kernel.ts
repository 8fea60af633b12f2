/**
 * Finding the kernel the runAsRoot VM boots, and its modules.
 *
 * Search order (the first that exists wins):
 * 1. `$DOCKWRIGHT_VM_KERNEL` (a `vmlinuz-*`/bzImage or an uncompressed
 *    `vmlinux`), with `$DOCKWRIGHT_VM_MODULES` (its `lib/modules/<version>`
 *    folder; by default the one beside it, see below);
 * 2. a Debian kernel package unpacked into `<cache>/vm-kernel`
 *    (`apt-get download linux-image-<version>-amd64 && dpkg-deb -x linux-image-*.deb <cache>/vm-kernel`),
 *    where `<cache>` is the build's cache folder, then the default one
 *    (`$DOCKWRIGHT_CACHE_DIR`, `$XDG_CACHE_HOME/dockwright`, `~/.cache/dockwright`);
 * 3. `/boot/vmlinuz-$(uname -r)`, then the newest other `/boot/vmlinuz-*`.
 *
 * Modules of a kernel at `<root>/boot/vmlinuz-<version>` are looked for in
 * `<root>/lib/modules/<version>`, `<root>/usr/lib/modules/<version>`, then
 * `/lib/modules/<version>`.
 *
 * The fast boot path needs the uncompressed kernel (`-M microvm` boots an ELF
 * `vmlinux` through its PVH entry): it is extracted once from the bzImage's
 * xz or zstd payload and kept in the cache.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { release, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import * as zlib from "node:zlib";
import { defaultCacheDir } from "../../../cache/blob_store.ts";
import { writeFileAtomicallySync } from "../../../host/atomic.ts";
import { VmSetupError } from "./errors.ts";

/** A kernel the VM can boot. */
export interface KernelFiles {
  /** The kernel file as found (bzImage or vmlinux). */
  kernel: string;
  /** Its version (from the file name), or "" when unknown. */
  version: string;
  /** Its `lib/modules/<version>` folder, or null (then every module must be built in). */
  modulesDir: string | null;
}

const INSTALL_HINT =
  "set DOCKWRIGHT_VM_KERNEL to a kernel (and DOCKWRIGHT_VM_MODULES to its lib/modules/<version> folder), or unpack a Debian kernel package: " +
  "`apt-get download $(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: //p' | head -n1) && dpkg-deb -x linux-image-*.deb ~/.cache/dockwright/vm-kernel`";

/** Compares kernel versions numerically ("6.1.0-56" > "6.1.0-9"). */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    const nx = Number(x);
    const ny = Number(y);
    const c = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

function versionOf(kernel: string): string {
  const m = /^(?:vmlinuz|vmlinux|bzImage)-(.+)$/.exec(basename(kernel));
  return m ? m[1] : "";
}

function modulesFor(kernel: string, version: string): string | null {
  const configured = process.env.DOCKWRIGHT_VM_MODULES;
  if (configured) {
    if (!existsSync(configured)) {
      throw new VmSetupError(
        `DOCKWRIGHT_VM_MODULES=${configured} does not exist`,
        "point it at the kernel's lib/modules/<version> folder",
      );
    }
    return configured;
  }
  if (!version) return null;
  const root = dirname(dirname(kernel));
  for (
    const dir of [
      join(root, "lib/modules", version),
      join(root, "usr/lib/modules", version),
      join("/lib/modules", version),
    ]
  ) {
    if (existsSync(dir)) return dir;
  }
  return null;
}

function kernelsIn(bootDir: string): string[] {
  if (!existsSync(bootDir)) return [];
  return readdirSync(bootDir)
    .filter((n) => /^vmlinuz-/.test(n))
    .sort((a, b) => compareVersions(versionOf(b), versionOf(a)))
    .map((n) => join(bootDir, n));
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The kernel to boot, per the search order above.
 *
 * @example
 * ```ts
 * findKernel("/home/me/.cache/dockwright"); // { kernel: ".../vm-kernel/boot/vmlinuz-6.1.0-56-amd64", version: "6.1.0-56-amd64", modulesDir: ".../lib/modules/6.1.0-56-amd64" }
 * ```
 */
export function findKernel(cacheDir: string): KernelFiles {
  const configured = process.env.DOCKWRIGHT_VM_KERNEL;
  if (configured) {
    if (!existsSync(configured)) {
      throw new VmSetupError(`DOCKWRIGHT_VM_KERNEL=${configured} does not exist`, INSTALL_HINT);
    }
    if (!readable(configured)) {
      throw new VmSetupError(
        `DOCKWRIGHT_VM_KERNEL=${configured} is not readable`,
        "make it readable (chmod a+r) or copy it",
      );
    }
    const version = versionOf(configured);
    return { kernel: configured, version, modulesDir: modulesFor(configured, version) };
  }
  const candidates: string[] = [];
  for (const cache of new Set([cacheDir, defaultCacheDir()])) {
    candidates.push(...kernelsIn(join(cache, "vm-kernel", "boot")));
  }
  const running = `/boot/vmlinuz-${release()}`;
  candidates.push(running, ...kernelsIn("/boot").filter((k) => k !== running));
  const unreadable: string[] = [];
  for (const kernel of candidates) {
    if (!existsSync(kernel)) continue;
    if (!readable(kernel)) {
      unreadable.push(kernel);
      continue;
    }
    const version = versionOf(kernel);
    const modulesDir = modulesFor(kernel, version);
    if (modulesDir || kernel === candidates[candidates.length - 1]) {
      return { kernel, version, modulesDir };
    }
  }
  if (unreadable.length > 0) {
    throw new VmSetupError(
      `the kernel ${unreadable[0]} is not readable by this user`,
      `${INSTALL_HINT}; or make it readable`,
    );
  }
  throw new VmSetupError("no kernel was found for the VM", INSTALL_HINT);
}

/** True when the ELF file has a PVH entry note (Xen note type 18), which `-M microvm` needs to boot it. */
function hasPvhNote(elf: Uint8Array): boolean {
  if (elf[0] !== 0x7f || elf[1] !== 0x45 || elf[2] !== 0x4c || elf[3] !== 0x46 || elf[4] !== 2) {
    return false;
  }
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (v.getUint32(at, true) !== 4) continue; // PT_NOTE
    let off = Number(v.getBigUint64(at + 8, true));
    const end = off + Number(v.getBigUint64(at + 32, true));
    while (off + 12 <= end) {
      const namesz = v.getUint32(off, true);
      const descsz = v.getUint32(off + 4, true);
      const type = v.getUint32(off + 8, true);
      const name = new TextDecoder().decode(elf.subarray(off + 12, off + 12 + namesz)).replace(
        /\0+$/,
        "",
      );
      if (name === "Xen" && type === 18) return true;
      off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}

function findMagic(data: Uint8Array, magic: number[]): number {
  outer: for (let i = 0; i + magic.length <= data.length; i++) {
    for (let j = 0; j < magic.length; j++) if (data[i + j] !== magic[j]) continue outer;
    return i;
  }
  return -1;
}

/** Decompresses the payload of a bzImage (xz via the `xz` tool, zstd via node:zlib); null when none is recognised. */
function decompressPayload(image: Uint8Array): Uint8Array | null {
  const xz = findMagic(image, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  if (xz >= 0) {
    // Through files, not pipes: Deno's spawnSync writes all input before reading output, which
    // deadlocks once both pipes are full (and it takes no file descriptors in stdio). --single-stream: the payload is followed by the rest of the bzImage.
    const dir = mkdtempSync(join(tmpdir(), "dockwright-vmlinux-"));
    try {
      writeFileSync(join(dir, "payload.xz"), image.subarray(xz));
      const status = spawnSync("sh", [
        "-c",
        'exec xz -dc --single-stream "$1" > "$2"',
        "sh",
        join(dir, "payload.xz"),
        join(dir, "vmlinux"),
      ]).status;
      return status === 0 ? readFileSync(join(dir, "vmlinux")) : null;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const zstd = findMagic(image, [0x28, 0xb5, 0x2f, 0xfd]);
  if (zstd >= 0) {
    try {
      return (zlib as unknown as { zstdDecompressSync(b: Uint8Array): Uint8Array })
        .zstdDecompressSync(image.subarray(zstd));
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * An uncompressed, PVH-bootable `vmlinux` for `-M microvm`, extracted once
 * into `<cacheDir>/vm/`; null when the kernel cannot give one (then the VM
 * boots the bzImage on `-M pc`, a few seconds slower).
 *
 * @example
 * ```ts
 * const cacheDir = "/home/me/.cache/dockwright";
 * const vmlinux = bootableVmlinux(findKernel(cacheDir).kernel, cacheDir);
 * // ".../vm/vmlinux-<sha>" (or the kernel itself when it is a PVH vmlinux already), or null
 * ```
 */
export function bootableVmlinux(kernel: string, cacheDir: string): string | null {
  const image = readFileSync(kernel);
  if (image[0] === 0x7f && image[1] === 0x45) return hasPvhNote(image) ? kernel : null;
  const key = createHash("sha256").update(image).digest("hex").slice(0, 32);
  const dir = join(cacheDir, "vm");
  const target = join(dir, `vmlinux-${key}`);
  const none = join(dir, `vmlinux-${key}.none`);
  if (existsSync(target)) return target;
  if (existsSync(none)) return null;
  mkdirSync(dir, { recursive: true });
  const elf = decompressPayload(image);
  if (!elf || !hasPvhNote(elf)) {
    writeFileSync(none, "");
    return null;
  }
  writeFileAtomicallySync(target, elf);
  return target;
}
