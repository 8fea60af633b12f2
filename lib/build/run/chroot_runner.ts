/**
 * The shell function that runs a `runAsRoot` script chrooted into a prepared
 * root folder, shared by the VM's init and the VM-less `userns` mode, so both
 * give the script the same world:
 *
 * - `/proc`, `/sys` and the host's (or VM's) `/dev` are mounted inside, as
 *   Nix's `runWithOverlay` does; mount points the image lacked are removed
 *   again afterwards (a node made under `/dev` is not kept, as in Nix);
 * - a static busybox and all its applets are on a tmpfs at `/.dockwright/bin`,
 *   last on `PATH`, so an image without a shell or coreutils still works;
 * - the script runs under the image's `/bin/bash` when it has a working one
 *   (Nix runs bash), else busybox `sh`, with `set -e`, `HOME=/root` and
 *   `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.dockwright/bin`.
 *
 * Call: `dw_run ROOT BUSYBOX SCRIPT`; returns the script's exit code; when
 * the root cannot be prepared it returns 125 with `dw_setup_failed` set (a
 * script may exit 125 itself).
 *
 * @module
 */

/** PATH inside the chroot: the image's own tools first, busybox last. */
export const CHROOT_PATH =
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.dockwright/bin";

/**
 * The `dw_run` function (POSIX sh; busybox ash and dash run it).
 *
 * @example
 * ```ts
 * const script = `${chrootRunner()}\ndw_run /mnt /bin/busybox /dw/script`;
 * ```
 */
export function chrootRunner(): string {
  return `dw_run() {
  root=$1 bb=$2 script=$3 created="" dw_setup_failed=1
  if [ -e "$root/.dockwright" ] || [ -L "$root/.dockwright" ]; then
    echo "dw: the image already has a /.dockwright, which runAsRoot needs for its tools"; return 125
  fi
  for d in proc sys dev tmp; do
    if [ ! -e "$root/$d" ] && [ ! -L "$root/$d" ]; then mkdir "$root/$d" && created="$created $d"; fi
  done
  mkdir "$root/.dockwright" && mount -t tmpfs -o mode=0755 dockwright "$root/.dockwright" || return 125
  mkdir "$root/.dockwright/bin" && cp "$bb" "$root/.dockwright/bin/busybox" || return 125
  for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$root/.dockwright/bin/$a"; done
  cp "$script" "$root/.dockwright/script" || return 125
  mount -t proc proc "$root/proc" || return 125
  mount -t sysfs sysfs "$root/sys" 2>/dev/null || mount --rbind /sys "$root/sys" 2>/dev/null || true
  mount --rbind /dev "$root/dev" || return 125
  dw_setup_failed=""
  shell=/.dockwright/bin/sh
  if chroot "$root" /.dockwright/bin/sh -c '[ -x /bin/bash ] && /bin/bash -c true' >/dev/null 2>&1; then shell=/bin/bash; fi
  # stdin is /dev/null: a script that reads (apt-get without -y) fails instead of waiting forever.
  env -i HOME=/root USER=root LOGNAME=root TERM=dumb PATH=${CHROOT_PATH} chroot "$root" "$shell" /.dockwright/script </dev/null
  rc=$?
  umount -l "$root/dev"; umount -l "$root/sys" 2>/dev/null; umount -l "$root/proc"; umount -l "$root/.dockwright"
  rmdir "$root/.dockwright"
  for d in $created; do rmdir "$root/$d" 2>/dev/null; done
  return $rc
}`;
}

/**
 * The script file's text: `set -e` first, as Nix's `shellScript` writes it.
 *
 * @example
 * ```ts
 * scriptText("adduser -D alice"); // "set -e\nadduser -D alice\n"
 * ```
 */
export function scriptText(script: string): string {
  return `set -e\n${script}\n`;
}
