/**
 * Daily workflows around a build: loading into podman, pushing every image
 * of a file, registries on this machine over plain HTTP, names that survive
 * `podman load`, no silent overwrites, multi-arch indexes, and monorepo
 * builds that say what they reused. Checked with podman (runc), skopeo and
 * the docker-registry server.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, ROOT, RUNTIME, runTs } from "./helpers/dockwright.ts";
import { type RegistryServer, startRegistry } from "./helpers/registry.ts";
import { lazyPodman, requireTools, rmrf, runOk, skopeoInspect, tempDir } from "./helpers/tools.ts";

const MOD = JSON.stringify(join(ROOT, "mod.ts"));
const GREETING = "hi from a workflow\n";

/** An image file exporting a shared base and images on it, each printing its own line. */
function monorepoFile(dir: string, names: string[], base = "base"): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "mono.ts");
  writeFileSync(
    file,
    `import { buildImage, buildLayeredImage, greeterExecutable, writeTextFile } from ${MOD};\n` +
      `export const base = buildImage({ name: "mono/${base}", tag: "1",\n` +
      `  copyToRoot: writeTextFile({ name: "g", destination: "/bin/greet", executable: true,\n` +
      `    text: greeterExecutable(${JSON.stringify(GREETING)}) }) });\n` +
      names.map((n) =>
        `export const ${n} = buildLayeredImage({ name: "mono/${n}", tag: "1", fromImage: base,\n` +
        `  contents: [writeTextFile({ name: "${n}", destination: "/etc/${n}.txt", text: "${n}\\n" })],\n` +
        `  config: { Cmd: ["/bin/greet"] } });\n`
      ).join(""),
  );
  return file;
}

async function cli(args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  return await runTs(RUNTIME, CLI, args, opts);
}

