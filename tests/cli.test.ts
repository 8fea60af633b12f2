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

  it("init's next steps mention npx dockwright build only in an npm project", async () => {
    const npm = join(dir, "init-npm");
    mkdirSync(npm);
    writeFileSync(join(npm, "package.json"), "{}\n");
    const inNpm = await runTs(RUNTIME, CLI, ["init", npm]);
    assert.equal(inNpm.code, 0, inNpm.stderr);
    assert.match(inNpm.stderr, /npm install dockwright && npx dockwright build image\.ts/);
    const withNpm = await runTs(RUNTIME, CLI, ["init", join(dir, "init-with-npm"), "--npm"]);
    assert.match(withNpm.stderr, /npx dockwright build image\.ts/);
    const plain = await runTs(RUNTIME, CLI, ["init", join(dir, "init-plain")]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stderr, /npx/);
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

describe("command-line usage errors: one line, exit 2", () => {
  let dir: string;
  let image: string;
  let cache: string;
  before(async () => {
    dir = tempDir("dw-cli-usage-");
    cache = join(dir, "cache");
    image = join(dir, "hello.tar");
    await cliBuild(RUNTIME, HELLO, ["--compressor", "none", "--out", image], {
      cwd: dir,
      cacheDir: cache,
    });
  });
  after(() => rmrf(dir));

  /** Runs the CLI with each argument list at once; checks exit 2 and one `error:` (+ `hint:`) line. */
  async function usageErrors(cases: Array<[string[], RegExp]>): Promise<void> {
    const results = await Promise.all(
      cases.map(([args]) => runTs(RUNTIME, CLI, args, { cwd: dir })),
    );
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i];
      const what = `dockwright ${args.map((a) => JSON.stringify(a)).join(" ")}`;
      assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /^error: [^\n]+\n(hint: [^\n]+\n)?$/, `${what}:\n${r.stderr}`);
      assert.match(r.stderr, message, what);
      assert.equal(r.stdout, "", what);
    }
  }

  it("turns parseArgs errors into one line naming the flag, in every command", async () => {
    const nope = join(dir, "nope.tar");
    await usageErrors([
      [["inspect", nope, "--top", "-1"], /^error: --top needs a value, but is followed by -1\n/],
      [
        ["inspect", nope, "--tls-verify"],
        /^error: --tls-verify needs a value\nhint: see dockwright inspect --help\n$/,
      ],
      [
        ["inspect", nope, "--html", "--json"],
        /^error: --html needs a value, but is followed by --json\n/,
      ],
      [
        ["inspect", nope, "--bogus"],
        /^error: unknown option --bogus\nhint: see dockwright inspect --help\n$/,
      ],
      [["inspect", nope, "-qx"], /^error: unknown option -x\n/],
      [["inspect", nope, "--json=yes"], /^error: --json takes no value\n/],
      [
        ["diff", nope, nope, "--bogus"],
        /^error: unknown option --bogus\nhint: see dockwright diff --help\n$/,
      ],
      [["diff", nope, nope, "--cache-dir"], /^error: --cache-dir needs a value\n/],
      [["build", HELLO, "--bogus"], /^error: unknown option --bogus\n/],
      [["build", HELLO, "-j"], /^error: --jobs needs a value\n/],
      [
        ["build", HELLO, "--out", "--json"],
        /^error: --out needs a value, but is followed by --json\n/,
      ],
      [
        ["init", join(dir, "init"), "--bogus"],
        /^error: unknown option --bogus\nhint: see dockwright init --help\n$/,
      ],
      [["init", join(dir, "init"), "--name"], /^error: --name needs a value\n/],
    ]);
    assert.equal(existsSync(join(dir, "init")), false, "init wrote nothing");
  });

  it("accepts only plain decimal whole numbers for --top, --depth and -j, and no empty --html", async () => {
    const nope = join(dir, "nope.tar");
    await usageErrors([
      [
        ["inspect", nope, "--top", "1e3"],
        /^error: --top takes a whole number in digits \(got "1e3"\)\n/,
      ],
      [["inspect", nope, "--top", "0x10"], /--top takes a whole number in digits \(got "0x10"\)/],
      [["inspect", nope, "--top="], /--top takes a whole number in digits \(got ""\)/],
      [["inspect", nope, "--top=-1"], /--top takes a whole number in digits \(got "-1"\)/],
      [["inspect", nope, "--depth", "2.0"], /--depth takes a whole number in digits \(got "2.0"\)/],
      [["inspect", nope, "--depth", " 2"], /--depth takes a whole number in digits \(got " 2"\)/],
      [["inspect", nope, "--html="], /^error: --html needs a file name\n/],
      [
        ["build", HELLO, "-j", "0x2"],
        /-j\/--jobs takes a whole number in digits, 1 or more \(got "0x2"\)/,
      ],
      [
        ["build", HELLO, "-j", "0"],
        /-j\/--jobs takes a whole number in digits, 1 or more \(got "0"\)/,
      ],
      [["build", HELLO, "--jobs=1e1"], /-j\/--jobs takes a whole number/],
    ]);
    const zero = await runTs(RUNTIME, CLI, [
      "inspect",
      image,
      "--top",
      "0",
      "--depth",
      "0",
      "--tree",
      "-q",
      "--cache-dir",
      cache,
    ]);
    assert.equal(zero.code, 0, zero.stderr);
  });

  it("prints only the JSON with --json, the size tree in it as map, with --tree or --html", async () => {
    const page = join(dir, "page.html");
    for (const extra of [["--tree"], ["--html", page], ["--tree", "--html", page]]) {
      const r = await runTs(RUNTIME, CLI, [
        "inspect",
        image,
        "--json",
        ...extra,
        "--cache-dir",
        cache,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout); // throws if a tree follows the JSON
      assert.equal(report.map?.kind, "image", extra.join(" "));
    }
    assert.match(readFileSync(page, "utf8"), /^<!doctype html>/i);
    const tree = await runTs(RUNTIME, CLI, ["inspect", image, "--tree", "--cache-dir", cache]);
    assert.equal(tree.code, 0, tree.stderr);
    assert.match(tree.stdout, /█/);
  });

  it("refuses an --html path that is the inspected image or a folder", async () => {
    const copy = join(dir, "copy.tar");
    copyFileSync(image, copy);
    const before = readFileSync(copy);
    const html = join(dir, "html");
    mkdirSync(join(html, "existing"), { recursive: true });
    const cwd = { cwd: html };
    const results = await Promise.all([
      runTs(RUNTIME, CLI, ["inspect", copy, "--html", copy, "--cache-dir", cache]),
      runTs(RUNTIME, CLI, ["inspect", "../copy.tar", "--html", copy, "--cache-dir", cache], cwd),
      runTs(RUNTIME, CLI, ["inspect", `docker-archive:${copy}`, "--html", "../copy.tar"], cwd),
    ]);
    for (const r of results) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^error: --html \S*copy\.tar is the image being inspected; writing the page would overwrite it\nhint: [^\n]+\n$/,
      );
    }
    assert.deepEqual(readFileSync(copy), before, "the image is left as it was");
    const folders = await Promise.all(
      ["dirx/", ".", "existing", "existing/"].map((page) =>
        runTs(RUNTIME, CLI, ["inspect", image, "--html", page, "--cache-dir", cache], cwd)
      ),
    );
    for (const [i, page] of ["dirx/", ".", "existing", "existing/"].entries()) {
      const r = folders[i];
      assert.equal(r.code, 2, `${page}: ${r.stderr}`);
      assert.equal(
        r.stderr,
        `error: --html ${page} is a folder; give the page's file name, e.g. ${
          page.replace(/\/$/, "")
        }/image.html\n`,
      );
    }
    assert.deepEqual(readdirSync(html), ["existing"], "no dirx file written");
    assert.deepEqual(readdirSync(join(html, "existing")), []);
    // An existing file that is not a page is not replaced (a typo must not eat image.ts).
    const source = join(html, "image.ts");
    writeFileSync(source, "export default 1;\n");
    const typo = await runTs(RUNTIME, CLI, [
      "inspect",
      image,
      "--html",
      source,
      "--cache-dir",
      cache,
    ]);
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(typo.stderr, /^error: --html \S*image\.ts exists and is not a \.html page/);
    assert.equal(readFileSync(source, "utf8"), "export default 1;\n");
    // - is stdout.
    const toStdout = await runTs(RUNTIME, CLI, [
      "inspect",
      image,
      "--html",
      "-",
      "--cache-dir",
      cache,
    ]);
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.match(toStdout.stdout, /^<!doctype html>/i);
    assert.ok(!existsSync(join(html, "-")) && !existsSync("-"), "no file named -");
  });

  it("checks --cache-dir before opening the cache, in inspect, diff and build", async () => {
    const note = join(dir, "note.txt");
    writeFileSync(note, "a note\n");
    const isFile =
      /^error: --cache-dir \S*note\.txt is a file, not a folder; give a folder \(it is created if missing\)\n$/;
    const below =
      /^error: --cache-dir \S*note\.txt\/sub cannot be created \(a part of its path is a file\)/;
    await usageErrors([
      [["inspect", image, "--cache-dir", note], isFile],
      [["diff", image, image, "--cache-dir", note], isFile],
      [["build", HELLO, "--cache-dir", note], isFile],
      [["inspect", image, "--cache-dir", join(note, "sub")], below],
      [["inspect", image, "--cache-dir="], /^error: --cache-dir is empty/],
    ]);
    const direct = await runTs(RUNTIME, HELLO, ["--cache-dir", note], { cwd: dir });
    assert.equal(direct.code, 2, direct.stderr);
    assert.match(direct.stderr, isFile);
    assert.equal(readFileSync(note, "utf8"), "a note\n");
    // A missing folder is created.
    const fresh = join(dir, "fresh", "cache");
    const r = await runTs(RUNTIME, CLI, ["inspect", image, "-q", "--cache-dir", fresh]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(fresh));
  });

  it("refuses an empty image argument as bad usage in inspect and diff", async () => {
    await usageErrors([
      [["inspect", ""], /^error: the image is an empty argument, which names no image\nhint: /],
      [["diff", "", image], /^error: the first image is an empty argument/],
      [["diff", image, ""], /^error: the second image is an empty argument/],
    ]);
  });

  it("aligns the columns of the top-level help", async () => {
    const help = await runTs(RUNTIME, CLI, ["--help"]);
    const columns = help.stdout.split("\n").filter((l) => /^ {2}dockwright \S+ .*\S {2,}\S/.test(l))
      .map((l) => /^ {2}dockwright .*? {2,}(?=\S)/.exec(l)![0].length);
    assert.equal(columns.length, 5, help.stdout);
    assert.equal(new Set(columns).size, 1, help.stdout);
  });
});
