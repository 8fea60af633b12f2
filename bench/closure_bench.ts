/**
 * Closure benchmark (not a test): a layered image made of a closure that
 * looks like a real Nix one: about 300 store paths, 50,000 files (nine in ten
 * under 16 KiB, some symlinks) and 1 GiB, with a closure graph and
 * `maxLayers: 100`. The store paths are copied from the host's `/usr/share`
 * and `/usr/lib/x86_64-linux-gnu`, or, when the host has too few files there
 * (or with `--seeded`), written by a seeded generator with the same file-size
 * distribution.
 *
 * Each row is the command line (`cli.ts build`) in a fresh child process,
 * under Deno and under Bun, timed from outside, its peak RSS read by
 * `/usr/bin/time`. The rows:
 *
 * - cold --stream: `--stream > /dev/null`, empty cache;
 * - cold OCI none / cold OCI zstd: `--format oci -c none|zstd`, empty cache;
 * - nothing changed: `--stream` again on the cache of the cold --stream run;
 * - one file changed: one file of one store path rewritten, then `--stream`;
 * - monorepo: five `buildLayeredImage` files (gz docker-archives, parts of
 *   the same closure) built with `-j 2`, cold, then again with nothing changed.
 *
 * Ratios are time / time of `tar -cf - <paths> | openssl dgst -sha256` over
 * the same store paths, measured in the same round (the zstd row also against
 * `tar | zstd -3 -T0`; the monorepo rebuild against its own cold build).
 * Rounds repeat the whole set; the table gives medians.
 *
 *   deno task bench:closure [--rounds 3] [--runtimes deno,bun] [--rows ...]
 *                           [--dir DIR] [--seeded] [PATH/TO/stream_layered_image.py]
 *
 * Given a copy of nixpkgs' `stream_layered_image.py`, it adds the Nix
 * streamer's row (`python3 stream_layered_image.py conf.json > /dev/null`)
 * on the same store layers.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { storeHash } from "../lib/store/store_path.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const MIB = 1 << 20;

/** What the generated closure should look like (the closure of issue 12). */
const TARGET = { paths: 300, files: 49_915, bytes: 1034 * MIB };

/** One store path of the bench closure, before it is written. */
interface PathPlan {
  name: string;
  /** Host paths (relative to `/usr`) copied into it, folders included; or null when seeded. */
  hostFiles: string[] | null;
  bytes: number;
  files: number;
}

/** The closure as written: its graph, the images' roots and one file to change. */
interface ClosureInfo {
  source: "host" | "seeded";
  storeDir: string;
  graph: Array<{ path: string; narSize: number; references: string[] }>;
  roots: string[];
  monorepo: string[][];
  changeFile: string;
  files: number;
  smallFiles: number;
  symlinks: number;
  bytes: number;
}

/** Seeded pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function sanitize(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9+._?=-]/g, "_").replace(/^\.+/, "_");
  return clean.slice(0, 60) || "unnamed";
}

// ---------------------------------------------------------------------------
// From the host's files.
// ---------------------------------------------------------------------------

interface HostUnit {
  /** Relative to /usr. */
  rel: string;
  entries: Array<{ rel: string; size: number; dir: boolean }>;
}

/** Lists a host folder recursively (lstat only; symlinks are entries, not followed). */
function listTree(rel: string, out: HostUnit["entries"]): void {
  const abs = join("/usr", rel);
  let st;
  try {
    st = lstatSync(abs);
  } catch {
    return;
  }
  if (st.isDirectory()) {
    out.push({ rel, size: 0, dir: true });
    let names: string[];
    try {
      names = readdirSync(abs).sort();
    } catch {
      return;
    }
    for (const n of names) listTree(`${rel}/${n}`, out);
  } else if (st.isFile() || st.isSymbolicLink()) {
    out.push({ rel, size: st.isFile() ? st.size : 0, dir: false });
  }
}

