/**
 * Loading an image file (`image.ts`) and finding the images it exports.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type ImageDefinition, isImageDefinition } from "../dsl/image_definition.ts";
import { type Artifact, isArtifact } from "../dsl/artifact.ts";
import { UsageError } from "./usage_error.ts";

/** An exported image (or artifact: `exportImage`, `mergeImages`) and the export name it has (`default` for the default export). */
export interface NamedImage {
  exportName: string;
  image: ImageDefinition | Artifact;
}

const buildable = (v: unknown): v is ImageDefinition | Artifact =>
  isImageDefinition(v) || isArtifact(v);

/**
 * The images a module exports, default export first, then named exports in order.
 * An export may also be a list of images.
 *
 * @example
 * ```ts
 * imagesOf(await import("./image.ts")); // [{ exportName: "default", image }]
 * ```
 */
export function imagesOf(module: Record<string, unknown>): NamedImage[] {
  const out: NamedImage[] = [];
  const names = Object.keys(module).sort((
    a,
    b,
  ) => (a === "default" ? -1 : b === "default" ? 1 : 0));
  for (const exportName of names) {
    const value = module[exportName];
    if (buildable(value)) out.push({ exportName, image: value });
    else if (Array.isArray(value)) {
      value.forEach((v, i) => {
        if (buildable(v)) out.push({ exportName: `${exportName}[${i}]`, image: v });
      });
    }
  }
  return out;
}

/**
 * Imports the image file at `path` and returns its images.
 *
 * @example
 * ```ts
 * const images = await loadImageFile("examples/hello/image.ts");
 * ```
 */
export async function loadImageFile(path: string): Promise<NamedImage[]> {
  const absolute = resolve(path);
  if (!existsSync(absolute)) {
    throw new UsageError(`image file not found: ${path}`, "pass the path of an image.ts file");
  }
  const module = await import(pathToFileURL(absolute).href) as Record<string, unknown>;
  const images = imagesOf(module);
  if (images.length === 0) {
    throw new UsageError(
      `${path} exports no image`,
      'export one, e.g. `export default buildImage({ name: "hello" })`',
    );
  }
  return images;
}
