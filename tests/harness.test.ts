/**
 * Proves the validator harness (tests/helpers/tools.ts) works on this machine,
 * under both `deno test -A` and `bun test`, using only external tools: a tiny
 * busybox image is built with umoci, then checked by oci-image-tool, copied by
 * skopeo, loaded and run by podman, unpacked by umoci and run by runc.
 *
 * @module
 */

import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { linkSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { after, describe, it } from "node:test";

import {
  aptInstallHint,
  createPodman,
  gnuTarList,
  hasTool,
  missingTools,
  mountsUnder,
  ociImageToolValidate,
  pythonTarHeaders,
  requireTools,
  rmrf,
  run,
  runcRun,
  runOk,
  skipUnlessTools,
  skopeoCopy,
  skopeoInspect,
  skopeoInspectConfig,
  staticBusybox,
  tempDir,
  umociUnpack,
} from "./helpers/tools.ts";

/** Generous: the first podman call on a cold machine can be slow. */
const SLOW = { timeout: 120_000 };

/** Log how long a step took, to keep an eye on the harness' speed. */
async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    process.stderr.write(`  [harness] ${label}: ${(performance.now() - start).toFixed(0)} ms\n`);
  }
}

/** Run `fn` with `process.env.CI` set to `value` (undefined = unset). */
function withCI<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.CI;
  if (value === undefined) delete process.env.CI;
  else process.env.CI = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
}

describe("run / runOk", () => {
  it("captures stdout, stderr, exit code and stdin", async () => {
    const r = await run("sh", ["-c", "cat; echo err >&2; exit 3"], { input: "in put" });
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "in put");
    assert.equal(r.stderr, "err\n");
    assert.deepEqual([...r.stdoutBytes], [...new TextEncoder().encode("in put")]);
  });

  it("passes cwd, env and binary input", async () => {
    const dir = tempDir("harness-run-");
    try {
      const r = await runOk("sh", ["-c", 'pwd; echo "$FOO"; od -An -tu1'], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", FOO: "bar" },
        input: new Uint8Array([0, 255]),
      });
      const [pwd, foo, bytes] = r.stdout.split("\n");
      assert.equal(pwd, dir);
      assert.equal(foo, "bar");
      assert.deepEqual(bytes.trim().split(/\s+/), ["0", "255"]);
    } finally {
      rmrf(dir);
    }
  });

  it("survives a child that does not read its stdin", async () => {
    const r = await run("true", [], { input: new Uint8Array(4 * 1024 * 1024) });
    assert.equal(r.code, 0);
  });

  it("runOk throws with the command line, exit code and stderr", async () => {
    await assert.rejects(
      runOk("sh", ["-c", "echo boom >&2; exit 7", "arg with space"]),
      (e: Error) => {
        assert.match(e.message, /exit 7/);
        assert.match(e.message, /sh -c 'echo boom >&2; exit 7' 'arg with space'/);
        assert.match(e.message, /boom/);
        return true;
      },
    );
  });

  it("rejects on a missing command and on a timeout", async () => {
    await assert.rejects(run("dockwright-no-such-command", []), /cannot run/);
    const start = performance.now();
    await assert.rejects(run("sleep", ["10"], { timeoutMs: 200 }), /timed out after 200 ms/);
    assert.ok(performance.now() - start < 5000);
  });
});

