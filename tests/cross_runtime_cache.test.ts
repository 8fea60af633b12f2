/**
 * One cache for both runtimes: a layer that Deno built is a cache hit for
 * Bun, and the other way round. The keys (fingerprints of the tar entries,
 * with each host file's identity) and the records are the same text in both,
 * whichever thread built the layer (store layers on worker threads, or all
 * on the main thread). And the cache never hands out a blob that a user could
 * change through an output: blobs are read-only, and outputs hold hard links
 * only where that read-only mode protects them (not for root).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { CLI, ROOT, RUNTIME, runTs } from "./helpers/dockwright.ts";
import { rmrf, tempDir } from "./helpers/tools.ts";
import { linksAreSafe } from "../lib/cache/blob_store.ts";

const OTHER = RUNTIME === "deno" ? "bun" : "deno";

interface Built {
  name: string;
  layers: Array<{ diffId: string; cached: boolean }>;
}

describe("one cache for Deno and Bun", () => {
  let dir: string;
  let imageFile: string;

  before(() => {
    dir = tempDir("dw-cross-");
    // A closure of three store paths (files with sub-millisecond times,
    // a symlink, nested folders) and a host folder for a buildImage.
    const storeDir = join(dir, "store");
    const paths = ["a-lib-1.0", "b-tool-2.1", "c-app-0.3"].map((n, i) =>
      join(storeDir, `${"abc"[i].repeat(32)}-${n}`)
    );
    for (const [i, path] of paths.entries()) {
      mkdirSync(join(path, "share", "doc"), { recursive: true });
      mkdirSync(join(path, "bin"), { recursive: true });
      writeFileSync(join(path, "share", "doc", "README"), `store path ${i}\n`.repeat(100 + i));
      writeFileSync(join(path, "bin", "tool"), new Uint8Array(5000 + i).fill(i));
    }
    symlinkSync("tool", join(paths[2], "bin", "app"));
    const rootfs = join(dir, "rootfs");
    mkdirSync(join(rootfs, "etc"), { recursive: true });
    writeFileSync(join(rootfs, "etc", "motd"), "hello\n");
    imageFile = join(dir, "image.ts");
    writeFileSync(
      imageFile,
      `import { buildImage, buildLayeredImage } from ${JSON.stringify(join(ROOT, "mod.ts"))};
export const layered = buildLayeredImage({
  name: "cross-layered",
  tag: "t",
  contents: [${JSON.stringify(paths[2])}],
  storeDir: ${JSON.stringify(storeDir)},
  closureGraph: [
    { path: ${JSON.stringify(paths[0])}, narSize: 3000, references: [] },
    { path: ${JSON.stringify(paths[1])}, narSize: 2000, references: [${JSON.stringify(paths[0])}] },
    { path: ${JSON.stringify(paths[2])}, narSize: 1000, references: [${JSON.stringify(paths[1])}] },
  ],
  maxLayers: 10,
});
export const plain = buildImage({ name: "cross-plain", tag: "t", copyToRoot: "./rootfs" });
`,
    );
  });
  after(() => rmrf(dir));

  async function build(
    runtime: "deno" | "bun",
    cacheDir: string,
    env: Record<string, string> = {},
  ): Promise<Built[]> {
    const out = join(dir, `out-${runtime}-{export}.oci`);
    const r = await runTs(
      runtime,
      CLI,
      ["build", imageFile, "-f", "oci", "-c", "zstd", "-o", out, "--cache-dir", cacheDir, "--json"],
      { cwd: dir, env },
    );
    assert.equal(r.code, 0, `${runtime} build failed:\n${r.stderr}`);
    return JSON.parse(r.stdout) as Built[];
  }

  it("hands out no cache blob that could be changed through an output", async () => {
    const cacheDir = join(dir, "cache-outputs");
    await build(RUNTIME, cacheDir);
    const blobs = join(cacheDir, "blobs", "sha256");
    const layout = join(dir, `out-${RUNTIME}-layered.oci`, "blobs", "sha256");
    const shared = readdirSync(layout).filter((name) => existsSync(join(blobs, name)));
    assert.ok(shared.length >= 3, "the layout holds the cache's layer and config blobs");
    for (const name of shared) {
      const stored = statSync(join(blobs, name));
      const output = statSync(join(layout, name));
      assert.equal(stored.mode & 0o777, 0o444, `cache blob ${name} is read-only`);
      if (linksAreSafe()) {
        // A hard link: a write through it fails, as the blob is read-only.
        assert.equal(output.ino, stored.ino);
        assert.throws(() => appendFileSync(join(layout, name), "x"), /EACCES|permission/i);
      } else {
        // Root, whom modes do not stop: a copy of its own.
        assert.notEqual(output.ino, stored.ino);
        assert.equal(output.mode & 0o777, 0o644);
      }
    }
  });

  for (const [first, second] of [[RUNTIME, OTHER], [OTHER, RUNTIME]] as const) {
    it(`a layer built by ${first} is a cache hit for ${second}`, async () => {
      const cacheDir = join(dir, `cache-${first}-${second}`);
      // The first build makes store layers on worker threads, the second looks them up on the main thread.
      const made = await build(first, cacheDir, { DOCKWRIGHT_THREADS: "2" });
      const found = await build(second, cacheDir, { DOCKWRIGHT_THREADS: "0" });
      assert.equal(found.length, 2);
      for (const [i, image] of made.entries()) {
        assert.ok(image.layers.length >= 1, `${image.name} has layers`);
        assert.ok(
          image.layers.every((l) => !l.cached),
          `${first} built every layer of ${image.name}`,
        );
        assert.deepEqual(
          found[i].layers.map((l) => l.diffId),
          image.layers.map((l) => l.diffId),
          `${second} made the same layers`,
        );
        assert.deepEqual(
          found[i].layers.map((l) => l.cached),
          image.layers.map(() => true),
          `${second} found every layer of ${image.name} in the cache ${first} filled`,
        );
      }
    });
  }
});
