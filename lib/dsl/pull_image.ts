/**
 * `pullImage`: an image from a registry, by manifest digest, as Nix's
 * `dockerTools.pullImage` fetches it. The value is lazy: attributes are
 * checked when `pullImage` is called, and the registry is contacted only
 * when a build needs the image (as a `fromImage`, or written by `build`).
 * Blobs are verified against their digests and kept in the blob cache, so
 * the next build pulls nothing.
 *
 * Built on its own it is written like Nix's streamed images (archive layout
 * `stream`: `<diff_id>/layer.tar`, `<config>.json`, `manifest.json`, no
 * invented legacy v1 ids). The optional `sha256`/`hash` is checked against
 * the sha256 of that docker-archive with compressor `none` (see
 * `lib/transport/registry/archive_hash.ts`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { isDigest } from "../codec/sha256.ts";
import type { Image } from "../model/image.ts";
import { dockerArchiveHash, parseSha256, sri } from "../transport/registry/archive_hash.ts";
import { pull } from "../transport/registry/pull.ts";
import {
  type ImageReference,
  type InvalidReferenceError,
  parseReference,
} from "../model/reference.ts";
import { AttributeError } from "./errors.ts";
import { type BuildContext, ImageDefinition } from "./image_definition.ts";
import { isArchitecture, isImageName, isTag, repositoryName } from "./image_attrs.ts";
import { hostArchitecture } from "../model/platform.ts";
import { type Check, isAttrs, isBool, isNonEmptyString, validateAttrs } from "./validate.ts";

/**
 * Attributes of {@link pullImage}, with Nix's names and defaults.
 *
 * @example
 * ```ts
 * const args: PullImageArgs = {
 *   imageName: "library/debian",
 *   imageDigest: "sha256:81d93757457f988523814ae0009837ae893f38d3fe123f2c37896f118b4c7804",
 *   finalImageTag: "bookworm",
 * };
 * ```
 */
export interface PullImageArgs {
  /** Repository, optionally with a registry host (`quay.io/coreos/etcd`); Docker Hub when there is none (`debian` = `docker.io/library/debian`). Required. */
  imageName: string;
  /** The manifest digest (`sha256:...`): of the image, or of a multi-platform index (then `os`/`arch`/`variant` choose). Required. */
  imageDigest: string;
  /** Optional check of the resulting docker-archive (compressor none): hex, Nix base-32 or SRI. Not together with `hash`. */
  sha256?: string;
  /** Optional check of the resulting docker-archive, as SRI (`sha256-...`). Not together with `sha256`. */
  hash?: string;
  /** OS to choose from an index. Default `"linux"`. */
  os?: string;
  /** GOARCH to choose from an index. Default: the host's. */
  arch?: string;
  /** Variant to choose from an index (`v7` for `arm`, `v8` for `arm64`, ...). Default: the architecture's default variant. */
  variant?: string;
  /** Name written into archives. Default `imageName`. */
  finalImageName?: string;
  /** Tag written into archives. Default `"latest"`. */
  finalImageTag?: string;
  /** `false` allows plain HTTP (HTTPS is tried first). Default true. */
  tlsVerify?: boolean;
  /** Nix's store name. Default `docker-image-<finalImageName>-<finalImageTag>.tar` with `/` and `:` replaced by `-`. */
  name?: string;
  /** Free-form metadata, as Nix `meta`. */
  meta?: Record<string, unknown>;
}

const isHashText = (what: string): Check => (fn, attr, v) => {
  isNonEmptyString(fn, attr, v);
  if (attr === "hash" && !String(v).startsWith("sha256-")) {
    throw new AttributeError(
      fn,
      attr,
      `must be an SRI sha256 hash like "sha256-<base64>" (got ${JSON.stringify(v)})`,
    );
  }
  if (!parseSha256(v as string)) {
    throw new AttributeError(fn, attr, `must be ${what} (got ${JSON.stringify(v)})`);
  }
};

