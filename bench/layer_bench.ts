/**
 * Layer throughput benchmark (not a test).
 *
 * Builds one layer from a generated tree of about 1 GiB (tens of thousands of
 * small files plus a few large ones) with `none`, `gz` and `zstd`, under Deno
 * and Bun, and runs native pipelines on the same tree in the same invocation:
 *
 *   tar -cf - | openssl dgst -sha256     (baseline for none)
 *   tar -cf - | gzip -6 | sha256sum      (baseline for gz)
 *   tar -cf - | zstd -3 | sha256sum      (baseline for zstd)
 *
 * Each of our runs is a fresh child process with an empty blob store, so no
 * cache is hit; peak RSS is the child's VmHWM.
 *
 *   deno task bench [--size-mib 1024] [--runs 1] [--tree DIR] [--cache-root /dev/shm]
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BuildSession } from "../lib/build/session.ts";
import type { Compressor } from "../lib/codec/compress.ts";
import { writeLayer } from "../lib/build/write_layer.ts";
import { FileTree } from "../lib/tree/file_tree.ts";
import { addHostPath } from "../lib/tree/host_source.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** Deterministic pseudo-random bytes: half text-like (compressible), half noise. */
function fill(buf: Uint8Array, seed: number): void {
  let x = seed >>> 0 || 1;
  const words = new TextEncoder().encode(
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ",
  );
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = (i >> 12) % 2 === 0 ? words[(i + (x & 7)) % words.length] : x & 0xff;
  }
}

