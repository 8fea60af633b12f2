/**
 * Running QEMU as a child process (`node:child_process`, the same in Deno and
 * Bun) with the VM's console on its stdout: script output is forwarded to our
 * stderr line by line as it comes, the guest's protocol lines are picked out,
 * and the machine is killed if this process is interrupted.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { arch } from "node:os";
import process from "node:process";
import { VmSetupError } from "./errors.ts";
import { hostToolPath } from "../../../host/shell.ts";
import type { Machine } from "./initramfs.ts";

/** How to boot. */
export interface QemuBoot {
  qemu: string;
  machine: Machine;
  accel: "kvm" | "tcg";
  kernel: string;
  initrd: string;
  memoryMiB: number;
  /** Raw disk images, attached in order as /dev/vda, /dev/vdb, ... */
  disks: string[];
  /** Extra kernel command line. */
  append?: string;
}

/** What the console said. */
export interface QemuOutcome {
  /** The exit code of qemu (null when killed). */
  code: number | null;
  /** Protocol lines (`DWRESULT-...`, `DWPROBE-...`), without the console's `\r`. */
  protocol: string[];
  /** `dw:` diagnostics and everything qemu itself printed on stderr. */
  diagnostics: string[];
  /** True when nothing at all came from the guest before the first-byte deadline. */
  silent: boolean;
}

/**
 * The qemu binary: `$DOCKWRIGHT_QEMU`, else `qemu-system-x86_64` on PATH.
 *
 * @example
 * ```ts
 * findQemu(); // "qemu-system-x86_64"
 * ```
 */
export function findQemu(): string {
  const configured = process.env.DOCKWRIGHT_QEMU;
  if (arch() !== "x64" && !configured) {
    throw new VmSetupError(
      `the VM supports x86-64 hosts only (this one is ${arch()})`,
      "set DOCKWRIGHT_QEMU to a qemu-system binary for this machine",
    );
  }
  const qemu = configured || "qemu-system-x86_64";
  if (configured) {
    try {
      accessSync(configured, constants.X_OK);
      return configured;
    } catch {
      throw new VmSetupError(
        `DOCKWRIGHT_QEMU=${configured} is not an executable`,
        "point it at qemu-system-x86_64, or unset it",
      );
    }
  }
  const path = hostToolPath(qemu);
  if (!path) {
    throw new VmSetupError(
      `${qemu} was not found`,
      "apt-get install --no-install-recommends qemu-system-x86 (or set DOCKWRIGHT_QEMU)",
    );
  }
  return path;
}

/**
 * Kernel arguments that skip TSC calibration. Under TCG the guest calibrates
 * its TSC against the emulated PIT; when the host is busy that fails ("Unable
 * to calibrate against PIT"), the TSC is marked unstable and the boot hangs
 * (seen in about one boot in five here). TCG's TSC runs at the host's rate,
 * so the host's frequency is the right answer.
 */
function tscArgs(): string {
  try {
    const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return mhz ? `tsc_early_khz=${Math.round(Number(mhz[1]) * 1000)} tsc=reliable` : "";
  } catch {
    return "";
  }
}

/**
 * The qemu command line for `boot`.
 *
 * @example
 * ```ts
 * qemuArgs({ qemu: findQemu(), machine: "microvm", accel: "tcg", kernel: "/tmp/run/vmlinux",
 *   initrd: "/tmp/run/initrd", memoryMiB: 512, disks: ["/tmp/run/root.img", "/tmp/run/result.img"] });
 * // ["-M", "microvm", "-accel", "tcg", ...]
 * ```
 */
export function qemuArgs(b: QemuBoot): string[] {
  const device = b.machine === "microvm" ? "virtio-blk-device" : "virtio-blk-pci";
  const args = [
    "-M",
    b.machine,
    "-accel",
    b.accel,
    "-cpu",
    "max",
    "-smp",
    "1",
    "-m",
    String(b.memoryMiB),
    "-nodefaults",
    "-no-user-config",
    "-nographic",
    "-serial",
    "stdio",
    "-no-reboot",
    "-kernel",
    b.kernel,
    "-initrd",
    b.initrd,
    // DOCKWRIGHT_DEBUG shows the kernel's boot messages too.
    "-append",
    `console=ttyS0 ${
      process.env.DOCKWRIGHT_DEBUG ? "ignore_loglevel" : "quiet loglevel=1"
    } panic=-1 ${b.accel === "tcg" ? tscArgs() : ""} ${b.append ?? ""}`.replace(/ +/g, " ").trim(),
  ];
  b.disks.forEach((disk, i) => {
    // qemu option values escape a comma by doubling it.
    args.push(
      "-drive",
      `id=d${i},file=${disk.replaceAll(",", ",,")},format=raw,if=none,cache=unsafe`,
      "-device",
      `${device},drive=d${i}`,
    );
  });
  return args;
}

