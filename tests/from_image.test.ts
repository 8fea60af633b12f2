/**
 * fromImage: base images from image values, docker-archives (ours, skopeo's,
 * compressed), OCI layouts and archives; Env inheritance; hostile and corrupt
 * bases are refused with a clear error and leave nothing behind.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobStore } from "../lib/cache/blob_store.ts";
import { ImageFormatError, readImage } from "../lib/transport/read_image.ts";
import { TarUnsafePathError } from "../lib/tar/errors.ts";
import { build, buildImage, writeTextDir } from "../mod.ts";
import {
  lazyPodman,
  requireTools,
  rmrf,
  runOk,
  skopeoCopy,
  staticBusybox,
  tempDir,
} from "./helpers/tools.ts";

describe("fromImage", () => {
  let dir: string;
  let cacheDir: string;
  const sandbox = lazyPodman();
  before(() => {
    dir = tempDir("dw-from-");
    cacheDir = join(dir, "cache");
  });
  after(async () => {
    await sandbox.close();
    rmrf(dir);
  });

  function busyboxImage(name: string) {
    const busybox = staticBusybox();
    assert.ok(busybox, "a static busybox (apt-get install busybox-static)");
    const root = join(dir, `${name}-root`);
    mkdirSync(join(root, "bin"), { recursive: true });
    writeFileSync(join(root, "bin", "busybox"), readFileSync(busybox), { mode: 0o755 });
    return buildImage({
      name,
      tag: "latest",
      copyToRoot: [root, writeTextDir("tmp/layer1", "1\n")],
      config: { Entrypoint: ["/bin/busybox"], Env: ["FROM_PARENT=true", "LAST_LAYER=parent"] },
    });
  }

  it("stacks three buildImage layers in order, inheriting Env without de-duplication", async (t) => {
    if (!requireTools(t, ["podman", "runc", "busybox"])) return;
    const base = busyboxImage("chain-base");
    const middle = buildImage({
      name: "chain-mid",
      tag: "latest",
      fromImage: base,
      copyToRoot: writeTextDir("tmp/layer2", "2\n"),
    });
    const top = buildImage({
      name: "chain-top",
      tag: "latest",
      fromImage: middle,
      copyToRoot: [writeTextDir("tmp/layer1", "overwritten\n"), writeTextDir("tmp/layer3", "3\n")],
      config: { Env: ["FROM_CHILD=true", "LAST_LAYER=child"] },
    });
    const out = join(dir, "chain.tar");
    const result = await build(top, { out, compressor: "zstd", cacheDir, progress: false });
    assert.equal(result.layers.length, 3);
    const config = JSON.parse(
      await runOk("sh", [
        "-c",
        `zstd -dc '${out}' | tar -xOf - '${result.configDigest.slice(7)}.json'`,
      ]).then((r) => r.stdout),
    );
    assert.deepEqual(config.config.Env, [
      "FROM_PARENT=true",
      "LAST_LAYER=parent",
      "FROM_CHILD=true",
      "LAST_LAYER=child",
    ]);
    assert.equal(config.history.length, 3);
    const podman = await sandbox.get();
    await podman.load(out);
    const bb = { entrypoint: "/bin/busybox" };
    const cat = await podman.run("localhost/chain-top:latest", [
      "cat",
      "/tmp/layer1",
      "/tmp/layer2",
      "/tmp/layer3",
    ], bb);
    assert.equal(cat, "overwritten\n2\n3\n");
    const env = await podman.run("localhost/chain-top:latest", [
      "sh",
      "-c",
      "echo $FROM_PARENT $FROM_CHILD $LAST_LAYER",
    ], bb);
    assert.equal(env, "true true child\n");
  });

  it("reads bases from skopeo's docker-archive, a gzip docker-archive and an OCI layout with gzip layers", async (t) => {
    if (!requireTools(t, ["podman", "runc", "skopeo", "busybox"])) return;
    const baseOut = join(dir, "base.tar");
    await build(busyboxImage("ext-base"), {
      out: baseOut,
      compressor: "none",
      cacheDir,
      progress: false,
    });
    const viaSkopeo = join(dir, "skopeo-base.tar");
    await skopeoCopy(`docker-archive:${baseOut}`, `docker-archive:${viaSkopeo}:other/name:v1`);
    const gz = join(dir, "base.tar.gz");
    await build(busyboxImage("ext-base"), { out: gz, compressor: "gz", cacheDir, progress: false });
    const layout = join(dir, "base.oci");
    await build(busyboxImage("ext-base"), {
      out: layout,
      format: "oci",
      compressor: "gz",
      cacheDir,
      progress: false,
    });
    const ociArchive = join(dir, "base.oci.tar");
    await build(busyboxImage("ext-base"), {
      out: ociArchive,
      format: "oci-archive",
      compressor: "zstd",
      cacheDir,
      progress: false,
    });
    const podman = await sandbox.get();
    for (const [i, from] of [viaSkopeo, gz, layout, ociArchive].entries()) {
      const image = buildImage({
        name: `on-top-${i}`,
        tag: "t",
        fromImage: from,
        copyToRoot: writeTextDir("etc/extra", `${i}\n`),
      });
      const out = join(dir, `on-top-${i}.tar`);
      await build(image, {
        out,
        compressor: "none",
        cacheDir: join(dir, `cache-${i}`),
        progress: false,
      });
      await podman.load(out);
      // As in Nix, only Env is inherited from the base: the Entrypoint is not.
      const out2 = await podman.run(
        `localhost/on-top-${i}:t`,
        ["cat", "/tmp/layer1", "/etc/extra"],
        { entrypoint: "/bin/busybox" },
      );
      assert.equal(out2, `1\n${i}\n`);
    }
  });

  it("refuses a path that is not an image, naming the problem, and writes no output", async () => {
    const notImage = join(dir, "not-image.tar");
    writeFileSync(join(dir, "hello.txt"), "hi\n");
    await runOk("tar", ["-cf", notImage, "-C", dir, "hello.txt"]);
    const out = join(dir, "never.tar");
    const image = buildImage({ name: "x", fromImage: notImage });
    await assert.rejects(
      build(image, { out, cacheDir, progress: false }),
      /is not an image archive: it has neither manifest.json/,
    );
    await assert.rejects(
      build(buildImage({ name: "x", fromImage: join(dir, "missing.tar") }), {
        out,
        cacheDir,
        progress: false,
      }),
      /no such file or folder; check the fromImage path/,
    );
    assert.ok(!readdirSync(dir).includes("never.tar"));
  });

  it("rejects hostile and corrupt base archives with typed errors", async (t) => {
    if (!requireTools(t, ["python3"])) return;
    const store = BlobStore.open(join(dir, "hostile-cache"));
    const make = async (name: string, script: string) => {
      const path = join(dir, name);
      await runOk("python3", ["-c", script, path]);
      return path;
    };
    const pre = `import io, json, sys, tarfile, hashlib
def add(t, name, data, **kw):
    ti = tarfile.TarInfo(name); ti.size = len(data)
    for k, v in kw.items(): setattr(ti, k, v)
    t.addfile(ti, io.BytesIO(data))
`;
    const traversal = await make(
      "traversal.tar",
      pre +
        `t = tarfile.open(sys.argv[1], "w"); add(t, "../../evil.json", b"{}"); add(t, "manifest.json", b"[]"); t.close()`,
    );
    await assert.rejects(readImage(store, traversal), TarUnsafePathError);
    const escape = await make(
      "escape.tar",
      pre + `
t = tarfile.open(sys.argv[1], "w")
ti = tarfile.TarInfo("layer.tar"); ti.type = tarfile.SYMTYPE; ti.linkname = "../../../etc/passwd"; t.addfile(ti)
add(t, "manifest.json", json.dumps([{"Config": "c.json", "Layers": ["layer.tar"]}]).encode()); t.close()`,
    );
    await assert.rejects(readImage(store, escape), /links outside the archive/);
    const wrongDiff = await make(
      "wrong-diff.tar",
      pre + `
layer = io.BytesIO(); lt = tarfile.open(fileobj=layer, mode="w"); add(lt, "x", b"x"); lt.close()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
t = tarfile.open(sys.argv[1], "w")
add(t, "l/layer.tar", layer.getvalue()); add(t, hashlib.sha256(cfg).hexdigest() + ".json", cfg)
add(t, "manifest.json", json.dumps([{"Config": hashlib.sha256(cfg).hexdigest() + ".json", "Layers": ["l/layer.tar"]}]).encode()); t.close()`,
    );
    await assert.rejects(
      readImage(store, wrongDiff),
      (e: unknown) =>
        e instanceof ImageFormatError &&
        /diff_id .* but the config says sha256:0{64}/.test(e.message),
    );
    const badConfigName = await make(
      "bad-config-name.tar",
      pre + `
cfg = b'{"rootfs": {"diff_ids": []}}'
t = tarfile.open(sys.argv[1], "w"); add(t, "a" * 64 + ".json", cfg)
add(t, "manifest.json", json.dumps([{"Config": "a" * 64 + ".json", "Layers": []}]).encode()); t.close()`,
    );
    await assert.rejects(readImage(store, badConfigName), /does not match its name/);
    const full = readFileSync(wrongDiff);
    const truncated = join(dir, "truncated.tar");
    writeFileSync(truncated, full.subarray(0, 1500));
    await assert.rejects(readImage(store, truncated), /truncated/i);
    assert.deepEqual(readdirSync(join(store.root, "tmp")), [], "no temp file left");
  });
});
