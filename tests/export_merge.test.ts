/**
 * exportImage (an image flattened into one root-file-system tar, no VM) and
 * mergeImages (several images in one docker-archive), checked with GNU tar
 * and podman + runc.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import {
  build,
  buildImage,
  buildLayeredImage,
  exportImage,
  mergeImages,
  openImage,
  writeTextDir,
} from "../mod.ts";
import {
  gnuTarList,
  lazyPodman,
  requireTools,
  rmrf,
  runOk,
  staticBusybox,
  tempDir,
} from "./helpers/tools.ts";

describe("exportImage and mergeImages", () => {
  let dir: string;
  let cacheDir: string;
  const podman = lazyPodman();
  const getPodman = podman.get;
  let busyboxDir: string;

  before(() => {
    dir = tempDir("dw-export-");
    cacheDir = join(dir, "cache");
    busyboxDir = join(dir, "bb");
    mkdirSync(join(busyboxDir, "bin"), { recursive: true });
    const bb = staticBusybox();
    if (bb) writeFileSync(join(busyboxDir, "bin", "busybox"), readFileSync(bb), { mode: 0o755 });
  });
  after(async () => {
    await podman.close();
    rmrf(dir);
  });

  /** A base (busybox + /etc/removed), then a layer that removes /etc/removed and overwrites /etc/kept. */
  function chain() {
    const base = buildImage({
      name: "export-base",
      tag: "1",
      copyToRoot: [
        busyboxDir,
        writeTextDir("/etc/removed", "old\n"),
        writeTextDir("/etc/kept", "base\n"),
      ],
      compressor: "none",
    });
    return buildImage({
      name: "export-top",
      tag: "1",
      fromImage: base,
      copyToRoot: writeTextDir("/etc/kept", "top\n"),
      extraCommands: "true",
      uid: 1000,
      gid: 1000,
      compressor: "gz",
    });
  }

  it("exportImage flattens the layers into one tar: base files, upper files winning, owners kept", async (t) => {
    if (!requireTools(t, ["busybox"])) return;
    const out = join(dir, "rootfs.tar");
    const result = await build(exportImage({ fromImage: chain(), name: "rootfs.tar" }), {
      out,
      cacheDir,
      progress: false,
    });
    assert.equal(result.format, "rootfs-tar");
    assert.equal(result.path, out);
    const listing = await gnuTarList(out, ["--numeric-owner"]);
    const byName = new Map(listing.map((l) => [l.split(/\s+/).pop()!, l]));
    assert.ok(byName.has("./bin/busybox"), "the base's files are there");
    assert.ok(byName.has("./etc/kept"));
    assert.match(byName.get("./etc/kept")!, /1000\/1000/, "the upper layer's owner is kept");
    assert.match(byName.get("./bin/busybox")!, /0\/0/);
    assert.match(byName.get("./bin/busybox")!, /1980-01-01/);
    assert.equal((await runOk("tar", ["-xOf", out, "./etc/kept"])).stdout, "top\n");
    assert.ok(
      [...byName.keys()].every((n) => !n.includes(".wh.")),
      "no whiteouts in a flattened root",
    );
  });

  it("exportImage honours whiteouts of a runAsRoot-free base with a deleting layer", async (t) => {
    if (!requireTools(t, ["busybox", "unshare"])) return;
    if (process.getuid?.() !== 0) {
      return t.skip(
        "the deleting layer is made by runAsRoot in userns mode, which needs root here",
      );
    }
    const base = buildImage({
      name: "wh-base",
      tag: "1",
      copyToRoot: [busyboxDir, writeTextDir("/etc/removed", "old\n")],
      compressor: "none",
    });
    const top = buildImage({
      name: "wh-top",
      tag: "1",
      fromImage: base,
      runAsRoot: "/bin/busybox rm /etc/removed",
      runAsRootMode: "userns",
    });
    const out = join(dir, "wh-rootfs.tar");
    await build(exportImage({ fromImage: top }), { out, cacheDir, progress: false });
    const names = (await gnuTarList(out)).map((l) => l.split(/\s+/).pop()!);
    assert.ok(names.includes("./bin/busybox"));
    assert.ok(!names.includes("./etc/removed"), "the whited-out file is gone");
  });

  it("exportImage of a missing archive is a clear error and writes nothing", async () => {
    const out = join(dir, "none.tar");
    await assert.rejects(
      build(exportImage({ fromImage: join(dir, "missing.tar") }), {
        out,
        cacheDir,
        progress: false,
      }),
      /missing\.tar: no such file/,
    );
    assert.equal(existsSync(out), false);
    assert.throws(() => exportImage({} as never), /exportImage: attribute "fromImage"/);
  });

  it("mergeImages: every tag loads, layers stored once, owners kept, inputs of mixed compression", async (t) => {
    if (!requireTools(t, ["podman", "runc", "busybox", "skopeo"])) return;
    const base = buildImage({
      name: "merge-base",
      tag: "1",
      copyToRoot: busyboxDir,
      compressor: "none",
    });
    const owned = buildLayeredImage({
      name: "merge-owned",
      tag: "1",
      fromImage: base,
      fakeRootCommands: "mkdir -p home/alice && chown 1000:1000 home/alice",
      compressor: "zstd",
    });
    const third = buildImage({
      name: "merge-third",
      tag: "1",
      fromImage: base,
      copyToRoot: writeTextDir("/third", "3\n"),
      compressor: "gz",
    });
    // Inputs as files of three compressions, plus an image value.
    const files: string[] = [];
    for (const [image, compressor] of [[base, "gz"], [owned, "zstd"], [third, "none"]] as const) {
      const out = join(dir, `in-${image.imageName}.tar`);
      await build(image, { out, cacheDir, compressor, progress: false });
      files.push(out);
    }
    const out = join(dir, "merged.tar");
    // The last input is uncompressed, so the merge is too (Nix: the last input's compressor).
    const result = await build(mergeImages([files[0], files[1], files[2]]), {
      out,
      cacheDir,
      progress: false,
    });
    assert.equal(result.compressor, "none");
    assert.deepEqual(result.images.map((i) => `${i.name}:${i.tag}`), [
      "merge-base:1",
      "merge-owned:1",
      "merge-third:1",
    ]);
    const members = (await gnuTarList(out)).map((l) => l.split(/\s+/).pop()!);
    const baseLayer =
      JSON.parse((await runOk("tar", ["-xOf", files[0], "manifest.json"])).stdout)[0].Layers[0];
    assert.equal(
      members.filter((m) => m === baseLayer).length,
      1,
      "the shared base layer is stored once",
    );
    // One image of several, picked as skopeo's docker-archive:PATH:REF and :@N pick it.
    const owned2 = await openImage(`docker-archive:${out}:merge-owned:1`, { cacheDir });
    assert.equal(owned2.repoName, "merge-owned");
    const third2 = await openImage(`docker-archive:${out}:@2`, { cacheDir });
    assert.equal(third2.repoName, "merge-third");
    const skopeoThird = JSON.parse(
      (await runOk("skopeo", ["inspect", "--raw", `docker-archive:${out}:@2`])).stdout,
    ) as { config: { digest: string } };
    assert.equal(third2.config.digest, skopeoThird.config.digest);
    await assert.rejects(
      openImage(`docker-archive:${out}:nope:1`, { cacheDir }),
      /has no image "nope:1" \(it has: merge-base:1; merge-owned:1; merge-third:1\)/,
    );
    const p = await getPodman();
    const loaded = await p.load(out);
    for (const name of ["merge-base:1", "merge-owned:1", "merge-third:1"]) {
      assert.ok(loaded.some((l) => l.endsWith(name)), `${name} in ${loaded}`);
    }
    assert.equal(
      await p.run("localhost/merge-owned:1", [
        "/bin/busybox",
        "stat",
        "-c",
        "%u:%g",
        "/home/alice",
      ]),
      "1000:1000\n",
    );
    assert.equal(await p.run("localhost/merge-third:1", ["/bin/busybox", "cat", "/third"]), "3\n");
  });

  it("mergeImages takes image values and nested merges, and rejects what is not an image", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const a = buildImage({
      name: "val-a",
      tag: "1",
      copyToRoot: writeTextDir("/a", "a\n"),
      compressor: "none",
    });
    const b = buildImage({
      name: "val-b",
      tag: "1",
      copyToRoot: writeTextDir("/b", "b\n"),
      compressor: "none",
    });
    const out = join(dir, "merged-values.tar");
    const result = await build(mergeImages([mergeImages([a]), b]), {
      out,
      cacheDir,
      progress: false,
    });
    assert.deepEqual(result.images.map((i) => i.name), ["val-a", "val-b"]);
    const loaded = await (await getPodman()).load(out);
    assert.equal(loaded.length, 2);
    assert.throws(() => mergeImages([] as never), /mergeImages: attribute "images"/);
    assert.throws(() => mergeImages([42 as never]), /mergeImages: attribute "images\[0\]"/);
    const garbage = join(dir, "garbage.tar");
    writeFileSync(garbage, "x".repeat(1024));
    const badOut = join(dir, "merged-bad.tar");
    await assert.rejects(
      build(mergeImages([garbage]), { out: badOut, cacheDir, progress: false }),
      /garbage\.tar/,
    );
    assert.equal(existsSync(badOut), false);
  });
});
