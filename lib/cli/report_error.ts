/**
 * Turning errors into a message on stderr and an exit code.
 *
 * @module
 */

import process from "node:process";
import { AttributeError, OptionError } from "../dsl/errors.ts";
import { UsageError } from "./usage_error.ts";
import { debugEnabled, permissionMessage } from "./direct_run.ts";

/**
 * Prints `error` for a person (stack only with `DOCKWRIGHT_DEBUG=1`) and returns the exit code:
 * 2 for usage and definition errors, 1 otherwise.
 *
 * @example
 * ```ts
 * declare const error: unknown;
 * process.exitCode = reportError(error);
 * ```
 */
export function reportError(error: unknown): number {
  const debug = debugEnabled();
  const permission = permissionMessage(error);
  if (permission) {
    process.stderr.write(`error: ${permission}\n`);
    return 2;
  }
  if (error instanceof UsageError || error instanceof OptionError) {
    process.stderr.write(`error: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ""}`);
    return 2;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(error.stack + "\n");
  if (error instanceof AttributeError || error instanceof TypeError) return 2;
  return 1;
}
