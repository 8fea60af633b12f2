/**
 * The single executable (`bun build --compile`, the `compile` task) builds
 * users' own files: `"dockwright"`, `"npm:dockwright[@<range>]"` and
 * `"jsr:@dockwright/dockwright[@<range>]"` imports resolve to the library inside it, in a
 * folder without node_modules; relative imports between the user's files
 * work; relative source paths are the file's; big layers go through the
 * embedded layer worker; `dockwright init` writes a project that builds and
 * runs as generated. Inside a container holding only the executable (with the
 * C library it links) and a static busybox, with no Node, Deno or Bun and no
 * libzstd, it builds the hello image, zstd included; the result loads and
 * runs in podman.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { build, buildImage } from "../mod.ts";
import { busyboxRoot } from "./helpers/fixtures.ts";
import { ROOT } from "./helpers/dockwright.ts";
import { lazyPodman, requireTools, rmrf, run, runOk, tempDir } from "./helpers/tools.ts";

/** An image file that imports dockwright by name and a message from a file beside it. */
const IMAGE_FILE = `import { buildImage, greeterExecutable, main, writeTextFile } from "dockwright";
import * as byNpmName from "npm:dockwright";
import * as byNpmRange from "npm:dockwright@^0.1.0";
import * as byJsrName from "jsr:@dockwright/dockwright@^0.1.0";
import { message } from "./lib/message.ts";

if (byNpmName.buildImage !== buildImage || byNpmRange.main !== main || byJsrName.main !== main) {
  throw new Error("npm:dockwright or jsr:@dockwright/dockwright is another copy of the library");
}

export default buildImage({
  name: "from-binary",
  tag: "latest",
  copyToRoot: writeTextFile({
    name: "hello",
    destination: "/bin/hello",
    text: greeterExecutable(message),
    executable: true,
  }),
  config: { Cmd: ["/bin/hello"] },
  compressor: "none",
});

main(import.meta);
`;

/** Writes the image file and its relative import into `dir`. */
function writeProject(dir: string, message: string): string {
  mkdirSync(join(dir, "lib"), { recursive: true });
  writeFileSync(join(dir, "image.ts"), IMAGE_FILE);
  writeFileSync(
    join(dir, "lib", "message.ts"),
    `export const message: string = ${JSON.stringify(message)};\n`,
  );
  return join(dir, "image.ts");
}

/** `ldd`'s libraries (names before "=>", or the loader's path). */
async function dynamicLibraries(binary: string): Promise<Array<{ name: string; path?: string }>> {
  const { stdout } = await runOk("ldd", [binary]);
  return stdout.trim().split("\n").map((line) => {
    const m = /^\s*(\S+)(?:\s+=>\s+(\S+))?\s+\(0x[0-9a-f]+\)$/.exec(line);
    assert.ok(m, `unexpected ldd line: ${line}`);
    const path = m[2] ?? (m[1].startsWith("/") ? m[1] : undefined);
    return { name: m[1], path };
  });
}

/** glibc's parts: what "the C library" means for a binary linked against it. */
const C_LIBRARY =
  /^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|\/lib(64)?\/ld-linux[-\w.]*\.so\.\d)$/;

