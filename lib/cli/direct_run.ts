/**
 * An image file run directly (`deno run -A image.ts`, `bun image.ts`) behaves
 * like the command line:
 *
 * - an invalid definition (an `AttributeError` thrown while the file is
 *   evaluated, before `main(import.meta)` runs) prints the CLI's one
 *   `error:` line and exits 2, instead of the runtime's "Uncaught" report
 *   and stack (the stack only with `DOCKWRIGHT_DEBUG=1`);
 * - a Deno permission the run lacks gives one line naming `-A` and the flag
 *   Deno asked for (exit 2), wherever it happens;
 * - a file that exports images but never calls `main(import.meta)`, and built
 *   nothing, says how to build it (exit 2) instead of exiting silently.
 *
 * mod.ts imports this module first, so the handlers are in place before any
 * other part of dockwright runs. They act only on dockwright's own errors and on
 * Deno's permission errors; any other error keeps the runtime's own report.
 * They stay out of test runners (`deno test`, `bun test`).
 *
 * @module
 */

import process from "node:process";
import { pathToFileURL } from "node:url";
import { hadActivity } from "../host/activity.ts";

/** Errors that are a bad definition or bad usage: one `error:` line, exit 2. */
const DEFINITION_ERRORS = new Set(["AttributeError", "OptionError", "UsageError"]);

/** Shared by every copy of dockwright in the process (an image file may import another copy). */
interface DirectRunState {
  installed: boolean;
  /** `main(import.meta)` or the command line took over. */
  handled: boolean;
}

const STATE_KEY = Symbol.for("dockwright.directRun");

function state(): DirectRunState {
  const g = globalThis as unknown as Record<symbol, DirectRunState | undefined>;
  return (g[STATE_KEY] ??= { installed: false, handled: false });
}

/**
 * Tells the direct-run checks that `main(import.meta)` or the command line
 * runs this process: no "never calls main" hint then.
 *
 * @example
 * ```ts
 * noteEntryPoint(); // first thing in main() and runCli()
 * ```
 */
export function noteEntryPoint(): void {
  state().handled = true;
}

/** An environment variable, or undefined when Deno may not read it (no --allow-env). */
function envVar(name: string): string | undefined {
  try {
    return process.env[name];
  } catch {
    return undefined;
  }
}

/**
 * True when `DOCKWRIGHT_DEBUG` asks for stack traces (false when Deno may not
 * read the environment).
 *
 * @example
 * ```ts
 * declare const error: Error;
 * if (debugEnabled()) console.error(error.stack);
 * ```
 */
export function debugEnabled(): boolean {
  return Boolean(envVar("DOCKWRIGHT_DEBUG"));
}

/** The main module's URL, or undefined. */
function mainModuleUrl(): string | undefined {
  const g = globalThis as { Deno?: { mainModule?: string }; Bun?: { main?: string } };
  try {
    if (g.Deno?.mainModule) return g.Deno.mainModule;
    const path = g.Bun?.main ?? process.argv[1];
    return path ? pathToFileURL(path).href : undefined;
  } catch {
    return undefined;
  }
}

/** The file to show in hints: relative to the working directory when below it. */
function shownFile(url = mainModuleUrl()): string {
  if (!url?.startsWith("file:")) return "image.ts";
  let path = decodeURIComponent(new URL(url).pathname);
  try {
    const cwd = process.cwd();
    if (path.startsWith(cwd + "/")) path = path.slice(cwd.length + 1);
  } catch {
    // no --allow-read: keep the absolute path
  }
  return quote(path);
}

/** One argument as a shell would need it. */
function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** True inside `deno test` / `bun test`, whose own reports must stay as they are. */
function underTestRunner(): boolean {
  return /(?:^|[/._])(?:test|spec)\.[cm]?[jt]sx?$/.test(mainModuleUrl() ?? "");
}

/**
 * For an error of Deno's permission system: one line naming `-A` and the
 * flag Deno asked for. Undefined for any other error.
 *
 * @example
 * ```ts
 * declare const error: Error;
 * permissionMessage(error);
 * // 'Deno denied a permission dockwright needs (Requires env access to "HOME", run again
 * //  with the --allow-env flag): run it with deno run -A image.ts'
 * ```
 */