/** Units of the host folders: big folders split into their children, loose libraries by name. */
function hostUnits(): HostUnit[] {
  const units: HostUnit[] = [];
  const addDir = (rel: string, depth: number) => {
    const entries: HostUnit["entries"] = [];
    listTree(rel, entries);
    const files = entries.filter((e) => !e.dir).length;
    const bytes = entries.reduce((n, e) => n + e.size, 0);
    if (depth < 2 && (files > 400 || bytes > 24 * MIB)) {
      const children = readdirSync(join("/usr", rel)).sort();
      const loose: HostUnit["entries"] = [{ rel, size: 0, dir: true }];
      for (const c of children) {
        const st = lstatSync(join("/usr", rel, c));
        if (st.isDirectory()) addDir(`${rel}/${c}`, depth + 1);
        else listTree(`${rel}/${c}`, loose);
      }
      if (loose.length > 1) units.push({ rel, entries: loose });
      return;
    }
    if (files > 0) units.push({ rel, entries });
  };
  for (const top of ["share", "lib/x86_64-linux-gnu"]) {
    if (!existsSync(join("/usr", top))) continue;
    for (const name of readdirSync(join("/usr", top)).sort()) {
      const rel = `${top}/${name}`;
      const st = lstatSync(join("/usr", rel));
      if (st.isDirectory()) addDir(rel, 0);
    }
    // Loose files of lib/x86_64-linux-gnu, by library name (libfoo.so.1.2 -> libfoo).
    const byStem = new Map<string, HostUnit["entries"]>();
    for (const name of readdirSync(join("/usr", top)).sort()) {
      const rel = `${top}/${name}`;
      const st = lstatSync(join("/usr", rel));
      if (st.isDirectory() || !(st.isFile() || st.isSymbolicLink())) continue;
      const stem = name.replace(/(\.so.*|\.a|\.la|\.o)$/, "").replace(/[-_.]?[0-9.]+$/, "");
      const list = byStem.get(stem) ?? [{ rel: top, size: 0, dir: true }];
      list.push({ rel, size: st.isFile() ? st.size : 0, dir: false });
      byStem.set(stem, list);
    }
    for (const [stem, entries] of byStem) units.push({ rel: `${top}/${stem}`, entries });
  }
  return units;
}

/** Plans the closure from host files, or null when the host has too few. */
function planFromHost(): PathPlan[] | null {
  const units = hostUnits();
  const files = units.flatMap((u) => u.entries.filter((e) => !e.dir));
  if (units.length < TARGET.paths || files.length < TARGET.files * 0.8) return null;
  // Leave out the largest files (by size, then name) until the whole fits the target size.
  const sorted = [...files].sort((a, b) => b.size - a.size || (a.rel < b.rel ? -1 : 1));
  let total = files.reduce((n, e) => n + e.size, 0);
  const left = new Set<string>();
  for (const e of sorted) {
    if (total <= TARGET.bytes) break;
    total -= e.size;
    left.add(e.rel);
  }
  if (total < TARGET.bytes * 0.7) return null;
  // Consecutive units share a store path, so that there are exactly TARGET.paths of them.
  const plans: PathPlan[] = [];
  for (let i = 0; i < TARGET.paths; i++) {
    const from = Math.floor((i * units.length) / TARGET.paths);
    const to = Math.floor(((i + 1) * units.length) / TARGET.paths);
    const group = units.slice(from, to);
    const hostFiles: string[] = [];
    let bytes = 0;
    let files = 0;
    for (const u of group) {
      for (const e of u.entries) {
        if (left.has(e.rel)) continue;
        hostFiles.push(e.rel);
        bytes += e.size;
        if (!e.dir) files++;
      }
    }
    plans.push({ name: sanitize(group[0].rel.split("/").pop()!), hostFiles, bytes, files });
  }
  return plans;
}

// ---------------------------------------------------------------------------
// Seeded: the same file-size distribution without the host's files.
// ---------------------------------------------------------------------------

/** A file size drawn like the host closure's: 90% under 16 KiB, a long tail up to 8 MiB. */
function seededSize(r: () => number): number {
  const u = r();
  if (u < 0.9) return Math.floor(64 + Math.exp(r() * Math.log(16_000 / 64)) * 64) % 16_384;
  // Tail: log-uniform from 16 KiB to 8 MiB, scaled to bring the total near the target.
  return Math.floor(16_384 * Math.exp(r() * Math.log(512)));
}

function planSeeded(): PathPlan[] {
  const r = rng(12);
  const plans: PathPlan[] = [];
  const perPath = TARGET.files / TARGET.paths;
  for (let i = 0; i < TARGET.paths; i++) {
    const files = Math.max(1, Math.floor(perPath * Math.exp((r() - 0.5) * 3)));
    plans.push({ name: `pkg${i}-1.0`, hostFiles: null, bytes: 0, files });
  }
  return plans;
}

