/**
 * `runAsRoot`: a script run as real root, chrooted into the image's root file
 * system (the base layers applied in order, then `copyToRoot`), and the
 * changes it makes turned into the new layer, as Nix's `mkRootLayer` does.
 *
 * Two ways to get real root:
 * - `"vm"` (default, as Nix): the root is written into an ext4 disk image
 *   (`mkfs.ext4 -d`, owners fixed with `debugfs`, no root needed), a QEMU VM
 *   boots a kernel with a generated initramfs, chroots into the disk and runs
 *   the script, then tars the result onto a second disk that is read back
 *   here. KVM only when it really works, else TCG.
 * - `"userns"`: no VM; the same chroot runner in a new mount and PID
 *   namespace on the host (`unshare`). As root this gives the same result as
 *   the VM; as another user it runs in a user namespace where only our own
 *   uid maps to root, so it refuses bases with files of other owners and a
 *   `chown` to another user fails in the script.
 *
 * The layer is what differs between the base's tree and the tree after the
 * script (new, changed, and whited-out entries; `copyToRoot`'s files always),
 * with the owners root left. `extraCommands` runs after the script, as root,
 * with cwd = the image root (Nix: the new layer's folder, so the files it
 * writes end up in the layer in both): in the VM not chrooted, in the userns
 * mode chrooted, so that no absolute symlink of the image leads to the host.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { FileTree, shallowCopy, type TreeNode } from "../../tree/file_tree.ts";
import { treeFromTar } from "../../tree/flatten.ts";
import type { Progress } from "../../host/progress.ts";
import { staticBusyboxPath } from "../../host/busybox.ts";
import { chrootRunner, scriptText } from "./chroot_runner.ts";
import { readTreeBack } from "./materialize.ts";
import { writeRootFolder } from "./root_folder.ts";
import { removeTree } from "../../host/temp_files.ts";
import {
  MissingToolError,
  requireHostTool,
  runShell,
  ScriptError,
  shellQuote,
} from "../../host/shell.ts";
import { changesBetween } from "./tree_diff.ts";
import { chooseAccelerator } from "./vm/accelerator.ts";
import { makeRootDisk, makeSparseDisk } from "./vm/disk.ts";
import { VmSetupError } from "./vm/errors.ts";
import { guestParams } from "./vm/guest_init.ts";
import { baseInitramfs, type Machine, writeRunInitramfs } from "./vm/initramfs.ts";
import { bootableVmlinux, findKernel } from "./vm/kernel.ts";
import { findQemu, runQemu } from "./vm/qemu.ts";

/** How `runAsRoot` gets real root. */
export const RUN_AS_ROOT_MODES = ["vm", "userns"] as const;
/** One of {@link RUN_AS_ROOT_MODES}. */
export type RunAsRootMode = typeof RUN_AS_ROOT_MODES[number];

/** One `runAsRoot` step. */
export interface RunAsRootJob {
  /** The root below the new layer: the base image's layers applied in order (empty without a base). */
  lower: FileTree;
  /** `copyToRoot`, merged on top before the script runs; part of the layer. */
  upper: FileTree;
  /** The script (bash when the image has a working `/bin/bash`, else busybox sh; `set -e`). */
  script: string;
  /** Run after the script; may be empty. */
  extraCommands: string;
  mode: RunAsRootMode;
  /** Size of the VM's disk (Nix `diskSize`). */
  diskSizeMiB: number;
  /** Memory of the VM (Nix `buildVMMemorySize`). */
  memoryMiB: number;
  /** Cache folder: the kernel, the extracted vmlinux, the initramfs. */
  cacheDir: string;
  /** An empty folder for the run's files; the caller removes it after writing the layer. */
  workDir: string;
  progress: Progress;
}

/**
 * Copies the nodes of `tree` (not their children maps) into `into`, merging
 * folders as rsync does: `into` keeps what `tree` does not replace.
 *
 * @example
 * ```ts
 * import { FileTree } from "../../tree/file_tree.ts";
 * declare const baseTree: FileTree, copyToRootTree: FileTree;
 * const merged = new FileTree();
 * overlayTree(merged, baseTree);
 * overlayTree(merged, copyToRootTree);
 * ```
 */
export function overlayTree(into: FileTree, tree: FileTree): void {
  for (const [path, node] of tree.walk()) {
    into.put(path, shallowCopy(node));
  }
}

/**
 * Runs the script and returns the new layer as a tree (owners as root left
 * them; file bodies in `job.workDir`).
 *
 * @example
 * ```ts
 * import { Progress } from "../../host/progress.ts";
 * import type { FileTree } from "../../tree/file_tree.ts";
 * declare const lower: FileTree, upper: FileTree;
 * const layer = await runAsRootLayer({ lower, upper, script: "adduser -D alice", extraCommands: "",
 *   mode: "vm", diskSizeMiB: 1024, memoryMiB: 512, cacheDir: "/home/me/.cache/dockwright",
 *   workDir: "/tmp/run", progress: Progress.auto() });
 * ```
 */
