/**
 * `/init` of the runAsRoot VM's initramfs (busybox sh): loads the modules,
 * mounts the prepared root file system (`/dev/vda`), runs the script through
 * the shared chroot runner, writes a tar of the resulting root to the raw
 * result disk (`/dev/vdb`) and reports on the console, then powers off.
 *
 * Console protocol (one line each, the nonce is per run): `DWRESULT-<nonce>
 * <exit code> <tar bytes>` at the end, `DWBOOT-<nonce>` when /init starts (`setup` instead of an exit code when
 * the VM itself failed, `extra:<code>` when extraCommands failed), `DWPROBE-<nonce>` in probe mode, and `dw: ...`
 * diagnostics, which the host shows only on failure or with DOCKWRIGHT_DEBUG.
 *
 * @module
 */

import { chrootRunner } from "../chroot_runner.ts";

/** Parameters the host passes in `/dw/params`. */
export interface GuestParams {
  /** Marks the result lines of this run. */
  nonce: string;
  /** Seconds since the epoch: the guest clock, so files the script writes get real times. */
  time: number;
  /** Remove `lost+found` (made by mkfs) before the script: the image did not have it. */
  removeLostFound: boolean;
  /** Only report that the VM booted (KVM probe). */
  probe: boolean;
}

/**
 * The params file.
 *
 * @example
 * ```ts
 * guestParams({ nonce: "ab12", time: 1700000000, removeLostFound: true, probe: false });
 * ```
 */
export function guestParams(p: GuestParams): string {
  return `DW_NONCE=${p.nonce}\nDW_TIME=${Math.floor(p.time)}\nDW_RMLF=${
    p.removeLostFound ? 1 : 0
  }\nDW_PROBE=${p.probe ? 1 : 0}\n`;
}

/**
 * The `/init` script text.
 *
 * @example
 * ```ts
 * const init = guestInit(); // "#!/bin/busybox sh\n..."
 * ```
 */
export function guestInit(): string {
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
. /dw/params
if [ "$DW_PROBE" = 1 ]; then echo "DWPROBE-$DW_NONCE"; poweroff -f; fi
echo "DWBOOT-$DW_NONCE"
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
report() { echo "DWRESULT-$DW_NONCE $1 $2"; sync; poweroff -f; sleep 60; }
fail() { echo "dw: $*"; report setup 0; }
date -s "@$DW_TIME" >/dev/null 2>&1
while read -r m; do
  [ -n "$m" ] || continue
  insmod "/lib/modules/$m.ko" || fail "cannot load the kernel module $m"
done < /lib/modules/order
i=0
while [ ! -b /dev/vdb ]; do
  i=$((i + 1)); [ $i -gt 400 ] && fail "the VM's disks did not appear"
  sleep 0.05 2>/dev/null || sleep 1
done
mount -t ext4 /dev/vda /mnt || fail "cannot mount the root file system"
if [ "$DW_RMLF" = 1 ]; then rmdir /mnt/lost+found 2>/dev/null; fi
${chrootRunner()}
dw_run /mnt /bin/busybox /dw/script
rc=$?
[ -n "$dw_setup_failed" ] && fail "the chroot could not be prepared"
[ $rc -eq 0 ] || report $rc 0
if [ -s /dw/extra ]; then
  # extraCommands: after runAsRoot, as root, not chrooted, cwd = the image root (see run_as_root.ts).
  (cd /mnt && exec /bin/busybox sh /dw/extra </dev/null)
  rc=$?
  [ $rc -eq 0 ] || report "extra:$rc" 0
fi
set -o pipefail
n=$(tar -C /mnt -cf - . | tee /dev/vdb | wc -c) || fail "cannot write the result (the result disk is full?)"
sync
report 0 $n
`;
}
