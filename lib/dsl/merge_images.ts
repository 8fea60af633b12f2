/**
 * `mergeImages`: several images in one docker-archive, as Nix's (undocumented)
 * `dockerTools.mergeImages` makes it: the members of every input are united
 * by path (the first copy wins, so a layer shared by several images is stored
 * once), the `manifest.json` lists are concatenated (every tag stays
 * loadable), and `repositories` are merged. The result is compressed with the
 * compressor of the **last** input, as in Nix.
 *
 * Inputs may be docker-archive files (plain, gzip or zstd, from dockwright,
 * Nix, skopeo or `docker save`), image values (built in the same build), or
 * other `mergeImages` values.
 *
 * @module
 */

import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Compressor, COMPRESSOR_EXTENSION } from "../codec/compress.ts";
import { type MergeSource, writeMergedArchive } from "../transport/docker_archive/merge.ts";
import { Artifact, type ArtifactResult } from "./artifact.ts";
import { callerDirectory } from "./caller.ts";
import { AttributeError } from "./errors.ts";
import { type BuildContext, type ImageDefinition, isImageDefinition } from "./image_definition.ts";

/** What {@link mergeImages} accepts in its list. */
export type MergeInput = string | URL | ImageDefinition | Artifact;

/** dockwright's options of {@link mergeImages} (not in Nix). */
export interface MergeImagesOptions {
  /** Output file name. Default `merge-docker-images.tar[.gz|.zst]` (Nix's store name has no extension). */
  name?: string;
}

type ResolvedInput = { kind: "path"; path: string } | { kind: "image"; image: ImageDefinition } | {
  kind: "merge";
  merge: MergeImages;
};

class MergeImages extends Artifact {
  readonly builder = "mergeImages";
  readonly name: string;
  readonly #given: string | undefined;
  readonly #inputs: ResolvedInput[];

  constructor(images: unknown, options: MergeImagesOptions, baseDir: string) {
    super();
    if (!Array.isArray(images) || images.length === 0) {
      throw new AttributeError(
        "mergeImages",
        "images",
        "must be a non-empty list of image archives or image values",
      );
    }
    if (
      typeof options !== "object" || options === null ||
      Object.keys(options).some((k) => k !== "name")
    ) {
      throw new AttributeError("mergeImages", "options", "takes only { name }");
    }
    if (options.name !== undefined && (typeof options.name !== "string" || options.name === "")) {
      throw new AttributeError("mergeImages", "name", "must be a non-empty string");
    }
    this.#inputs = images.map((item, i): ResolvedInput => {
      if (typeof item === "string" && item !== "") {
        return { kind: "path", path: isAbsolute(item) ? item : resolve(baseDir, item) };
      }
      if (item instanceof URL && item.protocol === "file:") {
        return { kind: "path", path: fileURLToPath(item) };
      }
      if (isImageDefinition(item)) return { kind: "image", image: item };
      if (item instanceof MergeImages) return { kind: "merge", merge: item };
      throw new AttributeError(
        "mergeImages",
        `images[${i}]`,
        "must be the path of a docker-archive, an image value (buildImage(...), pullImage(...), ...) or a mergeImages value",
      );
    });
    this.#given = options.name;
    this.name = options.name ?? "merge-docker-images";
  }

  /** The inputs as the archive writer takes them: image values built, nested merges expanded. */
  async sources(context: BuildContext): Promise<MergeSource[]> {
    const out: MergeSource[] = [];
    for (const input of this.#inputs) {
      if (input.kind === "path") out.push({ kind: "archive", path: input.path });
      else if (input.kind === "image") {
        const image = await context.resolveImage(input.image);
        out.push({ kind: "image", image, compressor: input.image.compressor });
      } else out.push({ kind: "merge", sources: await input.merge.sources(context) });
    }
    return out;
  }

  async write(
    context: BuildContext,
    path: string | undefined,
    compressor: Compressor | undefined,
  ): Promise<ArtifactResult> {
    const merged = await writeMergedArchive(
      context.store,
      await this.sources(context),
      (chosen) => path ?? resolve(this.#given ?? `${this.name}.tar${COMPRESSOR_EXTENSION[chosen]}`),
      compressor,
      context.progress,
    );
    return {
      name: this.name,
      format: "docker-archive",
      path: merged.path,
      compressor: merged.compressor,
      size: statSync(merged.path).size,
      images: merged.images,
    };
  }
}

/**
 * Nix `dockerTools.mergeImages`: one docker-archive holding every image of
 * `images` (archive paths, image values, or other merges), each layer once,
 * every tag loadable (`podman load -i merged.tar`). Compressed like the last
 * input, as in Nix. A lazy value; building it writes the archive.
 *
 * @example
 * ```ts
 * // image.ts (in a project, import from "dockwright")
 * import { buildImage, main, mergeImages } from "../../mod.ts";
 *
 * export default mergeImages([
 *   buildImage({ name: "hello", tag: "1", copyToRoot: ["./rootfs"] }),
 *   "./redis.tar.gz",
 * ]); // written as merge-docker-images.tar.gz: compressed like redis.tar.gz, the last input
 * main(import.meta);
 * ```
 */
export function mergeImages(images: MergeInput[], options: MergeImagesOptions = {}): Artifact {
  return new MergeImages(images, options, callerDirectory());
}
