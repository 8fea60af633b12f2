/**
 * Kernel modules for the runAsRoot VM: found by name in a `lib/modules/<ver>`
 * folder (no `modules.dep` needed: a package unpacked with `dpkg-deb -x` has
 * none), ordered so each module's dependencies (its `.modinfo` `depends=`)
 * load first, and skipped when `modules.builtin` says the kernel has them.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { VmSetupError } from "./errors.ts";

/** A module ready for the initramfs. */
export interface KernelModule {
  name: string;
  /** Uncompressed `.ko` bytes. */
  bytes: Uint8Array;
}

const norm = (name: string) => name.replaceAll("-", "_");
const MODULE_FILE = /^(.+)\.ko(\.xz|\.zst|\.gz)?$/;

/** The `.modinfo` strings of an ELF64 module (`depends=a,b`, `softdep=...`). */
export function modinfo(ko: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  if (ko[0] !== 0x7f || ko[1] !== 0x45 || ko[4] !== 2) return out;
  const view = new DataView(ko.buffer, ko.byteOffset, ko.byteLength);
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return {
      name: view.getUint32(at, true),
      offset: Number(view.getBigUint64(at + 0x18, true)),
      size: Number(view.getBigUint64(at + 0x20, true)),
    };
  };
  const strtab = section(shstrndx);
  const decoder = new TextDecoder();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameStart = strtab.offset + s.name;
    const nameEnd = ko.indexOf(0, nameStart);
    if (decoder.decode(ko.subarray(nameStart, nameEnd)) !== ".modinfo") continue;
    for (const item of decoder.decode(ko.subarray(s.offset, s.offset + s.size)).split("\0")) {
      const eq = item.indexOf("=");
      if (eq > 0 && !out.has(item.slice(0, eq))) out.set(item.slice(0, eq), item.slice(eq + 1));
    }
  }
  return out;
}

function readModule(path: string, ext: string | undefined): Uint8Array {
  const raw = readFileSync(path);
  if (ext === undefined) return raw;
  if (ext === ".gz") return zlib.gunzipSync(raw);
  if (ext === ".zst") {
    return (zlib as unknown as { zstdDecompressSync(b: Uint8Array): Uint8Array })
      .zstdDecompressSync(raw);
  }
  // The file as an argument, not piped in: Deno's spawnSync deadlocks on large input and output.
  const r = spawnSync("xz", ["-dc", path], { maxBuffer: 1 << 30 });
  if (r.status !== 0) {
    throw new VmSetupError(`cannot decompress ${path} (xz -dc failed)`, "apt-get install xz-utils");
  }
  return r.stdout;
}

/**
 * `wanted` modules and their dependencies, dependencies first. Modules the
 * kernel has built in are left out; `optional` ones may be missing.
 *
 * @example
 * ```ts
 * resolveModules("/lib/modules/6.1.0-56-amd64", ["virtio_mmio", "virtio_blk", "ext4"]).map((m) => m.name);
 * // ["virtio", "virtio_ring", "virtio_mmio", "virtio_blk", "crc16", "mbcache", "jbd2", "ext4"]
 * ```
 */
export function resolveModules(
  modulesDir: string,
  wanted: readonly string[],
  optional: readonly string[] = [],
): KernelModule[] {
  const files = new Map<string, { path: string; ext?: string }>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else {
        const m = MODULE_FILE.exec(e.name);
        if (m && !files.has(norm(m[1]))) {
          files.set(norm(m[1]), { path: join(dir, e.name), ext: m[2] });
        }
      }
    }
  };
  if (existsSync(modulesDir)) walk(modulesDir);
  const builtin = new Set<string>();
  const builtinFile = join(modulesDir, "modules.builtin");
  if (existsSync(builtinFile)) {
    for (const line of readFileSync(builtinFile, "utf8").split("\n")) {
      const m = MODULE_FILE.exec(line.split("/").pop() ?? "");
      if (m) builtin.add(norm(m[1]));
    }
  }
  const out: KernelModule[] = [];
  const done = new Set<string>();
  const visit = (name: string, isOptional: boolean, chain: string[]) => {
    const n = norm(name);
    if (done.has(n) || builtin.has(n)) return;
    const file = files.get(n);
    if (!file) {
      if (isOptional) return;
      throw new VmSetupError(
        `the kernel module ${n} (needed by ${
          chain.join(" <- ") || "the runAsRoot VM"
        }) is neither built into the kernel nor in ${modulesDir}`,
        "point DOCKWRIGHT_VM_MODULES at the lib/modules/<version> folder of the kernel in DOCKWRIGHT_VM_KERNEL",
      );
    }
    done.add(n);
    const bytes = readModule(file.path, file.ext);
    for (const dep of (modinfo(bytes).get("depends") ?? "").split(",").filter(Boolean)) {
      visit(dep, false, [n, ...chain]);
    }
    out.push({ name: n, bytes });
  };
  for (const w of wanted) visit(w, false, []);
  for (const o of optional) visit(o, true, []);
  return out;
}
