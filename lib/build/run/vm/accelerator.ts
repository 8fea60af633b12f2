/**
 * KVM or TCG: KVM is used only when a VM really boots with it. `/dev/kvm`
 * being there proves nothing (nested, paravirtualised KVM here accepts the
 * device and then hangs the guest), so the probe boots the VM's own kernel
 * and initramfs in probe mode and waits for the guest's answer; a guest that
 * prints nothing within a short deadline means TCG. The answer is kept per
 * host boot (`/proc/sys/kernel/random/boot_id`) and qemu binary.
 *
 * `$DOCKWRIGHT_VM_ACCEL=kvm|tcg` skips the probe.
 *
 * @module
 */

import { createHash, randomBytes } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { VmSetupError } from "./errors.ts";
import { guestParams } from "./guest_init.ts";
import { writeRunInitramfs } from "./initramfs.ts";
import { type QemuBoot, runQemu } from "./qemu.ts";

/** An accelerator QEMU can use. */
export type Accelerator = "kvm" | "tcg";

function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

/**
 * Boots `boot` (with the probe initramfs) under KVM and says whether the guest
 * answered. Cached per host boot.
 *
 * @example
 * ```ts
 * import type { QemuBoot } from "./qemu.ts";
 * declare const boot: Omit<QemuBoot, "accel" | "initrd" | "disks">;
 * declare const baseInitrd: string; // from baseInitramfs
 * const accel = await chooseAccelerator(boot, baseInitrd, "/tmp/run", "/home/me/.cache/dockwright");
 * // "kvm" only when a guest booted with it, else "tcg"
 * ```
 */
export async function chooseAccelerator(
  boot: Omit<QemuBoot, "accel" | "initrd" | "disks">,
  baseInitrd: string,
  workDir: string,
  cacheDir: string,
): Promise<Accelerator> {
  const forced = process.env.DOCKWRIGHT_VM_ACCEL;
  if (forced) {
    if (forced !== "kvm" && forced !== "tcg") {
      throw new VmSetupError(
        `DOCKWRIGHT_VM_ACCEL=${forced} is not kvm or tcg`,
        "set it to kvm or tcg, or unset it to probe",
      );
    }
    return forced;
  }
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return "tcg";
  }
  const qemuId = (() => {
    try {
      return `${boot.qemu}:${statSync(boot.qemu).mtimeMs}`;
    } catch {
      return boot.qemu;
    }
  })();
  const key = createHash("sha256").update(`${bootId()}\0${qemuId}\0${boot.kernel}\0${boot.machine}`)
    .digest("hex").slice(0, 32);
  const record = join(cacheDir, "vm", `kvm-probe-${key}`);
  if (existsSync(record)) return readFileSync(record, "utf8").trim() === "kvm" ? "kvm" : "tcg";
  const nonce = randomBytes(6).toString("hex");
  const initrd = join(workDir, "probe-initrd");
  writeRunInitramfs(
    initrd,
    baseInitrd,
    "",
    guestParams({ nonce, time: Date.now() / 1000, removeLostFound: false, probe: true }),
  );
  // A working KVM reaches /init in well under a second; a hung one prints nothing at all.
  const out = await runQemu(
    {
      ...boot,
      accel: "kvm",
      initrd,
      disks: [],
      append: `${boot.append ?? ""} earlyprintk=ttyS0 ignore_loglevel`.trim(),
    },
    { markers: [`DWPROBE-${nonce}`], forward: false, firstByteMs: 1500, timeoutMs: 15000 },
  );
  const accel: Accelerator = out.protocol.length > 0 ? "kvm" : "tcg";
  mkdirSync(join(cacheDir, "vm"), { recursive: true });
  writeFileSync(record, accel);
  return accel;
}
