/**
 * `runAsRoot`, as in Nix: a script run as real root inside a VM (QEMU; KVM
 * when it works, else software emulation), chrooted into the base image plus
 * `copyToRoot`. Whatever it changes (users, owners, device nodes, setuid
 * bits, deleted files) becomes the new layer.
 *
 *   deno run -A examples/run-as-root/image.ts --compressor none   -> run-as-root.tar
 *   podman load -i run-as-root.tar
 *   podman run --rm run-as-root:latest
 *
 * Needs qemu-system-x86, e2fsprogs, busybox-static and a kernel (see the
 * README's runAsRoot section); add `runAsRootMode: "userns"` to run the
 * script in a Linux namespace instead, without a VM.
 */
import { binSh, buildImage, fakeNss, main } from "../../mod.ts";

// The base: a shell (the host's static busybox) and root's passwd/group files.
const base = buildImage({
  name: "busybox-base",
  tag: "latest",
  copyToRoot: [binSh, fakeNss],
  compressor: "none",
});

export default buildImage({
  name: "run-as-root",
  tag: "latest",
  fromImage: base,
  runAsRoot: `
    echo "alice:x:1000:1000:Alice:/home/alice:/bin/sh" >> /etc/passwd
    echo "alice:x:1000:" >> /etc/group
    mkdir -p /home/alice && chown alice:alice /home/alice
    mknod /dev-null c 1 3
  `,
  // After runAsRoot, with cwd = the image root (relative paths).
  extraCommands: "mkdir -p tmp && chmod 1777 tmp",
  config: {
    Cmd: ["/bin/sh", "-c", "stat -c '%U:%G %n' /home/alice; stat -c '%F %t,%T' /dev-null"],
  },
});

main(import.meta);
