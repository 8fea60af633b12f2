/**
 * Normalisation of tar member names into safe paths relative to an
 * extraction root.
 *
 * @module
 */

import { inputLimits } from "../host/input_limits.ts";
import { TarFormatError, TarUnsafePathError } from "./errors.ts";

/**
 * Returns `name` as a clean relative path: `./` prefixes, empty and `.`
 * components and trailing `/` are dropped, so `"./"`, `"."` and `"/"` give
 * `""` (the root itself).
 *
 * Throws {@link TarUnsafePathError} for an empty name, a NUL byte, any `..`
 * component (even one that would stay inside the root: a layer has no reason
 * to use it), and an absolute name unless `allowAbsolute`; a `TarFormatError`
 * for a name longer than `maxPathBytes` (Linux's `PATH_MAX`, see
 * `host/input_limits.ts`). With
 * `allowAbsolute` the leading `/` is stripped: layer tars written by Nix name
 * members `/nix/store/...` and mean the image root.
 *
 * @example
 * ```ts
 * normalizeMemberPath("./usr//bin/", { allowAbsolute: false }); // "usr/bin"
 * normalizeMemberPath("/nix/store/x", { allowAbsolute: true }); // "nix/store/x"
 * normalizeMemberPath("a/../../x", { allowAbsolute: true });   // throws TarUnsafePathError
 * ```
 */
export function normalizeMemberPath(name: string, opts: { allowAbsolute: boolean }): string {
  if (name === "") throw new TarUnsafePathError(name, "the member name is empty");
  checkNameLength(name, "member name");
  if (name.includes("\0")) {
    throw new TarUnsafePathError(name, "the member name contains a NUL byte");
  }
  if (name.startsWith("/") && !opts.allowAbsolute) {
    throw new TarUnsafePathError(
      name,
      "the member name is absolute and absolute names are not allowed here",
    );
  }
  const out: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new TarUnsafePathError(name, "the member name has a '..' component");
    out.push(part);
  }
  return out.join("/");
}

/** UTF-8 bytes of `text` (each unpaired surrogate, an escaped raw byte, counts as one). */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      n += 4;
      i++;
    } else if (c >= 0xdc80 && c <= 0xdcff) n += 1;
    else n += 3;
  }
  return n;
}

/**
 * Throws a `TarFormatError` when `name` (a member name or link
 * target) is longer than `maxPathBytes` (default 4096, Linux's `PATH_MAX`):
 * no file system holds such a path, and applying it would cost memory
 * growing with the square of its depth.
 *
 * @example
 * ```ts
 * checkNameLength("usr/bin/env", "member name"); // fine
 * checkNameLength("a/".repeat(100_000), "member name"); // throws TarFormatError
 * ```
 */
export function checkNameLength(name: string, what: string): void {
  // Cheap first: a name of at most 1365 UTF-16 units has at most 4095 bytes.
  if (name.length <= 1365) return;
  const max = inputLimits().maxPathBytes;
  const bytes = utf8Length(name);
  if (bytes > max) {
    throw new TarFormatError(
      name.length > 200 ? `${name.slice(0, 200)}...` : name,
      `the ${what} is ${bytes} bytes, longer than the limit of ${max} (PATH_MAX); ` +
        "if the input is trusted, raise DOCKWRIGHT_MAX_PATH_BYTES",
    );
  }
}
