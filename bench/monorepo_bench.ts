/**
 * Monorepo benchmark (not a test): five image files, as a team would have
 * them, built by one `dockwright build *.ts` run: a shared base (static
 * busybox, fakeNss), a Deno service and a Bun service (each with its runtime
 * binary, ~100 MiB), a busybox httpd site and a worker. Prints the wall time
 * of a cold build (empty cache), a warm one (nothing changed) and one after
 * an edit of one service's file, with `-j 1` and `-j 2`, under Deno and
 * Bun, plus the layers reported built and cached.
 *
 *   deno task bench:monorepo [--compressor gz] [--rounds 1]
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const MOD = JSON.stringify(join(ROOT, "mod.ts"));
const BIN = join(ROOT, "node_modules", ".bin");

const HELP = `Monorepo benchmark: five image files with a shared base, built in one run.

Usage: deno task bench:monorepo [options]
  --compressor C   none, gz (default, as Nix) or zstd
  --rounds N       rounds per row; the median is shown (default 1)
  -h, --help       this help
`;

/** Writes the five image files (and the files they copy) into `dir`. */
function writeMonorepo(dir: string): string[] {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  copyFileSync(join(BIN, "deno"), join(bin, "deno"));
  copyFileSync(join(BIN, "bun"), join(bin, "bun"));
  const site = join(dir, "site");
  mkdirSync(site, { recursive: true });
  writeFileSync(join(site, "index.html"), "<h1>hello</h1>\n".repeat(200));
  writeFileSync(
    join(dir, "base.ts"),
    `import { binSh, buildImage, fakeNss } from ${MOD};\n` +
      `export const base = buildImage({ name: "mono/base", tag: "1", copyToRoot: [binSh, fakeNss] });\n`,
  );
  const service = (name: string, runtime: "deno" | "bun") =>
    `import { buildLayeredImage, writeTextDir } from ${MOD};\nimport { base } from "./base.ts";\n` +
    `export default buildLayeredImage({ name: "mono/${name}", tag: "1", fromImage: base,\n` +
    `  contents: ["./bin/${runtime}", writeTextDir("app/main.ts", "console.log('${name} v1');\\n")],\n` +
    `  config: { Cmd: ["/${runtime}", "run", "/app/main.ts"] } });\n`;
  writeFileSync(join(dir, "api.ts"), service("api", "deno"));
  writeFileSync(join(dir, "web.ts"), service("web", "bun"));
  writeFileSync(
    join(dir, "httpd.ts"),
    `import { buildLayeredImage } from ${MOD};\nimport { base } from "./base.ts";\n` +
      `export default buildLayeredImage({ name: "mono/httpd", tag: "1", fromImage: base,\n` +
      `  contents: ["./site"], config: { Cmd: ["/bin/sh", "-c", "httpd -f -h /"] } });\n`,
  );
  writeFileSync(
    join(dir, "worker.ts"),
    `import { buildLayeredImage, writeTextDir } from ${MOD};\nimport { base } from "./base.ts";\n` +
      `export default buildLayeredImage({ name: "mono/worker", tag: "1", fromImage: base,\n` +
      `  contents: [writeTextDir("etc/worker.conf", "jobs=4\\n")], config: { Cmd: ["/bin/sh"] } });\n`,
  );
  return ["api.ts", "web.ts", "httpd.ts", "worker.ts", "base.ts"];
}

interface Row {
  seconds: number;
  built: number;
  cached: number;
}

/** One `dockwright build` of every file; returns wall time and layer counts. */
function buildAll(
  runtime: "deno" | "bun",
  dir: string,
  cache: string,
  jobs: number,
  compressor: string,
): Row {
  const argv = runtime === "deno"
    ? [join(BIN, "deno"), "run", "-A", join(ROOT, "cli.ts")]
    : [join(BIN, "bun"), join(ROOT, "cli.ts")];
  const started = performance.now();
  const r = spawnSync(argv[0], [
    ...argv.slice(1),
    "build",
    "*.ts",
    "-j",
    String(jobs),
    "-c",
    compressor,
    "--cache-dir",
    cache,
    "--out",
    join(dir, "out", "{file}.tar"),
    "--json",
  ], { cwd: dir, encoding: "utf8", maxBuffer: 64 << 20 });
  const seconds = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`build failed:\n${r.stderr}`);
  const layers = (JSON.parse(r.stdout) as Array<{ layers: Array<{ cached: boolean }> }>)
    .flatMap((x) => x.layers);
  return {
    seconds,
    built: layers.filter((l) => !l.cached).length,
    cached: layers.filter((l) => l.cached).length,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function main(): void {
  const { values } = parseArgs({
    options: {
      compressor: { type: "string", default: "gz" },
      rounds: { type: "string", default: "1" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const rounds = Number(values.rounds);
  const work = mkdtempSync(join(tmpdir(), "dw-mono-bench-"));
  try {
    const lines = [
      `| runtime | -j | cold | warm (nothing changed) | one file edited |`,
      `|---|---|---|---|---|`,
    ];
    for (const runtime of ["deno", "bun"] as const) {
      for (const jobs of [1, 2]) {
        const cold: Row[] = [];
        const warm: Row[] = [];
        const edit: Row[] = [];
        for (let round = 0; round < rounds; round++) {
          const dir = join(work, `${runtime}-${jobs}-${round}`);
          mkdirSync(join(dir, "out"), { recursive: true });
          writeMonorepo(dir);
          const cache = join(dir, "cache");
          cold.push(buildAll(runtime, dir, cache, jobs, values.compressor!));
          warm.push(buildAll(runtime, dir, cache, jobs, values.compressor!));
          const api = join(dir, "api.ts");
          writeFileSync(api, readFileSync(api, "utf8").replace("v1", "v2"));
          edit.push(buildAll(runtime, dir, cache, jobs, values.compressor!));
          rmSync(dir, { recursive: true, force: true });
        }
        const cell = (rows: Row[]) =>
          `${median(rows.map((r) => r.seconds)).toFixed(2)} s (${rows[0].built} built, ${
            rows[0].cached
          } cached)`;
        lines.push(`| ${runtime} | ${jobs} | ${cell(cold)} | ${cell(warm)} | ${cell(edit)} |`);
        process.stderr.write(lines.at(-1)! + "\n");
      }
    }
    process.stdout.write(
      `\nmonorepo of 5 images, compressor ${values.compressor}, ${rounds} round(s)\n\n`,
    );
    process.stdout.write(lines.join("\n") + "\n");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
