/**
 * Every example builds from its own file and its container prints what the
 * example promises.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { build } from "../mod.ts";
import { inCI, lazyPodman, requireTools, rmrf, tempDir } from "./helpers/tools.ts";
import { defaultCacheDir } from "../lib/cache/blob_store.ts";
import { findKernel } from "../lib/build/run/vm/kernel.ts";
import { ROOT } from "./helpers/dockwright.ts";

const EXAMPLES: Array<{ dir: string; image: string; expect: RegExp; needs: string[] }> = [
  {
    dir: "hello",
    image: "localhost/hello:latest",
    expect: /^Hello from dockwright!\n$/,
    needs: [],
  },
  {
    dir: "layered-user",
    image: "localhost/hello-user:latest",
    expect: /^Hello from dockwright!\n$/,
    needs: [],
  },
  {
    dir: "fakeroot",
    image: "localhost/alice:latest",
    expect: /^alice:alice 755 \/home\/alice\nroot:root 1777 \/tmp\n$/,
    needs: ["fakeroot", "busybox"],
  },
  {
    dir: "closure-graph",
    image: "localhost/hello-closure:latest",
    expect: /^Hello from a store path/,
    needs: ["busybox"],
  },
  {
    dir: "run-as-root",
    image: "localhost/run-as-root:latest",
    expect: /^alice:alice \/home\/alice\ncharacter special file 1,3\n$/,
    needs: ["busybox", "qemu-system-x86_64", "mkfs.ext4", "debugfs"],
  },
];

/** True when the runAsRoot VM finds a kernel (DOCKWRIGHT_VM_KERNEL, the default cache, /boot). */
function hasVmKernel(): boolean {
  try {
    findKernel(defaultCacheDir());
    return true;
  } catch {
    return false;
  }
}

describe("examples", () => {
  let dir: string;
  const podman = lazyPodman();
  before(() => {
    dir = tempDir("dw-examples-");
  });
  after(async () => {
    await podman.close();
    rmrf(dir);
  });

  for (const example of EXAMPLES) {
    it(`examples/${example.dir} builds and runs`, async (t) => {
      if (!requireTools(t, ["podman", "runc", ...example.needs])) return;
      if (example.needs.includes("qemu-system-x86_64") && !hasVmKernel()) {
        if (inCI()) throw new Error("no kernel for the runAsRoot VM in CI (.ci/run unpacks one)");
        return t.skip("no kernel for the runAsRoot VM (see the README's runAsRoot section)");
      }
      const mod = await import(join(ROOT, "examples", example.dir, "image.ts"));
      const out = join(dir, `${example.dir}.tar`);
      await build(mod.default, {
        out,
        compressor: "none",
        cacheDir: join(dir, "cache"),
        progress: false,
      });
      const pm = await podman.get();
      await pm.load(out);
      assert.match(await pm.run(example.image), example.expect);
    });
  }
});
