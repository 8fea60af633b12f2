/**
 * Store paths and their closure without Nix: the closure is described by a
 * graph in the format of Nix's `closureInfo` / `exportReferencesGraph`
 * (`[{ path, narSize, references }]`), and the store lives in `./store`
 * (written by this file on first use; git ignores it).
 * Each store path gets its own layer (auto-layer), the customisation layer
 * links `bin/hello` into `/`. With Nix installed, drop `closureGraph` and
 * `storeDir` and give real `/nix/store` paths: nix-store supplies the graph.
 *
 *   bun examples/closure-graph/image.ts --format oci   -> hello-closure.oci
 */
import { fileURLToPath } from "node:url";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { binSh, buildLayeredImage, main } from "../../mod.ts";

const storeDir = fileURLToPath(new URL("./store", import.meta.url));
const greeting = `${storeDir}/k6q8zvm5k7x0hw8dyc0jxz3mr2wv4y1a-greeting-1.0`;
const hello = `${storeDir}/9x2ri8f2w6pq1bp3mr0h3i0cg7f5dl4n-hello-script-1.0`;

// Stand-ins for what a Nix build would have put in the store. The script names
// its dependency by absolute store path, as Nix-built scripts do.
mkdirSync(`${greeting}/share`, { recursive: true });
mkdirSync(`${hello}/bin`, { recursive: true });
writeFileSync(
  `${greeting}/share/greeting`,
  "Hello from a store path, with its closure in its own layers.\n",
);
writeFileSync(
  `${hello}/bin/hello`,
  `#!/bin/sh\nread -r line < ${greeting}/share/greeting\necho "$line"\n`,
);
chmodSync(`${hello}/bin/hello`, 0o555);

export default buildLayeredImage({
  name: "hello-closure",
  tag: "latest",
  contents: [hello, binSh],
  storeDir,
  closureGraph: [
    { path: greeting, narSize: 512, references: [] },
    { path: hello, narSize: 640, references: [greeting] },
  ],
  config: { Cmd: ["/bin/hello"] },
  maxLayers: 10,
});

main(import.meta);
