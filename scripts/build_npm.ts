/**
 * Builds the npm package's contents into `dist/npm/`: JavaScript and `.d.ts`
 * files made by `tsc` from mod.ts, cli.ts, the layer worker and the `dockwright`
 * launcher. Deno does not strip types under node_modules, so the package ships
 * JavaScript; the declarations are checked to type-check without @types/node.
 *
 * Run by `npm pack`/`npm publish` (the `prepack` script), `npm run build:npm`
 * and `deno task build:npm`:
 *
 * ```sh
 * bun scripts/build_npm.ts          # or: deno run -A scripts/build_npm.ts
 * ```
 *
 * After tsc:
 * - `new URL("./x.ts", import.meta.url)` in the JavaScript becomes `./x.js`
 *   (tsc rewrites import specifiers only), and each such file must exist;
 * - relative `.ts` specifiers in the declarations become `.js`;
 * - the Node.js types the declarations mention (`NodeJS.WritableStream`;
 *   `Transform` and `Writable` from `node:stream`, imported or as
 *   `import("node:stream").X`) are replaced by structural stand-ins in
 *   `node_types.d.ts`; any other `node:` module or `NodeJS.` type fails the
 *   build, so the package never needs @types/node.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const OUT = join(ROOT, "dist", "npm");

/** The package's entry points (everything else is reached from them). */
export const ENTRIES = [
  "mod.ts",
  "cli.ts",
  "lib/cache/layer_worker.ts",
  "lib/store/store_layer_worker.ts",
  "lib/cli/launcher.ts",
];

/** The `bin` file, relative to the package root. */
export const BIN = "dist/npm/lib/cli/launcher.js";

/** Stand-ins for the Node.js types that dockwright's public declarations mention. */
const NODE_TYPES = `/**
 * Structural stand-ins for the few Node.js stream types dockwright's
 * declarations mention, so the package type-checks without @types/node; with
 * @types/node, Node's streams are assignable to them.
 *
 * @module
 */

/** A writable stream (what \`process.stdout\` and \`fs.createWriteStream\` return). */
export interface WritableStream {
  // deno-lint-ignore no-explicit-any
  write(chunk: any, ...rest: any[]): boolean;
  // deno-lint-ignore no-explicit-any
  end(...args: any[]): unknown;
  // deno-lint-ignore no-explicit-any
  on(event: string | symbol, listener: (...args: any[]) => void): unknown;
  // deno-lint-ignore no-explicit-any
  once(event: string | symbol, listener: (...args: any[]) => void): unknown;
  // deno-lint-ignore no-explicit-any
  removeListener(event: string | symbol, listener: (...args: any[]) => void): unknown;
}

/** A node:stream Writable. */
export type Writable = WritableStream;

/** A node:stream Transform: written to, read from. */
// deno-lint-ignore no-explicit-any
export interface Transform extends WritableStream, AsyncIterable<any> {
  // deno-lint-ignore no-explicit-any
  pipe<T>(destination: T, options?: { end?: boolean }): T;
  destroy(error?: Error): unknown;
}
`;

/** `node:` module imports the declarations may have, and the names each may import. */
const ALLOWED_NODE_IMPORTS: Record<string, string[]> = { "node:stream": ["Transform", "Writable"] };
/** `NodeJS.` types the declarations may use. */
const ALLOWED_NODEJS = ["WritableStream"];

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else out.push(path);
  }
  return out;
}

function fail(message: string): never {
  process.stderr.write(`build_npm: error: ${message}\n`);
  process.exit(1);
}

