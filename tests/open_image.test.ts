/**
 * `openImage` reads every format dockwright writes, and archives written by
 * skopeo and `podman save`, into equal model values: the same config digest
 * and the same diffIds, whatever the container around them.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  build,
  buildLayeredImage,
  type Image,
  ImageFormatError,
  openImage,
  streamImage,
  writeTextDir,
} from "../mod.ts";
import { lazyPodman, requireTools, rmrf, skopeoCopy, tempDir } from "./helpers/tools.ts";
import { type RegistryServer, startRegistry } from "./helpers/registry.ts";
import { push } from "../mod.ts";
import { createWriteStream } from "node:fs";

describe("openImage", () => {
  let dir: string;
  let cacheDir: string;
  let registry: RegistryServer | undefined;
  const podman = lazyPodman();
  const image = () =>
    buildLayeredImage({
      name: "open-me",
      tag: "1.0",
      contents: [
        writeTextDir("etc/motd", "hello\n"),
        writeTextDir("srv/data.txt", "x".repeat(5000)),
      ],
      config: { Cmd: ["/bin/true"], Env: ["A=1"] },
    });
  let reference: Image;

  before(async () => {
    dir = tempDir("dw-open-");
    cacheDir = join(dir, "cache");
    reference = await openImage(image(), { cacheDir, progress: false });
  });
  after(async () => {
    await podman.close();
    await registry?.stop();
    rmrf(dir);
  });

  const same = (opened: Image, what: string) => {
    assert.equal(opened.config.digest, reference.config.digest, `${what}: config digest`);
    assert.deepEqual(
      opened.layers.map((l) => l.diffId),
      reference.layers.map((l) => l.diffId),
      `${what}: diffIds`,
    );
  };

  it("reads back every format dockwright writes", async () => {
    const outputs = [
      { format: "docker-archive", compressor: "none", file: "a.tar" },
      { format: "docker-archive", compressor: "gz", file: "a.tar.gz" },
      { format: "docker-archive", compressor: "zstd", file: "a.tar.zst" },
      { format: "oci", compressor: "gz", file: "a.oci" },
      { format: "oci", compressor: "zstd", file: "z.oci" },
      { format: "oci-archive", compressor: "none", file: "a.oci.tar" },
    ] as const;
    for (const o of outputs) {
      const out = join(dir, o.file);
      await build(image(), { ...o, out, cacheDir, progress: false });
      const opened = await openImage(out, { cacheDir });
      same(opened, `${o.format} ${o.compressor}`);
      assert.equal(opened.repoName === "open-me" || opened.repoName === "", true);
      assert.equal(opened.tag, "1.0", `${o.format}: the tag survives`);
    }
    // skopeo-style prefixes, an OCI tag selector, and the stream.
    same(await openImage(`oci:${join(dir, "a.oci")}:1.0`, { cacheDir }), "oci:PATH:TAG");
    same(await openImage(`docker-archive:${join(dir, "a.tar")}`, { cacheDir }), "docker-archive:");
    const streamed = join(dir, "streamed.tar");
    await streamImage(image(), { cacheDir, progress: false }, createWriteStream(streamed));
    same(await openImage(streamed, { cacheDir }), "stream");
  });

  it("reads archives written by skopeo and podman save", async (t) => {
    if (!requireTools(t, ["skopeo", "podman", "runc"])) return;
    const source = join(dir, "src.tar");
    await build(image(), { out: source, compressor: "none", cacheDir, progress: false });
    for (const dst of ["docker-archive", "oci-archive"]) {
      const out = join(dir, `skopeo-${dst}.tar`);
      await skopeoCopy(`docker-archive:${source}`, `${dst}:${out}:open-me:1.0`);
      const opened = await openImage(out, { cacheDir });
      // skopeo keeps the layers; its docker-archive config is the same bytes.
      assert.deepEqual(opened.layers.map((l) => l.diffId), reference.layers.map((l) => l.diffId));
      if (dst === "docker-archive") same(opened, "skopeo docker-archive");
    }
    const pm = await podman.get();
    await pm.load(source);
    for (const format of ["docker-archive", "oci-archive"]) {
      const out = join(dir, `podman-${format}.tar`);
      const r = await pm.podman(["save", "--format", format, "-o", out, "localhost/open-me:1.0"]);
      assert.equal(r.code, 0, r.stderr);
      const opened = await openImage(out, { cacheDir });
      assert.deepEqual(
        opened.layers.map((l) => l.diffId),
        reference.layers.map((l) => l.diffId),
        `podman save --format ${format}`,
      );
    }
  });

  it("pulls from a registry and opens an image file's export", async (t) => {
    if (!requireTools(t, ["docker-registry"])) return;
    registry = await startRegistry(join(dir, "registry"));
    await push(image(), `${registry.host}/open-me:1.0`, {
      cacheDir,
      tlsVerify: false,
      progress: false,
    });
    const pulled = await openImage(`docker://${registry.host}/open-me:1.0`, {
      cacheDir: join(dir, "other-cache"),
      tlsVerify: false,
    });
    same(pulled, "registry");
    assert.equal(pulled.repoName, `${registry.host}/open-me`);
    const file = join(dir, "image.ts");
    writeFileSync(
      file,
      `import { buildImage } from ${
        JSON.stringify(join(import.meta.dirname!, "..", "mod.ts"))
      };\n` +
        `export const api = buildImage({ name: "api", tag: "2", config: { Cmd: ["/api"] } });\n`,
    );
    const fromFile = await openImage(`${file}#api`, { cacheDir, progress: false });
    assert.equal(fromFile.repoName, "api");
    assert.equal(fromFile.tag, "2");
  });

  it("names what is wrong with a spec it cannot open", async () => {
    await assert.rejects(openImage(join(dir, "missing.tar"), { cacheDir }), ImageFormatError);
    await assert.rejects(
      openImage("Not A Reference!", { cacheDir }),
      /neither a file nor a folder/,
    );
    // A mistyped file name is not sent to docker.io as a repository name.
    await assert.rejects(
      openImage("nothere.tar", { cacheDir }),
      /nothere\.tar: no such file or folder here; for a registry image of that name, write docker:\/\/nothere\.tar/,
    );
    await assert.rejects(openImage("", { cacheDir }), /"": an empty image spec names nothing/);
    // Something that is no tar at all.
    writeFileSync(join(dir, "note.txt"), "hello\n");
    await assert.rejects(
      openImage(join(dir, "note.txt"), { cacheDir }),
      /note\.txt: is not an image archive: it is not a tar file \(plain, gzip or zstd\)/,
    );
    await assert.rejects(
      openImage(`${join(dir, "image.ts")}#nope`, { cacheDir, progress: false }),
      /exports no image named "nope"/,
    );
  });
});