describe("hasTool / requireTools", () => {
  it("finds tools on PATH", () => {
    assert.equal(hasTool("sh"), true);
    assert.equal(hasTool("/bin/sh"), true);
    assert.equal(hasTool("dockwright-no-such-tool"), false);
    assert.deepEqual(missingTools(["sh", "dockwright-no-such-tool"]), ["dockwright-no-such-tool"]);
    assert.equal(
      aptInstallHint(["busybox", "newuidmap", "skopeo"]),
      "apt-get install -y busybox-static uidmap skopeo",
    );
  });

  it("returns true when everything is there", () => {
    let skipped: string | undefined;
    assert.equal(requireTools({ skip: (m) => (skipped = m) }, ["sh"]), true);
    assert.equal(skipped, undefined);
  });

  it("outside CI: calls t.skip with an install hint and returns false", () => {
    let skipped: string | undefined;
    const ok = withCI(
      undefined,
      () =>
        requireTools({ name: "self-test", skip: (m) => (skipped = m) }, [
          "sh",
          "dockwright-no-such-tool",
          "busybox-x",
        ]),
    );
    assert.equal(ok, false);
    assert.match(skipped ?? "", /missing: dockwright-no-such-tool, busybox-x/);
    assert.match(skipped ?? "", /apt-get install -y dockwright-no-such-tool busybox-x/);
    // A context without skip() still works.
    assert.equal(
      withCI("false", () => requireTools({ name: "self-test" }, ["dockwright-no-such-tool"])),
      false,
    );
    assert.match(
      withCI(undefined, () => skipUnlessTools(["dockwright-no-such-tool"])) || "",
      /missing: dockwright-no-such-tool/,
    );
    assert.equal(skipUnlessTools(["sh"]), false);
  });

  it("in CI: throws, naming the tools and the apt-get command", () => {
    let skipped = false;
    assert.throws(
      () =>
        withCI(
          "true",
          () => requireTools({ skip: () => (skipped = true) }, ["dockwright-no-such-tool"]),
        ),
      /not installed in CI: dockwright-no-such-tool.*apt-get install -y dockwright-no-such-tool/,
    );
    assert.throws(() => withCI("1", () => skipUnlessTools(["dockwright-no-such-tool"])), /in CI/);
    assert.equal(skipped, false);
  });

  it("t.skip from node:test is callable in this runtime", (t) => {
    // Both runtimes give node:test contexts a skip(); the helper relies on it.
    assert.equal(typeof t.skip, "function");
  });
});

describe("tar listing helpers", () => {
  const work = tempDir("harness-tar-");
  after(() => rmrf(work));

  /** A small tree with each kind of entry, archived by GNU tar as PAX. */
  async function makeTar(): Promise<string> {
    const src = join(work, "src");
    mkdirSync(join(src, "dir"), { recursive: true });
    writeFileSync(join(src, "dir", "file.txt"), "hello\n", { mode: 0o640 });
    symlinkSync("file.txt", join(src, "dir", "link"));
    linkSync(join(src, "dir", "file.txt"), join(src, "dir", "hard"));
    const long = "d".repeat(60) + "/" + "f".repeat(70);
    mkdirSync(join(src, "d".repeat(60)));
    writeFileSync(join(src, long), "");
    await runOk("mkfifo", [join(src, "fifo")]);
    const tarPath = join(work, "small.tar");
    await runOk("tar", [
      "--format=pax",
      "--owner=alice:1234",
      "--group=staff:5678",
      "--mtime=@1700000000",
      "--sort=name",
      "--pax-option=delete=atime,delete=ctime",
      "-C",
      src,
      "-cf",
      tarPath,
      ".",
    ]);
    return tarPath;
  }

  it("gnuTarList and pythonTarHeaders report the expected fields", async (t) => {
    if (!requireTools(t, ["tar", "python3", "mkfifo"])) return;
    const tarPath = await makeTar();

    const lines = await gnuTarList(tarPath, ["--numeric-owner", "--full-time"]);
    const fileLine = lines.find((l) => l.endsWith("./dir/file.txt"));
    assert.ok(fileLine, lines.join("\n"));
    assert.match(fileLine, /^-rw-r----- 1234\/5678 +6 2023-11-14 22:13:20 \.\/dir\/file\.txt$/);
    assert.ok(lines.some((l) => /^l.* \.\/dir\/link -> file\.txt$/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /^h.* \.\/dir\/hard link to \.\/dir\/file\.txt$/.test(l)));
    assert.ok(lines.some((l) => /^p.* \.\/fifo$/.test(l)));
    assert.ok((await gnuTarList(tarPath)).some((l) => l.includes("alice/staff")));

    const headers = await pythonTarHeaders(tarPath);
    const byName = new Map(headers.map((h) => [h.name, h]));
    const file = byName.get("./dir/file.txt");
    assert.ok(file, [...byName.keys()].join(", "));
    assert.deepEqual(
      {
        type: file.type,
        kind: file.kind,
        mode: file.mode,
        uid: file.uid,
        gid: file.gid,
        uname: file.uname,
        gname: file.gname,
        size: file.size,
        mtime: file.mtime,
        linkname: file.linkname,
        devmajor: file.devmajor,
        devminor: file.devminor,
      },
      {
        type: "0",
        kind: "file",
        mode: 0o640,
        uid: 1234,
        gid: 5678,
        uname: "alice",
        gname: "staff",
        size: 6,
        mtime: 1700000000,
        linkname: "",
        devmajor: 0,
        devminor: 0,
      },
    );
    assert.equal(byName.get("./dir")?.kind, "dir");
    assert.equal(byName.get("./dir")?.type, "5");
    assert.deepEqual(
      [byName.get("./dir/link")?.kind, byName.get("./dir/link")?.linkname],
      ["symlink", "file.txt"],
    );
    assert.deepEqual(
      [byName.get("./dir/hard")?.type, byName.get("./dir/hard")?.linkname],
      ["1", "./dir/file.txt"],
    );
    assert.equal(byName.get("./fifo")?.kind, "fifo");
    // The 133-character path does not fit ustar's name field: GNU tar writes a
    // PAX `path` record, which pythonTarHeaders exposes.
    const long = headers.find((h) => h.name.endsWith("f".repeat(70)));
    assert.ok(long);
    assert.equal(long.pax_headers.path, long.name);
    assert.equal(long.name.length, 2 + 60 + 1 + 70);
  });

  it("pythonTarHeaders reads gzip and zstd archives too", async (t) => {
    if (!requireTools(t, ["tar", "python3", "gzip", "zstd", "mkfifo"])) return;
    const tarPath = existsSync(join(work, "small.tar")) ? join(work, "small.tar") : await makeTar();
    const plain = await pythonTarHeaders(tarPath);
    await runOk("gzip", ["-k", "-n", tarPath]);
    await runOk("zstd", ["-q", "-k", tarPath]);
    assert.deepEqual(await pythonTarHeaders(`${tarPath}.gz`), plain);
    assert.deepEqual(await pythonTarHeaders(`${tarPath}.zst`), plain);
    assert.deepEqual(await gnuTarList(`${tarPath}.zst`), await gnuTarList(tarPath));
  });
});

