/**
 * buildImage end to end: every output format checked by tools nobody here
 * wrote (podman + runc, skopeo, umoci, oci-image-tool), plus the byte-level
 * facts those tools do not check (config named by its sha256, index digests).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { build, buildImage, greeterExecutable, writeTextDir, writeTextFile } from "../mod.ts";
import {
  gnuTarList,
  lazyPodman,
  nixStoreAdd,
  ociImageToolValidate,
  requireTools,
  rmrf,
  runcRun,
  runOk,
  skopeoCopy,
  skopeoInspect,
  staticBusybox,
  tempDir,
  umociUnpack,
} from "./helpers/tools.ts";
import { HELLO } from "./helpers/dockwright.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const GREETING = "Hello from dockwright!\n";

function greeterImage(name: string, extra: Record<string, unknown> = {}) {
  return buildImage({
    name,
    tag: "latest",
    copyToRoot: writeTextFile({
      name: "hello",
      destination: "/bin/hello",
      text: greeterExecutable(GREETING),
      executable: true,
    }),
    config: { Cmd: ["/bin/hello"] },
    ...extra,
  });
}

/** Reads a member of an uncompressed tar with GNU tar. */
async function tarMember(archive: string, member: string): Promise<string> {
  return (await runOk("tar", ["-xOf", archive, member])).stdout;
}

