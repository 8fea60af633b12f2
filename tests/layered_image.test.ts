/**
 * streamLayeredImage / buildLayeredImage: the NixOS docker-tools test cases
 * that apply without nixpkgs, on a store described by a closure graph (no Nix
 * needed) and on a real Nix store (nix-bin), checked with podman + runc.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  build,
  buildImage,
  buildLayeredImage,
  buildLayeredImageWithNixDb,
  fakeNss,
  streamLayeredImage,
  writeTextDir,
} from "../mod.ts";
import type { GraphNode } from "../mod.ts";
import { storeHash } from "../lib/store/store_path.ts";
import {
  lazyPodman,
  pythonTarHeaders,
  requireTools,
  rmrf,
  runOk,
  staticBusybox,
  tempDir,
} from "./helpers/tools.ts";

/** A store folder on disk plus its closure graph, the way `closureInfo` describes one. */
class FakeStore {
  readonly graph: GraphNode[] = [];
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }
  /** Adds a store path `name` with `files` (path -> content, or {link}) referencing `references`. */
  add(
    name: string,
    files: Record<string, string | { link: string } | { copy: string; mode: number }>,
    references: string[] = [],
  ): string {
    const path = `${this.dir}/${storeHash(this.dir + name)}-${name}`;
    mkdirSync(path);
    let size = 0;
    for (const [rel, content] of Object.entries(files)) {
      const target = join(path, rel);
      mkdirSync(join(target, ".."), { recursive: true });
      if (typeof content === "string") {
        writeFileSync(target, content, { mode: 0o444 });
        size += content.length;
      } else if ("link" in content) {
        symlinkSync(content.link, target);
      } else {
        copyFileSync(content.copy, target);
        runOk("chmod", [content.mode.toString(8), target]);
        size += readFileSync(target).length;
      }
    }
    this.graph.push({ path, narSize: 1000 + size, references: [path, ...references] });
    return path;
  }
  /** A store path that is itself a symlink. */
  addSymlink(name: string, to: string): string {
    const path = `${this.dir}/${storeHash(this.dir + name)}-${name}`;
    symlinkSync(to, path);
    this.graph.push({ path, narSize: 200, references: [to] });
    return path;
  }
}

