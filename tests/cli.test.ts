/**
 * The command line and image files run directly, under both runtimes; the
 * compiled single executable; same digests on Deno and Bun; exit codes and
 * error messages; an interrupted build leaves nothing behind.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  createPodman,
  requireTools,
  rmrf,
  run,
  runOk,
  tempDir,
  umociUnpack,
} from "./helpers/tools.ts";
import {
  CLI,
  cliBuild,
  HELLO,
  ROOT,
  RUNTIME,
  runtimeCommand,
  runTs,
} from "./helpers/dockwright.ts";

const OTHER = RUNTIME === "deno" ? "bun" : "deno";

describe("command line", () => {
  let dir: string;
  before(() => {
    dir = tempDir("dw-cli-");
  });
  after(() => rmrf(dir));

  it("prints help for the tool and for build, and a version", async () => {
    const help = await runTs(RUNTIME, CLI, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /dockwright build FILE/);
    const buildHelp = await runTs(RUNTIME, CLI, ["build", "--help"]);
    assert.equal(buildHelp.code, 0);
    for (const flag of ["--out", "--format", "--compressor", "--json"]) {
      assert.match(buildHelp.stdout, new RegExp(flag));
    }
    const version = await runTs(RUNTIME, CLI, ["--version"]);
    assert.match(version.stdout, /^dockwright \d+\.\d+\.\d+\n$/);
    const none = await runTs(RUNTIME, CLI, []);
    assert.equal(none.code, 2, "no command is a usage error");
  });

  it("builds an OCI layout with --json that umoci unpacks", async (t) => {
    if (!requireTools(t, ["umoci"])) return;
    const out = join(dir, "cli.oci");
    const result = await cliBuild(RUNTIME, HELLO, ["--format", "oci", "--out", out], {
      cwd: dir,
      cacheDir: join(dir, "cache"),
    });
    assert.deepEqual(Object.keys(result), [
      "name",
      "tag",
      "format",
      "path",
      "manifestDigest",
      "configDigest",
      "layers",
    ]);
    assert.equal(result.name, "hello");
    assert.equal(result.tag, "latest");
    assert.equal(result.format, "oci");
    assert.equal(result.path, out);
    const layers = result.layers as Array<Record<string, unknown>>;
    assert.deepEqual(Object.keys(layers[0]), ["digest", "diffId", "size", "mediaType", "cached"]);
    await umociUnpack(out, "hello:latest", join(dir, "cli-bundle"));
  });

  it("gives the same manifest digest under Deno and Bun for none and zstd", async () => {
    const digests: Record<string, string[]> = {};
    for (const runtime of ["deno", "bun"] as const) {
      for (
        const [format, compressor] of [["docker-archive", "none"], ["docker-archive", "zstd"], [
          "oci",
          "zstd",
        ], ["oci", "none"]]
      ) {
        const key = `${format}/${compressor}`;
        const out = join(dir, `x-${runtime}-${format}-${compressor}`);
        // A separate cache per runtime: nothing is shared between the two builds.
        const r = await cliBuild(runtime, HELLO, [
          "--format",
          format,
          "--compressor",
          compressor,
          "--out",
          out,
        ], {
          cwd: dir,
          cacheDir: join(dir, `cache-${runtime}`),
        });
        (digests[key] ??= []).push(r.manifestDigest as string);
        if (format === "docker-archive") {
          (digests[`${key}/bytes`] ??= []).push(String(readFileSync(out).length));
        }
      }
    }
    for (const [key, [deno, bun]] of Object.entries(digests)) {
      assert.equal(deno, bun, `${key}: deno ${deno} vs bun ${bun}`);
    }
  });

  it("builds when the image file itself is run, with the same flags", async (t) => {
    if (!requireTools(t, ["skopeo"])) return;
    const out = join(dir, "direct.tar");
    const r = await runTs(
      OTHER,
      HELLO,
      ["--out", out, "--json", "--cache-dir", join(dir, "cache")],
      { cwd: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).path, out);
    await runOk("skopeo", ["--insecure-policy", "inspect", `docker-archive:${out}`]);
    const help = await runTs(RUNTIME, HELLO, ["--help"]);
    assert.match(help.stdout, /--format/);
  });

  it("writes default output names in the working directory and builds every export", async () => {
    const file = join(dir, "multi.ts");
    writeFileSync(
      file,
      `import { buildImage, writeTextDir } from ${JSON.stringify(join(ROOT, "mod.ts"))};
export default buildImage({ name: "registry.local/team/first", tag: "a", copyToRoot: writeTextDir("a", "a") });
export const second = buildImage({ name: "second", tag: "b", copyToRoot: writeTextDir("b", "b") });
`,
    );
    const work = join(dir, "work");
    mkdirSync(work);
    const r = await runTs(RUNTIME, CLI, [
      "build",
      file,
      "--json",
      "--cache-dir",
      join(dir, "cache"),
    ], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout);
    assert.equal(results.length, 2);
    assert.deepEqual(readdirSync(work).sort(), ["first.tar.gz", "second.tar.gz"]);
    const one = await runTs(RUNTIME, CLI, [
      "build",
      file,
      "--image",
      "second",
      "--format",
      "oci-archive",
      "--json",
      "--cache-dir",
      join(dir, "cache"),
    ], { cwd: work });
    assert.equal(JSON.parse(one.stdout).name, "second");
    assert.ok(existsSync(join(work, "second.oci.tar")));
    const both = await runTs(RUNTIME, CLI, ["build", file, "--out", join(work, "x.tar")], {
      cwd: work,
    });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--out names one output but the file exports 2 images/);
  });

  it("reports bad input with a clear message and a meaningful exit code, writing nothing", async () => {
    const cases: Array<{ source: string; code: number; message: RegExp }> = [
      {
        source: `buildImage({ name: "x", compressor: "xz" })`,
        code: 2,
        message: /attribute "compressor" must be one of "none", "gz", "zstd" \(got "xz"\)/,
      },
      {
        source: `buildImage({ name: "x", copytoroot: "./a" })`,
        code: 2,
        message:
          /attribute "copytoroot" is not an attribute of buildImage; did you mean "copyToRoot"\?/,
      },
      {
        source: `buildImage({ name: "x", architecture: "arm32v7" })`,
        code: 2,
        message: /attribute "architecture" must be a Go architecture name/,
      },
      {
        source: `buildImage({ name: "x", config: { cmd: ["/x"] } })`,
        code: 2,
        message: /attribute "config.cmd" is not a key of the image config; did you mean "Cmd"\?/,
      },
      {
        source: `buildImage({ name: "x", uid: -1 })`,
        code: 2,
        message: /attribute "uid" must be an integer/,
      },
      {
        source: `buildImage({ name: "Not Valid!" })`,
        code: 2,
        message: /is not a valid image name/,
      },
      {
        source: `buildImage({ name: "x", created: "yesterday" })`,
        code: 2,
        message: /attribute "created" must be "now" or a date-time/,
      },
      {
        source: `buildImage({ name: "x", runAsRootMode: "docker" })`,
        code: 2,
        message: /attribute "runAsRootMode" must be one of "vm", "userns"/,
      },
      {
        source: `buildImage({ name: "x", runAsRoot: "exit 3", runAsRootMode: "userns" })`,
        code: 1,
        message: /runAsRoot failed \(exit code 3\)/,
      },
      {
        source: `buildImage({ name: "x", copyToRoot: "./does-not-exist" })`,
        code: 1,
        message: /does-not-exist: cannot read this source \(ENOENT\)/,
      },
    ];
    for (const [i, c] of cases.entries()) {
      const work = join(dir, `bad-${i}`);
      mkdirSync(work);
      const file = join(work, "image.ts");
      writeFileSync(
        file,
        `import { buildImage } from ${
          JSON.stringify(join(ROOT, "mod.ts"))
        };\nexport default ${c.source};\n`,
      );
      const r = await runTs(RUNTIME, CLI, ["build", file, "--cache-dir", join(dir, "cache")], {
        cwd: work,
      });
      assert.equal(r.code, c.code, `${c.source}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /^error: /);
      assert.match(r.stderr, c.message, c.source);
      assert.deepEqual(readdirSync(work), ["image.ts"], `${c.source}: nothing written`);
    }
    const usage = await runTs(RUNTIME, CLI, ["build", HELLO, "--format", "tgz"]);
    assert.equal(usage.code, 2);
    assert.match(
      usage.stderr,
      /unknown --format "tgz"[\s\S]*use one of: docker-archive, oci, oci-archive/,
    );
    const missing = await runTs(RUNTIME, CLI, ["build", join(dir, "nope.ts")]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /image file not found/);
    const noFolder = await runTs(RUNTIME, CLI, [
      "build",
      HELLO,
      "--out",
      join(dir, "no-folder", "x.tar"),
      "--cache-dir",
      join(dir, "cache"),
    ]);
    assert.equal(noFolder.code, 1);
    assert.match(
      noFolder.stderr,
      /the folder \S*no-folder does not exist; create it or choose another output path/,
    );
    assert.equal(existsSync(join(dir, "no-folder")), false);
  });

  it("leaves no partial output when interrupted", async () => {
    const src = join(dir, "big-src");
    mkdirSync(src);
    const chunk = new Uint8Array(8 << 20);
    for (let i = 0; i < chunk.length; i += 4096) chunk[i] = i & 0xff;
    for (let i = 0; i < 24; i++) writeFileSync(join(src, `f${i}`), chunk);
    const work = join(dir, "interrupt");
    mkdirSync(work);
    const file = join(work, "image.ts");
    writeFileSync(
      file,
      `import { buildImage } from ${
        JSON.stringify(join(ROOT, "mod.ts"))
      };\nexport default buildImage({ name: "big", copyToRoot: ${JSON.stringify(src)} });\n`,
    );
    const [cmd, ...pre] = runtimeCommand(RUNTIME);
    const cache = join(dir, "cache-int");
    const child = spawn(cmd, [
      ...pre,
      CLI,
      "build",
      file,
      "--compressor",
      "gz",
      "--cache-dir",
      cache,
    ], { cwd: work, stdio: "ignore" });
    // Wait until the layer is being written, then interrupt.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const tmp = existsSync(join(cache, "tmp")) ? readdirSync(join(cache, "tmp")) : [];
      if (tmp.length > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) =>
      child.on("exit", (c, s) => r(c ?? (s ? 130 : null)))
    );
    assert.notEqual(code, 0);
    assert.deepEqual(readdirSync(work), ["image.ts"], "no output and no temp file next to it");
    assert.deepEqual(readdirSync(join(cache, "tmp")), [], "no temp blob left in the cache");
    assert.deepEqual(
      readdirSync(join(cache, "blobs", "sha256")),
      [],
      "no partial blob in the cache",
    );
  });

  it("removes a layered image's script folder, read-only folders included, when interrupted while a script runs", async (t) => {
    if (!requireTools(t, ["setpriv"])) return;
    const work = join(dir, "interrupt-layered");
    const tmp = join(work, "tmp");
    mkdirSync(tmp, { recursive: true });
    const file = join(work, "image.ts");
    writeFileSync(
      file,
      `import { buildLayeredImage, writeTextDir } from ${JSON.stringify(join(ROOT, "mod.ts"))};
export default buildLayeredImage({ name: "slow", contents: [writeTextDir("etc/x", "x")], extraCommands: "mkdir -p ro/sub && touch ro/sub/f && chmod 555 ro/sub ro && mkdir started && sleep 20" });
`,
    );
    // As root, drop the capability that ignores file modes, so a 0555 folder resists removal as it does for a user.
    const [cmd, ...pre] = runtimeCommand(RUNTIME);
    const asUser = process.getuid?.() === 0
      ? [
        "setpriv",
        "--inh-caps=-dac_override,-dac_read_search",
        "--bounding-set=-dac_override,-dac_read_search",
        "--",
        cmd,
      ]
      : [cmd];
    const child = spawn(asUser[0], [
      ...asUser.slice(1),
      ...pre,
      CLI,
      "build",
      file,
      "--cache-dir",
      join(dir, "cache-int-layered"),
    ], {
      cwd: work,
      stdio: "ignore",
      env: { ...process.env, TMPDIR: tmp },
    });
    // Wait until the script runs in its folder, then interrupt.
    const deadline = Date.now() + 60_000;
    const started = () => readdirSync(tmp).some((n) => existsSync(join(tmp, n, "root", "started")));
    while (Date.now() < deadline && !started()) await new Promise((r) => setTimeout(r, 20));
    assert.ok(started(), "the script started");
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) =>
      child.on("exit", (c, s) => r(c ?? (s ? 130 : null)))
    );
    assert.notEqual(code, 0);
    assert.deepEqual(readdirSync(tmp), [], "no script folder left behind");
    assert.deepEqual(readdirSync(work).sort(), ["image.ts", "tmp"], "no output");
  });

  it("streams: a streamLayeredImage gives a stream-<name> script, --stream writes the archive to stdout, -t renames", async (t) => {
    if (!requireTools(t, ["podman", "runc", "sh"])) return;
    const work = join(dir, "streaming");
    mkdirSync(work);
    const file = join(work, "image.ts");
    writeFileSync(
      file,
      `import { streamLayeredImage, fakeNss, greeterExecutable, writeTextFile, main } from ${
        JSON.stringify(join(ROOT, "mod.ts"))
      };
export default streamLayeredImage({ name: "streamy", tag: "v1", contents: [fakeNss, writeTextFile({ name: "g", destination: "/bin/g", text: greeterExecutable("streamed\\n"), executable: true })], config: { Cmd: ["/bin/g"] } });
main(import.meta);
`,
    );
    const cache = join(dir, "cache-stream");
    const r = await runTs(RUNTIME, file, ["--cache-dir", cache, "--json"], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.format, "stream-script");
    assert.equal(result.path, join(work, "stream-streamy"));
    const script = join(work, "stream-streamy");
    const podman = await createPodman();
    try {
      const archive = join(work, "from-script.tar");
      await runOk("sh", ["-c", `'${script}' > '${archive}'`]);
      await podman.load(archive);
      assert.equal(await podman.run("localhost/streamy:v1"), "streamed\n");
      await runOk("sh", ["-c", `'${script}' -t renamed/img:v2 > '${archive}.2'`]);
      assert.deepEqual(await podman.load(`${archive}.2`), ["localhost/renamed/img:v2"]);
      // --stream from the other runtime gives the same bytes.
      const viaOther = join(work, "other.tar");
      const [cmd, ...pre] = runtimeCommand(OTHER);
      await runOk("sh", [
        "-c",
        `${
          [cmd, ...pre].map((a) => `'${a}'`).join(" ")
        } '${CLI}' build '${file}' --stream --quiet --cache-dir '${
          join(dir, "cache-stream-other")
        }' > '${viaOther}'`,
      ]);
      assert.deepEqual(readFileSync(viaOther), readFileSync(archive));
      const names = (await runOk("tar", ["-tf", archive])).stdout.trim().split("\n");
      assert.match(names[0], /^[0-9a-f]{64}\/layer\.tar$/);
      assert.match(names[1], /^[0-9a-f]{64}\.json$/);
      assert.equal(names[2], "manifest.json");
    } finally {
      await podman.close();
    }
  });

  it("compiles to a single executable (`deno task compile`) that builds the same image", async () => {
    // The task, as a user runs it (it writes dist/dockwright, which git ignores).
    await runOk(runtimeCommand("deno")[0], ["task", "compile"], { cwd: ROOT });
    const bin = join(dir, "dockwright");
    copyFileSync(join(ROOT, "dist", "dockwright"), bin);
    chmodSync(bin, 0o755);
    for (const compressor of ["none", "zstd"]) {
      const viaBinary = await run(bin, [
        "build",
        HELLO,
        "--json",
        "--compressor",
        compressor,
        "--out",
        join(dir, `bin-${compressor}.tar`),
        "--cache-dir",
        join(dir, "cache-bin"),
      ], { cwd: dir });
      assert.equal(viaBinary.code, 0, viaBinary.stderr);
      const viaSource = await cliBuild(RUNTIME, HELLO, [
        "--compressor",
        compressor,
        "--out",
        join(dir, `src-${compressor}.tar`),
      ], { cwd: dir, cacheDir: join(dir, "cache-src") });
      assert.equal(JSON.parse(viaBinary.stdout).manifestDigest, viaSource.manifestDigest);
      assert.deepEqual(
        readFileSync(join(dir, `bin-${compressor}.tar`)),
        readFileSync(join(dir, `src-${compressor}.tar`)),
        compressor,
      );
    }
    const help = await run(bin, ["build", "--help"]);
    assert.match(help.stdout, /--format/);
  });
});
