/**
 * The root-file-system tar of an image (`exportImage`; what `docker image
 * import` and `podman import` read): the layers applied in order, whiteouts
 * and opaque folders honoured, then written as one tar sorted by name
 * (`./`, `./bin`, ...), mtime 1980-01-01, owners kept, hard links stored as
 * files.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BlobStore } from "../../cache/blob_store.ts";
import type { Compressor } from "../../codec/compress.ts";
import { discardTemp, tempPathFor } from "../../host/temp_files.ts";
import { Progress } from "../../host/progress.ts";
import { SOURCE_DATE_EPOCH } from "../../model/constants.ts";
import { namingSource } from "../../model/errors.ts";
import type { Image } from "../../model/image.ts";
import { flattenLayers } from "../../tree/flatten.ts";
import { writeTarFile } from "../archive_file.ts";

/**
 * Writes `image`'s root file system to `target` (atomically), compressed as
 * a whole with `compressor`. Layers are applied as runtimes apply them (see
 * `tree/flatten.ts`); an error applying them names `source`, the input the
 * image came from, when given.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Image } from "../../model/image.ts";
 *
 * declare const store: BlobStore;
 * declare const image: Image;
 * await writeRootfs(store, image, "rootfs.tar", "none"); // then: podman import rootfs.tar
 * ```
 */
export async function writeRootfs(
  store: BlobStore,
  image: Image,
  target: string,
  compressor: Compressor,
  progress: Progress = Progress.silent(),
  label = "rootfs",
  source?: string,
): Promise<void> {
  // Big file bodies spill to a private folder instead of memory; Ctrl-C removes it.
  const spill = tempPathFor(join(tmpdir(), "dockwright-export"));
  try {
    mkdirSync(spill, { mode: 0o700 });
    progress.begin(`${label}: reading ${image.layers.length} layer(s)`);
    let tree;
    try {
      tree = await flattenLayers(store, image.layers, {
        spillDir: spill,
        onBytes: (n) => progress.add(n),
      });
    } catch (error) {
      throw namingSource(error, source); // a layer that cannot be applied: say whose
    }
    progress.end();
    const entries = tree.toEntries({ root: ".", mtime: SOURCE_DATE_EPOCH });
    progress.begin(`${label}: writing`);
    await writeTarFile(target, entries, compressor, (n) => progress.add(n));
    progress.end();
  } finally {
    discardTemp(spill);
  }
}