function makeTree(dir: string, sizeMiB: number): void {
  const marker = join(dir, ".complete");
  if (existsSync(marker) && readFileSync(marker, "utf8") === String(sizeMiB)) return;
  rmSync(dir, { recursive: true, force: true });
  const smallBudget = Math.floor(sizeMiB * 0.3 * 1048576);
  const largeCount = 4;
  const largeSize = Math.floor((sizeMiB * 1048576 - smallBudget) / largeCount);
  process.stderr.write(`generating ${sizeMiB} MiB tree in ${dir} ...\n`);
  const buf = new Uint8Array(1 << 20);
  let used = 0;
  let n = 0;
  while (used < smallBudget) {
    const size = 512 + ((n * 7919) % 16384);
    const sub = join(
      dir,
      "small",
      String(n % 64).padStart(2, "0"),
      String(Math.floor(n / 64) % 16),
    );
    if (n < 64 * 16) mkdirSync(sub, { recursive: true });
    fill(buf.subarray(0, size), n + 1);
    writeFileSync(join(sub, `f${n}.dat`), buf.subarray(0, size));
    used += size;
    n++;
  }
  mkdirSync(join(dir, "large"), { recursive: true });
  for (let i = 0; i < largeCount; i++) {
    const path = join(dir, "large", `blob${i}.bin`);
    const chunks: Uint8Array[] = [];
    for (let left = largeSize; left > 0; left -= buf.length) {
      fill(buf, 1000 + i * 4096 + left);
      chunks.push(buf.slice(0, Math.min(buf.length, left)));
    }
    writeFileSync(path, Buffer.concat(chunks));
  }
  writeFileSync(marker, String(sizeMiB));
  process.stderr.write(`  ${n} small files + ${largeCount} large files\n`);
}

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Child mode: build one layer and print {seconds, bytes, rssMiB}. */
async function child(tree: string, compressor: Compressor, cacheRoot: string): Promise<void> {
  const cache = mkdtempSync(join(cacheRoot, "dw-bench-cache-"));
  try {
    const session = BuildSession.open({
      cacheDir: cache,
      progress: false,
      layerEncoding: compressor,
    });
    const started = performance.now();
    const fileTree = new FileTree();
    addHostPath(fileTree, tree, { copyDirlinks: true });
    const entries = fileTree.toEntries({ root: ".", uid: 0, gid: 0, mtime: 315532800 });
    let bytes = 0;
    await writeLayer(session, entries, { onBytes: (n) => (bytes += n) });
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(JSON.stringify({ seconds, bytes, rssMiB: peakRssMiB() }) + "\n");
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

function timeShell(script: string): number {
  const started = performance.now();
  const r = spawnSync("bash", ["-o", "pipefail", "-c", script], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (r.status !== 0) throw new Error(`baseline failed: ${script}`);
  return (performance.now() - started) / 1000;
}

function runtimes(): Array<[string, string[]]> {
  const bin = join(ROOT, "node_modules", ".bin");
  const out: Array<[string, string[]]> = [];
  if (existsSync(join(bin, "deno"))) out.push(["deno", [join(bin, "deno"), "run", "-A"]]);
  if (existsSync(join(bin, "bun"))) out.push(["bun", [join(bin, "bun")]]);
  return out;
}

function parent(): void {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      "size-mib": { type: "string" },
      runs: { type: "string" },
      tree: { type: "string" },
      // Where the blob store goes: the disk (default, what users get) or a tmpfs such as /dev/shm,
      // which takes the disk's write speed out of the comparison (the baselines write nothing).
      "cache-root": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(`Usage: deno task bench [--size-mib 1024] [--runs 1] [--tree DIR] [--cache-root DIR]

Builds one layer from a generated tree with none, gz and zstd under Deno and Bun, and compares
the throughput with native pipelines on the same tree (tar | openssl / gzip -6 / zstd -3).

  --size-mib N      size of the generated tree (default 1024)
  --runs N          runs per runtime and compressor; the fastest counts (default 1)
  --tree DIR        use this tree instead of generating one
  --cache-root DIR  where the blob store goes (default: the temp folder; /dev/shm takes the disk out)`);
    return;
  }
  const sizeMiB = Number(values["size-mib"] ?? 1024);
  const runs = Number(values.runs ?? 1);
  const tree = values.tree ?? join(tmpdir(), `dockwright-bench-tree-${sizeMiB}`);
  const cacheRoot = values["cache-root"] ?? tmpdir();
  makeTree(tree, sizeMiB);
  const q = JSON.stringify(tree);
  const tarBytes = Number(
    spawnSync("bash", ["-c", `tar -cf - -C ${q} . | wc -c`], { encoding: "utf8" }).stdout.trim(),
  );
  const mib = tarBytes / 1048576;
  timeShell(`tar -cf - -C ${q} . > /dev/null`); // warm the page cache
  const best = (f: () => number) => Math.min(...Array.from({ length: runs }, f));
  const baselines: Record<Compressor, [string, number]> = {
    none: [
      "tar | openssl dgst -sha256",
      best(() => timeShell(`tar -cf - -C ${q} . | openssl dgst -sha256`)),
    ],
    gz: [
      "tar | gzip -6 | sha256sum",
      best(() => timeShell(`tar -cf - -C ${q} . | gzip -6 | sha256sum`)),
    ],
    zstd: [
      "tar | zstd -3 | sha256sum",
      best(() => timeShell(`tar -cf - -C ${q} . | zstd -3 -q | sha256sum`)),
    ],
  };
  const rows: string[][] = [];
  // Not a target baseline: shows what writing the blob to this disk costs (the baselines write nothing).
  const teeDir = mkdtempSync(join(tmpdir(), "dw-bench-tee-"));
  const teeSeconds = best(() =>
    timeShell(`tar -cf - -C ${q} . | tee ${teeDir}/blob | openssl dgst -sha256`)
  );
  rmSync(teeDir, { recursive: true, force: true });
  rows.push([
    "native",
    "none",
    "tar | tee FILE | openssl (info)",
    (mib / teeSeconds).toFixed(0),
    "-",
    "-",
  ]);
  for (const compressor of ["none", "gz", "zstd"] as Compressor[]) {
    const [label, nativeSeconds] = baselines[compressor];
    const nativeRate = mib / nativeSeconds;
    rows.push(["native", compressor, label, nativeRate.toFixed(0), "1.00", "-"]);
    for (const [name, cmd] of runtimes()) {
      const results = Array.from({ length: runs }, () => {
        const r = spawnSync(cmd[0], [
          ...cmd.slice(1),
          fileURLToPath(import.meta.url),
          "--child",
          compressor,
          tree,
          cacheRoot,
        ], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "inherit"],
        });
        if (r.status !== 0) throw new Error(`${name} child failed`);
        return JSON.parse(r.stdout) as { seconds: number; bytes: number; rssMiB: number };
      });
      const fastest = results.reduce((a, b) => (a.seconds < b.seconds ? a : b));
      const rate = mib / fastest.seconds;
      const rss = Math.max(...results.map((r) => r.rssMiB));
      rows.push([
        "dockwright/" + name,
        compressor,
        "tree -> layer blob",
        rate.toFixed(0),
        (rate / nativeRate).toFixed(2),
        rss.toFixed(0),
      ]);
    }
  }
  const header = ["who", "compressor", "pipeline", "MiB/s", "ratio", "peak RSS MiB"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(
    `tree: ${tree}, tar stream ${
      mib.toFixed(0)
    } MiB, blob store under ${cacheRoot}, best of ${runs} run(s)\n`,
  );
  console.log(line(header));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of rows) console.log(line(r));
}

if (import.meta.main) {
  const i = process.argv.indexOf("--child");
  if (i >= 0) {
    await child(
      process.argv[i + 2],
      process.argv[i + 1] as Compressor,
      process.argv[i + 3] ?? tmpdir(),
    );
  } else parent();
}
