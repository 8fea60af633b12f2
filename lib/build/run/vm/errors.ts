/**
 * Errors of the runAsRoot VM set-up: what is missing and what to do about it.
 *
 * @module
 */

/**
 * A host requirement of the VM (qemu, a kernel, its modules, busybox,
 * mkfs.ext4) is missing or unusable. The message says what to install or set.
 *
 * @example
 * ```ts
 * throw new VmSetupError("qemu-system-x86_64 was not found", "apt-get install --no-install-recommends qemu-system-x86");
 * ```
 */
export class VmSetupError extends Error {
  /**
   * A missing or unusable VM requirement.
   *
   * @param problem what is missing or broken
   * @param remedy what to install or set
   * @param suggestUserns whether to mention `runAsRootMode: "userns"` as a way around the VM
   */
  constructor(problem: string, remedy: string, suggestUserns = true) {
    super(
      `runAsRoot: ${problem}; ${remedy}${
        suggestUserns ? ' (or use runAsRootMode: "userns" to run without a VM)' : ""
      }`,
    );
    this.name = "VmSetupError";
  }
}
