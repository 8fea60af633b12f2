/**
 * Image files (`image.ts`): the values a module exports that dockwright can
 * build, and importing a file to find them.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Artifact, isArtifact } from "./artifact.ts";
import { OptionError } from "./errors.ts";
import { type ImageDefinition, isImageDefinition } from "./image_definition.ts";
import { type IndexDefinition, isIndexDefinition } from "./image_index.ts";

/**
 * An exported image, index (`imageIndex`) or artifact (`exportImage`,
 * `mergeImages`), the export name it has (`default` for the default export),
 * and the image file it came from.
 */
export interface NamedImage {
  /** The export's name; `name[i]` for the i-th image of an exported list. */
  exportName: string;
  /** The exported value. */
  image: ImageDefinition | Artifact | IndexDefinition;
  /** The image file that exports it (absolute), when it came from one. */
  file?: string;
}

const buildable = (v: unknown): v is ImageDefinition | Artifact | IndexDefinition =>
  isImageDefinition(v) || isArtifact(v) || isIndexDefinition(v);

/**
 * The images a module exports, default export first, then named exports in order.
 * An export may also be a list of images.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const hello = buildImage({ name: "hello" });
 * imagesOf({ default: hello, version: "1.0" }); // [{ exportName: "default", image: hello }]
 * imagesOf({ all: [hello] })[0].exportName; // "all[0]"
 * ```
 */
export function imagesOf(module: Record<string, unknown>): NamedImage[] {
  const out: NamedImage[] = [];
  const names = Object.keys(module).sort((a, b) => a === "default" ? -1 : b === "default" ? 1 : 0);
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
 * Imports the image file at `path` and returns what it exports; an
 * {@link OptionError} when the file is missing or exports nothing buildable.
 *
 * @example
 * ```ts
 * const images = await importImageFile("examples/hello/image.ts");
 * images[0].exportName; // "default"
 * ```
 */
export async function importImageFile(path: string): Promise<NamedImage[]> {
  const absolute = resolve(path);
  if (!existsSync(absolute)) {
    throw new OptionError(`image file not found: ${path}`, "pass the path of an image.ts file");
  }
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(absolute).href) as Record<string, unknown>;
  } catch (error) {
    if (/Cannot find (package|module) ['"]dockwright['"]/.test((error as Error)?.message ?? "")) {
      throw new OptionError(
        `${path} imports "dockwright", which is not installed where the file is`,
        "npm install dockwright next to it (see docs/install.md), or run it with the single binary",
      );
    }
    throw error;
  }
  const images = imagesOf(module).map((i) => ({ ...i, file: absolute }));
  if (images.length === 0) {
    throw new OptionError(
      `${path} exports no image`,
      'export one, e.g. `export default buildImage({ name: "hello" })`',
    );
  }
  return images;
}
