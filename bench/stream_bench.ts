/**
 * Streaming benchmark (not a test): a layered image from a closure of a few
 * hundred store paths (~1 GiB in all), streamed as a docker-archive to
 * /dev/null, cold (empty cache: every layer is built) and warm (cache hit:
 * no source file is read again), under Deno and Bun, against the native
 * uncompressed baseline on the same files (`tar -cf - | openssl dgst -sha256`).
 *
 *   deno task bench:stream [--paths 300] [--size-mib 1024]
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { streamImage, streamLayeredImage } from "../mod.ts";
import type { GraphNode } from "../mod.ts";
import { storeHash } from "../lib/store/store_path.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

function makeStore(dir: string, paths: number, sizeMiB: number): GraphNode[] {
  const graphFile = join(dir, "graph.json");
  if (existsSync(graphFile)) return JSON.parse(readFileSync(graphFile, "utf8"));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "store"), { recursive: true });
  process.stderr.write(`generating ${paths} store paths, ${sizeMiB} MiB, in ${dir} ...\n`);
  const graph: GraphNode[] = [];
  const big = new Set([7, 42, 99, 150, 222]);
  const bigSize = Math.floor((sizeMiB * 0.8 * 1048576) / big.size);
  const smallBudget = (sizeMiB * 0.2 * 1048576) / (paths - big.size);
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const buf = new Uint8Array(1 << 20);
  for (let i = 0; i < paths; i++) {
    const path = `${dir}/store/${storeHash(`p${i}`)}-pkg${i}-1.0`;
    const files = big.has(i) ? 1 : 1 + Math.floor(rand() * 40);
    let size = 0;
    for (let f = 0; f < files; f++) {
      const sub = join(path, f % 3 === 0 ? "lib" : f % 3 === 1 ? "share/doc" : "bin");
      mkdirSync(sub, { recursive: true });
      const want = big.has(i)
        ? bigSize
        : Math.max(64, Math.floor((smallBudget / files) * (0.5 + rand())));
      const fd = openSync(join(sub, `f${f}`), "w");
      for (let left = want; left > 0; left -= buf.length) {
        for (let k = 0; k < buf.length; k += 64) buf[k] = (rand() * 256) | 0;
        writeSync(fd, buf, 0, Math.min(left, buf.length));
      }
      closeSync(fd);
      size += want;
    }
    const refs = i === 0
      ? []
      : Array.from({ length: Math.min(i, 1 + Math.floor(rand() * 4)) }, () =>
        graph[Math.floor(rand() * i)].path);
    graph.push({ path, narSize: size + 200 * files, references: [...new Set(refs)] });
  }
  writeFileSync(graphFile, JSON.stringify(graph));
  return graph;
}

async function child(dir: string, cache: string): Promise<void> {
  const graph: GraphNode[] = JSON.parse(readFileSync(join(dir, "graph.json"), "utf8"));
  const roots = graph.slice(-10).map((n) => n.path);
  const image = streamLayeredImage({
    name: "bench",
    tag: "t",
    contents: roots,
    closureGraph: graph,
    storeDir: `${dir}/store`,
    maxLayers: 100,
  });
  const started = performance.now();
  const out = createWriteStream("/dev/null");
  const result = await streamImage(image, { cacheDir: cache, progress: false }, out);
  const seconds = (performance.now() - started) / 1000;
  const rss = Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;
  process.stdout.write(JSON.stringify({ seconds, layers: result.layers.length, rss }) + "\n");
}

function parent(): void {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      paths: { type: "string" },
      "size-mib": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(`Usage: deno task bench:stream [--paths 300] [--size-mib 1024]

Streams a generated closure of store paths as a layered image to /dev/null, cold and warm, under
Deno and Bun, against tar | openssl dgst -sha256 over the same paths.`);
    return;
  }
  const paths = Number(values.paths ?? 300);
  const sizeMiB = Number(values["size-mib"] ?? 1024);
  const dir = join(tmpdir(), `dockwright-stream-bench-${paths}-${sizeMiB}`);
  makeStore(dir, paths, sizeMiB);
  const storeBytes = Number(
    spawnSync("bash", ["-c", `tar -cf - -C '${dir}/store' . | wc -c`], { encoding: "utf8" }).stdout
      .trim(),
  );
  spawnSync("bash", ["-c", `tar -cf - -C '${dir}/store' . > /dev/null`]);
  const t0 = performance.now();
  spawnSync("bash", [
    "-o",
    "pipefail",
    "-c",
    `tar -cf - -C '${dir}/store' . | openssl dgst -sha256`,
  ], { stdio: "ignore" });
  const baseline = (performance.now() - t0) / 1000;
  const mib = storeBytes / 1048576;
  console.log(
    `closure: ${paths} store paths, ${mib.toFixed(0)} MiB; baseline tar | openssl dgst -sha256: ${
      baseline.toFixed(2)
    } s (${(mib / baseline).toFixed(0)} MiB/s)\n`,
  );
  console.log("| runtime | run | seconds | MiB/s | vs baseline | layers | peak RSS MiB |");
  console.log("|---|---|---|---|---|---|---|");
  const bin = join(ROOT, "node_modules", ".bin");
  for (
    const [name, cmd] of [["deno", [join(bin, "deno"), "run", "-A"]], ["bun", [
      join(bin, "bun"),
    ]]] as const
  ) {
    const cache = mkdtempSync(join(tmpdir(), "dw-stream-cache-"));
    try {
      for (const run of ["cold", "warm"]) {
        const r = spawnSync(cmd[0], [
          ...cmd.slice(1),
          fileURLToPath(import.meta.url),
          "--child",
          dir,
          cache,
        ], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
        if (r.status !== 0) throw new Error(`${name} ${run} failed`);
        const { seconds, layers, rss } = JSON.parse(r.stdout);
        console.log(
          `| ${name} | ${run} | ${seconds.toFixed(2)} | ${(mib / seconds).toFixed(0)} | ${
            (baseline / seconds).toFixed(2)
          } | ${layers} | ${rss.toFixed(0)} |`,
        );
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf("--child");
  if (i >= 0) await child(process.argv[i + 1], process.argv[i + 2]);
  else parent();
}