describe("daily workflows", () => {
  let dir: string;
  let cacheDir: string;
  let registry: RegistryServer | undefined;
  const podman = lazyPodman();

  before(() => {
    dir = tempDir("dw-flow-");
    cacheDir = join(dir, "cache");
  });
  after(async () => {
    await podman.close();
    await registry?.stop();
    rmrf(dir);
  });

  const getRegistry = async () => (registry ??= await startRegistry(join(dir, "registry")));

  it("--load podman puts every image into podman, whatever the compressor", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const pm = await podman.get();
    const file = monorepoFile(join(dir, "load"), ["api", "web"], "loadbase");
    const r = await cli(
      ["build", file, "--load", "podman", "-c", "gz", "--cache-dir", cacheDir, "--json"],
      { cwd: dir, env: { ...pm.env, DOCKWRIGHT_PODMAN: ["podman", ...pm.globalArgs].join(" ") } },
    );
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout) as Array<{ name: string; loaded: string }>;
    assert.deepEqual(results.map((x) => x.loaded).sort(), [
      "localhost/mono/api:1",
      "localhost/mono/loadbase:1",
      "localhost/mono/web:1",
    ]);
    assert.equal(await pm.run("localhost/mono/api:1"), GREETING);
    assert.equal(await pm.run("localhost/mono/web:1", ["/bin/greet"]), GREETING);
    // A missing engine is one clear line, exit 1.
    const missing = await cli(["build", file, "--load", "docker", "--cache-dir", cacheDir], {
      cwd: dir,
      env: { DOCKWRIGHT_DOCKER: "no-such-docker-here" },
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: --load docker: no-such-docker-here is not installed/m);
  });

  it("--push PREFIX pushes every image of a file, blobs once, to a localhost registry over HTTP", async (t) => {
    if (!requireTools(t, ["docker-registry", "skopeo"])) return;
    const reg = await getRegistry();
    const file = monorepoFile(join(dir, "push"), ["api", "web", "worker"]);
    // No --tls-verify: a registry on 127.0.0.1 may answer in plain HTTP, as docker allows.
    const r = await cli(
      ["build", file, "--push", `${reg.host}/team`, "--cache-dir", cacheDir, "--json", "-j", "2"],
      { cwd: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    const pushed = JSON.parse(r.stdout) as Array<
      { reference: string; manifestDigest: string; blobs: Record<string, number> }
    >;
    assert.deepEqual(pushed.map((p) => p.reference).sort(), [
      `${reg.host}/team/mono/api:1`,
      `${reg.host}/team/mono/base:1`,
      `${reg.host}/team/mono/web:1`,
      `${reg.host}/team/mono/worker:1`,
    ]);
    for (const p of pushed) {
      const raw = await runOk("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${p.reference}`,
      ]);
      assert.match(p.manifestDigest, /^sha256:/);
      assert.ok(raw.stdout.includes('"layers"'), p.reference);
    }
    // Every distinct blob went up once (the base layer, 4 configs, 3 customisation layers);
    // the other repositories mounted the base layer.
    const uploaded = pushed.reduce((n, p) => n + p.blobs.uploaded, 0);
    const mounted = pushed.reduce((n, p) => n + p.blobs.mounted, 0);
    assert.equal(uploaded, 8, JSON.stringify(pushed.map((p) => p.blobs)));
    assert.equal(mounted, 3, JSON.stringify(pushed.map((p) => p.blobs)));
    // A reference with a tag cannot be a prefix for several images.
    const bad = await cli(
      ["build", file, "--push", `${reg.host}/team:1`, "--cache-dir", cacheDir],
      {
        cwd: dir,
      },
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /it is a prefix/);
  });

  it("--tls-verify=true on a plain-HTTP registry says which flag to use, at once", async (t) => {
    if (!requireTools(t, ["docker-registry"])) return;
    const reg = await getRegistry();
    const file = monorepoFile(join(dir, "tls"), ["api"]);
    const started = performance.now();
    const r = await cli(
      [
        "build",
        file,
        "--image",
        "api",
        "--push",
        `${reg.host}/x/api:1`,
        "--tls-verify=true",
        "--cache-dir",
        cacheDir,
      ],
      { cwd: dir },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /speaks plain HTTP, not HTTPS: pass --tls-verify=false/);
    assert.ok(performance.now() - started < 60_000);
  });

  it("an OCI archive loads into podman under its name and tag", async (t) => {
    if (!requireTools(t, ["podman", "runc", "skopeo"])) return;
    const pm = await podman.get();
    const file = join(dir, "myapp.ts");
    writeFileSync(
      file,
      `import { buildImage, writeTextDir } from ${MOD};\n` +
        `export default buildImage({ name: "myapp", tag: "1.0", copyToRoot: writeTextDir("etc", "x") });\n`,
    );
    const out = join(dir, "myapp.oci.tar");
    const r = await cli(["build", file, "-f", "oci-archive", "-o", out, "--cache-dir", cacheDir], {
      cwd: dir,
    });
    assert.equal(r.code, 0, r.stderr);
    // As for skopeo's own archives: a one-part name is local to podman.
    assert.deepEqual(await pm.load(out), ["localhost/myapp:1.0"]);
    // skopeo finds it by name:tag, as in its own archives.
    await skopeoInspect(`oci-archive:${out}:myapp:1.0`);
  });

  it("two exports that would write one file are an error before any work; a template fixes it", async () => {
    const sub = join(dir, "clash");
    mkdirSync(sub, { recursive: true });
    const file = join(sub, "two.ts");
    writeFileSync(
      file,
      `import { buildImage, writeTextDir } from ${MOD};\n` +
        `export const a = buildImage({ name: "team-a/api", tag: "1", copyToRoot: writeTextDir("a", "a") });\n` +
        `export const b = buildImage({ name: "team-b/api", tag: "1", copyToRoot: writeTextDir("b", "b") });\n`,
    );
    const r = await cli(["build", file, "--cache-dir", cacheDir], { cwd: sub });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^error: a of .*two\.ts and b of .*two\.ts would both be written to .*api\.tar\.gz$/m,
    );
    assert.match(r.stderr, /^hint: give --out a template/m);
    const ok = await cli([
      "build",
      file,
      "--out",
      "dist-{export}.tar",
      "--cache-dir",
      cacheDir,
      "-c",
      "none",
    ], {
      cwd: sub,
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(readFileSync(join(sub, "dist-a.tar")).length > 0);
    assert.ok(readFileSync(join(sub, "dist-b.tar")).length > 0);
  });

  it("imageIndex: an OCI index with one image per platform; skopeo and podman pick arm64", async (t) => {
    if (!requireTools(t, ["docker-registry", "skopeo", "podman"])) return;
    const reg = await getRegistry();
    const sub = join(dir, "multi");
    mkdirSync(sub, { recursive: true });
    const file = join(sub, "multi.ts");
    writeFileSync(
      file,
      `import { buildImage, greeterExecutable, imageIndex, writeTextFile } from ${MOD};\n` +
        `const app = (architecture: "amd64" | "arm64") => buildImage({ name: "multi", tag: "1",\n` +
        `  architecture, copyToRoot: writeTextFile({ name: "g", destination: "/bin/greet", executable: true,\n` +
        `    text: greeterExecutable("hi " + architecture + "\\n", architecture) }), config: { Cmd: ["/bin/greet"] } });\n` +
        `export default imageIndex({ images: [app("amd64"), app("arm64")] });\n`,
    );
    const out = join(sub, "multi.oci");
    const built = await cli([
      "build",
      file,
      "-f",
      "oci",
      "-o",
      out,
      "--cache-dir",
      cacheDir,
      "--json",
    ], {
      cwd: sub,
    });
    assert.equal(built.code, 0, built.stderr);
    const result = JSON.parse(built.stdout) as {
      indexDigest: string;
      manifests: Array<{ manifestDigest: string; platform: { architecture: string } }>;
    };
    assert.deepEqual(result.manifests.map((m) => m.platform.architecture), ["amd64", "arm64"]);
    const arm = result.manifests[1].manifestDigest;
    // The layout's index names an image index holding both platforms.
    const raw = await skopeoInspect(`oci:${out}:multi:1`, true) as {
      manifests: Array<{ digest: string; platform: { architecture: string } }>;
    };
    assert.deepEqual(raw.manifests.map((m) => [m.platform.architecture, m.digest]), [
      ["amd64", result.manifests[0].manifestDigest],
      ["arm64", arm],
    ]);
    // A docker-archive cannot hold it: a clear usage error (without --format it is an OCI layout).
    const bad = await cli(["build", file, "-f", "docker-archive", "--cache-dir", cacheDir], {
      cwd: sub,
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /imageIndex.*docker-archive cannot hold/);
    // Pushed as an index; skopeo and podman select the arm64 child.
    const pushed = await cli([
      "build",
      file,
      "--push",
      `${reg.host}/multi:1`,
      "--cache-dir",
      cacheDir,
      "--json",
    ], {
      cwd: sub,
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(JSON.parse(pushed.stdout).manifestDigest, result.indexDigest);
    const copy = join(sub, "arm.oci");
    await runOk("skopeo", [
      "--insecure-policy",
      "--override-arch",
      "arm64",
      "copy",
      "--src-tls-verify=false",
      `docker://${reg.host}/multi:1`,
      `oci:${copy}:arm`,
    ]);
    const copied = JSON.parse(readFileSync(join(copy, "index.json"), "utf8"));
    assert.equal(copied.manifests[0].digest, arm);
    // inspect picks the platform asked for from a local index, and says when there is none.
    const platformOf = async (spec: string, platform: string) => {
      const r = await cli([
        "inspect",
        spec,
        "--platform",
        platform,
        "--json",
        "--cache-dir",
        cacheDir,
      ], { cwd: sub });
      return { code: r.code, stderr: r.stderr, json: r.code === 0 ? JSON.parse(r.stdout) : null };
    };
    const armLocal = await platformOf(out, "linux/arm64");
    assert.equal(armLocal.code, 0, armLocal.stderr);
    assert.equal(armLocal.json.platform.architecture, "arm64");
    assert.equal(armLocal.json.manifest.digest, arm);
    // The report says the image came from an index, and which platforms it holds.
    const both = [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64" }];
    assert.deepEqual(armLocal.json.index, { digest: result.indexDigest, platforms: both });
    const fromRegistry = await platformOf(`docker://${reg.host}/multi:1`, "linux/arm64");
    assert.equal(fromRegistry.code, 0, fromRegistry.stderr);
    assert.deepEqual(fromRegistry.json.index, { digest: result.indexDigest, platforms: both });
    assert.equal(fromRegistry.json.manifest.digest, arm);
    const none = await platformOf(out, "linux/s390x");
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no image for linux\/s390x \(it has: linux\/amd64, linux\/arm64\)/);
    const single = await platformOf(copy, "linux/amd64");
    assert.equal(single.code, 1);
    assert.match(single.stderr, /is an image for linux\/arm64, not linux\/amd64/);
    const pm = await podman.get();
    const pulled = await pm.podman([
      "pull",
      "--tls-verify=false",
      "--arch",
      "arm64",
      `${reg.host}/multi:1`,
    ]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const inspected = await pm.inspect(`${reg.host}/multi:1`);
    assert.equal(inspected.Architecture, "arm64");
  });

  it("monorepo: one session builds every file at once; a rebuild is all cached; an edit rebuilds one layer", async () => {
    const sub = join(dir, "mono");
    mkdirSync(sub, { recursive: true });
    const files = [];
    for (const name of ["api", "web", "worker", "cron", "admin"]) {
      const file = join(sub, `${name}.ts`);
      writeFileSync(
        file,
        `import { buildImage, buildLayeredImage, greeterExecutable, writeTextFile } from ${MOD};\n` +
          `import { base } from "./base.ts";\n` +
          `export default buildLayeredImage({ name: "${name}", tag: "1", fromImage: base,\n` +
          `  contents: [writeTextFile({ name: "c", destination: "/etc/${name}.conf", text: "v1\\n" })] });\n`,
      );
      files.push(file);
    }
    writeFileSync(
      join(sub, "base.ts"),
      `import { buildImage, greeterExecutable, writeTextFile } from ${MOD};\n` +
        `export const base = buildImage({ name: "base", tag: "1", compressor: "none",\n` +
        `  copyToRoot: writeTextFile({ name: "g", destination: "/bin/greet", executable: true,\n` +
        `    text: greeterExecutable("base\\n") }) });\n`,
    );
    const cache = join(dir, "mono-cache");
    type Result = { name: string; layers: Array<{ cached: boolean; diffId: string }> };
    const run = async () => {
      const r = await cli([
        "build",
        "*.ts",
        "-c",
        "none",
        "--cache-dir",
        cache,
        "--json",
        "-j",
        "2",
      ], {
        cwd: sub,
      });
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as Result[]).filter((x) => x.name !== "base");
    };
    const cold = await run();
    assert.equal(cold.length, 5);
    assert.ok(cold.every((r) => r.layers.some((l) => !l.cached)), "a cold build builds");
    const warm = await run();
    for (const r of warm) assert.ok(r.layers.every((l) => l.cached), `${r.name}: all cached`);
    writeFileSync(files[1], readFileSync(files[1], "utf8").replace("v1", "v2"));
    const edited = await run();
    const rebuilt = edited.flatMap((r) => r.layers.filter((l) => !l.cached).map(() => r.name));
    assert.deepEqual(rebuilt, ["web"], "only web's customisation layer is built again");
  });
});
