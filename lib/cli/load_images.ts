/**
 * Loading an image file (`image.ts`) and finding the images it exports, for
 * the command line (see `dsl/image_file.ts`).
 *
 * @module
 */

import { imagesOf, importImageFile, type NamedImage } from "../dsl/image_file.ts";

export { imagesOf, type NamedImage };

/**
 * Imports the image file at `path` and returns its images.
 *
 * @example
 * ```ts
 * const images = await loadImageFile("examples/hello/image.ts");
 * images.map((i) => i.exportName); // ["default"]
 * ```
 */
export async function loadImageFile(path: string): Promise<NamedImage[]> {
  return await importImageFile(path);
}