/**
 * Boots the VM and waits for it to power off. Console lines go to our stderr
 * (`forward`), except protocol lines starting with one of `markers` and `dw:`
 * diagnostics. With `firstByteMs`, a guest that prints nothing in that time
 * is killed (a hung accelerator), and with `boot` one that has not printed
 * `boot.marker` in time (a hung boot); `timeoutMs` bounds the whole run.
 *
 * @example
 * ```ts
 * declare const boot: QemuBoot;
 * const out = await runQemu(boot, { markers: ["DWRESULT-ab12"], forward: true });
 * out.protocol; // e.g. ["DWRESULT-ab12 0 10240"]
 * ```
 */
export function runQemu(
  boot: QemuBoot,
  o: {
    markers: string[];
    forward: boolean;
    firstByteMs?: number;
    timeoutMs?: number;
    boot?: { marker: string; withinMs: number };
  },
): Promise<QemuOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(boot.qemu, qemuArgs(boot), { stdio: ["pipe", "pipe", "pipe"] });
    const outcome: QemuOutcome = { code: null, protocol: [], diagnostics: [], silent: false };
    const debug = Boolean(process.env.DOCKWRIGHT_DEBUG);
    let pending = "";
    let gotByte = false;
    const decoder = new TextDecoder();
    const kill = () => child.kill("SIGKILL");
    process.on("exit", kill);
    const timers: ReturnType<typeof setTimeout>[] = [];
    if (o.firstByteMs !== undefined) {
      timers.push(setTimeout(() => {
        if (!gotByte) {
          outcome.silent = true;
          kill();
        }
      }, o.firstByteMs));
    }
    let booted = false;
    if (o.boot) {
      // A guest that hangs before its /init speaks (seen rarely under TCG) is killed and marked silent.
      timers.push(setTimeout(() => {
        if (!booted) {
          outcome.silent = true;
          outcome.diagnostics.push(
            `dw: the VM did not reach its init within ${o.boot!.withinMs} ms`,
          );
          kill();
        }
      }, o.boot.withinMs));
    }
    if (o.timeoutMs !== undefined) {
      timers.push(setTimeout(() => {
        outcome.diagnostics.push(`dw: the VM ran longer than ${o.timeoutMs} ms and was stopped`);
        kill();
      }, o.timeoutMs));
    }
    const line = (text: string) => {
      if (o.boot && text === o.boot.marker) booted = true;
      else if (o.markers.some((m) => text.startsWith(m))) outcome.protocol.push(text);
      else if (text.startsWith("dw: ")) {
        outcome.diagnostics.push(text);
        if (debug) process.stderr.write(text + "\n");
      } else if (/^\[\s*\d+\.\d+\] /.test(text)) {
        // Kernel messages (`quiet` leaves a few, like "reboot: Power down"): diagnostics, not script output.
        outcome.diagnostics.push(text);
        if (debug) process.stderr.write(text + "\n");
      } else if (o.forward || debug) process.stderr.write(text + "\n");
    };
    child.stdin!.on("error", () => {});
    child.stdout!.on("data", (chunk: Uint8Array) => {
      gotByte = true;
      pending += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        line(pending.slice(0, nl).replace(/\r$/, ""));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr!.on("data", (chunk: Uint8Array) => {
      for (const l of new TextDecoder().decode(chunk).split("\n")) {
        if (l.trim()) outcome.diagnostics.push(`qemu: ${l}`);
      }
    });
    child.on("error", (e) => {
      process.off("exit", kill);
      for (const t of timers) clearTimeout(t);
      reject(
        new VmSetupError(
          `cannot start ${boot.qemu} (${(e as NodeJS.ErrnoException).code})`,
          "apt-get install --no-install-recommends qemu-system-x86",
        ),
      );
    });
    child.on("close", (code) => {
      process.off("exit", kill);
      for (const t of timers) clearTimeout(t);
      if (pending) line(pending.replace(/\r$/, ""));
      outcome.code = code;
      resolve(outcome);
    });
  });
}
