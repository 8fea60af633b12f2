/**
 * Every example builds from its own file and its container prints what the
 * example promises.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { build } from "../mod.ts";
import { createPodman, type Podman, requireTools, rmrf, tempDir } from "./helpers/tools.ts";
import { ROOT } from "./helpers/dockwright.ts";

const EXAMPLES: Array<{ dir: string; image: string; expect: RegExp; needs: string[] }> = [
  { dir: "hello", image: "localhost/hello:latest", expect: /^Hello from dockwright!\n$/, needs: [] },
  { dir: "layered-user", image: "localhost/hello-user:latest", expect: /^Hello from dockwright!\n$/, needs: [] },
  { dir: "fakeroot", image: "localhost/alice:latest", expect: /^alice:alice 755 \/home\/alice\nroot:root 1777 \/tmp\n$/, needs: ["fakeroot", "busybox"] },
  { dir: "closure-graph", image: "localhost/hello-closure:latest", expect: /^Hello from a store path/, needs: ["busybox"] },
];

describe("examples", () => {
  let dir: string;
  let podman: Podman | undefined;
  before(() => {
    dir = tempDir("dw-examples-");
  });
  after(async () => {
    await podman?.close();
    rmrf(dir);
  });

  for (const example of EXAMPLES) {
    it(`examples/${example.dir} builds and runs`, async (t) => {
      if (!requireTools(t, ["podman", "runc", ...example.needs])) return;
      const mod = await import(join(ROOT, "examples", example.dir, "image.ts"));
      const out = join(dir, `${example.dir}.tar`);
      await build(mod.default, { out, compressor: "none", cacheDir: join(dir, "cache"), progress: false });
      podman ??= await createPodman();
      await podman.load(out);
      assert.match(await podman.run(example.image), example.expect);
    });
  }
});