export async function runAsRootLayer(job: RunAsRootJob): Promise<FileTree> {
  const merged = new FileTree();
  merged.root.mode = job.lower.root.mode;
  overlayTree(merged, job.lower);
  overlayTree(merged, job.upper);
  merged.root.uid = 0;
  merged.root.gid = 0;
  const after = job.mode === "vm" ? await inVm(job, merged) : await inUserNamespace(job, merged);
  // What copyToRoot put in Nix's overlay upper folder is in the layer even when it equals the base's.
  return changesBetween(job.lower, after, (path) => {
    const node = job.upper.get(path);
    return node !== undefined && node.type !== "directory";
  });
}

async function inVm(job: RunAsRootJob, merged: FileTree): Promise<FileTree> {
  // Everything the VM needs is checked before any disk is written.
  const qemu = findQemu();
  const kernel = findKernel(job.cacheDir);
  let busybox: string;
  try {
    busybox = staticBusyboxPath("runAsRoot");
  } catch (error) {
    if (error instanceof MissingToolError) {
      throw new VmSetupError(
        "the VM needs a statically linked busybox",
        "apt-get install busybox-static, or set DOCKWRIGHT_BUSYBOX",
      );
    }
    throw error;
  }
  const vmlinux = bootableVmlinux(kernel.kernel, job.cacheDir);
  const machine: Machine = vmlinux ? "microvm" : "pc";
  const baseInitrd = baseInitramfs({
    busybox,
    modulesDir: kernel.modulesDir,
    machine,
    cacheDir: job.cacheDir,
  });

  job.progress.begin("runAsRoot: preparing the VM's disk");
  const rootfs = join(job.workDir, "rootfs");
  mkdirSync(rootfs);
  // The base's devices are made by debugfs inside the disk image, never on this host.
  const unapplied = writeRootFolder(merged, rootfs, { deferSpecialFiles: true });
  const rootDisk = join(job.workDir, "root.img");
  makeRootDisk(rootfs, rootDisk, job.diskSizeMiB, unapplied, job.workDir, merged.root.mode);
  removeTree(rootfs);
  // The result tar holds the whole root: as big as the disk's contents, plus headers.
  const resultDisk = join(job.workDir, "result.img");
  makeSparseDisk(resultDisk, job.diskSizeMiB + 256);
  job.progress.end();

  const boot = { qemu, machine, kernel: vmlinux ?? kernel.kernel, memoryMiB: job.memoryMiB };
  const accel = await chooseAccelerator(boot, baseInitrd, job.workDir, job.cacheDir);
  const nonce = randomBytes(8).toString("hex");
  const initrd = join(job.workDir, "initrd");
  writeRunInitramfs(
    initrd,
    baseInitrd,
    scriptText(job.script),
    guestParams({
      nonce,
      time: Date.now() / 1000,
      removeLostFound: !merged.get("lost+found"),
      probe: false,
    }),
    job.extraCommands ? scriptText(job.extraCommands) : "",
  );
  job.progress.begin(
    `runAsRoot: running the script in a VM (${
      accel === "kvm" ? "KVM" : "TCG, no hardware acceleration"
    })`,
  );
  const marker = `DWRESULT-${nonce}`;
  const timeout = Number(process.env.DOCKWRIGHT_VM_TIMEOUT ?? 0);
  if (!Number.isFinite(timeout) || timeout < 0) {
    throw new VmSetupError(
      `DOCKWRIGHT_VM_TIMEOUT=${process.env.DOCKWRIGHT_VM_TIMEOUT} is not a number of seconds`,
      "set it to a number of seconds, or unset it",
    );
  }
  const runOnce = () =>
    runQemu({ ...boot, accel, initrd, disks: [rootDisk, resultDisk] }, {
      markers: [marker],
      forward: true,
      boot: { marker: `DWBOOT-${nonce}`, withinMs: 60_000 },
      timeoutMs: timeout > 0 ? timeout * 1000 : undefined,
    });
  let outcome = await runOnce();
  if (outcome.silent) outcome = await runOnce(); // a hung boot has not touched the disks yet
  job.progress.end();
  const result = outcome.protocol.find((l) => l.startsWith(marker + " "));
  if (!result) {
    const why = outcome.diagnostics.slice(-6).join("; ") || `qemu exited with ${outcome.code}`;
    throw new VmSetupError(
      `the VM stopped without a result (${why})`,
      "run with DOCKWRIGHT_DEBUG=1 to see its console",
    );
  }
  const [, status, bytes] = result.split(" ");
  if (status === "setup") {
    const reasons = outcome.diagnostics.filter((d) => d.startsWith("dw: ")).map((d) => d.slice(4));
    throw new VmSetupError(
      `the VM could not run the script: ${reasons.join("; ") || "no reason given"}`,
      "the reason is the image's or the VM's, not the script's",
    );
  }
  if (status.startsWith("extra:")) {
    throw new ScriptError("extraCommands", Number(status.slice(6)), null);
  }
  if (status !== "0") throw new ScriptError("runAsRoot", Number(status), null);
  rmSync(rootDisk, { force: true });
  const size = Number(bytes);
  if (!(size > 0) || size > statSync(resultDisk).size) {
    throw new VmSetupError(`the VM reported a result of ${bytes} bytes`, "raise diskSize");
  }
  const spillDir = join(job.workDir, "after");
  mkdirSync(spillDir);
  return await treeFromTar(
    createReadStream(resultDisk, { start: 0, end: size - 1, highWaterMark: 1 << 20 }),
    {
      spillDir,
      what: "runAsRoot result",
    },
  );
}

