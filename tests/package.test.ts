/**
 * The npm package, as users get it: `npm pack` (its prepack script builds
 * JavaScript and declarations into dist/npm), installed from the tarball into
 * fresh projects made by `dockwright init`. A project with only a
 * package.json builds and runs the image of an image.ts importing
 * "dockwright" under Deno, under Bun, with `npx`/`bunx dockwright` and with
 * `npm run build`; a project with only a deno.json gets `npm:dockwright` from
 * a registry (a local one serving the tarball) into Deno's cache, without
 * node_modules, and builds with `deno task build`. The declarations
 * type-check without @types/node (deno check, tsc) and with it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { CLI, ROOT, RUNTIME, runtimeCommand, runTs } from "./helpers/dockwright.ts";
import {
  lazyPodman,
  requireTools,
  rmrf,
  run,
  runOk,
  type RunResult,
  tempDir,
} from "./helpers/tools.ts";

const BIN = join(ROOT, "node_modules", ".bin");

/** What the image `dockwright init --name from-package` writes prints. */
const GREETING = "Hello from from-package!\n";

/** `dockwright init DIR --name from-package FLAGS...`, from the sources. */
async function init(dir: string, ...flags: string[]): Promise<void> {
  const r = await runTs(RUNTIME, CLI, ["init", dir, "--name", "from-package", ...flags]);
  assert.equal(r.code, 0, r.stderr);
}

/** What `npm pack --json` reports. */
interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; mode: number }>;
}

/** Runs `cmd` in `cwd` with the repository's deno, bun and tsc on PATH and no colours. */
function inProject(
  cwd: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  return run(cmd, args, {
    cwd,
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, NO_COLOR: "1", ...env },
    timeoutMs: 300_000,
  });
}