function fill(buf: Uint8Array, r: () => number): void {
  const words = new TextEncoder().encode("lorem ipsum dolor sit amet, consectetur elit; ");
  for (let i = 0; i < buf.length; i++) {
    buf[i] = (i >> 11) % 3 === 0 ? (r() * 256) | 0 : words[(i * 7 + 3) % words.length];
  }
}

// ---------------------------------------------------------------------------
// Writing the store and the image files.
// ---------------------------------------------------------------------------

function sh(script: string, opts: { quiet?: boolean } = {}): string {
  const r = spawnSync("bash", ["-o", "pipefail", "-c", script], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
    stdio: ["ignore", "pipe", opts.quiet ? "ignore" : "inherit"],
  });
  if (r.status !== 0) throw new Error(`failed (${r.status}): ${script.slice(0, 200)}`);
  return r.stdout;
}

function writeStore(dir: string, seeded: boolean): ClosureInfo {
  const infoFile = join(dir, "closure.json");
  if (existsSync(infoFile)) {
    const info = JSON.parse(readFileSync(infoFile, "utf8")) as ClosureInfo;
    if ((info.source === "seeded") === seeded || !seeded) return info;
  }
  rmSync(dir, { recursive: true, force: true });
  const storeDir = join(dir, "store");
  mkdirSync(storeDir, { recursive: true });
  const host = seeded ? null : planFromHost();
  const plans = host ?? planSeeded();
  process.stderr.write(
    `generating a closure of ${plans.length} store paths in ${storeDir} (${
      host ? "from /usr/share and /usr/lib/x86_64-linux-gnu" : "seeded"
    }) ...\n`,
  );
  const paths = plans.map((p, i) => `${storeDir}/${storeHash(`bench-${i}-${p.name}`)}-${p.name}`);
  const r = rng(7);
  const buf = new Uint8Array(8 * MIB);
  for (const [i, plan] of plans.entries()) {
    const path = paths[i];
    mkdirSync(path);
    if (plan.hostFiles) {
      const list = join(dir, "list.txt");
      writeFileSync(list, plan.hostFiles.join("\n") + "\n");
      sh(`tar -cf - -C /usr --no-recursion -T '${list}' | tar -xf - -C '${path}'`);
      rmSync(list);
      continue;
    }
    let bytes = 0;
    for (let f = 0; f < plan.files; f++) {
      const sub = join(path, ["lib", "share/doc", "share/man/man1", "bin"][f % 4]);
      if (f < 4) mkdirSync(sub, { recursive: true });
      const size = seededSize(r);
      fill(buf.subarray(0, size), r);
      writeFileSync(join(sub, `f${f}`), buf.subarray(0, size));
      bytes += size;
      if (f % 97 === 5) sh(`ln -s f${f} '${sub}/link${f}'`);
    }
    plan.bytes = bytes;
  }
  // Readable by everyone, as a Nix store is (the host's copy may hold 0700 folders).
  sh(`chmod -R a+rX,go-w '${storeDir}'`);
  // Counts as written.
  const stats = sh(
    `cd '${storeDir}' && find . -type f -printf '%s\\n' | awk '{n++; b+=$1; if ($1 < 16384) s++} END {print n, s, b}'; find . -type l | wc -l`,
  ).trim().split(/\s+/).map(Number);
  // The graph: every path but the last has a referrer among the next twelve,
  // so the last path's closure is everything; a few more references at random.
  const refs = paths.map(() => new Set<string>());
  for (let i = 0; i < paths.length - 1; i++) {
    const j = Math.min(paths.length - 1, i + 1 + Math.floor(r() * 12));
    refs[j].add(paths[i]);
    const extra = Math.floor(r() * 3);
    for (let k = 0; k < extra && i > 0; k++) refs[i].add(paths[Math.floor(r() * i)]);
  }
  const graph = paths.map((path, i) => ({
    path,
    narSize: plans[i].bytes + 400 * Math.max(1, plans[i].files),
    references: [...refs[i]].sort(),
  }));
  // Five images for the monorepo: roots picked (seeded) until each closure holds about 1/5 of the bytes.
  const closureOf = (roots: string[]) => {
    const index = new Map(graph.map((n) => [n.path, n]));
    const seen = new Set<string>();
    const stack = [...roots];
    while (stack.length) {
      const p = stack.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      stack.push(...index.get(p)!.references);
    }
    return seen;
  };
  const bytesOf = (set: Set<string>) =>
    [...set].reduce((n, p) => n + graph.find((g) => g.path === p)!.narSize, 0);
  const monorepo: string[][] = [];
  const total = graph.reduce((n, g) => n + g.narSize, 0);
  for (let k = 0; k < 5; k++) {
    const pick = rng(100 + k);
    const roots: string[] = [];
    for (let tries = 0; tries < 400 && bytesOf(closureOf(roots)) < total / 5; tries++) {
      const candidate = paths[Math.floor(pick() * (paths.length - 1))];
      if (roots.includes(candidate)) continue;
      if (bytesOf(closureOf([...roots, candidate])) > total / 4) continue;
      roots.push(candidate);
    }
    monorepo.push(roots.sort());
  }
  // The file the "one file changed" row rewrites: a small file in a store path in the middle.
  const middle = paths[Math.floor(paths.length / 2)];
  const changeFile = sh(`find '${middle}' -type f -size -16k | sort | head -n 1`).trim();
  const info: ClosureInfo = {
    source: host ? "host" : "seeded",
    storeDir,
    graph,
    roots: [paths[paths.length - 1]],
    monorepo,
    changeFile,
    files: stats[0],
    smallFiles: stats[1],
    bytes: stats[2],
    symlinks: stats[3],
  };
  writeImageFiles(dir, info);
  writeFileSync(infoFile, JSON.stringify(info));
  return info;
}

