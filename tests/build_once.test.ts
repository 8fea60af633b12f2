/**
 * The content-keyed layer cache: a layer is known by its inputs and its
 * diffId, never by the output it was first written for. Scripts
 * (`extraCommands`, `fakeRootCommands`) and the `runAsRoot` VM run once per
 * input, whatever the format, compressor or push target, and every output
 * holds the same diffIds. Runs are counted through a file outside the image:
 * the scripts append to it, and a qemu wrapper appends one line per VM boot.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  build,
  buildImage,
  buildLayeredImage,
  type ImageDefinition,
  openImage,
  push,
  writeTextDir,
} from "../mod.ts";
import { busyboxRoot, requireVmKernel, VM_TOOLS } from "./helpers/fixtures.ts";
import { type RegistryServer, startRegistry } from "./helpers/registry.ts";
import { hostToolPath } from "../lib/host/shell.ts";
import { requireTools, rmrf, runOk, tempDir } from "./helpers/tools.ts";

/** Every output of the acceptance: format, compressor, file name. */
const OUTPUTS = [
  { format: "docker-archive", compressor: "none", file: "a.tar" },
  { format: "docker-archive", compressor: "gz", file: "a.tar.gz" },
  { format: "oci", compressor: "zstd", file: "a.oci" },
  { format: "oci-archive", compressor: "gz", file: "a.oci.tar" },
] as const;

describe("scripts and VMs run once per input, whatever the output", () => {
  let dir: string;
  let cacheDir: string;
  let counter: string;
  let registry: RegistryServer | undefined;

  before(() => {
    dir = tempDir("dw-once-");
    cacheDir = join(dir, "cache");
    counter = join(dir, "runs.log");
    writeFileSync(counter, "");
  });
  after(async () => {
    await registry?.stop();
    rmrf(dir);
  });

  const runs = (what: string) =>
    readFileSync(counter, "utf8").split("\n").filter((line) => line === what).length;

  /** Builds `image` in every output and pushes it; returns each output's diffIds. */
  async function everyOutput(image: ImageDefinition, name: string): Promise<string[][]> {
    const diffIds: string[][] = [];
    for (const o of OUTPUTS) {
      const out = join(dir, `${name}-${o.file}`);
      const result = await build(image, {
        format: o.format,
        compressor: o.compressor,
        out,
        cacheDir,
        progress: false,
      });
      diffIds.push(result.layers.map((l) => l.diffId));
      // The file itself says the same, read back by dockwright's own reader.
      const opened = await openImage(out, { cacheDir });
      assert.equal(opened.config.digest, result.configDigest, `${o.format} ${o.compressor}`);
      assert.deepEqual(opened.layers.map((l) => l.diffId), diffIds.at(-1));
    }
    registry ??= await startRegistry(join(dir, "registry"));
    const pushed = await push(image, `${registry.host}/${name}:1`, {
      cacheDir,
      tlsVerify: false,
      compressor: "zstd",
      progress: false,
    });
    diffIds.push(pushed.layers.map((l) => l.diffId));
    // skopeo reads the config the registry serves: the same diffIds.
    const r = await runOk("skopeo", [
      "inspect",
      "--tls-verify=false",
      "--config",
      `docker://${registry.host}/${name}:1`,
    ]);
    diffIds.push((JSON.parse(r.stdout) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids);
    return diffIds;
  }

  it("a layered image's extraCommands and fakeRootCommands run once", async (t) => {
    if (!requireTools(t, ["fakeroot", "skopeo", "docker-registry"])) return;
    const image = buildLayeredImage({
      name: "once-layered",
      tag: "1",
      contents: [writeTextDir("etc/motd", "hi\n")],
      extraCommands: `echo extra >> ${counter}; mkdir -p var/data`,
      fakeRootCommands: `echo fakeroot >> ${counter}; chown 1000:1000 var/data`,
    });
    const diffIds = await everyOutput(image, "once-layered");
    assert.equal(runs("extra"), 1, "extraCommands ran once");
    assert.equal(runs("fakeroot"), 1, "fakeRootCommands ran once");
    for (const ids of diffIds) assert.deepEqual(ids, diffIds[0]);
  });

  it("a buildImage's runAsRoot VM boots once", async (t) => {
    if (!requireTools(t, [...VM_TOOLS, "skopeo", "docker-registry"])) return;
    if (!requireVmKernel(t, cacheDir)) return;
    // A qemu that counts the VMs that get a disk (the build runs; not the KVM probe) in the
    // file outside the image, then runs the real one.
    const qemu = hostToolPath("qemu-system-x86_64")!;
    const wrapper = join(dir, "qemu-counting");
    writeFileSync(
      wrapper,
      `#!/bin/sh\ncase " $* " in *" -drive "*) echo vm >> '${counter}';; esac\nexec '${qemu}' "$@"\n`,
      { mode: 0o755 },
    );
    const saved = process.env.DOCKWRIGHT_QEMU;
    process.env.DOCKWRIGHT_QEMU = wrapper;
    try {
      const base = buildImage({
        name: "once-base",
        tag: "1",
        copyToRoot: busyboxRoot(dir),
        compressor: "none",
      });
      const image = buildImage({
        name: "once-root",
        tag: "1",
        fromImage: base,
        runAsRoot: "mkdir -p /data && chown 1000:1000 /data",
        runAsRootMode: "vm",
      });
      const diffIds = await everyOutput(image, "once-root");
      assert.equal(runs("vm"), 1, "the VM booted once");
      for (const ids of diffIds) assert.deepEqual(ids, diffIds[0]);
    } finally {
      if (saved === undefined) delete process.env.DOCKWRIGHT_QEMU;
      else process.env.DOCKWRIGHT_QEMU = saved;
    }
  });
});
