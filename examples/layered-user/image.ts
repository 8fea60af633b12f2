/**
 * A layered image on top of the hello image: fakeNss supplies /etc/passwd,
 * the container runs as the unprivileged `nobody`, and the base's layer is
 * reused verbatim below the customisation layer.
 *
 *   deno run -A examples/layered-user/image.ts        -> hello-user.tar.gz
 *   gunzip -c hello-user.tar.gz | podman load && podman run --rm hello-user:latest
 */
import { buildLayeredImage, fakeNss, main, writeTextDir } from "../../mod.ts";
import hello from "../hello/image.ts";

export default buildLayeredImage({
  name: "hello-user",
  tag: "latest",
  fromImage: hello,
  contents: [fakeNss, writeTextDir("etc/motd", "Welcome, nobody.\n")],
  config: { Cmd: ["/bin/hello"], User: "nobody", WorkingDir: "/var/empty" },
});

main(import.meta);