describe("layered images", () => {
  let dir: string;
  let cacheDir: string;
  let store: FakeStore;
  let bb: string;
  let lib: string;
  let app: string;
  const podman = lazyPodman();

  before(() => {
    dir = tempDir("dw-layered-");
    cacheDir = join(dir, "cache");
    store = new FakeStore(join(dir, "store"));
    const busybox = staticBusybox();
    bb = store.add(
      "busybox-1.35",
      busybox ? { "bin/busybox": { copy: busybox, mode: 0o555 } } : { "bin/busybox": "" },
    );
    lib = store.add("libgreet-1.0", { "share/greeting": "greetings from a library\n" });
    app = store.add("app-2.0", {
      "bin/app": `#!${bb}/bin/busybox sh\n${bb}/bin/busybox cat ${lib}/share/greeting\n`,
    }, [bb, lib]);
    runOk("chmod", ["0555", `${app}/bin/app`]);
  });
  after(async () => {
    await podman.close();
    rmrf(dir);
  });
  const pm = podman.get;
  const common = () => ({ closureGraph: store.graph, storeDir: store.dir });

  /** Loads a docker-archive (decompressing gzip first: Debian's podman cannot read gzip archives). */
  async function load(path: string): Promise<void> {
    const p = await pm();
    if (readFileSync(path).subarray(0, 2).toString("hex") === "1f8b") {
      const plain = path + ".plain.tar";
      await runOk("sh", ["-c", `gunzip -c '${path}' > '${plain}'`]);
      path = plain;
    }
    await p.load(path);
  }

  it("runs as a non-root user, with /nix and /nix/store 0755, a stable default date and the derived tag", async (t) => {
    if (!requireTools(t, ["podman", "runc", "busybox"])) return;
    const image = buildLayeredImage({
      name: "layered-user",
      contents: [app, fakeNss],
      config: { Cmd: [`${app}/bin/app`], User: "nobody" },
      ...common(),
    });
    const out = join(dir, "user.tar");
    const r = await build(image, { out, compressor: "none", cacheDir, progress: false });
    assert.match(r.tag, /^[0-9a-df-np-sv-z]{32}$/);
    await load(out);
    const name = `localhost/layered-user:${r.tag}`;
    assert.equal(await (await pm()).run(name), "greetings from a library\n");
    const stat = await (await pm()).run(name, [
      "sh",
      "-c",
      "id -u; stat -c '%a %n' /nix /nix/store",
    ], { entrypoint: `${bb}/bin/busybox` });
    assert.equal(stat, "65534\n755 /nix\n755 /nix/store\n");
    const inspected = await (await pm()).inspect(name);
    assert.ok(
      inspected.RepoTags?.some((t) => t.endsWith(`:${r.tag}`)),
      "imageTag equals the loaded tag",
    );
    const config = JSON.parse(
      await runOk("tar", ["-xOf", out, `${r.configDigest.slice(7)}.json`]).then((x) => x.stdout),
    );
    assert.equal(config.created, "1970-01-01T00:00:01+00:00");
    assert.deepEqual(config.rootfs.diff_ids.length, r.layers.length);
  });

  it("writes store layers in the Nix streamer's format", async () => {
    const image = streamLayeredImage({
      name: "fmt",
      tag: "x",
      contents: [lib],
      ...common(),
      maxLayers: 100,
      uid: 7,
      gid: 8,
      uname: "u",
      gname: "g",
    });
    const out = join(dir, "fmt.tar");
    const r = await build(image, { out, format: "docker-archive", progress: false, cacheDir });
    const manifest = JSON.parse(
      await runOk("tar", ["-xOf", out, "manifest.json"]).then((x) => x.stdout),
    );
    assert.deepEqual(Object.keys(manifest[0]), ["Config", "RepoTags", "Layers"]);
    const storeLayer = join(dir, "store-layer.tar");
    await runOk("sh", ["-c", `tar -xOf '${out}' '${manifest[0].Layers[0]}' > '${storeLayer}'`]);
    const headers = await pythonTarHeaders(storeLayer);
    assert.deepEqual(
      headers.slice(0, 2).map((h) => [h.name, h.mode, h.uid, h.gid, h.uname, h.gname, h.mtime]),
      [
        ["/nix", 0o755, 7, 8, "u", "g", 1],
        ["/nix/store", 0o755, 7, 8, "u", "g", 1],
      ],
    );
    // A store folder other than /nix/store gets its folders listed, so runtimes need not invent them.
    const parents = store.dir.split("/").filter(Boolean).map((_, i, all) =>
      "/" + all.slice(0, i + 1).join("/")
    );
    assert.deepEqual(headers.slice(2).map((h) => h.name), [
      ...parents,
      lib,
      `${lib}/share`,
      `${lib}/share/greeting`,
    ]);
    assert.equal(headers.at(-1)!.mode, 0o444);
    assert.equal(r.layers.length, 2);
  });

  it("loads with none, gz and zstd, and shares store layers between images", async (t) => {
    if (!requireTools(t, ["podman", "runc", "gzip"])) return;
    const diffIds: string[][] = [];
    for (const compressor of ["none", "gz", "zstd"] as const) {
      const image = buildLayeredImage({
        name: `comp-${compressor}`,
        tag: "t",
        contents: [app],
        config: { Cmd: [`${app}/bin/app`] },
        compressor,
        ...common(),
      });
      const out = join(dir, `comp-${compressor}.tar`);
      const r = await build(image, { out, progress: false, cacheDir });
      await load(out);
      assert.equal(
        await (await pm()).run(`localhost/comp-${compressor}:t`),
        "greetings from a library\n",
      );
      diffIds.push(r.layers.map((l) => l.diffId));
    }
    const other = buildLayeredImage({
      name: "another",
      tag: "t",
      contents: [lib, writeTextDir("etc/other", "x")],
      ...common(),
    });
    const r2 = await build(other, {
      out: join(dir, "another.tar"),
      compressor: "none",
      progress: false,
      cacheDir,
    });
    const shared = r2.layers.map((l) => l.diffId).filter((d) => diffIds[0].includes(d));
    assert.ok(shared.length >= 1, "the libgreet store layer is shared");
    assert.deepEqual(diffIds[0], diffIds[1]);
  });

  it("keeps every store path with maxLayers = 2, and counts base layers toward maxLayers", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const two = buildLayeredImage({
      name: "two",
      tag: "t",
      contents: [app],
      config: { Cmd: [`${app}/bin/app`] },
      maxLayers: 2,
      ...common(),
    });
    const r = await build(two, {
      out: join(dir, "two.tar"),
      compressor: "none",
      progress: false,
      cacheDir,
    });
    assert.equal(r.layers.length, 2);
    await load(join(dir, "two.tar"));
    assert.equal(await (await pm()).run("localhost/two:t"), "greetings from a library\n");
    const base = buildImage({
      name: "base2",
      tag: "t",
      fromImage: buildImage({ name: "base1", copyToRoot: writeTextDir("a", "a") }),
      copyToRoot: writeTextDir("b", "b"),
    });
    const bulk = buildLayeredImage({
      name: "bulk",
      tag: "t",
      fromImage: base,
      contents: [app],
      maxLayers: 4,
      ...common(),
    });
    const rb = await build(bulk, {
      out: join(dir, "bulk.tar"),
      compressor: "none",
      progress: false,
      cacheDir,
    });
    assert.equal(rb.layers.length, 4, "exactly maxLayers layers");
  });

  it("puts no store path in the image with includeStorePaths = false, and keeps symlinked store paths as symlinks", async (t) => {
    if (!requireTools(t, ["python3"])) return;
    const none = buildLayeredImage({
      name: "nostore",
      tag: "t",
      contents: [app],
      includeStorePaths: false,
      ...common(),
    });
    const r = await build(none, {
      out: join(dir, "nostore.oci"),
      format: "oci",
      compressor: "none",
      progress: false,
      cacheDir,
    });
    assert.equal(r.layers.length, 1);
    const names = (await pythonTarHeaders(
      join(dir, "nostore.oci", "blobs", "sha256", r.layers[0].digest.slice(7)),
    )).map((h) => h.name);
    assert.ok(!names.some((n) => n.includes(store.dir.slice(1))), `no store path: ${names}`);
    assert.ok(names.includes("./bin/app"), "dangling symlinks to the store remain");
    const link = store.addSymlink("greeting-link", lib);
    const withLink = buildLayeredImage({
      name: "storelink",
      tag: "t",
      contents: [link],
      ...common(),
    });
    const r2 = await build(withLink, {
      out: join(dir, "storelink.oci"),
      format: "oci",
      compressor: "none",
      progress: false,
      cacheDir,
    });
    const all = [];
    for (const l of r2.layers) {
      all.push(
        ...await pythonTarHeaders(join(dir, "storelink.oci", "blobs", "sha256", l.digest.slice(7))),
      );
    }
    const linkEntry = all.find((h) => h.name === link);
    assert.equal(linkEntry?.kind, "symlink");
    assert.equal(linkEntry?.linkname, lib);
  });

  it("records fakeRootCommands ownership, with and without enableFakechroot", async (t) => {
    if (!requireTools(t, ["podman", "runc", "fakeroot", "proot", "busybox"])) return;
    for (const fakechroot of [false, true]) {
      const name = `chown-${fakechroot}`;
      const image = buildLayeredImage({
        name,
        tag: "t",
        contents: [bb],
        fakeRootCommands: fakechroot
          ? "mkdir -p /home/alice /bin && chown 1000:1000 /home/alice && chown 12345:12345 /bin"
          : "mkdir -p home/alice && chown 1000:1000 home/alice && mknod -m 600 dev-console c 5 1",
        enableFakechroot: fakechroot,
        ...common(),
      });
      if (fakechroot && process.getuid?.() !== 0) {
        await assert.rejects(
          build(image, { out: join(dir, `${name}.tar`), progress: false, cacheDir }),
          /needs root/,
        );
        continue;
      }
      const out = join(dir, `${name}.tar`);
      await build(image, { out, compressor: "none", progress: false, cacheDir });
      await load(out);
      const stat = await (await pm()).run(`localhost/${name}:t`, [
        "stat",
        "-c",
        "%u:%g",
        "/home/alice",
      ], { entrypoint: `${bb}/bin/busybox` });
      assert.equal(stat, "1000:1000\n");
      if (fakechroot) {
        assert.equal(
          await (await pm()).run(`localhost/${name}:t`, ["stat", "-c", "%u:%g", "/bin"], {
            entrypoint: `${bb}/bin/busybox`,
          }),
          "12345:12345\n",
        );
      } else {
        assert.equal(
          await (await pm()).run(
            `localhost/${name}:t`,
            ["stat", "-c", "%F %t,%T", "/dev-console"],
            { entrypoint: `${bb}/bin/busybox` },
          ),
          "character special file 5,1\n",
        );
      }
    }
  });

  it("inherits Env from the base with one entry per key, takes created = now, and accepts a registry prefix", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const base = buildImage({
      name: "envbase",
      config: { Env: ["FROM_PARENT=true", "LAST_LAYER=parent"] },
    });
    const child = buildLayeredImage({
      name: "registry-1.docker.io/team/envchild",
      tag: "t",
      fromImage: base,
      contents: [bb],
      created: "now",
      config: { Env: ["FROM_CHILD=true", "LAST_LAYER=child"], Entrypoint: [`${bb}/bin/busybox`] },
      ...common(),
    });
    const out = join(dir, "envchild.tar");
    const r = await build(child, { out, compressor: "none", progress: false, cacheDir });
    const config = JSON.parse(
      await runOk("tar", ["-xOf", out, `${r.configDigest.slice(7)}.json`]).then((x) => x.stdout),
    );
    assert.deepEqual(config.config.Env, [
      "FROM_PARENT=true",
      "LAST_LAYER=child",
      "FROM_CHILD=true",
    ]);
    assert.ok(Date.now() - Date.parse(config.created) < 120_000, `created=now: ${config.created}`);
    await load(out);
    const env = await (await pm()).run("registry-1.docker.io/team/envchild:t", [
      "sh",
      "-c",
      "echo $FROM_PARENT $FROM_CHILD $LAST_LAYER",
    ]);
    assert.equal(env, "true true child\n");
  });

  it("adds store paths named by config or created by fakeRootCommands to the closure", async (t) => {
    if (!requireTools(t, ["fakeroot"])) return;
    const extra = store.add("extra-tool-1.0", { "bin/tool": "tool\n" });
    const viaConfig = buildLayeredImage({
      name: "refs",
      tag: "t",
      contents: [fakeNss],
      config: { Cmd: [`${extra}/bin/tool`] },
      ...common(),
    });
    const r1 = await build(viaConfig, {
      out: join(dir, "refs1.oci"),
      format: "oci",
      compressor: "none",
      progress: false,
      cacheDir,
    });
    const viaScript = buildLayeredImage({
      name: "refs2",
      tag: "t",
      contents: [fakeNss],
      fakeRootCommands: `mkdir -p hello/bin && ln -s ${lib}/share/greeting hello/bin/greeting`,
      ...common(),
    });
    const r2 = await build(viaScript, {
      out: join(dir, "refs2.oci"),
      format: "oci",
      compressor: "none",
      progress: false,
      cacheDir,
    });
    const names = async (oci: string, digests: string[]) => {
      const all: string[] = [];
      for (const d of digests) {
        all.push(
          ...(await pythonTarHeaders(join(dir, oci, "blobs", "sha256", d.slice(7)))).map((h) =>
            h.name
          ),
        );
      }
      return all;
    };
    assert.ok(
      (await names("refs1.oci", r1.layers.map((l) => l.digest))).includes(`${extra}/bin/tool`),
      "config reference is in the image",
    );
    const n2 = await names("refs2.oci", r2.layers.map((l) => l.digest));
    assert.ok(n2.includes(`${lib}/share/greeting`), "fakeRootCommands reference is in the image");
    assert.ok(n2.includes("./hello/bin/greeting"));
  });

  it("reports bad input clearly and writes nothing", async () => {
    assert.throws(
      () => buildLayeredImage({ name: "x", maxLayer: 3 } as never),
      /attribute "maxLayer" is not an attribute of buildLayeredImage; did you mean "maxLayers"\?/,
    );
    assert.throws(
      () => buildLayeredImage({ name: "x", maxLayers: 1 }),
      /attribute "maxLayers" must be an integer between 2 and 125/,
    );
    assert.throws(
      () => streamLayeredImage({ name: "x", compressor: "gz" } as never),
      /"compressor" is not an attribute of streamLayeredImage/,
    );
    assert.throws(
      () => buildLayeredImage({ name: "x", layeringPipeline: [["popularity"]] }),
      /unknown step "popularity"/,
    );
    const out = join(dir, "bad.tar");
    const missingStore = `${store.dir}/${storeHash("missing")}-missing-1.0`;
    await assert.rejects(
      build(buildLayeredImage({ name: "x", contents: [missingStore], ...common() }), {
        out,
        progress: false,
        cacheDir,
      }),
      /store path .*missing-1.0 is not on this machine/,
    );
    await assert.rejects(
      build(buildLayeredImage({ name: "x", contents: [join(dir, "nope")] }), {
        out,
        progress: false,
        cacheDir,
      }),
      /nope: cannot read this source \(ENOENT\)/,
    );
    await assert.rejects(
      build(buildLayeredImage({ name: "x", extraCommands: "echo failing >&2; exit 3" }), {
        out,
        progress: false,
        cacheDir,
      }),
      /extraCommands failed \(exit code 3\)/,
    );
    await assert.rejects(
      build(
        buildLayeredImage({
          name: "x",
          fromImage: base4(),
          maxLayers: 3,
          contents: [app],
          ...common(),
        }),
        { out, progress: false, cacheDir },
      ),
      /At least 1 layer is required/,
    );
    assert.ok(!readdirSync(dir).includes("bad.tar"), "no output left behind");
  });

  function base4() {
    let image = buildImage({ name: "b0", copyToRoot: writeTextDir("0", "0") });
    for (let i = 1; i < 2; i++) {
      image = buildImage({
        name: `b${i}`,
        fromImage: image,
        copyToRoot: writeTextDir(`${i}`, `${i}`),
      });
    }
    return image;
  }

  it("builds from real Nix store paths (nix-store --add and a derivation) and runs in podman", async (t) => {
    if (!requireTools(t, ["nix-store", "nix-build", "podman", "runc", "busybox"])) return;
    const work = join(dir, "nix");
    mkdirSync(join(work, "bb", "bin"), { recursive: true });
    copyFileSync(staticBusybox()!, join(work, "bb", "bin", "busybox"));
    const bbPath = (await runOk("nix-store", ["--add", join(work, "bb")])).stdout.trim();
    writeFileSync(
      join(work, "default.nix"),
      `let bb = builtins.storePath "${bbPath}"; sh = "\${bb}/bin/busybox";
  lib = derivation { name = "libgreet"; system = builtins.currentSystem; builder = sh; PATH = "\${bb}/bin";
    args = ["sh" "-c" "mkdir -p $out/share; echo 'greetings from nix' > $out/share/greeting"]; };
in derivation { name = "nixgreet-1.0"; system = builtins.currentSystem; builder = sh; PATH = "\${bb}/bin"; inherit lib;
  args = ["sh" "-c" "mkdir -p $out/bin; printf '#!%s sh\\\\n%s cat %s/share/greeting\\\\n' \${sh} \${sh} $lib > $out/bin/greet; chmod +x $out/bin/greet"]; }
`,
    );
    const built = await runOk("nix-build", [
      join(work, "default.nix"),
      "--option",
      "sandbox",
      "false",
      "--no-out-link",
    ], { timeoutMs: 300_000 });
    const greet = built.stdout.trim().split("\n").pop()!;
    const image = buildLayeredImage({
      name: "realnix",
      tag: "t",
      contents: [greet],
      config: { Cmd: [`${greet}/bin/greet`] },
    });
    const out = join(dir, "realnix.tar");
    const r = await build(image, { out, compressor: "none", progress: false, cacheDir });
    assert.equal(
      r.layers.length,
      4,
      "libgreet, busybox and nixgreet layers plus the customisation layer",
    );
    await load(out);
    assert.equal(await (await pm()).run("localhost/realnix:t"), "greetings from nix\n");

    if (!requireTools(t, ["sqlite3"])) return;
    const withDb = buildLayeredImageWithNixDb({ name: "realnix-db", tag: "t", contents: [greet] });
    const dbOut = join(dir, "realnix-db.oci");
    const rdb = await build(withDb, {
      out: dbOut,
      format: "oci",
      compressor: "none",
      progress: false,
      cacheDir,
    });
    const custom = join(dbOut, "blobs", "sha256", rdb.layers.at(-1)!.digest.slice(7));
    const unpacked = join(dir, "db-unpacked");
    mkdirSync(unpacked);
    await runOk("tar", ["-xf", custom, "-C", unpacked, "./nix/var/nix/db/db.sqlite"]);
    const rows = (await runOk("sqlite3", [
      join(unpacked, "nix/var/nix/db/db.sqlite"),
      "SELECT path, registrationTime FROM ValidPaths ORDER BY path",
    ])).stdout;
    assert.ok(rows.includes(`${greet}|315532800`), "the contents are registered, at a fixed time");
    assert.equal(rows.trim().split("\n").length, 3, "its whole closure is registered");
  });
});