function writeImageFiles(dir: string, info: ClosureInfo): void {
  const mod = JSON.stringify(join(ROOT, "mod.ts"));
  writeFileSync(join(dir, "graph.json"), JSON.stringify(info.graph));
  writeFileSync(
    join(dir, "image.ts"),
    `import { streamLayeredImage } from ${mod};
export default streamLayeredImage({
  name: "closure",
  tag: "bench",
  contents: ${JSON.stringify(info.roots)},
  closureGraph: "./graph.json",
  storeDir: ${JSON.stringify(info.storeDir)},
  maxLayers: 100,
});
`,
  );
  mkdirSync(join(dir, "mono"), { recursive: true });
  for (const [k, roots] of info.monorepo.entries()) {
    const name = `service-${"abcde"[k]}`;
    writeFileSync(
      join(dir, "mono", `${name}.ts`),
      `import { buildLayeredImage } from ${mod};
export default buildLayeredImage({
  name: ${JSON.stringify(name)},
  tag: "bench",
  contents: ${JSON.stringify(roots)},
  closureGraph: "../graph.json",
  storeDir: ${JSON.stringify(info.storeDir)},
  maxLayers: 100,
});
`,
    );
  }
}

// ---------------------------------------------------------------------------
// Running and timing.
// ---------------------------------------------------------------------------

interface Timed {
  seconds: number;
  rssMiB: number;
}

/** Runs `argv` (stdout to `stdout`, a path) and returns wall time and peak RSS. */
/** With `--user`: who runs dockwright, and the home (and Deno cache) it gets. */
let runAs: { name: string; uid: number; gid: number; home: string } | undefined;

/** `argv` as run: under `setpriv` as `--user` when given. */
function asUser(argv: string[]): string[] {
  if (!runAs) return argv;
  return [
    "setpriv",
    `--reuid=${runAs.uid}`,
    `--regid=${runAs.gid}`,
    "--clear-groups",
    "env",
    `HOME=${runAs.home}`,
    `DENO_DIR=${join(runAs.home, "deno")}`,
    ...argv,
  ];
}

/** A folder that dockwright may write to (owned by `--user` when given). */
function writable(path: string): string {
  mkdirSync(path, { recursive: true });
  if (runAs) chownSync(path, runAs.uid, runAs.gid);
  return path;
}

