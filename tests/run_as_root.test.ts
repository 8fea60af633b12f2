/**
 * buildImage's root path: `runAsRoot` in a QEMU VM (TCG here) and in the
 * VM-less `userns` mode, `extraCommands`, `includeNixDB`, and the errors a
 * user meets. Every image is loaded into podman and run with runc.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { build, buildImage, buildImageWithNixDb, writeTextDir } from "../mod.ts";
import { busyboxRoot, requireVmKernel, VM_TOOLS } from "./helpers/fixtures.ts";
import {
  lazyPodman,
  nixStoreAdd,
  requireTools,
  rmrf,
  runOk,
  staticBusybox,
  tempDir,
} from "./helpers/tools.ts";

/** The acceptance script: a user, a folder chowned to it, a device node, a setuid file, a deleted base file. */
const SCRIPT = `
echo "alice:x:1000:1000::/home/alice:/bin/sh" >> /etc/passwd
echo "alice:x:1000:" >> /etc/group
mkdir -p /home/alice && chown alice:alice /home/alice
mknod /null-device c 1 3
cp /bin/busybox /usr-bin-su && chmod 4755 /usr-bin-su
rm /etc/motd
echo "It's quoted \\"twice\\"" > /run-as-root-file
read -r line || echo "stdin is empty" > /stdin-check
`;
const CHECK = [
  "stat -c '%u:%g %n' /home/alice",
  "stat -c '%F %t,%T %n' /null-device",
  "stat -c '%a %n' /usr-bin-su",
  "test ! -e /etc/motd && echo motd-gone",
  "cat /run-as-root-file /extra-file /stdin-check",
].join("; ");

