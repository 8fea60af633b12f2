/**
 * `inspect` and `diff`: sizes, counts and digests equal what `tar -tv` and
 * skopeo report, on images built here, archives made by skopeo and podman
 * save, and an image pulled from a registry; store paths per layer; waste as
 * dive counts it; `diff` between builds that differ by one file, with diff's
 * exit codes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import {
  build,
  buildImage,
  buildLayeredImage,
  type BuildOptions,
  diffImages,
  formatReport,
  formatTree,
  type ImageReport,
  inspectHtml,
  inspectImage,
  push,
  writeTextDir,
} from "../mod.ts";
import { storeHash } from "../lib/store/store_path.ts";
import { writeTar } from "../lib/tar/writer.ts";
import type { TarEntry } from "../lib/tar/entry.ts";
import { recordedStorePaths, scanLayer, storePathFinder } from "../lib/inspect/scan.ts";
import { StackedFs } from "../lib/inspect/stack.ts";
import {
  lazyPodman,
  requireTools,
  rmrf,
  runOk,
  skopeoCopy,
  skopeoInspect,
  tempDir,
} from "./helpers/tools.ts";
import { type RegistryServer, startRegistry } from "./helpers/registry.ts";
import { CLI, ROOT, RUNTIME, runtimeCommand, runTs } from "./helpers/dockwright.ts";
import { diskUsage, ociLayout, runMeasured } from "./helpers/hostile.ts";

/** What `tar -tvf` says about an uncompressed tar: members, regular files and their bytes. */
async function tarListing(
  file: string,
): Promise<{ members: number; files: number; fileBytes: number }> {
  const r = await runOk("tar", ["-tvf", file, "--numeric-owner"]);
  const lines = r.stdout.split("\n").filter((l) => l.length > 0);
  let files = 0;
  let fileBytes = 0;
  for (const line of lines) {
    const m = /^(\S)\S*\s+\S+\s+(\d+)\s/.exec(line);
    assert.ok(m, `unexpected tar -tv line: ${line}`);
    if (m[1] === "-") {
      files++;
      fileBytes += Number(m[2]);
    }
  }
  return { members: lines.length, files, fileBytes };
}

/** Each layer of a docker-archive as a file of its own (its uncompressed tar). */
async function archiveLayers(archive: string, dir: string): Promise<string[]> {
  const manifest = JSON.parse(
    (await runOk("tar", ["-xOf", archive, "manifest.json"])).stdout,
  ) as Array<
    { Layers: string[] }
  >;
  const out: string[] = [];
  for (const [i, member] of manifest[0].Layers.entries()) {
    const file = join(dir, `layer-${i}.tar`);
    writeFileSync(file, (await runOk("tar", ["-xOf", archive, member])).stdoutBytes);
    out.push(file);
  }
  return out;
}

const sha256File = (file: string) =>
  `sha256:${createHash("sha256").update(readFileSync(file)).digest("hex")}`;

/** The layer blobs (digest, size) of the manifest skopeo reads or makes for `ref`. */
async function skopeoLayers(
  ref: string,
  extra: string[] = [],
): Promise<Array<{ digest: string; size: number }>> {
  const r = await runOk("skopeo", ["--insecure-policy", "inspect", "--raw", ...extra, ref]);
  const manifest = JSON.parse(r.stdout) as { layers: Array<{ digest: string; size: number }> };
  return manifest.layers.map((l) => ({ digest: l.digest, size: l.size }));
}

