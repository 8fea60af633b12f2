/**
 * Nix's trivial builders that image definitions use: `writeTextFile`,
 * `writeTextDir`, `writeText`, `writeScript`, `writeScriptBin`.
 *
 * @module
 */

import { GeneratedTree } from "../tree/generated_tree.ts";
import { AttributeError } from "./errors.ts";
import { isBool, isNonEmptyString, isString, validateAttrs } from "./validate.ts";

/** Arguments of {@link writeTextFile}, as in Nix. */
export interface WriteTextFileArgs {
  /** Name of the result (the file's name when `destination` is empty). */
  name: string;
  /** File content. dockwright also accepts bytes. */
  text: string | Uint8Array;
  /** Mode 0555 instead of 0444. Default false. */
  executable?: boolean;
  /** Path of the file inside the result, e.g. `"/bin/hello"`; empty: the result is the file itself. */
  destination?: string;
}

/**
 * Nix `writeTextFile`: one file, either as the whole result or at `destination` inside it.
 *
 * @example
 * ```ts
 * // /bin/hello, mode 0555, as a `copyToRoot` or `contents` source
 * const hello = writeTextFile({
 *   name: "hello",
 *   text: "#!/bin/sh\necho hi\n",
 *   executable: true,
 *   destination: "/bin/hello",
 * });
 * ```
 */
export function writeTextFile(args: WriteTextFileArgs): GeneratedTree {
  validateAttrs("writeTextFile", args, {
    name: isNonEmptyString,
    text: (fn, attr, v) => {
      if (typeof v !== "string" && !(v instanceof Uint8Array)) {
        throw new AttributeError(fn, attr, "must be a string or bytes");
      }
    },
    executable: isBool,
    destination: isString,
  }, ["name", "text"]);
  const destination = args.destination ?? "";
  const tree = new GeneratedTree(args.name);
  if (destination === "") {
    // The result is the file itself; used as a source it lands at /<name>.
    tree.file(args.name, args.text, args.executable ?? false);
  } else {
    tree.file(destination, args.text, args.executable ?? false);
  }
  return tree;
}

/**
 * Nix `writeTextDir path text`: a folder holding one file at `path`.
 *
 * @example
 * ```ts
 * writeTextDir("etc/motd", "hello\n").name; // "motd" (the file lands at /etc/motd)
 * ```
 */
export function writeTextDir(path: string, text: string): GeneratedTree {
  const name = path.split("/").filter(Boolean).pop() ?? path;
  return writeTextFile({ name, text, destination: `/${path}` });
}

/**
 * Nix `writeText name text`: a single file (lands at `/<name>` when used as a source).
 *
 * @example
 * ```ts
 * writeText("motd", "hello\n"); // lands at /motd, mode 0444
 * ```
 */
export function writeText(name: string, text: string): GeneratedTree {
  return writeTextFile({ name, text });
}

/**
 * Nix `writeScript name text`: a single executable file.
 *
 * @example
 * ```ts
 * writeScript("hello", "#!/bin/sh\necho hello\n"); // lands at /hello, mode 0555
 * ```
 */
export function writeScript(name: string, text: string): GeneratedTree {
  return writeTextFile({ name, text, executable: true });
}

/**
 * Nix `writeScriptBin name text`: an executable at `bin/<name>`.
 *
 * @example
 * ```ts
 * writeScriptBin("hello", "#!/bin/sh\necho hello\n"); // lands at /bin/hello, mode 0555
 * ```
 */
export function writeScriptBin(name: string, text: string): GeneratedTree {
  return writeTextFile({ name, text, executable: true, destination: `/bin/${name}` });
}
