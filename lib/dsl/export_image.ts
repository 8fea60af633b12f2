/**
 * `exportImage`: an image flattened into one root-file-system tar, as Nix's
 * `dockerTools.exportImage` makes it for `docker image import`.
 *
 * Nix boots a VM to unpack the layers onto an overlay mount and tars it;
 * dockwright applies the layers in-process from their tars (whiteouts and
 * opaque folders honoured, ownership, modes, devices and xattrs kept), so no
 * VM, no root and no extraction to disk are needed: the value resolves its
 * image and hands it to the root-file-system writer (`transport/rootfs`).
 * The output matches Nix's, uncompressed unless a compressor is asked for.
 *
 * @module
 */

import { statSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { Compressor } from "../codec/compress.ts";
import { writeRootfs } from "../transport/rootfs/write.ts";
import { Artifact, type ArtifactResult } from "./artifact.ts";
import { callerDirectory } from "./caller.ts";
import { AttributeError } from "./errors.ts";
import {
  type FromImage,
  loadBaseImage,
  type ResolvedFrom,
  resolveFromImage,
} from "./from_image.ts";
import type { BuildContext } from "./image_definition.ts";
import {
  type Check,
  isInt,
  isNonEmptyString,
  isString,
  nullable,
  validateAttrs,
} from "./validate.ts";

/**
 * Attributes of {@link exportImage}, with Nix's names.
 *
 * @example
 * ```ts
 * const args: ExportImageArgs = { fromImage: "./debian.tar.gz", name: "debian-rootfs.tar" };
 * ```
 */
export interface ExportImageArgs {
  /** The image to flatten: an image archive or OCI layout path, or an image value. Required. */
  fromImage: FromImage;
  /** Accepted for compatibility: as in Nix, the first image of an archive is exported whatever it says. */
  fromImageName?: string | null;
  /** See `fromImageName`. */
  fromImageTag?: string | null;
  /** Nix's VM disk size in MiB. Accepted for compatibility; no VM is used. Default 1024. */
  diskSize?: number;
  /** Output file name (Nix's derivation name). Default: `<image base name>-export.tar`. */
  name?: string;
}

const CHECKS: Record<string, Check> = {
  fromImage: () => {},
  fromImageName: nullable(isString),
  fromImageTag: nullable(isString),
  diskSize: isInt(1),
  name: isNonEmptyString,
};

class ExportImage extends Artifact {
  readonly builder = "exportImage";
  readonly name: string;
  readonly #from: ResolvedFrom;

  constructor(args: ExportImageArgs, baseDir: string) {
    super();
    validateAttrs("exportImage", args, CHECKS, ["fromImage"]);
    const from = resolveFromImage("exportImage", args.fromImage, baseDir);
    if (!from) throw new AttributeError("exportImage", "fromImage", "is required");
    this.#from = from;
    const base = from.kind === "image"
      ? from.image.baseName
      : basename(from.path).replace(/(\.oci)?(\.tar(\.gz|\.zst)?|\.tgz)$/, "");
    this.name = args.name ?? `${base}-export.tar`;
  }

  async write(
    context: BuildContext,
    path: string | undefined,
    compressor: Compressor | undefined,
  ): Promise<ArtifactResult> {
    const base = await loadBaseImage(context, this.#from);
    const target = path ?? resolve(this.name);
    await writeRootfs(
      context.store,
      base,
      target,
      compressor ?? "none",
      context.progress,
      this.name,
      this.#from.kind === "path" ? this.#from.path : undefined,
    );
    return {
      name: this.name,
      format: "rootfs-tar",
      path: target,
      compressor: compressor ?? "none",
      size: statSync(target).size,
      images: [{ name: base.repoName, tag: base.tag, configDigest: base.config.digest }],
    };
  }
}

/**
 * Nix `dockerTools.exportImage`: the image's layers applied into one
 * uncompressed root-file-system tar (for `docker image import`, `podman import`,
 * or a chroot). A lazy value; building it writes the tar.
 *
 * @example
 * ```ts
 * // image.ts (in a project, import from "dockwright")
 * import { exportImage, main } from "../../mod.ts";
 *
 * export default exportImage({ fromImage: "./debian.tar.gz", name: "debian-rootfs.tar" });
 * main(import.meta);
 * ```
 */
export function exportImage(args: ExportImageArgs): Artifact {
  return new ExportImage(args, callerDirectory());
}
