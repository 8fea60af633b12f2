/**
 * `dockwright init [DIR]`: a starter project that builds and runs as
 * generated: `image.ts` (a hello image importing `"dockwright"`), plus a
 * `package.json` (`--npm`) or a `deno.json` (`--deno`) when asked.
 *
 * @module
 */

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { flagError } from "./flags.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `init`. */
export const INIT_HELP = `Write a starter image file (and a package.json or deno.json) into DIR.

Usage:
  dockwright init [DIR] [--npm] [--deno] [--name NAME] [--force]

Options:
      --npm          also write package.json (dependency "dockwright", script "build"),
                     for npm, Bun and Deno projects: npm install, then npm run build
      --deno         also write deno.json (import map "dockwright" -> npm:dockwright,
                     task "build"): deno task build
      --name NAME    image name (default: DIR's name, else "hello")
      --force        overwrite files that exist
  -h, --help         show this help

DIR defaults to the working directory and is created when missing. With neither
--npm nor --deno, only image.ts is written: the single binary builds it as it is
(dockwright build image.ts).
`;

/** Parsed `init` flags. */
export interface InitFlags {
  dir: string;
  npm: boolean;
  deno: boolean;
  name?: string;
  force: boolean;
  help: boolean;
}

/**
 * Parses `init` flags.
 *
 * @example
 * ```ts
 * parseInitFlags(["app", "--deno"]); // { dir: "app", deno: true, npm: false, ... }
 * ```
 */
export function parseInitFlags(argv: string[]): InitFlags {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        npm: { type: "boolean" },
        deno: { type: "boolean" },
        name: { type: "string" },
        force: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw flagError(error, argv, "see dockwright init --help");
  }
  if (parsed.positionals.length > 1) {
    throw new UsageError(
      `init takes at most one folder (got ${parsed.positionals.length})`,
      "dockwright init [DIR] [--npm] [--deno]",
    );
  }
  const v = parsed.values;
  return {
    dir: parsed.positionals[0] ?? ".",
    npm: v.npm ?? false,
    deno: v.deno ?? false,
    name: v.name,
    force: v.force ?? false,
    help: v.help ?? false,
  };
}

/** An image (and package) name from a folder name: lower case, `[a-z0-9._-]`, else "hello". */
function nameFor(dir: string): string {
  const name = basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return name || "hello";
}

/**
 * The starter image file: a hello image that builds with no host tools.
 *
 * @example
 * ```ts
 * starterImage("app"); // 'import { buildImage, ... } from "dockwright"; ...'
 * ```
 */
export function starterImage(name: string): string {
  return `// Build it: dockwright build image.ts  (or: deno run -A image.ts, bun image.ts)
// Run it:   podman load -i ${name}.tar && podman run --rm ${name}:latest
import { buildImage, greeterExecutable, main, writeTextFile } from "dockwright";

export default buildImage({
  name: ${JSON.stringify(name)},
  tag: "latest",
  copyToRoot: writeTextFile({
    name: "hello",
    destination: "/bin/hello",
    text: greeterExecutable(${JSON.stringify(`Hello from ${name}!\n`)}), // a tiny static executable
    executable: true,
  }),
  config: { Cmd: ["/bin/hello"] },
  compressor: "none",
});

main(import.meta); // builds the exports when the file is run
`;
}

/**
 * Writes the starter files; returns the paths written.
 *
 * @example
 * ```ts
 * runInit(parseInitFlags(["app", "--npm"]), "0.1.0"); // ["app/image.ts", "app/package.json"]
 * ```
 */
export function runInit(flags: InitFlags, version: string): string[] {
  const dir = resolve(flags.dir);
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new UsageError(`${flags.dir} exists and is not a folder`, "choose another DIR");
  }
  const name = flags.name ?? nameFor(dir);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
    throw new UsageError(
      `--name ${JSON.stringify(name)} is not a valid image name`,
      "use lower-case letters, digits, '.', '_' and '-'",
    );
  }
  const files: Array<[string, string]> = [["image.ts", starterImage(name)]];
  if (flags.npm) {
    const pkg = {
      name,
      private: true,
      type: "module",
      scripts: { build: "dockwright build image.ts" },
      dependencies: { dockwright: `^${version}` },
    };
    files.push(["package.json", JSON.stringify(pkg, null, 2) + "\n"]);
  }
  if (flags.deno) {
    const config = {
      imports: { dockwright: `npm:dockwright@^${version}` },
      tasks: { build: "deno run -A image.ts" },
    };
    files.push(["deno.json", JSON.stringify(config, null, 2) + "\n"]);
  }
  const existing = files.map(([f]) => f).filter((f) => existsSync(join(dir, f)));
  if (existing.length > 0 && !flags.force) {
    throw new UsageError(
      `${existing.join(", ")} already ${
        existing.length === 1 ? "exists" : "exist"
      } in ${flags.dir}`,
      "pass --force to overwrite, or choose another DIR",
    );
  }
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of files) writeFileSync(join(dir, file), text);
  return files.map(([f]) => join(dir, f));
}

/** True when the package.json at `path` lists dockwright as a dependency. */
function dependsOnDockwright(path: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(path, "utf8"));
    return ["dependencies", "devDependencies"].some((k) => pkg?.[k]?.dockwright !== undefined);
  } catch {
    return false;
  }
}

/**
 * `dockwright init`: writes the files and says what to run next (on stderr).
 *
 * @example
 * ```ts
 * initCommand(["app", "--deno"], "0.1.0");
 * ```
 */
export function initCommand(argv: string[], version: string): number {
  const flags = parseInitFlags(argv);
  if (flags.help) {
    process.stdout.write(INIT_HELP);
    return 0;
  }
  const written = runInit(flags, version);
  const where = relative(process.cwd(), resolve(flags.dir)) || ".";
  const cd = where === "." ? "" : `cd ${where} && `;
  const steps = [`${cd}dockwright build image.ts    (the single binary)`];
  if (flags.npm) steps.push(`${cd}npm install && npm run build    (Bun or Deno on PATH)`);
  const pkg = join(resolve(flags.dir), "package.json");
  if (existsSync(pkg)) {
    // An npm project: its own dockwright, run with npx.
    steps.push(
      flags.npm
        ? `${cd}npx dockwright build image.ts    (after npm install)`
        : dependsOnDockwright(pkg)
        ? `${cd}npx dockwright build image.ts    (npm project)`
        : `${cd}npm install dockwright && npx dockwright build image.ts    (npm project)`,
    );
  }
  if (flags.deno) steps.push(`${cd}deno task build`);
  if (!flags.npm && !flags.deno) {
    steps.push(`${cd}deno run -A image.ts, or bun image.ts    (with dockwright installed)`);
  }
  process.stderr.write(
    `wrote ${written.map((f) => relative(process.cwd(), f) || f).join(", ")}\nnext:\n${
      steps.map((s) => `  ${s}\n`).join("")
    }`,
  );
  return 0;
}