describe("buildImage", () => {
  let dir: string;
  let cacheDir: string;
  const podman = lazyPodman();
  const getPodman = podman.get;

  before(() => {
    dir = tempDir("dw-build-");
    cacheDir = join(dir, "cache");
  });
  after(async () => {
    await podman.close();
    rmrf(dir);
  });

  it("writes a docker-archive that podman loads and runs, laid out as Nix's buildImage", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const out = join(dir, "hello.tar");
    const result = await build(greeterImage("hello"), {
      out,
      compressor: "none",
      cacheDir,
      progress: false,
    });
    assert.equal(result.path, out);
    assert.equal(result.format, "docker-archive");
    const names = (await gnuTarList(out)).map((l) => l.split(/\s+/).pop()!);
    const manifest = JSON.parse(await tarMember(out, "manifest.json"));
    assert.equal(manifest.length, 1);
    assert.deepEqual(Object.keys(manifest[0]), ["RepoTags", "Layers", "Config"]);
    assert.deepEqual(manifest[0].RepoTags, ["hello:latest"]);
    const configName: string = manifest[0].Config;
    const configBytes = (await runOk("tar", ["-xOf", out, configName])).stdout;
    assert.equal(
      configName,
      `${sha256(new TextEncoder().encode(configBytes))}.json`,
      "config file is named by its sha256",
    );
    assert.equal(`sha256:${configName.slice(0, 64)}`, result.configDigest);
    const layerDir = manifest[0].Layers[0].split("/")[0];
    for (
      const m of [
        `${layerDir}/`,
        `${layerDir}/VERSION`,
        `${layerDir}/json`,
        `${layerDir}/layer.tar`,
        "repositories",
      ]
    ) {
      assert.ok(names.includes(m), `member ${m} present`);
    }
    assert.deepEqual(JSON.parse(await tarMember(out, "repositories")), {
      hello: { latest: layerDir },
    });
    const config = JSON.parse(configBytes);
    assert.deepEqual(Object.keys(config), [
      "architecture",
      "config",
      "created",
      "os",
      "rootfs",
      "history",
    ]);
    assert.equal(config.created, "1970-01-01T00:00:01Z");
    assert.deepEqual(config.config, { Cmd: ["/bin/hello"], Env: [] });
    assert.deepEqual(config.rootfs, { diff_ids: [result.layers[0].diffId], type: "layers" });
    const pm = await getPodman();
    const loaded = await pm.load(out);
    assert.ok(loaded.some((n) => n.endsWith("hello:latest")), `loaded ${loaded}`);
    assert.equal(await pm.run("localhost/hello:latest"), GREETING);
    const inspected = await pm.inspect("localhost/hello:latest");
    assert.equal(inspected.Id, result.configDigest.slice(7));
  });

  it("passes skopeo (docker-archive -> oci) and umoci, and the unpacked bundle runs under runc", async (t) => {
    if (!requireTools(t, ["skopeo", "umoci", "runc"])) return;
    const out = join(dir, "hello-sk.tar");
    await build(greeterImage("hello-sk"), { out, compressor: "none", cacheDir, progress: false });
    const layout = join(dir, "from-archive.oci");
    await skopeoCopy(`docker-archive:${out}`, `oci:${layout}:latest`);
    const bundle = join(dir, "bundle-sk");
    await umociUnpack(layout, "latest", bundle);
    assert.equal(await runcRun(bundle), GREETING);
  });

  it("writes an OCI layout that umoci and oci-image-tool accept, with correct digests", async (t) => {
    if (!requireTools(t, ["umoci", "oci-image-tool", "runc"])) return;
    const out = join(dir, "hello.oci");
    const result = await build(greeterImage("hello"), {
      out,
      format: "oci",
      cacheDir,
      progress: false,
    });
    assert.equal(result.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
    assert.deepEqual(JSON.parse(readFileSync(join(out, "oci-layout"), "utf8")), {
      imageLayoutVersion: "1.0.0",
    });
    assert.equal(
      index.manifests[0].annotations["org.opencontainers.image.ref.name"],
      "hello:latest",
    );
    assert.equal(index.manifests[0].annotations["io.containerd.image.name"], undefined);
    assert.equal(index.manifests[0].digest, result.manifestDigest);
    for (const name of readdirSync(join(out, "blobs", "sha256"))) {
      assert.equal(
        sha256(readFileSync(join(out, "blobs", "sha256", name))),
        name,
        `blob ${name} matches its name`,
      );
    }
    const manifest = JSON.parse(
      readFileSync(join(out, "blobs", "sha256", result.manifestDigest.slice(7)), "utf8"),
    );
    assert.equal(manifest.config.digest, result.configDigest);
    assert.equal(
      index.manifests[0].size,
      readFileSync(join(out, "blobs", "sha256", result.manifestDigest.slice(7))).length,
    );
    await ociImageToolValidate(out, "hello:latest");
    const bundle = join(dir, "bundle-oci");
    await umociUnpack(out, "hello:latest", bundle);
    assert.equal(await runcRun(bundle), GREETING);
  });

  it("writes an OCI archive that skopeo reads", async (t) => {
    if (!requireTools(t, ["skopeo", "umoci"])) return;
    const out = join(dir, "hello.oci.tar");
    const result = await build(greeterImage("hello"), {
      out,
      format: "oci-archive",
      cacheDir,
      progress: false,
    });
    const raw = await skopeoInspect(`oci-archive:${out}:hello:latest`, true);
    assert.equal((raw as { config: { digest: string } }).config.digest, result.configDigest);
    const layout = join(dir, "from-oci-archive");
    await skopeoCopy(`oci-archive:${out}:hello:latest`, `oci:${layout}:latest`);
    await umociUnpack(layout, "latest", join(dir, "bundle-ocia"));
  });

  it("compresses: gz and zstd docker-archives load, zstd OCI layers survive a skopeo round trip", async (t) => {
    if (!requireTools(t, ["podman", "skopeo", "umoci", "zstd", "gzip"])) return;
    const pm = await getPodman();
    const zst = join(dir, "z.tar.zst");
    await build(greeterImage("zimg"), { out: zst, compressor: "zstd", cacheDir, progress: false });
    assert.deepEqual([...readFileSync(zst).subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    await pm.load(zst);
    assert.equal(await pm.run("localhost/zimg:latest"), GREETING);
    // Debian's podman 4.3 cannot read gzip docker-archives at all; check the gzip stream with gunzip instead.
    const gz = join(dir, "g.tar.gz");
    await build(greeterImage("gimg"), { out: gz, compressor: "gz", cacheDir, progress: false });
    assert.deepEqual([...readFileSync(gz).subarray(0, 2)], [0x1f, 0x8b]);
    await runOk("sh", ["-c", `gunzip -c '${gz}' > '${join(dir, "g.tar")}'`]);
    await pm.load(join(dir, "g.tar"));
    assert.equal(await pm.run("localhost/gimg:latest"), GREETING);
    const zoci = join(dir, "z.oci");
    const result = await build(greeterImage("zimg"), {
      out: zoci,
      format: "oci",
      compressor: "zstd",
      cacheDir,
      progress: false,
    });
    assert.equal(result.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
    // skopeo decompresses the zstd layer and checks it against the diff_id while recompressing.
    const regz = join(dir, "z-regz.oci");
    await skopeoCopy(`oci:${zoci}:zimg:latest`, `oci:${regz}:latest`, [
      "--dest-compress-format",
      "gzip",
      "--dest-compress",
    ]);
    await umociUnpack(regz, "latest", join(dir, "bundle-z"));
  });

  it("copies host folders as rsync -a does, with uid/gid, and keeps modes, symlinks and empty folders", async (t) => {
    if (!requireTools(t, ["umoci", "runc", "busybox"])) return;
    const src = join(dir, "rootfs");
    mkdirSync(join(src, "bin"), { recursive: true });
    mkdirSync(join(src, "srv", "empty"), { recursive: true });
    writeFileSync(join(src, "srv", "data.txt"), "data\n");
    writeFileSync(join(src, "bin", "tool"), "#!/bin/sh\n");
    chmodSync(join(src, "bin", "tool"), 0o4755);
    symlinkSync("data.txt", join(src, "srv", "link"));
    symlinkSync("/nowhere", join(src, "dangling"));
    const busybox = (await runOk("sh", ["-c", "command -v busybox"])).stdout.trim();
    const out = join(dir, "hostcopy.oci");
    const image = buildImage({
      name: "hostcopy",
      tag: "t1",
      copyToRoot: [src, busybox, writeTextDir("etc/motd", "hi\n")],
      config: { Entrypoint: ["/busybox"] },
      uid: 1000,
      gid: 100,
    });
    const result = await build(image, {
      out,
      format: "oci",
      compressor: "none",
      cacheDir,
      progress: false,
    });
    const blob = join(out, "blobs", "sha256", result.layers[0].digest.slice(7));
    const lines = await gnuTarList(blob, ["--numeric-owner"]);
    const find = (suffix: string) => lines.find((l) => l.endsWith(suffix));
    assert.match(
      find(" ./")!,
      /^drwxrwxr-x 1000\/100 +0 1980-01-01 00:00 \.\/$/,
      "root is 0775 (chmod ug+w), 1980 mtime",
    );
    assert.match(find(" ./bin/tool")!, /^-rwsr-xr-x 1000\/100 /, "setuid kept");
    assert.match(find(" ./srv/link -> data.txt")!, /^lrwxrwxrwx /);
    assert.match(find(" ./dangling -> /nowhere")!, /^lrwxrwxrwx /);
    assert.ok(find(" ./srv/empty/"), "empty folder kept");
    assert.match(
      find(" ./etc/motd")!,
      /^-r--r--r-- 1000\/100 +3 /,
      "generated file is read-only like a store file",
    );
    assert.ok(find(" ./busybox"), "a host file lands at /<basename>");
    const names = lines.map((l) => l.split(/\s+/).slice(5).join(" "));
    assert.deepEqual(names.slice(0, 3), ["./", "./bin/", "./bin/tool"], "sorted depth first");
    const bundle = join(dir, "bundle-host");
    await umociUnpack(out, "hostcopy:t1", bundle, { rootless: process.getuid?.() !== 0 });
    assert.equal(
      await runcRun(bundle, { args: ["/busybox", "cat", "/srv/link", "/etc/motd"] }),
      "data\nhi\n",
    );
    // A rootless unpack cannot chown; as root the owners from the layer are real.
    const owner = process.getuid?.() === 0 ? "1000:100" : "0:0";
    assert.equal(
      (await runcRun(bundle, { args: ["/busybox", "stat", "-c", "%u:%g %a", "/srv/data.txt"] }))
        .trim(),
      `${owner} 644`,
    );
  });

  it("gives identical bytes when built twice, with and without the cache", async () => {
    const a = join(dir, "r1.tar");
    const b = join(dir, "r2.tar");
    const c = join(dir, "r3.tar");
    const r1 = await build(greeterImage("repro"), {
      out: a,
      compressor: "zstd",
      cacheDir: join(dir, "cache-a"),
      progress: false,
    });
    const r2 = await build(greeterImage("repro"), {
      out: b,
      compressor: "zstd",
      cacheDir: join(dir, "cache-b"),
      progress: false,
    });
    const r3 = await build(greeterImage("repro"), {
      out: c,
      compressor: "zstd",
      cacheDir: join(dir, "cache-a"),
      progress: false,
    });
    assert.deepEqual(readFileSync(a), readFileSync(b));
    assert.deepEqual(readFileSync(a), readFileSync(c));
    assert.equal(r1.manifestDigest, r2.manifestDigest);
    assert.equal(r1.manifestDigest, r3.manifestDigest);
  });

  it("changes the layer when a host file changes, and reuses it when nothing changed", async () => {
    const src = join(dir, "changing");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "f"), "one\n");
    const image = buildImage({ name: "changing", tag: "x", copyToRoot: src });
    const opts = {
      out: join(dir, "changing.oci"),
      format: "oci" as const,
      cacheDir,
      progress: false,
    };
    const first = await build(image, opts);
    const again = await build(image, opts);
    assert.equal(again.layers[0].diffId, first.layers[0].diffId);
    writeFileSync(join(src, "f"), "two\n"); // same size: only content and ctime change
    const changed = await build(image, opts);
    assert.notEqual(changed.layers[0].diffId, first.layers[0].diffId);
  });

  it("derives a stable tag from the content when tag is null, and honours created and architecture", async () => {
    const out = join(dir, "notag.oci");
    const image = buildImage({
      name: "Registry.Example.com:5000/Team/NoTag",
      created: "now",
      architecture: "arm64",
      copyToRoot: writeTextDir("x", "x"),
    });
    const r = await build(image, { out, format: "oci", cacheDir, progress: false });
    assert.equal(r.name, "registry.example.com:5000/team/notag");
    assert.match(r.tag, /^[0-9a-f]{32}$/);
    const config = JSON.parse(
      readFileSync(join(out, "blobs", "sha256", r.configDigest.slice(7)), "utf8"),
    );
    assert.equal(config.architecture, "arm64");
    assert.notEqual(config.created, "1970-01-01T00:00:01Z");
    assert.ok(
      Math.abs(Date.parse(config.created) - Date.now()) < 120_000,
      `created=now is recent: ${config.created}`,
    );
    const fixed = buildImage({ name: "notag", copyToRoot: writeTextDir("x", "x") });
    const t1 =
      (await build(fixed, { out: join(dir, "t1.oci"), format: "oci", cacheDir, progress: false }))
        .tag;
    const t2 =
      (await build(fixed, { out: join(dir, "t2.oci"), format: "oci", cacheDir, progress: false }))
        .tag;
    assert.equal(t1, t2);
  });

  it("adds the store paths the layer refers to under /nix/store, as Nix's closure step does", async (t) => {
    if (!requireTools(t, ["nix-store", "podman", "runc", "busybox"])) return;
    const dep = await nixStoreAdd(join(dir, "closure-dep"), { msg: "from the store\n" });
    const topDir = join(dir, "closure-top");
    mkdirSync(join(topDir, "bin"), { recursive: true });
    writeFileSync(join(topDir, "bin", "busybox"), readFileSync(staticBusybox()!), { mode: 0o755 });
    writeFileSync(join(topDir, "bin", "show"), `#!/bin/busybox sh\n/bin/busybox cat ${dep}/msg\n`, {
      mode: 0o755,
    });
    // A reference cut by the 1 MiB pieces files are scanned in is found too.
    const cut = await nixStoreAdd(join(dir, "closure-cut"), { note: "cut\n" });
    writeFileSync(join(topDir, "data"), "x".repeat((1 << 20) - 20) + cut + "/note\n");
    const top = (await runOk("nix-store", ["--add", topDir])).stdout.trim();
    const out = join(dir, "closure.tar");
    await build(
      buildImage({ name: "closure", tag: "1", copyToRoot: top, config: { Cmd: ["/bin/show"] } }),
      { out, cacheDir, compressor: "none", progress: false },
    );
    const manifest = JSON.parse(await tarMember(out, "manifest.json"));
    const members =
      (await runOk("sh", ["-c", 'tar -xOf "$1" "$2" | tar -tv', "sh", out, manifest[0].Layers[0]]))
        .stdout;
    assert.match(
      members,
      /^dr-xr-xr-x 0\/0 .* \.\/nix\/store\/$/m,
      "nix/store is added with mode 0555",
    );
    assert.ok(members.includes(`nix/store/${dep.slice(11)}/msg`), members);
    assert.ok(members.includes(`nix/store/${cut.slice(11)}/note`), members);
    const pm = await getPodman();
    await pm.load(out);
    assert.equal(await pm.run("localhost/closure:1"), "from the store\n");
  });

  it("layers bigger than the worker threshold store the right bytes with none, gz and zstd (buffers are reused safely)", async (t) => {
    if (!requireTools(t, ["zstd", "gzip"])) return;
    const src = join(dir, "big-layer");
    mkdirSync(src);
    const bytes = new Uint8Array(20 << 20);
    let x = 1;
    for (let i = 0; i < bytes.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      bytes[i] = i % 3 === 0 ? 65 : x >>> 24;
    }
    writeFileSync(join(src, "a"), bytes);
    writeFileSync(join(src, "b"), bytes.reverse());
    const diffIds = new Set<string>();
    for (
      const [compressor, decode] of [["none", "cat"], ["gz", "gzip -dc"], [
        "zstd",
        "zstd -dc",
      ]] as const
    ) {
      const out = join(dir, `big-${compressor}.oci`);
      const r = await build(buildImage({ name: "big-layer", copyToRoot: src }), {
        out,
        format: "oci",
        compressor,
        cacheDir,
        progress: false,
      });
      const blob = join(out, "blobs", "sha256", r.layers[0].digest.slice(7));
      const stored = await runOk("sh", ["-c", 'sha256sum "$1"', "sh", blob]);
      assert.equal(
        `sha256:${stored.stdout.split(" ")[0]}`,
        r.layers[0].digest,
        `${compressor}: blob named by its digest`,
      );
      const { stdout } = await runOk("sh", ["-c", `${decode} "$1" | sha256sum`, "sh", blob]);
      assert.equal(
        `sha256:${stdout.split(" ")[0]}`,
        r.layers[0].diffId,
        `${compressor}: decompresses to its diff_id`,
      );
      diffIds.add(r.layers[0].diffId);
    }
    assert.equal(diffIds.size, 1, "one diff_id whatever the compressor");
  });

  it("runs the hello example end to end from its own file", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    assert.ok(existsSync(HELLO));
    const mod = await import(HELLO);
    const out = join(dir, "example.tar");
    await build(mod.default, { out, cacheDir, progress: false });
    const pm = await getPodman();
    await pm.load(out);
    assert.equal(await pm.run("localhost/hello:latest"), GREETING);
  });
});