describe("validators on a tiny image built with umoci", () => {
  const work = tempDir("harness-image-");
  const layout = join(work, "layout");
  const TAG = "t";
  const archive = join(work, "hello.tar");
  const NAME = "localhost/dockwright-harness:latest";
  after(() => rmrf(work));

  let built: Promise<void> | undefined;
  /** Build once, on first use: init, new, unpack, add busybox, repack, config. */
  function buildImage(): Promise<void> {
    built ??= timed("umoci build", async () => {
      const busybox = staticBusybox();
      if (!busybox) throw new Error(`no static busybox: ${aptInstallHint(["busybox"])}`);
      await runOk("umoci", ["init", "--layout", layout]);
      await runOk("umoci", ["new", "--image", `${layout}:${TAG}`]);
      const bundle = join(work, "build-bundle");
      await runOk("umoci", ["unpack", "--rootless", "--image", `${layout}:${TAG}`, bundle]);
      const bin = join(bundle, "rootfs", "bin");
      mkdirSync(bin, { recursive: true });
      copyFileSync(busybox, join(bin, "busybox"));
      for (const applet of ["sh", "echo", "id", "cat", "ls"]) {
        symlinkSync("busybox", join(bin, applet));
      }
      await runOk("umoci", ["repack", "--image", `${layout}:${TAG}`, bundle]);
      await runOk("umoci", [
        "config",
        "--image",
        `${layout}:${TAG}`,
        "--config.cmd",
        "/bin/echo",
        "--config.cmd",
        "hello",
        "--config.env",
        "PATH=/bin",
      ]);
      rmrf(bundle);
    });
    return built;
  }

  it("oci-image-tool validates the layout", SLOW, async (t) => {
    if (!requireTools(t, ["umoci", "oci-image-tool", "busybox"])) return;
    await buildImage();
    const r = await timed("oci-image-tool validate", () => ociImageToolValidate(layout, TAG));
    assert.match(r.stdout, /Validation succeeded/);
    await assert.rejects(ociImageToolValidate(layout, "no-such-tag"), /not match/);
  });

  it("a corrupted layer is rejected by oci-image-tool and umoci", SLOW, async (t) => {
    if (!requireTools(t, ["umoci", "oci-image-tool", "busybox"])) return;
    await buildImage();
    const bad = join(work, "corrupt-layout");
    await runOk("cp", ["-a", layout, bad]);
    const index = JSON.parse(readFileSync(join(bad, "index.json"), "utf8"));
    const blob = (d: string) => join(bad, "blobs", ...d.split(":"));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
    const layerPath = blob(manifest.layers[0].digest);
    const bytes = readFileSync(layerPath);
    bytes[200] ^= 0xff;
    writeFileSync(layerPath, bytes);
    await assert.rejects(ociImageToolValidate(bad, TAG), /digest mismatch/);
    await assert.rejects(umociUnpack(bad, TAG, join(work, "corrupt-bundle")), /umoci/);
  });

  it("skopeo copies the layout to a docker-archive and inspects it", SLOW, async (t) => {
    if (!requireTools(t, ["umoci", "skopeo", "busybox"])) return;
    await buildImage();
    await timed(
      "skopeo copy oci -> docker-archive",
      () => skopeoCopy(`oci:${layout}:${TAG}`, `docker-archive:${archive}:${NAME}`),
    );
    const raw = await skopeoInspect(`docker-archive:${archive}`, true);
    assert.equal(raw.schemaVersion, 2);
    assert.equal((raw.layers as unknown[]).length, 1);
    const summary = await skopeoInspect(`docker-archive:${archive}`);
    assert.equal(summary.Os, "linux");
    assert.deepEqual(summary.Env, ["PATH=/bin"]);
    const config = await skopeoInspectConfig(`docker-archive:${archive}`);
    assert.deepEqual((config.config as { Cmd: string[] }).Cmd, ["/bin/echo", "hello"]);
    // And back to an OCI layout, which umoci accepts.
    const back = join(work, "back-layout");
    await skopeoCopy(`docker-archive:${archive}`, `oci:${back}:again`);
    await ociImageToolValidate(back, "again");
  });

  it("podman loads the archive into a fresh store and runs it", SLOW, async (t) => {
    if (!requireTools(t, ["umoci", "skopeo", "podman", "runc", "busybox"])) return;
    await buildImage();
    if (!existsSync(archive)) {
      await skopeoCopy(`oci:${layout}:${TAG}`, `docker-archive:${archive}:${NAME}`);
    }
    const podman = await timed("createPodman", () => createPodman());
    let closed = false;
    try {
      const names = await timed("podman load", () => podman.load(archive));
      assert.deepEqual(names, [NAME]);
      assert.equal(await timed("podman run (default cmd)", () => podman.run(NAME)), "hello\n");
      assert.equal(
        await timed("podman run echo", () => podman.run(NAME, ["echo", "hello"])),
        "hello\n",
      );
      assert.equal(await podman.run(NAME, ["id", "-u"], { user: "1000:1000" }), "1000\n");
      assert.equal(
        await podman.run(NAME, ["-c", "echo $FOO"], { entrypoint: "/bin/sh", env: { FOO: "x y" } }),
        "x y\n",
      );
      assert.equal(
        await podman.run(NAME, ["hi"], { entrypoint: ["/bin/busybox", "echo"] }),
        "hi\n",
      );
      await assert.rejects(
        podman.run(NAME, ["sh", "-c", "echo oops >&2; exit 4"]),
        /exit 4[\s\S]*oops/,
      );

      const image = await timed("podman inspect", () => podman.inspect(NAME));
      assert.deepEqual(image.Config?.Cmd, ["/bin/echo", "hello"]);
      assert.deepEqual(image.RepoTags, [NAME]);
      assert.equal(image.RootFS?.Layers?.length, 1);

      // The sandbox really is isolated: its own graphroot, runc, cgroupfs.
      const info = JSON.parse((await podman.podman(["info", "--format", "json"])).stdout);
      assert.ok(info.store.graphRoot.startsWith(podman.dir), info.store.graphRoot);
      assert.ok(info.store.runRoot.startsWith(podman.dir), info.store.runRoot);
      assert.equal(info.host.ociRuntime.name, "runc");
      assert.equal(info.host.cgroupManager, "cgroupfs");

      const dir = podman.dir;
      await timed("podman close", () => podman.close());
      closed = true;
      assert.equal(existsSync(dir), false);
      assert.deepEqual(mountsUnder(dir), []);
      await podman.close(); // idempotent
    } finally {
      if (!closed) await podman.close();
    }
  });

  it("umoci unpacks the layout and runc runs the bundle", SLOW, async (t) => {
    if (!requireTools(t, ["umoci", "runc", "busybox"])) return;
    await buildImage();
    const bundle = join(work, "bundle");
    await timed("umoci unpack", () => umociUnpack(layout, TAG, bundle));
    assert.ok(existsSync(join(bundle, "rootfs", "bin", "busybox")));
    assert.equal(await timed("runc run", () => runcRun(bundle)), "hello\n");
    assert.equal(
      await runcRun(bundle, { args: ["/bin/sh", "-c", "echo $0 $PATH", "hi"] }),
      "hi /bin\n",
    );
    await assert.rejects(runcRun(bundle, { args: ["/bin/sh", "-c", "exit 5"] }), /exit 5/);
  });
});
