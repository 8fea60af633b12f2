/**
 * Running the shell snippets of an image definition (`extraCommands`,
 * `fakeRootCommands`): bash with `set -e -o pipefail`, the script's output
 * forwarded to our stderr (stdout stays free for `--json`), and a failure
 * reported with its exit code.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import process from "node:process";

/** A shell snippet that exited non-zero. */
export class ScriptError extends Error {
  constructor(readonly attribute: string, readonly exitCode: number | null, signal: string | null) {
    super(
      `${attribute} failed (${signal ? `killed by ${signal}` : `exit code ${exitCode}`}); ` +
        `its output is above; fix the script and build again`,
    );
    this.name = "ScriptError";
  }
}

/** A host program a build step needs is missing. */
export class MissingToolError extends Error {
  constructor(tool: string, purpose: string, install: string) {
    super(`${purpose} needs ${tool}, which is not on this machine; install it (${install})`);
    this.name = "MissingToolError";
  }
}

/**
 * `value` as one single-quoted POSIX shell word.
 *
 * @example
 * ```ts
 * shellQuote("it's"); // "'it'\\''s'"
 * ```
 */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * Throws {@link MissingToolError} unless `tool` runs.
 *
 * @example
 * ```ts
 * requireHostTool("fakeroot", "fakeRootCommands", "apt-get install fakeroot");
 * ```
 */
export function requireHostTool(tool: string, purpose: string, install: string): void {
  if (!hostToolPath(tool)) throw new MissingToolError(tool, purpose, install);
}

/**
 * Where the host program `name` is: on PATH, else in the first of `dirs`
 * that has it (e.g. `/sbin` for tools a user's PATH may lack); undefined when nowhere.
 *
 * @example
 * ```ts
 * hostToolPath("mkfs.ext4", ["/sbin", "/usr/sbin"]); // "/usr/sbin/mkfs.ext4"
 * ```
 */
export function hostToolPath(name: string, dirs: readonly string[] = []): string | undefined {
  const candidates = [name, ...dirs.map((d) => `${d}/${name}`)].map(shellQuote);
  const r = spawnSync("sh", ["-c", candidates.map((c) => `command -v ${c}`).join(" || ")], {
    encoding: "utf8",
  });
  const found = r.stdout?.trim().split("\n")[0];
  return r.status === 0 && found ? found : undefined;
}

/** How to run a snippet. */
export interface ShellOptions {
  /** The attribute name, for messages. */
  attribute: string;
  /** The working directory (the future `/`). */
  cwd: string;
  /** The command that runs bash: e.g. `["fakeroot", "-s", state, "--"]` before `bash ...`. */
  wrapper?: string[];
  /** The shell to use. Default `bash`. */
  shell?: string[];
  env?: Record<string, string>;
}

/**
 * Runs `script` and resolves when it exits 0; its stdout and stderr go to our stderr.
 *
 * @example
 * ```ts
 * await runShell("mkdir -p data", { attribute: "extraCommands", cwd: "/tmp/run/rootfs" });
 * ```
 */
export function runShell(script: string, options: ShellOptions): Promise<void> {
  const shell = options.shell ?? ["bash", "-e", "-o", "pipefail", "-c"];
  const argv = [...(options.wrapper ?? []), ...shell, script];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d: Uint8Array) => process.stderr.write(d));
    child.stderr!.on("data", (d: Uint8Array) => process.stderr.write(d));
    child.on(
      "error",
      (e) =>
        reject(
          new MissingToolError(argv[0], options.attribute, `${(e as NodeJS.ErrnoException).code}`),
        ),
    );
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new ScriptError(options.attribute, code, signal));
    });
  });
}