/**
 * The first entry a user namespace without root cannot recreate: there only
 * our own uid exists (as root), so everything must belong to root, and no
 * device or fifo can be made.
 */
function unsupportedWithoutRoot(tree: FileTree): [string, TreeNode] | undefined {
  for (const [path, node] of tree.walk()) {
    if (path === "") continue;
    if (
      (node.uid ?? 0) !== 0 || (node.gid ?? 0) !== 0 ||
      ["char", "block", "fifo"].includes(node.type)
    ) return [path, node];
  }
  return undefined;
}

async function inUserNamespace(job: RunAsRootJob, merged: FileTree): Promise<FileTree> {
  requireHostTool("unshare", "runAsRoot (userns mode)", "apt-get install util-linux");
  const busybox = staticBusyboxPath("runAsRoot (userns mode)");
  const isRoot = process.getuid?.() === 0;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (!isRoot) {
    const unsupported = unsupportedWithoutRoot(merged);
    if (unsupported) {
      const [path, node] = unsupported;
      throw new VmSetupError(
        `without root, the userns mode cannot recreate /${path} (${node.type}, owner ${
          node.uid ?? 0
        }:${node.gid ?? 0}) before the script runs`,
        'build as root, or use runAsRootMode: "vm"',
        false,
      );
    }
  }
  const rootfs = join(job.workDir, "rootfs");
  mkdirSync(rootfs);
  writeRootFolder(merged, rootfs);
  // New IPC, UTS, network, mount and PID namespaces (Nix: unshare -imnpuf): no network, as in the VM.
  const ns = [
    ...(isRoot ? [] : ["--user", "--map-root-user"]),
    "--ipc",
    "--uts",
    "--net",
    "--mount",
    "--pid",
    "--fork",
    "--propagation",
    "private",
  ];
  const setupMarker = join(job.workDir, "setup-failed");
  // Both scripts run chrooted: an absolute symlink in the image then stays inside it.
  for (
    const [attribute, text] of [["runAsRoot", job.script], [
      "extraCommands",
      job.extraCommands,
    ]] as const
  ) {
    if (text === "") continue;
    const script = join(job.workDir, attribute);
    writeFileSync(script, scriptText(attribute === "extraCommands" ? `cd /\n${text}` : text), {
      mode: 0o755,
    });
    job.progress.begin(`${attribute}: running the script (user namespace, no VM)`);
    const [r, b, sc, m] = [rootfs, busybox, script, setupMarker].map(shellQuote);
    try {
      await runShell(
        `${chrootRunner()}\ndw_run ${r} ${b} ${sc}; rc=$?\n[ -n "$dw_setup_failed" ] && : > ${m}\nexit $rc`,
        {
          attribute,
          cwd: job.workDir,
          wrapper: ["unshare", ...ns],
          shell: ["sh", "-c"],
        },
      );
    } catch (error) {
      if (existsSync(setupMarker)) {
        throw new VmSetupError(
          "the chroot could not be prepared (see the messages above)",
          "check that this host allows these namespaces: unshare --mount --pid --net --fork true",
          false,
        );
      }
      throw error;
    } finally {
      job.progress.end();
    }
  }
  const after = readTreeBack(rootfs, undefined, true);
  if (!isRoot) {
    // In the namespace our uid was root: files we own are root's in the image.
    for (const [, node] of after.walk()) {
      if (node.uid === uid) node.uid = 0;
      if (node.gid === gid) node.gid = 0;
    }
  }
  return after;
}