describe("inspect", () => {
  let dir: string;
  let cacheDir: string;
  let storeDir: string;
  let greeting: string;
  let tool: string;
  let archive: string;
  let report: ImageReport;
  let registry: RegistryServer | undefined;
  const podman = lazyPodman();

  const image = () =>
    buildLayeredImage({
      name: "inspect-me",
      tag: "1.0",
      contents: [
        tool,
        writeTextDir("etc/motd", "hello\n"),
        writeTextDir("srv/data.bin", "x".repeat(70000)),
      ],
      storeDir,
      closureGraph: [
        { path: greeting, narSize: 1000, references: [] },
        { path: tool, narSize: 2000, references: [greeting] },
      ],
      config: { Cmd: ["/bin/tool"], Env: ["A=1"], User: "1000:1000" },
    });

  before(async () => {
    dir = tempDir("dw-inspect-");
    cacheDir = join(dir, "cache");
    storeDir = join(dir, "store");
    greeting = `${storeDir}/${storeHash("greeting")}-greeting-1.0`;
    tool = `${storeDir}/${storeHash("tool")}-tool-2.0`;
    mkdirSync(join(greeting, "share"), { recursive: true });
    mkdirSync(join(tool, "bin"), { recursive: true });
    writeFileSync(join(greeting, "share", "greeting"), "Hello from a store path.\n".repeat(100));
    writeFileSync(join(tool, "bin", "tool"), `#!/bin/sh\ncat ${greeting}/share/greeting\n`, {
      mode: 0o755,
    });
    archive = join(dir, "a.tar");
    await build(image(), { out: archive, compressor: "none", cacheDir, progress: false });
    report = await inspectImage(archive, { cacheDir, progress: false, map: true });
  });
  after(async () => {
    await podman.close();
    await registry?.stop();
    rmrf(dir);
  });

  it("reports every layer as tar -tv and sha256 see it, with its store paths", async () => {
    const layers = await archiveLayers(archive, dir);
    assert.equal(report.layers.length, layers.length);
    for (const [i, file] of layers.entries()) {
      const l = report.layers[i];
      const listing = await tarListing(file);
      assert.equal(l.members, listing.members, `layer ${i + 1}: members`);
      assert.equal(l.files, listing.files, `layer ${i + 1}: files`);
      assert.equal(l.fileBytes, listing.fileBytes, `layer ${i + 1}: file bytes`);
      assert.equal(l.size, statSync(file).size, `layer ${i + 1}: uncompressed size`);
      assert.equal(l.diffId, sha256File(file), `layer ${i + 1}: diffId`);
      // A docker-archive stores its layers uncompressed: the blob is the tar.
      assert.equal(l.digest, l.diffId);
      assert.equal(l.compressedSize, l.size);
      assert.equal(l.encoding, "none");
    }
    // One store path per store layer, found both from the members and from the history.
    const stores = report.layers.map((l) => l.storePaths.map((p) => p.path));
    assert.deepEqual(stores.slice(0, 2).flat().sort(), [greeting, tool].sort());
    const g = report.storePaths.find((p) => p.path === greeting)!;
    assert.equal(g.size, "Hello from a store path.\n".length * 100);
    assert.deepEqual(report.biggestFiles[0], { path: "/srv/data.bin", size: 70000, layer: 3 });
    assert.equal(report.name, "inspect-me");
    assert.equal(report.tag, "1.0");
    assert.deepEqual(report.containerConfig.Cmd, ["/bin/tool"]);
    assert.equal(report.containerConfig.User, "1000:1000");
    assert.equal(report.manifest.origin, "computed");
    assert.equal(report.history.length, 3);
    assert.equal(report.waste.wastedBytes, 0);
    assert.equal(report.waste.efficiency, 1);
    // The size map: one node per layer, the store paths under their layers.
    assert.deepEqual(report.map!.children!.map((c) => c.name), ["layer 1", "layer 2", "layer 3"]);
    const storeNodes = report.map!.children!.flatMap((c) =>
      c.children!.filter((n) => n.kind === "store")
    );
    assert.deepEqual(storeNodes.map((n) => n.path).sort(), [greeting, tool].sort());
  });

  it("agrees with skopeo on the archive's layers, config and platform", async (t) => {
    if (!requireTools(t, ["skopeo"])) return;
    const ref = `docker-archive:${archive}`;
    const info = await skopeoInspect(ref) as { Architecture: string; Os: string; Layers: string[] };
    assert.deepEqual(
      report.layers.map((l) => ({ digest: l.digest, size: l.compressedSize })),
      await skopeoLayers(ref),
    );
    assert.deepEqual(report.layers.map((l) => l.digest), info.Layers);
    assert.equal(report.platform.architecture, info.Architecture);
    assert.equal(report.platform.os, info.Os);
    const raw = await skopeoInspect(ref, true) as { config: { digest: string; size: number } };
    assert.deepEqual(report.config, { digest: raw.config.digest, size: raw.config.size });
  });

  it("reads archives made by skopeo and podman save the same way", async (t) => {
    if (!requireTools(t, ["skopeo", "podman", "runc"])) return;
    const same = (other: ImageReport, what: string) => {
      assert.deepEqual(
        other.layers.map((l) => [l.diffId, l.size, l.members, l.files, l.fileBytes]),
        report.layers.map((l) => [l.diffId, l.size, l.members, l.files, l.fileBytes]),
        what,
      );
      assert.deepEqual(other.storePaths, report.storePaths, `${what}: store paths`);
    };
    const ociArchive = join(dir, "skopeo.oci.tar");
    await skopeoCopy(`docker-archive:${archive}`, `oci-archive:${ociArchive}:inspect-me:1.0`, [
      "--dest-compress-format",
      "gzip",
      "--dest-compress",
    ]);
    const oci = await inspectImage(ociArchive, { cacheDir, progress: false });
    same(oci, "skopeo oci-archive");
    const ociInfo = await skopeoInspect(`oci-archive:${ociArchive}`) as { Digest: string };
    assert.equal(oci.manifest.origin, "source");
    assert.equal(oci.manifest.digest, ociInfo.Digest, "the manifest skopeo wrote");
    assert.deepEqual(
      oci.layers.map((l) => ({ digest: l.digest, size: l.compressedSize })),
      await skopeoLayers(`oci-archive:${ociArchive}`),
    );
    assert.ok(oci.layers.every((l) => l.encoding === "gz" && l.compressedSize < l.size + 1024));

    const pm = await podman.get();
    await pm.load(archive);
    for (const format of ["docker-archive", "oci-archive"]) {
      const out = join(dir, `podman-${format}.tar`);
      const r = await pm.podman([
        "save",
        "--format",
        format,
        "-o",
        out,
        "localhost/inspect-me:1.0",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const saved = await inspectImage(out, { cacheDir, progress: false });
      same(saved, `podman save --format ${format}`);
      assert.deepEqual(
        saved.layers.map((l) => ({ digest: l.digest, size: l.compressedSize })),
        await skopeoLayers(`${format}:${out}`),
        `podman save --format ${format}: layer blobs`,
      );
    }
  });

  it("inspects an image pulled from a registry: the registry's manifest and blobs", async (t) => {
    if (!requireTools(t, ["docker-registry", "skopeo"])) return;
    registry = await startRegistry(join(dir, "registry"));
    const ref = `${registry.host}/inspect-me:1.0`;
    const pushed = await push(image(), ref, {
      cacheDir,
      tlsVerify: false,
      progress: false,
      compressor: "gz",
    });
    const pulled = await inspectImage(`docker://${ref}`, {
      cacheDir: join(dir, "other-cache"),
      tlsVerify: false,
      progress: false,
    });
    assert.equal(pulled.manifest.origin, "source");
    assert.equal(pulled.manifest.digest, pushed.manifestDigest);
    const info = JSON.parse(
      (await runOk("skopeo", [
        "--insecure-policy",
        "inspect",
        "--tls-verify=false",
        `docker://${ref}`,
      ]))
        .stdout,
    ) as { Digest: string };
    assert.equal(pulled.manifest.digest, info.Digest);
    assert.deepEqual(
      pulled.layers.map((l) => ({ digest: l.digest, size: l.compressedSize })),
      await skopeoLayers(`docker://${ref}`, ["--tls-verify=false"]),
    );
    assert.deepEqual(
      pulled.layers.map((l) => [l.diffId, l.size, l.members, l.files]),
      report.layers.map((l) => [l.diffId, l.size, l.members, l.files]),
    );
    assert.ok(pulled.layers.every((l) => l.encoding === "gz"));
  });

  it("writes a page whose script parses and whose data is the report", () => {
    const html = inspectHtml({ ...report, source: "</script><b>x" });
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.equal(scripts.length, 2, "the data and the script, nothing else");
    assert.deepEqual(JSON.parse(scripts[0][2]), { ...report, source: "</script><b>x" });
    new Function(scripts[1][2]); // a syntax error throws here
    assert.throws(() => inspectHtml({ ...report, map: undefined }), /no map/);
  });

  it("prints text, a tree and JSON on the command line", async () => {
    const text = await runTs(RUNTIME, CLI, ["inspect", archive, "--cache-dir", cacheDir]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^image {6}inspect-me:1\.0/);
    assert.ok(text.stdout.includes(greeting), "the store path is listed");
    assert.match(text.stdout, /efficiency 100\.0%/);
    assert.equal(text.stdout, formatReport({ ...report, source: archive, map: undefined }));

    const tree = await runTs(RUNTIME, CLI, ["inspect", archive, "--tree", "--cache-dir", cacheDir]);
    assert.equal(tree.code, 0, tree.stderr);
    assert.equal(tree.stdout, formatTree(report.map!));
    assert.match(tree.stdout, /█/);
    assert.match(tree.stdout, /layer 3/);

    const json = await runTs(RUNTIME, CLI, ["inspect", archive, "--json", "--cache-dir", cacheDir]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as ImageReport;
    assert.deepEqual(parsed.layers, report.layers);
    assert.equal(parsed.manifest.digest, report.manifest.digest);
    assert.equal(parsed.map, undefined);

    // An archive piped into stdin (`./result | dockwright inspect -`), plain and gzip, in one pass.
    const [cmd, ...pre] = runtimeCommand(RUNTIME);
    const piped = async (producer: string) =>
      await runOk("sh", [
        "-c",
        `${producer} "$1" | (shift; "$@")`,
        "sh",
        archive,
        cmd,
        ...pre,
        CLI,
        "inspect",
        "-",
        "--json",
        "--cache-dir",
        cacheDir,
      ]);
    for (const producer of ["cat", "gzip -c"]) {
      const fromStdin = JSON.parse((await piped(producer)).stdout) as ImageReport;
      assert.equal(fromStdin.source, "stdin");
      assert.deepEqual(fromStdin.layers, report.layers, producer);
      assert.deepEqual(fromStdin.waste, report.waste, producer);
    }
    const sameAsFile = await runOk("sh", [
      "-c",
      'f="$1"; shift; "$@" < "$f"',
      "sh",
      archive,
      cmd,
      ...pre,
      CLI,
      "diff",
      "-",
      archive,
      "--cache-dir",
      cacheDir,
    ]);
    assert.match(sameAsFile.stdout, /same image/);

    const bad = await runTs(RUNTIME, CLI, ["inspect"]);
    assert.equal(bad.code, 2);
    const missing = await runTs(RUNTIME, CLI, [
      "inspect",
      join(dir, "nope.tar"),
      "--cache-dir",
      cacheDir,
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: /);
    const help = await runTs(RUNTIME, CLI, ["inspect", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--html FILE/);
  });
});

describe("layers read where they are", () => {
  const MiB = 1 << 20;
  let dir: string;
  let registry: RegistryServer | undefined;
  before(() => {
    dir = tempDir("dw-inspect-in-place-");
  });
  after(async () => {
    await registry?.stop();
    rmrf(dir);
  });

  it("inspect and diff copy no layer into the cache: archives, gzip archives, layouts, registries", async (t) => {
    if (!requireTools(t, ["docker-registry"])) return;
    const buildCache = join(dir, "build-cache");
    mkdirSync(join(dir, "root", "srv"), { recursive: true });
    // 24 MiB that no codec shrinks: a layer copied into the cache would show at once.
    writeFileSync(join(dir, "root", "srv", "blob"), randomBytes(24 * MiB));
    writeFileSync(join(dir, "root", "srv", "motd"), "hi\n");
    const image = buildImage({ name: "in-place", tag: "1", copyToRoot: join(dir, "root") });
    const outputs: Array<[string, BuildOptions]> = [
      ["plain.tar", { compressor: "none" }],
      ["gzip.tar.gz", { compressor: "gz" }],
      ["layout.oci", { format: "oci", compressor: "zstd" }],
    ];
    const specs: string[] = [];
    for (const [name, options] of outputs) {
      const out = join(dir, name);
      await build(image, { ...options, out, cacheDir: buildCache, progress: false });
      specs.push(out);
    }
    registry = await startRegistry(join(dir, "registry"));
    await push(image, `${registry.host}/in-place:1`, {
      cacheDir: buildCache,
      tlsVerify: false,
      progress: false,
    });
    specs.push(`docker://${registry.host}/in-place:1`);

    const [cmd, ...pre] = runtimeCommand(RUNTIME);
    const reports: ImageReport[] = [];
    for (const spec of specs) {
      const cache = join(dir, `cache-${reports.length}`);
      const tmp = join(dir, `tmp-${reports.length}`);
      mkdirSync(tmp);
      const r = await runMeasured(cmd, [
        ...pre,
        CLI,
        "inspect",
        spec,
        "--json",
        "--cache-dir",
        cache,
        "--tls-verify=false",
      ], { env: { TMPDIR: tmp }, timeoutMs: 120_000, diskDirs: [cache, tmp] });
      assert.equal(r.code, 0, `${spec}: ${r.stderr}`);
      const written = Math.max(r.peakDiskBytes, diskUsage(cache) + diskUsage(tmp));
      assert.ok(
        written < 2 * MiB,
        `${spec}: inspect wrote ${written} bytes to its cache and temp folder`,
      );
      reports.push(JSON.parse(r.stdout) as ImageReport);
    }
    for (const [i, report] of reports.entries()) {
      assert.deepEqual(
        report.layers.map((l) => [l.diffId, l.size, l.members, l.files, l.fileBytes]),
        reports[0].layers.map((l) => [l.diffId, l.size, l.members, l.files, l.fileBytes]),
        specs[i],
      );
      assert.equal(report.biggestFiles[0].path, "/srv/blob");
      assert.equal(report.biggestFiles[0].size, 24 * MiB);
    }
    assert.deepEqual(
      reports.map((r) => r.layers[0].encoding),
      ["none", "none", "zstd", "gz"],
      "each layer as its source stores it (a gzip docker-archive holds plain layers)",
    );

    // diff: both sides read in place too.
    const cache = join(dir, "cache-diff");
    const diff = await runMeasured(cmd, [
      ...pre,
      CLI,
      "diff",
      specs[1],
      specs[2],
      "--cache-dir",
      cache,
    ], { timeoutMs: 120_000, diskDirs: [cache] });
    assert.equal(diff.code, 0, diff.stderr);
    const written = Math.max(diff.peakDiskBytes, diskUsage(cache));
    assert.ok(written < 2 * MiB, `diff wrote ${written} bytes to its cache`);
  });

  it("a layer that is no tar is named as such, after all its bytes were checked", async () => {
    // gzip of noise: it decompresses, but the scan stops at the first header; the rest of the
    // blob is still read and hashed, in order, so its digest holds and the error is the right one.
    const noise = randomBytes(4 * MiB);
    const blob = gzipSync(noise);
    const layout = join(dir, "no-tar.oci");
    ociLayout(layout, {
      layers: [{
        blob,
        diffId: `sha256:${createHash("sha256").update(noise).digest("hex")}`,
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      }],
    });
    await assert.rejects(
      inspectImage(layout, { cacheDir: join(dir, "cache-no-tar"), progress: false }),
      /no-tar\.oci: .*layer sha256:[0-9a-f]{64}.*cannot be read as a layer's tar archive/,
    );
  });
});

describe("diff", () => {
  let dir: string;
  let cacheDir: string;
  let imageFile: string;
  const archives: Record<string, string> = {};

  before(async () => {
    dir = tempDir("dw-diff-");
    cacheDir = join(dir, "cache");
    const root = join(dir, "root");
    mkdirSync(join(root, "etc"), { recursive: true });
    mkdirSync(join(root, "srv"), { recursive: true });
    writeFileSync(join(root, "etc", "motd"), "hello\n");
    writeFileSync(join(root, "srv", "a.txt"), "a".repeat(1000));
    writeFileSync(join(root, "srv", "b.txt"), "b".repeat(2000));
    imageFile = join(dir, "image.ts");
    writeFileSync(
      imageFile,
      `import { buildImage } from ${JSON.stringify(join(ROOT, "mod.ts"))};\n` +
        `export default buildImage({ name: "diff-me", tag: "1", copyToRoot: "./root", config: { Cmd: ["/bin/x"] } });\n`,
    );
    const buildTo = async (name: string) => {
      const out = join(dir, name);
      const r = await runTs(RUNTIME, CLI, [
        "build",
        imageFile,
        "-o",
        out,
        "--cache-dir",
        cacheDir,
        "-q",
      ]);
      assert.equal(r.code, 0, r.stderr);
      archives[name] = out;
    };
    await buildTo("one.tar");
    await buildTo("again.tar");
    writeFileSync(join(root, "srv", "b.txt"), "B".repeat(2001));
    await buildTo("two.tar");
  });
  after(() => rmrf(dir));

  it("finds exactly the one file two builds differ by, and nothing between identical builds", async () => {
    const d = await diffImages(archives["one.tar"], archives["two.tar"], {
      cacheDir,
      progress: false,
    });
    assert.equal(d.same, false);
    assert.deepEqual(d.paths.map((p) => [p.change, p.path]), [["changed", "/srv/b.txt"]]);
    const change = d.paths[0];
    assert.ok(change.change === "changed");
    assert.deepEqual(change.fields, ["size", "content"]);
    assert.equal(change.a.size, 2000);
    assert.equal(change.b.size, 2001);
    assert.deepEqual(d.config, []);
    assert.equal(d.layers.onlyA.length, 1);
    assert.equal(d.layers.onlyB.length, 1);
    assert.equal(d.summary.changed, 1);

    const same = await diffImages(archives["one.tar"], archives["again.tar"], {
      cacheDir,
      progress: false,
    });
    assert.equal(same.same, true);
    assert.deepEqual(same.paths, []);
    assert.equal(same.a.manifestDigest, same.b.manifestDigest);
    // Sizes are the layer tars' bytes, also when no layer differs (and nothing is analysed).
    assert.equal(same.summary.sizeA, 10240);
    assert.equal(same.summary.sizeB, 10240);
    assert.equal(d.summary.sizeA, 10240);
  });

  it("exits 0 for the same image, 1 for different ones, 2 for trouble", async () => {
    const cli = (...args: string[]) =>
      runTs(RUNTIME, CLI, ["diff", ...args, "--cache-dir", cacheDir]);
    const same = await cli(archives["one.tar"], archives["again.tar"]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /same image/);
    // An image file's export against the archive it built: the same image.
    const fromFile = await cli(imageFile, archives["two.tar"]);
    assert.equal(fromFile.code, 0, fromFile.stderr);

    const different = await cli(archives["one.tar"], archives["two.tar"]);
    assert.equal(different.code, 1, different.stderr);
    assert.match(different.stdout, /^ {2}~ \/srv\/b\.txt {2}\(size 2000 -> 2001, content\)$/m);
    const json = await cli(archives["one.tar"], archives["two.tar"], "--json");
    assert.equal(json.code, 1);
    assert.deepEqual(JSON.parse(json.stdout).paths.map((p: { path: string }) => p.path), [
      "/srv/b.txt",
    ]);

    const missing = await cli(archives["one.tar"], join(dir, "nope.tar"));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: /);
    const usage = await cli(archives["one.tar"]);
    assert.equal(usage.code, 2);
  });
});

describe("layers stacked", () => {
  const entry = (path: string, content?: string, extra: Partial<TarEntry> = {}): TarEntry => ({
    path,
    type: content === undefined ? "directory" : "file",
    mode: content === undefined ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
    mtime: 1,
    size: content?.length ?? 0,
    ...(content !== undefined
      ? { body: { kind: "bytes", bytes: new TextEncoder().encode(content) } }
      : {}),
    ...extra,
  });
  const scan = (entries: TarEntry[]) => scanLayer(writeTar(entries));

  it("counts overwritten, deleted and duplicated bytes as dive does", async () => {
    const fs = new StackedFs();
    fs.apply(
      await scan([
        entry("etc"),
        entry("etc/big", "x".repeat(1000)),
        entry("opt"),
        entry("opt/a", "a".repeat(300)),
        entry("opt/b", "b".repeat(200)),
        entry("var"),
        entry("var/log", "l".repeat(50)),
        entry("usr"),
        entry("usr/lib", "same content"),
      ]),
    );
    fs.apply(
      await scan([
        entry("etc/big", "y".repeat(10)), // overwrites 1000 bytes
        entry("opt/.wh.a", ""), // deletes 300 bytes
        entry("var/.wh..wh..opq", ""), // hides var/log: 50 bytes
        entry("var/new", "n"),
        entry("copy"),
        entry("copy/lib", "same content"), // the same 12 bytes as usr/lib, in another layer
        entry("link", undefined, { type: "hardlink", linkTarget: "copy/lib", mode: 0o644 }),
      ]),
    );
    const waste = fs.waste(10);
    assert.equal(waste.totalBytes, 1000 + 300 + 200 + 50 + 12 + 10 + 1 + 12);
    assert.equal(waste.overwrittenBytes, 1000);
    assert.equal(waste.deletedBytes, 350);
    assert.equal(waste.duplicateBytes, 12);
    assert.equal(waste.wastedBytes, 1362);
    assert.equal(waste.efficiency, (waste.totalBytes - 1362) / waste.totalBytes);
    assert.deepEqual(waste.items.map((i) => [i.kind, i.path, i.bytes, i.layers]), [
      ["overwritten", "/etc/big", 1000, [1, 2]],
      ["deleted", "/opt/a", 300, [1, 2]],
      ["deleted", "/var/log", 50, [1, 2]],
      ["duplicate", "/copy/lib", 12, [1, 2]],
    ]);
    const paths = [...fs.records()].map((r) => `${r.path}@${r.layer}`);
    assert.deepEqual(paths, [
      "copy@2",
      "copy/lib@2",
      "etc@1",
      "etc/big@2",
      "link@2",
      "opt@1",
      "opt/b@1",
      "usr@1",
      "usr/lib@1",
      "var@1",
      "var/new@2",
    ]);
    const link = [...fs.records()].find((r) => r.path === "link")!;
    assert.equal(link.linkedSize, 12);
  });

  it("finds store paths by their records and by their folder", () => {
    const find = storePathFinder(["/custom/place/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"]);
    assert.equal(
      find("custom/place/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12/bin/hello"),
      "custom/place/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12",
    );
    assert.equal(
      find("nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"),
      "nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12",
    );
    assert.equal(find("nix/store"), undefined);
    assert.equal(find("srv/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"), undefined);
    assert.deepEqual(
      recordedStorePaths(
        '["/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"]',
        "store paths: ['/nix/store/1c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-a', 'abc/layer.tar']",
      ),
      [
        "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12",
        "/nix/store/1c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-a",
      ],
    );
  });
});