function tsc(): void {
  const bin = join(ROOT, "node_modules", ".bin", "tsc");
  if (!existsSync(bin)) fail("node_modules/.bin/tsc is missing: run npm install first");
  const args = [
    "--target",
    "es2023",
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--lib",
    "esnext,dom",
    "--types",
    "node",
    "--rewriteRelativeImportExtensions",
    "--allowImportingTsExtensions",
    "--declaration",
    // deno check (scripts/test.sh) is the type check; this step only emits.
    "--noCheck",
    "--skipLibCheck",
    "--strict",
    "--newLine",
    "lf",
    "--rootDir",
    ROOT,
    "--outDir",
    OUT,
    ...ENTRIES.map((e) => join(ROOT, e)),
  ];
  const r = spawnSync(bin, args, { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) fail(`tsc failed (exit ${r.status ?? r.signal})`);
}

/** `new URL("./x.ts", import.meta.url)` -> `./x.js`, checking the file exists. */
function fixJavaScript(file: string): void {
  const text = readFileSync(file, "utf8");
  const fixed = text.replace(
    /new URL\((["'])(\.{1,2}\/[^"']+)\.ts\1, import\.meta\.url\)/g,
    (_, quote: string, path: string) => {
      if (!existsSync(join(dirname(file), `${path}.js`))) {
        fail(`${relative(ROOT, file)} refers to ${path}.ts, which is not in the package`);
      }
      return `new URL(${quote}${path}.js${quote}, import.meta.url)`;
    },
  );
  if (fixed !== text) writeFileSync(file, fixed);
}

/** Relative `.ts` specifiers -> `.js`; Node.js types -> the stand-ins; anything else Node fails. */
function fixDeclarations(file: string): void {
  let text = readFileSync(file, "utf8");
  text = text.replace(
    /((?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g,
    (_, pre: string, quote: string, path: string) => `${pre}${quote}${path}.js${quote}`,
  );
  let stand = relative(dirname(file), join(OUT, "node_types.js"));
  if (!stand.startsWith(".")) stand = `./${stand}`;
  text = text.replace(
    /^import (type )?\{([^}]*)\} from ["'](node:[^"']+)["'];$/gm,
    (_line: string, _type: string, names: string, module: string) => {
      const list = names.split(",").map((n) => n.trim()).filter(Boolean);
      const allowed = ALLOWED_NODE_IMPORTS[module] ?? [];
      const bad = list.filter((n) => !allowed.includes(n.replace(/^type /, "")));
      if (bad.length > 0) {
        fail(
          `${relative(OUT, file)} needs ${bad.join(", ")} from ${module} in its declarations: ` +
            "add a stand-in to scripts/build_npm.ts or keep the type out of the public API",
        );
      }
      // `import type` covers every name: drop per-name `type` modifiers (TS2206).
      return `import type { ${
        list.map((n) => n.replace(/^type /, "")).join(", ")
      } } from "${stand}";`;
    },
  );
  text = text.replace(
    /\bimport\((["'])(node:[^"']+)\1\)\.(\w+)/g,
    (_, quote: string, module: string, name: string) => {
      if (!(ALLOWED_NODE_IMPORTS[module] ?? []).includes(name)) {
        fail(
          `${
            relative(OUT, file)
          } needs ${name} from ${module}: add a stand-in to scripts/build_npm.ts`,
        );
      }
      return `import(${quote}${stand}${quote}).${name}`;
    },
  );
  const used = [...text.matchAll(/\bNodeJS\.(\w+)/g)].map((m) => m[1]);
  if (used.length > 0) {
    const bad = used.filter((n) => !ALLOWED_NODEJS.includes(n));
    if (bad.length > 0) {
      fail(`${relative(OUT, file)} uses NodeJS.${bad[0]}: add a stand-in to scripts/build_npm.ts`);
    }
    text = `import type * as NodeJS from "${stand}";\n${text}`;
  }
  // Code lines only: JSDoc examples may well import node: modules.
  const code = text.split("\n").filter((l) => !/^\s*(\*|\/\*\*|\/\/(?!\/))/.test(l));
  const leftover = code.find((l) =>
    /from ["']node:|^\/\/\/ <reference types=|import\(["']node:/.test(l)
  );
  if (leftover) {
    fail(`${relative(OUT, file)} still refers to Node.js types: ${leftover.trim()}`);
  }
  writeFileSync(file, text);
}

/**
 * Builds `dist/npm/`.
 *
 * @example
 * ```ts
 * buildNpm(); // dist/npm/mod.js, dist/npm/mod.d.ts, ...
 * ```
 */
export function buildNpm(): void {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  tsc();
  writeFileSync(join(OUT, "node_types.d.ts"), NODE_TYPES);
  // An empty module next to the stand-ins, so `node_types.js` resolves for every tool.
  writeFileSync(join(OUT, "node_types.js"), "export {};\n");
  for (const file of walk(OUT)) {
    if (file.endsWith(".d.ts")) {
      if (!file.endsWith("node_types.d.ts")) fixDeclarations(file);
    } else if (file.endsWith(".js")) fixJavaScript(file);
  }
  const bin = join(ROOT, BIN);
  if (!readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")) {
    fail(`${BIN} lost its #! line`);
  }
  chmodSync(bin, 0o755);
  const files = walk(OUT);
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  process.stderr.write(
    `build_npm: ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB in ${
      relative(process.cwd(), OUT) || "."
    }\n`,
  );
}

if (import.meta.main) buildNpm();
