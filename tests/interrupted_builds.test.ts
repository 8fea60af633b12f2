/**
 * A build killed with `kill -9` cannot clean up after itself; the next run
 * must. Temp names carry their owner's pid, and a run removes the temp files
 * of processes that are gone: in the cache, next to `--out`, and in $TMPDIR.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { sweepDeadTemps, tempPathFor } from "../lib/host/temp_files.ts";
import { ROOT, RUNTIME, runtimeCommand } from "./helpers/dockwright.ts";
import { rmrf, tempDir } from "./helpers/tools.ts";

/** Every file and folder under `root` (relative), folders included. */
function entriesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = rel === "" ? e.name : `${rel}/${e.name}`;
      out.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk("");
  return out;
}

/** Runs the build; kills it with SIGKILL after `killAfterMs` (if given). Resolves with the exit code. */
function runBuild(
  args: string[],
  env: Record<string, string>,
  killAfterMs?: number,
): Promise<{ code: number | null; signal: string | null; stderr: string; ms: number }> {
  const [cmd, ...pre] = runtimeCommand(RUNTIME);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...pre, join(ROOT, "cli.ts"), ...args], {
      env: { ...process.env, CI: "1", NO_COLOR: "1", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (c: Uint8Array) => (stderr += Buffer.from(c).toString()));
    const killer = killAfterMs === undefined
      ? undefined
      : setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      clearTimeout(guard);
      resolve({ code, signal, stderr, ms: Date.now() - started });
    });
  });
}

describe("interrupted builds", () => {
  let work: string;
  before(() => {
    work = tempDir("dw-kill-");
  });
  after(() => rmrf(work));

  it("temp files of a process that is gone are removed; those of live processes are kept", async () => {
    const dir = join(work, "sweep");
    mkdirSync(dir);
    const mine = tempPathFor(join(dir, "out.tar")); // this process: alive
    writeFileSync(mine, "x");
    // A dead pid: a child that has exited (and was reaped).
    const child = spawn(process.execPath, ["--version"], { stdio: "ignore" });
    const dead = child.pid!;
    await new Promise((resolve) => child.on("close", resolve));
    const tag = mine.split(".dockwright-")[1].split("-")[1];
    const orphan = join(dir, `.out.tar.dockwright-${dead}-${tag}-0123abcd`);
    const stranger = join(dir, `.out.tar.dockwright-${dead}-ffffff-0123abcd`); // another host: kept
    const unrelated = join(dir, ".out.tar.other-tool-tmp");
    for (const f of [orphan, stranger, unrelated]) writeFileSync(f, "x");
    mkdirSync(join(dir, `.dockwright-layer.dockwright-${dead}-${tag}-89abcdef`)); // a work folder
    const removed = sweepDeadTemps(dir).sort();
    assert.deepEqual(removed, [
      `.dockwright-layer.dockwright-${dead}-${tag}-89abcdef`,
      `.out.tar.dockwright-${dead}-${tag}-0123abcd`,
    ]);
    assert.ok(existsSync(mine) && existsSync(stranger) && existsSync(unrelated));
  });

  it("a kill -9 at any moment of a build leaves no file behind after the next run", async () => {
    // A 48 MiB layer compressed with zstd, and a script (its work folder is in $TMPDIR).
    const rootfs = join(work, "rootfs");
    mkdirSync(join(rootfs, "data"), { recursive: true });
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(rootfs, "data", `blob${i}`), randomBytes(16 << 20));
    }
    const imageFile = join(work, "image.ts");
    writeFileSync(
      imageFile,
      `import { buildImage } from ${JSON.stringify(join(ROOT, "mod.ts"))};\n` +
        `export default buildImage({ name: "killed", tag: "1", copyToRoot: ${
          JSON.stringify(rootfs)
        }, extraCommands: "true", compressor: "zstd" });\n`,
    );
    const setup = (label: string) => {
      const dirs = {
        cache: join(work, label, "cache"),
        out: join(work, label, "out"),
        tmp: join(work, label, "tmp"),
      };
      for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
      const args = [
        "build",
        imageFile,
        "--out",
        join(dirs.out, "killed.tar.zst"),
        "--cache-dir",
        dirs.cache,
      ];
      return { dirs, args, env: { TMPDIR: dirs.tmp } };
    };
    // How long a whole build takes here, to kill at moments spread over it.
    const full = setup("full");
    const reference = await runBuild(full.args, full.env);
    assert.equal(reference.code, 0, reference.stderr);
    let leftBehind = 0;
    for (const fraction of [0.1, 0.25, 0.4, 0.55, 0.7, 0.85]) {
      const run = setup(`kill-${fraction}`);
      const killed = await runBuild(run.args, run.env, Math.round(reference.ms * fraction));
      const left = [
        ...entriesUnder(join(run.dirs.cache, "tmp")),
        ...entriesUnder(run.dirs.out).filter((f) => f !== "killed.tar.zst"),
        ...entriesUnder(run.dirs.tmp),
      ];
      if (killed.signal === "SIGKILL" && left.length > 0) leftBehind++;
      const next = await runBuild(run.args, run.env);
      assert.equal(next.code, 0, `the next run after a kill at ${fraction}: ${next.stderr}`);
      assert.deepEqual(entriesUnder(join(run.dirs.cache, "tmp")), [], `cache tmp at ${fraction}`);
      assert.deepEqual(
        entriesUnder(run.dirs.out),
        ["killed.tar.zst"],
        `next to --out at ${fraction}`,
      );
      assert.deepEqual(entriesUnder(run.dirs.tmp), [], `$TMPDIR at ${fraction}`);
    }
    assert.ok(leftBehind > 0, "some kill left temp files for the next run to remove");
  });
});