describe("single executable", () => {
  let dir: string;
  let bin: string;
  const podman = lazyPodman();

  before(async () => {
    dir = tempDir("dw-binary-");
    bin = join(dir, "dockwright");
    // The `compile` task as it is written in package.json, into this test's folder.
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const task: string[] = pkg.scripts.compile.split(" ");
    assert.equal(task[0], "bun");
    const out = task.indexOf("--outfile");
    task[out + 1] = bin;
    const bun = join(ROOT, "node_modules", ".bin", "bun");
    await runOk(bun, task.slice(1), { cwd: ROOT, timeoutMs: 300_000 });
  });
  after(async () => {
    await podman.close();
    rmrf(dir);
  });

  it("links only the C library, and reports its size and start-up time", async (t) => {
    if (!requireTools(t, ["ldd"])) return;
    const libraries = await dynamicLibraries(bin);
    const others = libraries.filter((l) => !C_LIBRARY.test(l.name));
    assert.deepEqual(others, [], "only glibc is linked dynamically (no libzstd, no libstdc++)");
    const size = statSync(bin).size;
    assert.ok(size < 130e6, `${size} bytes`);
    const started = performance.now();
    const version = await runOk(bin, ["--version"]);
    const ms = performance.now() - started;
    assert.match(version.stdout, /^dockwright \d+\.\d+\.\d+\n$/);
    t.diagnostic(`size ${(size / 2 ** 20).toFixed(1)} MiB, --version in ${ms.toFixed(0)} ms`);
  });

  it("builds a user's file that imports dockwright by name, with relative imports, without node_modules", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const project = join(dir, "project");
    const file = writeProject(project, "Hello from the binary!\n");
    const r = await run(bin, ["build", file, "--json", "--cache-dir", join(dir, "cache")], {
      cwd: project,
    });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.path, join(project, "from-binary.tar"));
    const pm = await podman.get();
    await pm.load(result.path);
    assert.equal(await pm.run("localhost/from-binary:latest"), "Hello from the binary!\n");
    // A misspelled attribute: the CLI's one error line, exit 2.
    writeFileSync(
      join(project, "bad.ts"),
      'import { buildImage } from "dockwright";\nexport default buildImage({ name: "x", copytoroot: "." });\n',
    );
    const bad = await run(bin, ["build", "bad.ts"], { cwd: project });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: buildImage: attribute "copytoroot" is not an attribute/);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  });

  it("resolves a user's relative source paths from the file, and writes big layers on its worker", async () => {
    const project = join(dir, "big");
    mkdirSync(join(project, "data"), { recursive: true });
    // Over the 32 MiB above which layers are written on a worker thread.
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 34; i++) {
      chunk.fill(i);
      writeFileSync(join(project, "data", "big.bin"), chunk, { flag: i === 0 ? "w" : "a" });
    }
    writeFileSync(
      join(project, "big.ts"),
      'import { buildImage } from "dockwright";\nexport default buildImage({ name: "big", tag: "1", copyToRoot: "./data" });\n',
    );
    const digests: string[] = [];
    for (const threads of ["1", "0"]) {
      // From another folder: "./data" is next to big.ts, not in the working directory.
      const r = await run(bin, [
        "build",
        join(project, "big.ts"),
        "--json",
        "--compressor",
        "none",
        "--out",
        join(project, `big-${threads}.tar`),
        "--cache-dir",
        join(dir, `cache-threads-${threads}`),
      ], { cwd: dir, env: { ...process.env, DOCKWRIGHT_THREADS: threads } });
      assert.equal(r.code, 0, r.stderr);
      digests.push(JSON.parse(r.stdout).manifestDigest);
    }
    assert.equal(digests[0], digests[1], "the worker writes what the main thread writes");
  });

  it("init writes a project that builds and runs as generated", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const work = join(dir, "init");
    mkdirSync(work);
    const made = await run(bin, ["init", "my-app"], { cwd: work });
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual(readdirSync(join(work, "my-app")), ["image.ts"]);
    assert.match(made.stderr, /cd my-app && dockwright build image\.ts/);
    const built = await run(bin, [
      "build",
      "image.ts",
      "--quiet",
      "--cache-dir",
      join(dir, "cache"),
    ], {
      cwd: join(work, "my-app"),
    });
    assert.equal(built.code, 0, built.stderr);
    const pm = await podman.get();
    await pm.load(join(work, "my-app", "my-app.tar"));
    assert.equal(await pm.run("localhost/my-app:latest"), "Hello from my-app!\n");

    const both = await run(bin, ["init", "both", "--npm", "--deno", "--name", "svc"], {
      cwd: work,
    });
    assert.equal(both.code, 0, both.stderr);
    assert.deepEqual(readdirSync(join(work, "both")).sort(), [
      "deno.json",
      "image.ts",
      "package.json",
    ]);
    const pkg = JSON.parse(readFileSync(join(work, "both", "package.json"), "utf8"));
    assert.match(pkg.dependencies.dockwright, /^\^\d+\.\d+\.\d+$/);
    assert.equal(pkg.scripts.build, "dockwright build image.ts");
    const deno = JSON.parse(readFileSync(join(work, "both", "deno.json"), "utf8"));
    assert.match(deno.imports.dockwright, /^npm:dockwright@\^\d+\.\d+\.\d+$/);
    assert.match(readFileSync(join(work, "both", "image.ts"), "utf8"), /name: "svc"/);

    const again = await run(bin, ["init", "my-app"], { cwd: work });
    assert.equal(again.code, 2);
    assert.match(
      again.stderr,
      /^error: image\.ts already exists in my-app\nhint: pass --force to overwrite/,
    );
  });

  it("builds inside a container with no Node, Deno, Bun or libzstd; the result runs", async (t) => {
    if (!requireTools(t, ["podman", "runc", "busybox", "ldd"])) return;
    // The container's root: static busybox, the executable, and the C library files it links.
    const root = busyboxRoot(join(dir, "container"));
    copyFileSync(bin, join(root, "bin", "dockwright"));
    for (const { path } of await dynamicLibraries(bin)) {
      if (!path) continue; // the vDSO
      mkdirSync(join(root, dirname(path)), { recursive: true });
      copyFileSync(path, join(root, path));
    }
    const builder = buildImage({
      name: "dockwright-builder",
      tag: "test",
      copyToRoot: root,
      config: { Entrypoint: ["/bin/dockwright"], Env: ["PATH=/bin", "HOME=/tmp"] },
      compressor: "none",
    });
    const archive = join(dir, "builder.tar");
    await build(builder, { out: archive, cacheDir: join(dir, "cache"), progress: false });
    const pm = await podman.get();
    await pm.load(archive);
    // Nothing in the image but busybox, the executable and the C library.
    const found = await pm.podman([
      "run",
      "--rm",
      "--network=none",
      "--entrypoint",
      "/bin/busybox",
      "localhost/dockwright-builder:test",
      "find",
      "/",
      "-xdev",
      "(",
      "-name",
      "node",
      "-o",
      "-name",
      "deno",
      "-o",
      "-name",
      "bun",
      "-o",
      "-name",
      "libzstd*",
      ")",
    ]);
    assert.equal(found.code, 0, found.stderr);
    assert.equal(found.stdout, "", "no Node, Deno, Bun or libzstd in the image");

    const work = join(dir, "in-container");
    writeProject(work, "Hello from a container!\n");
    const inContainer = (args: string[]) =>
      pm.podman([
        "run",
        "--rm",
        "--network=none",
        "-v",
        `${work}:/work`,
        "--workdir",
        "/work",
        "-e",
        "DOCKWRIGHT_LIBZSTD=/nonexistent",
        "localhost/dockwright-builder:test",
        "build",
        "image.ts",
        "--cache-dir",
        "/tmp/cache",
        ...args,
      ]);
    const plain = await inContainer(["--out", "/work/out.tar"]);
    assert.equal(plain.code, 0, plain.stderr);
    const zstd = await inContainer(["--compressor", "zstd", "--out", "/work/out.tar.zst"]);
    assert.equal(zstd.code, 0, zstd.stderr);
    assert.match(zstd.stderr, /libzstd not found, so zstd comes from Bun's own zstd \(node:zlib\)/);
    for (const out of ["out.tar", "out.tar.zst"]) {
      await pm.load(join(work, out));
      assert.equal(await pm.run("localhost/from-binary:latest"), "Hello from a container!\n", out);
      await pm.podman(["rmi", "-f", "localhost/from-binary:latest"]);
    }
  });
});