const CHECKS: Record<string, Check> = {
  imageName: (fn, attr, v) => {
    isNonEmptyString(fn, attr, v);
    let ref: ImageReference;
    try {
      ref = parseReference(v as string);
    } catch (error) {
      throw new AttributeError(fn, attr, (error as InvalidReferenceError).message);
    }
    if (ref.tag !== undefined || ref.digest !== undefined) {
      throw new AttributeError(
        fn,
        attr,
        `must name a repository without a tag or digest (put the digest in imageDigest and the tag in finalImageTag), got ${
          JSON.stringify(v)
        }`,
      );
    }
  },
  imageDigest: (fn, attr, v) => {
    isNonEmptyString(fn, attr, v);
    if (!isDigest(v as string)) {
      throw new AttributeError(
        fn,
        attr,
        `must be a manifest digest "sha256:<64 lowercase hex digits>" (got ${
          JSON.stringify(v)
        }); \`skopeo inspect docker://IMAGE:TAG\` prints it`,
      );
    }
  },
  sha256: isHashText("a sha256 in hex (64 digits), Nix base-32 (52 characters) or SRI form"),
  hash: isHashText('an SRI sha256 hash like "sha256-<base64>"'),
  os: isNonEmptyString,
  arch: isArchitecture,
  variant: isNonEmptyString,
  finalImageName: isImageName,
  finalImageTag: (fn, attr, v) => {
    isNonEmptyString(fn, attr, v);
    isTag(fn, attr, v);
  },
  tlsVerify: isBool,
  name: isNonEmptyString,
  meta: isAttrs,
};

/** Nix's `fixName`: `/` and `:` become `-`. */
const fixName = (name: string) => name.replace(/[/:]/g, "-");

class PullImageDefinition extends ImageDefinition {
  readonly builder = "pullImage";
  readonly name: string;
  readonly imageName: string;
  readonly tag: string;
  readonly compressor = "none" as const;
  readonly meta: Record<string, unknown>;
  /** Nix's `imageDigest` passthru. */
  readonly imageDigest: string;
  readonly #args: PullImageArgs;
  readonly #ref: ImageReference;
  readonly #hash: Uint8Array | undefined;

  constructor(args: PullImageArgs) {
    super();
    validateAttrs("pullImage", args, CHECKS, ["imageName", "imageDigest"]);
    if (args.sha256 !== undefined && args.hash !== undefined) {
      throw new AttributeError(
        "pullImage",
        "hash",
        "and sha256 are mutually exclusive: give one of them (or neither)",
      );
    }
    this.#args = args;
    this.#ref = {
      ...parseReference(args.imageName),
      digest: args.imageDigest as ImageReference["digest"],
    };
    const finalName = args.finalImageName ?? args.imageName;
    this.imageName = repositoryName("pullImage", finalName);
    this.tag = args.finalImageTag ?? "latest";
    this.name = args.name ?? fixName(`docker-image-${finalName}-${this.tag}.tar`);
    this.meta = args.meta ?? {};
    this.imageDigest = args.imageDigest;
    const hashText = args.hash ?? args.sha256;
    this.#hash = hashText !== undefined ? parseSha256(hashText) : undefined;
    Object.assign(this.passthru, { imageDigest: args.imageDigest, imageTag: this.tag });
  }

  /** Output files are named after `name` without its `.tar`. */
  override get baseName(): string {
    return super.baseName.replace(/\.tar$/, "");
  }

  async resolve(context: BuildContext): Promise<Image> {
    const args = this.#args;
    const pulled = await pull(context.store, this.#ref, {
      tlsVerify: args.tlsVerify ?? true,
      platform: {
        os: args.os ?? "linux",
        architecture: args.arch ?? hostArchitecture(),
        ...(args.variant ? { variant: args.variant } : {}),
      },
      strictPlatform: args.arch !== undefined || args.os !== undefined,
      progress: context.progress,
    });
    const image: Image = { ...pulled.image, repoName: this.imageName, tag: this.tag };
    if (this.#hash) {
      const actual = await dockerArchiveHash(context.store, image);
      if (Buffer.compare(actual, this.#hash) !== 0) {
        throw new Error(
          `pullImage ${
            JSON.stringify(this.name)
          }: hash mismatch of the docker-archive of ${args.imageName}@${args.imageDigest}\n` +
            `  specified: ${sri(this.#hash)}\n       got:    ${sri(actual)}\n` +
            'if you trust the image digest, set hash to the "got" value',
        );
      }
    }
    return image;
  }
}

/**
 * Nix `dockerTools.pullImage`: an image from a registry, pinned by its
 * manifest digest. Use it as `fromImage`, or build it to a file.
 *
 * @example
 * ```ts
 * // image.ts (in a project, import from "dockwright")
 * import { buildImage, main } from "../../mod.ts";
 *
 * export default buildImage({
 *   name: "app",
 *   fromImage: pullImage({
 *     imageName: "debian",
 *     imageDigest: "sha256:81d93757457f988523814ae0009837ae893f38d3fe123f2c37896f118b4c7804",
 *     arch: "amd64",
 *     finalImageTag: "bookworm",
 *   }),
 *   copyToRoot: "./rootfs",
 * });
 * main(import.meta);
 * ```
 */
export function pullImage(args: PullImageArgs): ImageDefinition {
  return new PullImageDefinition(args);
}