function timed(argv: string[], opts: { cwd?: string; stdout?: string } = {}): Timed {
  const rssFile = join(tmpdir(), `dw-closure-rss-${process.pid}`);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `exec /usr/bin/time -f %M -o ${q(rssFile)} ${asUser(argv).map(q).join(" ")} > ${
    q(opts.stdout ?? "/dev/null")
  }`;
  const started = performance.now();
  const r = spawnSync("bash", ["-c", cmd], {
    cwd: opts.cwd,
    stdio: ["ignore", "inherit", "pipe"],
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const seconds = (performance.now() - started) / 1000;
  if (r.status !== 0) {
    throw new Error(`failed (${r.status}): ${argv.join(" ")}\n${r.stderr.slice(-2000)}`);
  }
  const rssMiB = Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) / 1024;
  rmSync(rssFile, { force: true });
  return { seconds, rssMiB };
}

function shellTime(script: string): number {
  const started = performance.now();
  sh(script, { quiet: true });
  return (performance.now() - started) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const ROWS = [
  "cold-stream",
  "cold-oci-none",
  "cold-oci-zstd",
  "nothing-changed",
  "one-file-changed",
  "monorepo",
  "inspect",
] as const;
type RowName = typeof ROWS[number];

const RUNTIMES: Record<string, string[]> = {
  deno: [join(ROOT, "node_modules", ".bin", "deno"), "run", "-A"],
  bun: [join(ROOT, "node_modules", ".bin", "bun")],
};

interface Sample {
  row: string;
  runtime: string;
  seconds: number;
  rssMiB: number;
  /** The baseline's time around this row: the mean of the runs right before and after it. */
  base: number;
  /** time / base. */
  ratio: number;
  /** For zstd: time / `tar | zstd -3 -T0` time around it; for the monorepo rebuild: rebuild / cold. */
  ratio2?: number;
  /** The `tar | zstd -3 -T0` time around the zstd row. */
  zstdBase?: number;
  /** For inspect: what it left in its cache. */
  cacheMiB?: number;
}

/** MiB allocated under `path` (`du`). */
function duMiB(path: string): number {
  return Number(sh(`du -sk '${path}'`, { quiet: true }).split(/\s/)[0]) / 1024;
}

function storeLayersOf(ociDir: string): string[][] {
  const index = JSON.parse(readFileSync(join(ociDir, "index.json"), "utf8"));
  const blob = (d: string) => readFileSync(join(ociDir, "blobs", "sha256", d.slice(7)), "utf8");
  const manifest = JSON.parse(blob(index.manifests[0].digest));
  const config = JSON.parse(blob(manifest.config.digest));
  const layers: string[][] = [];
  for (const h of config.history as Array<{ comment: string }>) {
    const paths = [...h.comment.matchAll(/'([^']*)'/g)].map((m) => m[1]);
    layers.push(paths);
  }
  return layers.slice(0, -1); // the last is the customisation layer
}

function main(): void {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      rounds: { type: "string" },
      runtimes: { type: "string" },
      rows: { type: "string" },
      dir: { type: "string" },
      seeded: { type: "boolean" },
      jobs: { type: "string" },
      user: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      `Usage: deno task bench:closure [--rounds 3] [--runtimes deno,bun] [--rows LIST] [--dir DIR]
                               [--seeded] [--jobs 2] [PATH/TO/stream_layered_image.py]

A layered image from a closure like a real Nix one (300 store paths, ~50,000 files, ~1 GiB,
maxLayers 100), copied from the host's /usr/share and /usr/lib/x86_64-linux-gnu (or seeded), built
by the command line under Deno and Bun; each row's time, ratio to tar | openssl dgst -sha256 in the
same round, MiB/s and peak RSS, medians over the rounds.

  --rounds N        rounds (default 3)
  --runtimes LIST   deno,bun (default both)
  --rows LIST       ${ROWS.join(",")} (default all)
  --dir DIR         where the closure and caches go (default: $TMPDIR/dockwright-closure-bench)
  --seeded          generate the files instead of copying the host's
  --jobs N          -j for the monorepo build (default 2)
  --user NAME       run dockwright as this user (root gets copies of blobs in OCI layouts, other
                    users hard links; run as root to use it)
  PATH              nixpkgs' stream_layered_image.py: adds the Nix streamer's row`,
    );
    return;
  }
  const rounds = Number(values.rounds ?? 3);
  const runtimes = (values.runtimes ?? "deno,bun").split(",");
  const rows = (values.rows ?? ROWS.join(",")).split(",") as RowName[];
  const jobs = values.jobs ?? "2";
  const nixStreamer = positionals[0];
  const dir = values.dir ?? join(tmpdir(), "dockwright-closure-bench");
  const info = writeStore(dir, values.seeded ?? false);
  const cli = join(ROOT, "cli.ts");
  const image = join(dir, "image.ts");
  const storePaths = info.graph.map((g) => g.path.slice(info.storeDir.length + 1));
  const list = join(dir, "paths.txt");
  writeFileSync(list, storePaths.join("\n") + "\n");
  const tarBytes = Number(
    sh(`tar --hard-dereference -cf - -C '${info.storeDir}' -T '${list}' | wc -c`, { quiet: true })
      .trim(),
  );
  const mib = tarBytes / MIB;
  const monoFiles = readdirSync(join(dir, "mono")).filter((f) => f.endsWith(".ts")).sort()
    .map((f) => join(dir, "mono", f));
  const cacheRoot = join(dir, "caches");
  const outDir = join(dir, "out");
  mkdirSync(outDir, { recursive: true });
  if (values.user) {
    const id = (flag: string) => Number(sh(`id ${flag} '${values.user}'`, { quiet: true }).trim());
    runAs = {
      name: values.user,
      uid: id("-u"),
      gid: id("-g"),
      home: join(dir, `home-${values.user}`),
    };
    writable(runAs.home);
    writable(cacheRoot);
    writable(outDir);
  }
  const fresh = (name: string) => {
    const path = join(cacheRoot, name);
    rmSync(path, { recursive: true, force: true });
    return writable(path);
  };
  // Warm-up: page cache, and each runtime's compile cache.
  sh(`tar --hard-dereference -cf - -C '${info.storeDir}' -T '${list}' > /dev/null`, {
    quiet: true,
  });
  for (const rt of runtimes) {
    const [cmd, ...args] = asUser([...RUNTIMES[rt], cli, "--help"]);
    spawnSync(cmd, args, { stdio: "ignore" });
  }
  let nixLayers: string[][] | undefined;
  const samples: Sample[] = [];
  const baselines: number[] = [];
  const zstdBaselines: number[] = [];
  let changeToggle = 0;
  const tarList = `tar --hard-dereference -cf - -C '${info.storeDir}' -T '${list}'`;
  // Every row is bracketed by baselines measured right before and right after
  // it: the machine's load drifts within a round, and a ratio should compare
  // two things measured under the same load.
  let waiting: Sample[] = [];
  const baseline = () => {
    const b = shellTime(`${tarList} | openssl dgst -sha256`);
    baselines.push(b);
    for (const w of waiting) {
      w.base = (w.base + b) / 2;
      w.ratio = w.seconds / w.base;
      process.stderr.write(
        `  ${w.runtime} ${w.row}: ${w.seconds.toFixed(2)} s, ratio ${w.ratio.toFixed(2)}${
          w.ratio2 === undefined ? "" : ` (${w.ratio2.toFixed(3)})`
        }, ${w.rssMiB.toFixed(0)} MiB\n`,
      );
    }
    waiting = [];
    return b;
  };
  const zstdBaseline = () => {
    const z = shellTime(`${tarList} | zstd -3 -T0 -q | openssl dgst -sha256`);
    zstdBaselines.push(z);
    return z;
  };
  let before = 0;
  const add = (row: string, runtime: string, t: Timed, extra: Partial<Sample> = {}) => {
    const sample: Sample = { row, runtime, ...t, base: before, ratio: 0, ...extra };
    samples.push(sample);
    waiting.push(sample);
  };
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`round ${round + 1}/${rounds}\n`);
    for (const rt of runtimes) {
      const run = RUNTIMES[rt];
      const streamCache = fresh(`${rt}-stream`);
      const stream = () =>
        timed([...run, cli, "build", image, "--stream", "--cache-dir", streamCache]);
      if (rows.includes("cold-stream")) {
        before = baseline();
        add("cold --stream", rt, stream());
      }
      if (rows.includes("nothing-changed")) {
        if (!rows.includes("cold-stream")) stream();
        before = baseline();
        add("nothing changed (--stream)", rt, stream());
      }
      if (rows.includes("one-file-changed")) {
        if (!rows.includes("cold-stream") && !rows.includes("nothing-changed")) stream();
        // Rewritten in place with one byte more, or one byte less (back as it was).
        const bytes = readFileSync(info.changeFile);
        writeFileSync(
          info.changeFile,
          changeToggle++ % 2 === 0
            ? Buffer.concat([bytes, Buffer.from("\n")])
            : bytes.subarray(0, bytes.length - 1),
        );
        before = baseline();
        add("one file changed (--stream)", rt, stream());
      }
      rmSync(streamCache, { recursive: true, force: true });
      for (const c of ["none", "zstd"] as const) {
        const inspect = c === "zstd" && rows.includes("inspect");
        if (!rows.includes(`cold-oci-${c}`) && !inspect) continue;
        const cache = fresh(`${rt}-oci-${c}`);
        const out = join(outDir, `${rt}-${c}.oci`);
        rmSync(out, { recursive: true, force: true });
        const zBefore = c === "zstd" ? zstdBaseline() : 0;
        before = baseline();
        const t = timed([
          ...run,
          cli,
          "build",
          image,
          "-f",
          "oci",
          "-c",
          c,
          "-o",
          out,
          "--cache-dir",
          cache,
          "-q",
        ]);
        if (!rows.includes(`cold-oci-${c}`)) {
          // Built only to be inspected.
        } else if (c === "zstd") {
          add(`cold OCI ${c}`, rt, t);
          const z = (zBefore + zstdBaseline()) / 2;
          samples[samples.length - 1].ratio2 = t.seconds / z;
          samples[samples.length - 1].zstdBase = z;
        } else add(`cold OCI ${c}`, rt, t);
        if (c === "none" && nixStreamer && !nixLayers) nixLayers = storeLayersOf(out);
        if (inspect) {
          // The layout read in place: every layer decompressed, hashed and listed; the cache
          // gets the config and manifest only.
          const inspectCache = fresh(`${rt}-inspect`);
          before = baseline();
          add(
            "inspect (OCI zstd, --json)",
            rt,
            timed([...run, cli, "inspect", out, "--json", "--cache-dir", inspectCache]),
            { cacheMiB: duMiB(inspectCache) },
          );
          rmSync(inspectCache, { recursive: true, force: true });
        }
        rmSync(cache, { recursive: true, force: true });
        rmSync(out, { recursive: true, force: true });
      }
      if (rows.includes("monorepo")) {
        const cache = fresh(`${rt}-mono`);
        const out = join(outDir, `${rt}-mono`);
        rmSync(out, { recursive: true, force: true });
        writable(out);
        const build = () =>
          timed([
            ...run,
            cli,
            "build",
            ...monoFiles,
            "-j",
            jobs,
            "-o",
            join(out, "{export}-{file}.tar.gz"),
            "--cache-dir",
            cache,
            "-q",
          ]);
        before = baseline();
        const cold = build();
        add("monorepo gz, cold (5 images)", rt, cold);
        before = baseline();
        const again = build();
        add("monorepo gz, nothing changed", rt, again, { ratio2: again.seconds / cold.seconds });
        rmSync(cache, { recursive: true, force: true });
        rmSync(out, { recursive: true, force: true });
      }
    }
    if (nixStreamer && nixLayers) {
      const custom = join(dir, "nix-customisation");
      mkdirSync(custom, { recursive: true });
      // An empty customisation layer: a tar of nothing but its end blocks.
      writeFileSync(join(custom, "layer.tar"), new Uint8Array(10240));
      writeFileSync(
        join(custom, "checksum"),
        sh(`sha256sum '${join(custom, "layer.tar")}'`, { quiet: true }).split(" ")[0],
      );
      const conf = join(dir, "nix-conf.json");
      writeFileSync(
        conf,
        JSON.stringify({
          architecture: "amd64",
          config: {},
          created: "1970-01-01T00:00:01Z",
          mtime: "1970-01-01T00:00:01Z",
          repo_tag: "closure:bench",
          uid: 0,
          gid: 0,
          uname: "root",
          gname: "root",
          store_dir: info.storeDir,
          from_image: null,
          store_layers: nixLayers,
          customisation_layer: custom,
        }),
      );
      before = baseline();
      add("Nix stream_layered_image.py", "python3", timed(["python3", nixStreamer, conf]));
    }
  }
  baseline(); // the last row's "after"
  // The table: medians over the rounds.
  const openssl = median(baselines);
  const zstd = median(zstdBaselines);
  console.log(
    `\nclosure: ${info.graph.length} store paths (${info.source}), ${info.files} files (${info.smallFiles} under 16 KiB, ${info.symlinks} symlinks), tar stream ${
      mib.toFixed(0)
    } MiB; ${rounds} round(s), medians\n` +
      `baselines: tar | openssl dgst -sha256 ${openssl.toFixed(2)} s (${
        (mib / openssl).toFixed(0)
      } MiB/s); tar | zstd -3 -T0 | openssl ${zstd.toFixed(2)} s\n`,
  );
  console.log(`machine: ${machine(dir)}\n`);
  const header = ["row", "runtime", "seconds", "ratio", "target", "met", "MiB/s", "peak RSS MiB"];
  // Targets: [text, limit, which ratio]; peak RSS <= 256 MiB everywhere.
  const targets: Record<string, [string, number, "ratio" | "ratio2"]> = {
    "cold --stream": ["<= 1.5", 1.5, "ratio"],
    "cold OCI none": ["<= 1.5", 1.5, "ratio"],
    "cold OCI zstd": ["<= 1.0 x zstd", 1.0, "ratio2"],
    "nothing changed (--stream)": ["<= 0.3", 0.3, "ratio"],
    "one file changed (--stream)": ["<= 0.4", 0.4, "ratio"],
    "monorepo gz, nothing changed": ["<= 0.1 x cold", 0.1, "ratio2"],
  };
  const table: string[][] = [];
  const keys = [...new Set(samples.map((s) => `${s.row}\0${s.runtime}`))];
  for (const key of keys) {
    const [row, runtime] = key.split("\0");
    const of = samples.filter((s) => s.row === row && s.runtime === runtime);
    const seconds = median(of.map((s) => s.seconds));
    const ratio = median(of.map((s) => s.ratio));
    const ratio2 = of[0].ratio2 === undefined ? undefined : median(of.map((s) => s.ratio2!));
    let shown = ratio.toFixed(2);
    if (row === "cold OCI zstd") shown += ` (${ratio2!.toFixed(2)} x zstd)`;
    if (row.startsWith("monorepo gz, nothing")) shown += ` (${ratio2!.toFixed(3)} x cold)`;
    const rss = Math.max(...of.map((s) => s.rssMiB));
    const target = targets[row];
    const met = target
      ? ((target[2] === "ratio" ? ratio : ratio2!) <= target[1] ? "yes" : "no") +
        (rss > 256 ? ", RSS no" : "")
      : rss > 256
      ? "RSS no"
      : "-";
    table.push([
      row,
      runtime,
      seconds.toFixed(2),
      shown,
      target?.[0] ?? "-",
      runtime === "python3" ? "-" : met,
      row.startsWith("monorepo") ? "-" : (mib / seconds).toFixed(0),
      rss.toFixed(0),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(line(header));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of table) console.log(line(r));
  const inspected = samples.filter((s) => s.cacheMiB !== undefined);
  if (inspected.length > 0) {
    console.log(
      `\ninspect left in its cache (MiB, the image is ${mib.toFixed(0)} MiB of tar): ${
        inspected.map((s) => `${s.runtime} ${s.cacheMiB!.toFixed(2)}`).join(", ")
      }`,
    );
  }
}

/** One line about the machine: CPU, cores, memory, kernel, the file system of `dir`, runtimes, load. */
function machine(dir: string): string {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
  const q = (cmd: string) => sh(cmd, { quiet: true }).trim();
  const version = (rt: string, flag: string) => {
    const r = spawnSync(RUNTIMES[rt][0], [flag], { encoding: "utf8" });
    return (r.stdout ?? "").split("\n")[0].trim();
  };
  return `${cpu}, ${availableParallelism()} cores, ${(Number(mem) / 1048576).toFixed(0)} GiB, ` +
    `Linux ${q("uname -r")}, ${q(`stat -f -c %T '${dir}'`)} (${dir}), ` +
    `${version("deno", "--version")}, bun ${version("bun", "--version")}, ` +
    `load average at the end ${q("cut -d' ' -f1-3 /proc/loadavg")}, dockwright run by ${
      runAs?.name ?? q("id -un")
    }`;
}

if (import.meta.main) main();
