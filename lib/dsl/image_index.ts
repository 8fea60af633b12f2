/**
 * `imageIndex`: one name and tag for several images, one per platform (a
 * multi-arch image). Not in Nix's dockerTools; it is what `docker buildx`
 * and `manifest-tool` make: an OCI image index (or, pushed with
 * `--manifest-format docker`, a Docker manifest list) whose entries carry
 * each image's `os`, `architecture` and `variant`, so `podman pull --arch
 * arm64` and `skopeo copy --override-arch arm64` pick the right one.
 *
 * @module
 */

import type { BuildSession } from "../build/session.ts";
import { type Compressor, COMPRESSORS } from "../codec/compress.ts";
import { type Image, platformOf } from "../model/image.ts";
import { checkPlatformsDistinct, type ImageIndex } from "../model/image_index.ts";
import { Definition } from "./definition.ts";
import { AttributeError } from "./errors.ts";
import { isImageName, isTag, repositoryName } from "./image_attrs.ts";
import { type ImageDefinition, isImageDefinition } from "./image_definition.ts";
import { type Check, isAttrs, oneOf, validateAttrs } from "./validate.ts";

/**
 * Attributes of {@link imageIndex}.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const args: ImageIndexArgs = {
 *   name: "app",
 *   tag: "1.0",
 *   images: [
 *     buildImage({ name: "app", architecture: "amd64" }),
 *     buildImage({ name: "app", architecture: "arm64" }),
 *   ],
 * };
 * ```
 */
export interface ImageIndexArgs {
  /** The images, one per platform (their config's `os`, `architecture`, `variant`). Required. */
  images: ImageDefinition[];
  /** Name of the index. Default: the first image's name. */
  name?: string;
  /** Tag of the index. Default: the first image's tag, else `"latest"`. */
  tag?: string | null;
  /** Layer compression of OCI outputs and pushes. Default: the first image's `compressor`. */
  compressor?: Compressor;
  /** Annotations written on the index document. */
  annotations?: Record<string, string>;
  /** Free-form metadata. */
  meta?: Record<string, unknown>;
}

const isImageList: Check = (fn, attr, v) => {
  if (!Array.isArray(v) || v.length === 0) {
    throw new AttributeError(
      fn,
      attr,
      "must be a non-empty list of image values (one per platform)",
    );
  }
  v.forEach((item, i) => {
    if (!isImageDefinition(item)) {
      throw new AttributeError(
        fn,
        `${attr}[${i}]`,
        "must be an image value (buildImage(...), buildLayeredImage(...), pullImage(...), ...)",
      );
    }
  });
};

const isAnnotations: Check = (fn, attr, v) => {
  isAttrs(fn, attr, v);
  for (const [k, value] of Object.entries(v as Record<string, unknown>)) {
    if (typeof value !== "string") throw new AttributeError(fn, `${attr}.${k}`, "must be a string");
  }
};

const CHECKS: Record<string, Check> = {
  images: isImageList,
  name: isImageName,
  tag: isTag,
  compressor: oneOf(COMPRESSORS),
  annotations: isAnnotations,
  meta: isAttrs,
};

const BRAND = Symbol.for("dockwright.IndexDefinition");

/**
 * A multi-platform image value returned by {@link imageIndex}.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const index = imageIndex({
 *   name: "App",
 *   images: [
 *     buildImage({ name: "app", architecture: "amd64" }),
 *     buildImage({ name: "app", architecture: "arm64" }),
 *   ],
 * });
 * index.images.length; // 2
 * index.imageName; // "app"
 * ```
 */
export class IndexDefinition extends Definition {
  /** See {@link BRAND}. */
  readonly [BRAND] = true;
  /** The function that made it. */
  readonly builder = "imageIndex";
  /** The index's name as given (or the first image's). */
  readonly name: string;
  /** The repository name (lowercased name). */
  readonly imageName: string;
  /** The tag given, or null for the first image's. */
  readonly tag: string | null;
  /** Layer compression of OCI outputs and pushes. */
  readonly compressor: Compressor;
  /** The images, one per platform. */
  readonly images: readonly ImageDefinition[];
  /** Annotations of the index document. */
  readonly annotations: Record<string, string>;
  /** Free-form metadata. */
  readonly meta: Record<string, unknown>;

  /** Checks `args`; see {@link imageIndex}. */
  constructor(args: ImageIndexArgs) {
    super();
    validateAttrs("imageIndex", args, CHECKS, ["images"]);
    this.images = [...args.images];
    this.name = args.name ?? this.images[0].name;
    this.imageName = repositoryName("imageIndex", this.name);
    this.tag = args.tag ?? null;
    this.compressor = args.compressor ?? this.images[0].compressor;
    this.annotations = args.annotations ?? {};
    this.meta = args.meta ?? {};
  }

  /** Nix-style base name, for default output names. */
  get baseName(): string {
    return this.name.split("/").pop()!;
  }

  /**
   * Builds every image in `session` and pairs it with the platform its
   * config declares; two images for one platform are refused.
   */
  async resolveIndex(
    session: BuildSession,
  ): Promise<ImageIndex & { repoName: string; tag: string }> {
    const images: Image[] = [];
    for (const image of this.images) images.push(await session.resolveImage(image));
    const manifests = images.map((image) => ({ image, platform: platformOf(image) }));
    try {
      checkPlatformsDistinct(manifests.map((m) => m.platform));
    } catch (error) {
      throw new AttributeError("imageIndex", "images", (error as Error).message);
    }
    return {
      repoName: this.imageName,
      tag: this.tag ?? this.images[0].tag ?? "latest",
      manifests,
      annotations: this.annotations,
    };
  }
}

/**
 * True for values returned by {@link imageIndex}.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const amd64 = buildImage({ name: "app", architecture: "amd64" });
 * isIndexDefinition(imageIndex({ images: [amd64] })); // true
 * isIndexDefinition(amd64); // false (an image definition)
 * ```
 */
export function isIndexDefinition(value: unknown): value is IndexDefinition {
  return value instanceof IndexDefinition ||
    (typeof value === "object" && value !== null &&
      (value as Record<symbol, unknown>)[BRAND] === true);
}

/**
 * A multi-platform image: the images (one per platform) under one name and
 * tag. Written as an OCI image index by `--format oci` / `oci-archive`, and
 * pushed as an index (`--push`); a docker-archive cannot hold one.
 *
 * @example
 * ```ts
 * // image.ts (in a project, import from "dockwright")
 * import { buildImage, main } from "../../mod.ts";
 *
 * export default imageIndex({
 *   images: ["amd64", "arm64"].map((architecture) =>
 *     buildImage({ name: "app", tag: "1.0", architecture, copyToRoot: `./rootfs-${architecture}` })
 *   ),
 * });
 * main(import.meta);
 * ```
 */
export function imageIndex(args: ImageIndexArgs): IndexDefinition {
  return new IndexDefinition(args);
}
