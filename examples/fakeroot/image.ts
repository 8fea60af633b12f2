/**
 * Ownership without root: `fakeRootCommands` runs under fakeroot, and the
 * `chown` it performs is recorded in the layer (no root needed on the host).
 *
 *   deno run -A examples/fakeroot/image.ts --compressor zstd   -> alice.tar.zst
 *   podman load -i alice.tar.zst
 *   podman run --rm alice:latest      (prints the owner of /home/alice)
 */
import { binSh, buildLayeredImage, fakeNss, main } from "../../mod.ts";

export default buildLayeredImage({
  name: "alice",
  tag: "latest",
  contents: [
    binSh, // /bin/sh: the host's static busybox (apt-get install busybox-static)
    fakeNss.override({
      extraPasswdLines: ["alice:x:1000:1000:Alice:/home/alice:/bin/sh"],
      extraGroupLines: ["alice:x:1000:"],
    }),
  ],
  fakeRootCommands: `
    mkdir -p home/alice tmp
    chown 1000:1000 home/alice
    chmod 1777 tmp
  `,
  config: {
    Cmd: ["/bin/sh", "-c", "stat -c '%U:%G %a %n' /home/alice /tmp"],
    WorkingDir: "/home/alice",
  },
});

main(import.meta);