export function permissionMessage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const deno = (globalThis as { Deno?: { errors?: Record<string, unknown> } }).Deno;
  const notCapable = deno?.errors?.NotCapable as (new () => Error) | undefined;
  const isPermission = (notCapable !== undefined && error instanceof notCapable) ||
    error.name === "NotCapable" || /run again with the --allow-\w+ flag/.test(error.message);
  if (!isPermission) return undefined;
  const reason = error.message.replace(/\s+/g, " ").trim();
  const args = process.argv.slice(2).map((a) => ` ${quote(a)}`).join("");
  return `Deno denied a permission dockwright needs (${reason}): run it with deno run -A ${shownFile()}${args}`;
}

/**
 * What a direct run prints for an uncaught `error` (without the `error: `
 * prefix), or undefined when the runtime should report it as usual.
 */
function takeOver(error: unknown): { message: string; hint?: string } | undefined {
  const permission = permissionMessage(error);
  if (permission) return { message: permission };
  if (error instanceof Error && DEFINITION_ERRORS.has(error.name)) {
    const hint = (error as { hint?: unknown }).hint;
    return { message: error.message, hint: typeof hint === "string" ? hint : undefined };
  }
  return undefined;
}

function exitWith(error: unknown, report: { message: string; hint?: string }): never {
  process.stderr.write(
    `error: ${report.message}\n${report.hint ? `hint: ${report.hint}\n` : ""}`,
  );
  if (debugEnabled() && error instanceof Error && error.stack) {
    process.stderr.write(error.stack + "\n");
  }
  process.exit(2);
}

/** Deno: listeners that handle only what they take over; anything else keeps Deno's report. */
function installDeno(): void {
  const target = globalThis as unknown as {
    addEventListener(type: string, listener: (event: Event) => void): void;
  };
  target.addEventListener("error", (event) => {
    const error = (event as ErrorEvent).error;
    const report = takeOver(error);
    if (!report) return;
    event.preventDefault();
    exitWith(error, report);
  });
  target.addEventListener("unhandledrejection", (event) => {
    const error = (event as PromiseRejectionEvent).reason;
    const report = takeOver(error);
    if (!report) return;
    event.preventDefault();
    exitWith(error, report);
  });
}

/**
 * Bun reports uncaught errors only to process listeners, and a listener
 * replaces its report: anything not taken over is printed as Bun prints it
 * (`Bun.inspect`) with exit code 1, unless the program has listeners of its own.
 */
function installBun(): void {
  const inspect = (globalThis as { Bun?: { inspect(v: unknown): string } }).Bun?.inspect;
  const handle = (event: "uncaughtException" | "unhandledRejection") => (error: unknown) => {
    const report = takeOver(error);
    if (report) exitWith(error, report);
    if (process.listenerCount(event) > 1) return; // the program handles it
    process.stderr.write(`${inspect ? inspect(error) : String(error)}\n`);
    process.exit(1);
  };
  process.on("uncaughtException", handle("uncaughtException"));
  process.on("unhandledRejection", handle("unhandledRejection"));
}

/** Lists the images the main module exports, or none when it cannot be read. */
async function exportedImages(url: string): Promise<string[]> {
  try {
    const { imagesOf } = await import("./load_images.ts");
    const module = await import(url) as Record<string, unknown>;
    return imagesOf(module).map((i) => i.exportName);
  } catch {
    return [];
  }
}

/** At exit: an image file that exports images, never called main() and built nothing. */
function installMissingMainHint(): void {
  let checked = false;
  process.on("beforeExit", async () => {
    const s = state();
    if (checked || s.handled || hadActivity() || process.exitCode) return;
    checked = true;
    const url = mainModuleUrl();
    if (!url?.startsWith("file:")) return;
    const images = await exportedImages(url);
    if (images.length === 0 || state().handled || hadActivity()) return;
    const file = shownFile(url);
    process.stderr.write(
      `error: ${file} exports ${images.length === 1 ? "an image" : "images"} (${
        images.join(", ")
      }) but never calls main(import.meta), so nothing was built: add \`main(import.meta);\` ` +
        `at its end (main is exported by dockwright), or run: dockwright build ${file}\n`,
    );
    process.exitCode = 2;
  });
}

/**
 * Installs the direct-run behaviour once per process (see the module
 * documentation). Called when mod.ts is imported.
 *
 * @example
 * ```ts
 * installDirectRun();
 * ```
 */
export function installDirectRun(): void {
  const s = state();
  if (s.installed || underTestRunner()) return;
  s.installed = true;
  if ("Deno" in globalThis) installDeno();
  else if ("Bun" in globalThis) installBun();
  installMissingMainHint();
}

installDirectRun();
