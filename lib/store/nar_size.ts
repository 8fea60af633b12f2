/**
 * NAR sizes of the two small store paths Nix's layering sees besides the
 * closure: the image's `base.json` and its customisation layer. Auto-layer
 * keeps them in the graph while it splits, so their sizes can change which
 * layers come out; computing them as Nix would keeps our layers equal to
 * Nix's.
 *
 * @module
 */

/** Bytes a NAR string field takes: 8-byte length, content padded to 8. */
function str(length: number): number {
  return 8 + Math.ceil(length / 8) * 8;
}

const t = (s: string) => str(s.length);

/**
 * NAR size of a regular file of `size` bytes at the root of a store path.
 *
 * @example
 * ```ts
 * narSizeOfFile(0); // 112
 * ```
 */
export function narSizeOfFile(size: number, executable = false): number {
  return t("nix-archive-1") + narFileNode(size, executable);
}

function narFileNode(size: number, executable: boolean): number {
  return t("(") + t("type") + t("regular") + (executable ? t("executable") + t("") : 0) +
    t("contents") +
    str(size) + t(")");
}

/**
 * NAR size of a folder of regular files (`name -> size`), like Nix's
 * customisation layer output (`checksum` and `layer.tar`).
 *
 * @example
 * ```ts
 * narSizeOfFlatDir({ checksum: 65, "layer.tar": 10240 }); // 10784
 * ```
 */
export function narSizeOfFlatDir(files: Record<string, number>): number {
  let n = t("nix-archive-1") + t("(") + t("type") + t("directory");
  for (const name of Object.keys(files).sort()) {
    n += t("entry") + t("(") + t("name") + t(name) + t("node") + narFileNode(files[name], false) +
      t(")");
  }
  return n + t(")");
}
