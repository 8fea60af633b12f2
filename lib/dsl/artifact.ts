/**
 * Artifacts: lazy values whose build writes one file that is not an image of
 * its own, such as `exportImage`'s root-file-system tar and `mergeImages`'
 * multi-image docker-archive. Like images they are checked when written and
 * built only when asked (`build()`, `main(import.meta)`, `dockwright build`).
 *
 * @module
 */

import { resolve } from "node:path";
import type { Compressor } from "../codec/compress.ts";
import { BuildSession } from "../build/session.ts";
import { Definition } from "./definition.ts";
import type { BuildContext } from "./image_definition.ts";

/** What an artifact's build wrote; the `--json` output of the command line for it. */
export interface ArtifactResult {
  /** The artifact's name (Nix's derivation name). */
  name: string;
  /** `rootfs-tar` (exportImage) or `docker-archive` (mergeImages). */
  format: "rootfs-tar" | "docker-archive";
  /** Absolute path of the file written. */
  path: string;
  /** How the file is compressed as a whole. */
  compressor: Compressor;
  /** Byte size of the file. */
  size: number;
  /** The images it holds (mergeImages) or was made from (exportImage). */
  images: { name: string; tag: string; configDigest: string }[];
}

/** Options an artifact's build takes (a subset of `build()`'s). */
export interface ArtifactOptions {
  /** Output path; default: the artifact's own name in the working directory. */
  out?: string;
  /** Compresses the whole file; default: the artifact's rule (see each builder). */
  compressor?: Compressor;
  /** Cache folder (blob store). */
  cacheDir?: string;
  /** Progress on stderr. */
  progress?: boolean;
  /** Build in this session instead of opening one (its cache and progress apply). */
  session?: BuildSession;
}

const BRAND = Symbol.for("dockwright.Artifact");

/**
 * A value returned by `exportImage` or `mergeImages`.
 *
 * @example
 * ```ts
 * import { exportImage } from "../../mod.ts";
 *
 * const rootfs: Artifact = exportImage({ fromImage: "./debian.tar.gz" });
 * rootfs.builder; // "exportImage"
 * rootfs.name; // "debian-export.tar"
 * ```
 */
export abstract class Artifact extends Definition {
  /** Marks artifacts across module copies (the compiled executable imports its own). */
  readonly [BRAND] = true;
  /** The Nix function that made it. */
  abstract override readonly builder: "exportImage" | "mergeImages";
  /** Nix's derivation name; the default output file name. */
  abstract override readonly name: string;
  /** Nix `meta`-like free-form information. */
  readonly meta: Record<string, unknown> = {};

  /** Writes the artifact to `path` (atomically) and describes it. */
  abstract write(
    context: BuildContext,
    path: string | undefined,
    compressor: Compressor | undefined,
  ): Promise<ArtifactResult>;
}

/**
 * True for values returned by `exportImage` and `mergeImages`.
 *
 * @example
 * ```ts
 * import { buildImage, mergeImages } from "../../mod.ts";
 *
 * isArtifact(mergeImages(["./a.tar", "./b.tar.gz"])); // true
 * isArtifact(buildImage({ name: "a" })); // false (an image definition)
 * ```
 */
export function isArtifact(value: unknown): value is Artifact {
  return value instanceof Artifact ||
    (typeof value === "object" && value !== null &&
      (value as Record<symbol, unknown>)[BRAND] === true);
}

/**
 * Builds an artifact into a file. `build()` calls this for artifacts.
 *
 * @example
 * ```ts
 * import { exportImage } from "../../mod.ts";
 *
 * const result = await buildArtifact(exportImage({ fromImage: "./base.tar" }), { out: "rootfs.tar" });
 * result.format; // "rootfs-tar"
 * ```
 */
export async function buildArtifact(
  artifact: Artifact,
  options: ArtifactOptions = {},
): Promise<ArtifactResult> {
  // Images an artifact is made from are read as a docker-archive holds them: tar layers.
  const session = options.session ??
    BuildSession.open({ cacheDir: options.cacheDir, progress: options.progress });
  session.layerEncoding = "none";
  return await artifact.write(
    session,
    options.out === undefined ? undefined : resolve(options.out),
    options.compressor,
  );
}