function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}${r.stdout}`);
  return r;
}

/**
 * A registry that serves one package, `dockwright`, from `tarball` (what
 * `npm:dockwright` needs: the packument and the tarball).
 */
async function npmRegistry(tarball: string, version: string): Promise<Server & { url: string }> {
  const bytes = readFileSync(tarball);
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === "/dockwright") {
      const dist = {
        tarball: `${base}/dockwright/-/dockwright-${version}.tgz`,
        shasum: createHash("sha1").update(bytes).digest("hex"),
        integrity: `sha512-${createHash("sha512").update(bytes).digest("base64")}`,
      };
      const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
      const body = {
        name: "dockwright",
        "dist-tags": { latest: version },
        versions: { [version]: { name: "dockwright", version, bin: manifest.bin, dist } },
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    } else if (req.url === `/dockwright/-/dockwright-${version}.tgz`) {
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(bytes);
    } else {
      res.writeHead(404, { "content-type": "application/json" }).end("{}");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return Object.assign(server, { url });
}

describe("npm package", () => {
  let dir: string;
  let pack: PackInfo;
  let tarball: string;
  let version: string;
  /** A project with only a package.json, the tarball installed into it. */
  let project: string;
  const podman = lazyPodman();

  before(async () => {
    dir = tempDir("dw-package-");
    version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    // `npm pack` runs the prepack script, which builds dist/npm.
    const packed = ok(
      await inProject(ROOT, "npm", ["pack", "--json", "--pack-destination", dir]),
      "npm pack",
    );
    [pack] = JSON.parse(packed.stdout) as PackInfo[];
    tarball = join(dir, pack.filename);
    project = join(dir, "npm-project");
    await init(project, "--npm"); // image.ts and package.json
    ok(
      await inProject(project, "npm", ["install", "--no-audit", "--no-fund", tarball]),
      "npm install",
    );
  });
  after(async () => {
    await podman.close();
    rmrf(dir);
  });

  it("holds JavaScript, declarations and the bin, not the tests or TypeScript sources", async (t) => {
    const paths = pack.files.map((f) => f.path);
    for (
      const needed of [
        "package.json",
        "dist/npm/mod.js",
        "dist/npm/mod.d.ts",
        "dist/npm/cli.js",
        "dist/npm/lib/cache/layer_worker.js",
        "dist/npm/lib/cli/launcher.js",
      ]
    ) {
      assert.ok(paths.includes(needed), `${needed} is packed`);
    }
    const strays = paths.filter((p) =>
      /^(tests|examples|bench|scripts|\.ci)\//.test(p) ||
      (p.endsWith(".ts") && !p.endsWith(".d.ts"))
    );
    assert.deepEqual(strays, [], "no tests, examples or TypeScript sources");
    const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    // One version everywhere: npm, JSR (deno.json) and `dockwright --version`.
    const jsr = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
    assert.equal(jsr.version, manifest.version, "deno.json and package.json versions");
    const cli = await runTs(RUNTIME, CLI, ["--version"]);
    assert.equal(cli.stdout, `dockwright ${manifest.version}\n`);
    const bin = pack.files.find((f) => f.path === manifest.bin.dockwright);
    assert.ok(bin, "the bin is packed");
    // What `npm publish` would send, without running prepack again: the bin is kept.
    const publish = ok(
      await inProject(ROOT, "npm", ["publish", "--dry-run", "--ignore-scripts"]),
      "npm publish --dry-run",
    );
    assert.doesNotMatch(publish.stderr, /invalid and removed|errors corrected/);
    t.diagnostic(
      `${pack.filename}: ${(pack.size / 1024).toFixed(0)} KiB packed, ` +
        `${(pack.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${pack.files.length} files`,
    );
  });

  it("a package.json project builds under Deno, Bun, npx, bunx and npm run build; the image runs", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const cache = join(dir, "cache");
    const npx = ["--no-install", "dockwright", "build", "image.ts"];
    const runs: Array<[string, string, string[], Record<string, string>?]> = [
      ["deno.tar", join(BIN, "deno"), ["run", "-A", "image.ts"]],
      ["bun.tar", join(BIN, "bun"), ["image.ts"]],
      ["npx.tar", "npx", npx], // the launcher picks Bun
      ["npx-deno.tar", "npx", npx, { DOCKWRIGHT_RUNTIME: "deno" }],
      ["bunx.tar", join(BIN, "bunx"), ["dockwright", "build", "image.ts"]],
      ["npm-run.tar", "npm", ["run", "--silent", "build", "--"]], // the script init wrote
    ];
    const bytes: string[] = [];
    for (const [out, cmd, args, env] of runs) {
      ok(
        await inProject(
          project,
          cmd,
          [...args, "--out", out, "--cache-dir", cache, "--quiet"],
          env,
        ),
        `${cmd} ${args.join(" ")} ${JSON.stringify(env ?? {})}`,
      );
      bytes.push(createHash("sha256").update(readFileSync(join(project, out))).digest("hex"));
    }
    assert.equal(new Set(bytes).size, 1, `the same archive every way: ${bytes.join(" ")}`);
    const pm = await podman.get();
    await pm.load(join(project, "deno.tar"));
    assert.equal(await pm.run("localhost/from-package:latest"), GREETING);
    // Run directly from the package too, an invalid definition is the CLI's one line.
    writeFileSync(
      join(project, "bad.ts"),
      'import { buildImage, main } from "dockwright";\nexport default buildImage({ name: "x", copytoroot: "." });\nmain(import.meta);\n',
    );
    const [cmd, ...pre] = runtimeCommand(RUNTIME);
    const bad = await inProject(project, cmd, [...pre, "bad.ts"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(
      bad.stderr,
      /^error: buildImage: attribute "copytoroot" is not an attribute[^\n]*\n$/,
    );
  });

  it("its declarations type-check without @types/node (deno check, tsc) and with it (tsc)", async () => {
    ok(await inProject(project, join(BIN, "deno"), ["check", "image.ts"]), "deno check");
    const tsconfig = (types: string[], files: string[], typeRoots?: string[]) => ({
      compilerOptions: {
        target: "esnext",
        module: "nodenext",
        moduleResolution: "nodenext",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        allowImportingTsExtensions: true,
        types,
        ...(typeRoots ? { typeRoots } : {}),
      },
      files,
    });
    writeFileSync(join(project, "tsconfig.bare.json"), JSON.stringify(tsconfig([], ["image.ts"])));
    ok(
      await inProject(project, join(BIN, "tsc"), ["-p", "tsconfig.bare.json"]),
      "tsc, no @types/node",
    );
    // With @types/node: Node's streams are what streamImage writes to.
    writeFileSync(
      join(project, "stream.ts"),
      `import process from "node:process";
import { createWriteStream } from "node:fs";
import image from "./image.ts";
import { streamImage } from "dockwright";
await streamImage(image, {}, process.stdout);
await streamImage(image, {}, createWriteStream("image.tar"));
`,
    );
    writeFileSync(
      join(project, "tsconfig.node.json"),
      JSON.stringify(
        tsconfig(["node"], ["image.ts", "stream.ts"], [join(ROOT, "node_modules", "@types")]),
      ),
    );
    ok(
      await inProject(project, join(BIN, "tsc"), ["-p", "tsconfig.node.json"]),
      "tsc, with @types/node",
    );
  });

  it("a deno.json project gets npm:dockwright from a registry, without node_modules", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const registry = await npmRegistry(tarball, version);
    try {
      const denoProject = join(dir, "deno-project");
      await init(denoProject, "--deno"); // image.ts and deno.json (dockwright -> npm:dockwright@^x)
      // A Deno cache of its own: the package comes from this registry, not from an earlier run.
      const env = { DENO_DIR: join(dir, "deno-dir"), NPM_CONFIG_REGISTRY: registry.url };
      const deno = join(BIN, "deno");
      const cache = ["--cache-dir", join(dir, "cache"), "--quiet"];
      ok(
        await inProject(
          denoProject,
          deno,
          ["task", "build", "--out", "a.tar", ...cache],
          env,
        ),
        "deno task build (the task init wrote: deno run -A image.ts)",
      );
      ok(
        await inProject(
          denoProject,
          deno,
          ["run", "-A", "npm:dockwright", "build", "image.ts", "--out", "b.tar", ...cache],
          env,
        ),
        "deno run -A npm:dockwright build image.ts",
      );
      ok(await inProject(denoProject, deno, ["check", "image.ts"], env), "deno check");
      const ls = await runOk("ls", ["-A", denoProject]);
      assert.deepEqual(ls.stdout.trim().split("\n").sort(), [
        "a.tar",
        "b.tar",
        "deno.json",
        "deno.lock",
        "image.ts",
      ]);
      assert.deepEqual(
        readFileSync(join(denoProject, "a.tar")),
        readFileSync(join(denoProject, "b.tar")),
      );
      const pm = await podman.get();
      await pm.podman(["rmi", "-f", "localhost/from-package:latest"]); // the npm project's
      await pm.load(join(denoProject, "a.tar"));
      assert.equal(await pm.run("localhost/from-package:latest"), GREETING);
    } finally {
      await new Promise((resolve) => registry.close(resolve));
    }
  });
});
