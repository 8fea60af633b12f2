/**
 * Fixtures shared by test files: a static-busybox root file system, and the
 * check that the runAsRoot VM has a kernel.
 *
 * @module
 */

import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findKernel } from "../../lib/build/run/vm/kernel.ts";
import { inCI, staticBusybox } from "./tools.ts";

/** Host tools the runAsRoot VM needs. */
export const VM_TOOLS = ["qemu-system-x86_64", "mkfs.ext4", "debugfs", "busybox", "xz"];

/** True when a kernel for the VM is installed (see .ci/run); fails in CI when not. */
export function requireVmKernel(t: { skip(m?: string): void }, cacheDir: string): boolean {
  try {
    findKernel(cacheDir);
    return true;
  } catch (error) {
    if (inCI()) {
      throw new Error(
        `no kernel for the runAsRoot VM in CI (.ci/run unpacks one): ${(error as Error).message}`,
      );
    }
    t.skip(`no VM kernel: ${(error as Error).message}`);
    return false;
  }
}

/** A busybox root file system: /bin with the applets, /etc with root only, and /etc/motd. */
export function busyboxRoot(dir: string): string {
  const root = join(dir, "busybox-root");
  for (const d of ["bin", "etc", "tmp", "root"]) mkdirSync(join(root, d), { recursive: true });
  const bb = staticBusybox()!;
  writeFileSync(join(root, "bin", "busybox"), readFileSync(bb), { mode: 0o755 });
  for (
    const applet of [
      "sh",
      "ls",
      "cat",
      "stat",
      "echo",
      "mkdir",
      "chown",
      "chmod",
      "mknod",
      "cp",
      "rm",
      "test",
      "id",
      "printf",
    ]
  ) {
    symlinkSync("busybox", join(root, "bin", applet));
  }
  writeFileSync(join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(root, "etc", "group"), "root:x:0:\n");
  writeFileSync(join(root, "etc", "motd"), "welcome\n");
  return root;
}