describe("buildImage runAsRoot", () => {
  let dir: string;
  let cacheDir: string;
  const podman = lazyPodman();
  const getPodman = podman.get;
  let base: ReturnType<typeof buildImage>;

  before(() => {
    dir = tempDir("dw-root-");
    cacheDir = join(dir, "cache");
    if (staticBusybox()) {
      base = buildImage({
        name: "busybox-base",
        tag: "1",
        copyToRoot: busyboxRoot(dir),
        compressor: "none",
      });
    }
  });
  after(async () => {
    await podman.close();
    rmrf(dir);
  });

  async function runsInPodman(out: string, ref: string, cmd: string): Promise<string> {
    const p = await getPodman();
    await p.load(out);
    return await p.run(ref, ["/bin/sh", "-c", cmd]);
  }

  for (const mode of ["vm", "userns"] as const) {
    it(`${mode}: the script's user, chown, device node, setuid bit and deletion show up in the container`, async (t) => {
      if (
        !requireTools(t, ["podman", "runc", ...(mode === "vm" ? VM_TOOLS : ["unshare", "busybox"])])
      ) return;
      if (mode === "vm" && !requireVmKernel(t, cacheDir)) return;
      const image = buildImage({
        name: `root-${mode}`,
        tag: "1",
        fromImage: base,
        runAsRoot: SCRIPT,
        extraCommands: "echo extra > extra-file",
        runAsRootMode: mode,
        compressor: "none",
      });
      const out = join(dir, `root-${mode}.tar`);
      const started = performance.now();
      const result = await build(image, { out, cacheDir, progress: false });
      process.stderr.write(
        `runAsRoot (${mode}) build: ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
      assert.equal(result.layers.length, 2);
      const output = await runsInPodman(out, `localhost/root-${mode}:1`, CHECK);
      assert.match(output, /^1000:1000 \/home\/alice$/m);
      assert.match(output, /^character special file 1,3 \/null-device$/m);
      assert.match(output, /^4755 \/usr-bin-su$/m);
      assert.match(output, /^motd-gone$/m);
      assert.match(output, /^It's quoted "twice"$/m);
      assert.match(output, /^extra$/m);
      assert.match(output, /^stdin is empty$/m, "a script that reads stdin gets EOF, not a hang");
      // The layer holds the changes only: a whiteout for the deleted file, not the base's busybox.
      const manifest = JSON.parse((await runOk("tar", ["-xOf", out, "manifest.json"])).stdout);
      const members =
        (await runOk("sh", ["-c", 'tar -xOf "$1" "$2" | tar -t', "sh", out, manifest[0].Layers[1]]))
          .stdout.split("\n");
      assert.ok(members.includes("./etc/.wh.motd"), members.join(" "));
      assert.ok(!members.includes("./bin/busybox"), "unchanged base files stay out of the layer");
      // A rebuild takes the layer from the cache: no VM (or namespace) is started again.
      const saved = process.env.DOCKWRIGHT_QEMU;
      process.env.DOCKWRIGHT_QEMU = join(dir, "no-qemu-needed");
      try {
        const again = await build(image, {
          out: join(dir, `root-${mode}-again.tar`),
          cacheDir,
          progress: false,
        });
        assert.equal(again.manifestDigest, result.manifestDigest);
      } finally {
        if (saved === undefined) delete process.env.DOCKWRIGHT_QEMU;
        else process.env.DOCKWRIGHT_QEMU = saved;
      }
    });
  }

  it("vm and userns give the same layer for the same script", async (t) => {
    if (!requireTools(t, ["unshare", "busybox", ...VM_TOOLS])) return;
    if (!requireVmKernel(t, cacheDir)) return;
    if (process.getuid?.() !== 0) return t.skip("userns gives the VM's result only as root");
    const layerOf = async (mode: "vm" | "userns") =>
      (await build(
        buildImage({
          name: "same",
          tag: mode,
          fromImage: base,
          runAsRoot: SCRIPT,
          runAsRootMode: mode,
        }),
        {
          out: join(dir, `same-${mode}.tar`),
          cacheDir,
          progress: false,
        },
      )).layers[1].diffId;
    assert.equal(await layerOf("vm"), await layerOf("userns"));
  });

  it("unpacks the base layers in order before runAsRoot (/layer-order reads abc)", async (t) => {
    if (!requireTools(t, ["podman", "runc", "unshare", "busybox"])) return;
    // The userns mode runs the same chroot runner as the VM, in a fraction of the time.
    let image = base;
    for (const letter of ["a", "b", "c"]) {
      image = buildImage({
        name: "order",
        tag: letter,
        fromImage: image,
        runAsRoot: `printf ${letter} >> /layer-order`,
        runAsRootMode: "userns",
      });
    }
    const out = join(dir, "order.tar");
    await build(image, { out, cacheDir, compressor: "none", progress: false });
    assert.equal(await runsInPodman(out, "localhost/order:c", "cat /layer-order"), "abc");
  });

  it("chained buildImage layers overwrite a file in order", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    let image = base;
    for (const n of [1, 2, 3]) {
      image = buildImage({
        name: "chain",
        tag: String(n),
        fromImage: image,
        copyToRoot: writeTextDir("/tmp/layer", `layer${n}\n`),
        compressor: "none",
      });
    }
    const out = join(dir, "chain.tar");
    const result = await build(image, { out, cacheDir, progress: false });
    assert.equal(result.layers.length, 4);
    assert.equal(await runsInPodman(out, "localhost/chain:3", "cat /tmp/layer"), "layer3\n");
  });

  it("a base whose manifest lists a layer twice works, with and without runAsRoot", async (t) => {
    if (!requireTools(t, ["podman", "runc", "unshare", "busybox"])) return;
    // Two layers, then the archive rewritten to list them as [first, second, first] (nixpkgs #214434).
    const two = buildImage({
      name: "twice",
      tag: "1",
      fromImage: base,
      copyToRoot: writeTextDir("/second", "2\n"),
      compressor: "none",
    });
    const plain = join(dir, "twice.tar");
    await build(two, { out: plain, cacheDir, progress: false });
    const unpacked = join(dir, "twice");
    mkdirSync(unpacked);
    await runOk("tar", ["-xf", plain, "-C", unpacked]);
    const manifest = JSON.parse(readFileSync(join(unpacked, "manifest.json"), "utf8"));
    const config = JSON.parse(readFileSync(join(unpacked, manifest[0].Config), "utf8"));
    manifest[0].Layers.push(manifest[0].Layers[0]);
    config.rootfs.diff_ids.push(config.rootfs.diff_ids[0]);
    config.history.push(config.history[0]);
    const configBytes = new TextEncoder().encode(JSON.stringify(config));
    const configName = `${createHash("sha256").update(configBytes).digest("hex")}.json`;
    writeFileSync(join(unpacked, configName), configBytes);
    manifest[0].Config = configName;
    writeFileSync(join(unpacked, "manifest.json"), JSON.stringify(manifest));
    const repeated = join(dir, "twice-repeated.tar");
    await runOk("tar", ["-cf", repeated, "-C", unpacked, "."]);
    for (const mode of ["pure", "userns"] as const) {
      const image = buildImage({
        name: "on-repeated",
        tag: mode,
        fromImage: repeated,
        compressor: "none",
        ...(mode === "userns"
          ? { runAsRoot: "test -e /second && echo seen > /seen", runAsRootMode: "userns" as const }
          : { copyToRoot: writeTextDir("/seen", "seen\n") }),
      });
      const out = join(dir, `on-repeated-${mode}.tar`);
      const result = await build(image, { out, cacheDir, progress: false });
      assert.equal(result.layers.length, 4);
      assert.equal(
        await runsInPodman(out, `localhost/on-repeated:${mode}`, "cat /seen /second"),
        "seen\n2\n",
      );
    }
  });

  it("keeps copyToRoot's files in the layer even when they equal the base's, and extraCommands stays in the image", async (t) => {
    if (!requireTools(t, ["podman", "runc", "unshare", "busybox"])) return;
    if (process.getuid?.() !== 0) {
      return t.skip("the base has files of root; userns without root refuses them");
    }
    // Same size, mode, owner and mtime as the base's file, other content (Nix keeps the overlay's upper folder).
    const image = buildImage({
      name: "same-size",
      tag: "1",
      fromImage: base,
      copyToRoot: writeTextDir("/etc/motd", "WELCOME\n"),
      runAsRoot: "true",
      runAsRootMode: "userns",
      // An absolute symlink of the image must not lead extraCommands out of it.
      extraCommands: "ln -s /escape-target escape && echo inside > escape",
      compressor: "none",
    });
    const out = join(dir, "same-size.tar");
    await build(image, { out, cacheDir, progress: false });
    assert.equal(
      existsSync("/escape-target"),
      false,
      "extraCommands wrote through a symlink onto the host",
    );
    assert.equal(
      await runsInPodman(out, "localhost/same-size:1", "cat /etc/motd /escape-target"),
      "WELCOME\ninside\n",
    );
  });

  it("fails with the script's exit code and writes nothing", async (t) => {
    if (!requireTools(t, [...VM_TOOLS])) return;
    if (!requireVmKernel(t, cacheDir)) return;
    const out = join(dir, "exit3.tar");
    await assert.rejects(
      build(
        buildImage({
          name: "exit3",
          fromImage: base,
          runAsRoot: "echo failing on purpose; exit 3",
        }),
        { out, cacheDir, progress: false },
      ),
      (e: Error) => e.name === "ScriptError" && /runAsRoot failed \(exit code 3\)/.test(e.message),
    );
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith("exit3")), []);
  });

  it("names what to install when qemu or the kernel is missing", async () => {
    const out = join(dir, "novm.tar");
    const saved = { ...process.env };
    try {
      process.env.DOCKWRIGHT_QEMU = join(dir, "no-such-qemu");
      await assert.rejects(
        build(buildImage({ name: "novm", runAsRoot: "true" }), { out, cacheDir, progress: false }),
        /runAsRoot: DOCKWRIGHT_QEMU=.*is not an executable; point it at qemu-system-x86_64.*runAsRootMode: "userns"/,
      );
      delete process.env.DOCKWRIGHT_QEMU;
      process.env.DOCKWRIGHT_VM_KERNEL = join(dir, "no-such-kernel");
      await assert.rejects(
        build(buildImage({ name: "novm", runAsRoot: "true" }), { out, cacheDir, progress: false }),
        /runAsRoot: DOCKWRIGHT_VM_KERNEL=.* does not exist; .*apt-get download/,
      );
    } finally {
      for (const k of ["DOCKWRIGHT_QEMU", "DOCKWRIGHT_VM_KERNEL"]) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    assert.equal(existsSync(out), false);
  });

  it("rejects bad attributes before building", () => {
    assert.throws(
      () => buildImage({ name: "x", compressor: "xz" as never }),
      /buildImage: attribute "compressor"/,
    );
    assert.throws(
      () => buildImage({ name: "x", runAsRoot: 3 as never }),
      /buildImage: attribute "runAsRoot"/,
    );
    assert.throws(
      () => buildImage({ name: "x", diskSize: "big" as never }),
      /buildImage: attribute "diskSize"/,
    );
    assert.throws(
      () => buildImage({ name: "x", runAsRootMode: "docker" as never }),
      /buildImage: attribute "runAsRootMode"/,
    );
    assert.throws(
      () => buildImage({ name: "x", fromImage: 42 as never }),
      /buildImage: attribute "fromImage"/,
    );
  });

  it("a fromImage that is not an image is a clear error and writes nothing", async () => {
    const notImage = join(dir, "not-an-image.tar");
    writeFileSync(notImage, "this is not a tar archive".repeat(40));
    const out = join(dir, "on-garbage.tar");
    await assert.rejects(
      build(
        buildImage({
          name: "on-garbage",
          fromImage: notImage,
          runAsRoot: "true",
          runAsRootMode: "userns",
        }),
        { out, cacheDir, progress: false },
      ),
      /not-an-image\.tar/,
    );
    assert.equal(existsSync(out), false);
  });

  it("extraCommands without runAsRoot runs as this user with cwd = the future /", async (t) => {
    if (!requireTools(t, ["podman", "runc"])) return;
    const out = join(dir, "extra.tar");
    await build(
      buildImage({
        name: "extra",
        tag: "1",
        fromImage: base,
        extraCommands: "mkdir -p data && echo made > data/file",
      }),
      {
        out,
        cacheDir,
        compressor: "none",
        progress: false,
      },
    );
    assert.equal(await runsInPodman(out, "localhost/extra:1", "cat /data/file"), "made\n");
  });

  it("buildImageWithNixDb registers the store paths of copyToRoot", async (t) => {
    if (!requireTools(t, ["nix-store", "sqlite3", "podman", "runc"])) return;
    const added = await nixStoreAdd(join(dir, "nixdb-item"), { "hello.txt": "hello\n" });
    const out = join(dir, "nixdb.tar");
    await build(
      buildImageWithNixDb({ name: "nixdb", tag: "1", fromImage: base, copyToRoot: [added] }),
      { out, cacheDir, compressor: "none", progress: false },
    );
    const db = await runsInPodman(
      out,
      "localhost/nixdb:1",
      "ls /nix/var/nix/db; ls /nix/var/nix/gcroots/docker",
    );
    assert.match(db, /db\.sqlite/);
    assert.match(db, new RegExp(added.split("/").pop()!));
  });
});
