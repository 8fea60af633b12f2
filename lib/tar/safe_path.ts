/**
 * Normalisation of tar member names into safe paths relative to an
 * extraction root.
 *
 * @module
 */

import { TarUnsafePathError } from "./errors.ts";

/**
 * Returns `name` as a clean relative path: `./` prefixes, empty and `.`
 * components and trailing `/` are dropped, so `"./"`, `"."` and `"/"` give
 * `""` (the root itself).
 *
 * Throws {@link TarUnsafePathError} for an empty name, a NUL byte, any `..`
 * component (even one that would stay inside the root: a layer has no reason
 * to use it), and an absolute name unless `allowAbsolute`. With
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
