/**
 * `inspectImage` and `diffImages`: see inside any image dockwright can open
 * (archives, OCI layouts, registries, image files, image values). The
 * analysis itself lives in `lib/inspect/`.
 *
 * @module
 */

import { BuildSession } from "../build/session.ts";
import { diffStored, type ImageDiff } from "../inspect/diff.ts";
import { type ImageReport, inspectStored } from "../inspect/inspect.ts";
import type { LayerScan } from "../inspect/scan.ts";
import { ScanSink } from "../inspect/scan_sink.ts";
import type { Digest } from "../codec/sha256.ts";
import { parseImageSpec } from "../transport/open.ts";
import type { Image } from "../model/image.ts";
import { OptionError } from "./errors.ts";
import type { ImageDefinition } from "./image_definition.ts";
import { openImageIn, type OpenImageOptions } from "./open_image.ts";

/** Options of {@link inspectImage}. */
export interface InspectOptions extends OpenImageOptions {
  /** How many biggest files and waste items to list, per layer and for the image. Default 10. */
  top?: number;
  /** Also build the size tree (`report.map`) that `inspectHtml` and `formatTree` draw. Default false. */
  map?: boolean;
}

/** Options of {@link diffImages}. */
export type DiffOptions = OpenImageOptions;

function describe(spec: string | ImageDefinition): string {
  if (spec === "-") return "stdin";
  return typeof spec === "string" ? spec : `${spec.name}${spec.tag ? `:${spec.tag}` : ""}`;
}

/** True when `spec` names a registry image (a pull, which shows its own progress). */
function pulls(spec: string | ImageDefinition): boolean {
  if (typeof spec !== "string") return false;
  try {
    return parseImageSpec(spec).kind === "registry";
  } catch {
    return false;
  }
}

/**
 * Opens `spec` with its layers scanned as they stream (see `ScanSink`): a
 * file, folder or registry image is read once and never copied into the
 * cache. Image files and values are built, as `openImage` does. Returns the
 * image and its layers' scans, by diffId.
 */
async function openScanned(
  session: BuildSession,
  spec: string | ImageDefinition,
  options: OpenImageOptions,
): Promise<{ image: Image; scans: Map<Digest, Promise<LayerScan>> }> {
  // A pull counts its own bytes; an archive or layout is counted here, as it is scanned.
  const counted = !pulls(spec);
  const sink = new ScanSink(session.store, counted ? (n) => session.progress.add(n) : undefined);
  if (counted) session.progress.begin(`reading ${describe(spec)}`);
  try {
    const image = await openImageIn(session, spec, options, sink);
    return { image, scans: sink.scansOf(image) };
  } finally {
    if (counted) session.progress.end();
  }
}

/**
 * Opens `spec` (as {@link openImage} does) and reports what it is made of:
 * manifest and config digests, platform, config, history, and per layer its
 * digests, compressed and uncompressed size, member counts, store paths and
 * biggest files; then the biggest files of the final file system and the
 * waste (bytes overwritten, deleted or stored twice) with dive's efficiency.
 * Layers are read once, as streams, where they are: nothing of a file,
 * folder or registry image is copied into the cache but its config and
 * manifest, and memory holds the layers' headers only.
 *
 * @example
 * ```ts
 * const report = await inspectImage("./hello.tar", { top: 5 });
 * for (const layer of report.layers) {
 *   console.log(layer.number, layer.size, layer.storePaths.length);
 * }
 * console.log(`efficiency ${(report.waste.efficiency * 100).toFixed(1)}%`);
 * ```
 */
export async function inspectImage(
  spec: string | ImageDefinition,
  options: InspectOptions = {},
): Promise<ImageReport> {
  const session = options.session ??
    BuildSession.open({ cacheDir: options.cacheDir, progress: options.progress });
  const { image, scans } = await openScanned(session, spec, options);
  return await inspectStored(session.store, image, {
    top: options.top,
    map: options.map,
    progress: session.progress,
    source: describe(spec),
    scans,
  });
}

/**
 * Opens two images and compares them: layers shared and not, the paths of
 * their file systems added, removed or changed (type, mode, owner, size,
 * content, link target), store paths added and removed, and config keys.
 * `same` is true when config and layers are equal. As for
 * {@link inspectImage}, layers are read once, where they are.
 *
 * @example
 * ```ts
 * const diff = await diffImages("./app-1.tar", "./app-2.tar");
 * console.log(diff.paths.length, "paths differ");
 * console.log(diff.same ? "same image" : "different");
 * ```
 */
export async function diffImages(
  a: string | ImageDefinition,
  b: string | ImageDefinition,
  options: DiffOptions = {},
): Promise<ImageDiff> {
  if (a === "-" && b === "-") {
    throw new OptionError(
      "diffImages: both images are standard input (-), which can be read once",
      "give one of them as a file",
    );
  }
  const session = options.session ??
    BuildSession.open({ cacheDir: options.cacheDir, progress: options.progress });
  const { image: imageA, scans } = await openScanned(session, a, options);
  const { image: imageB, scans: scansB } = await openScanned(session, b, options);
  for (const [diffId, scan] of scansB) scans.set(diffId, scan);
  return await diffStored(session.store, imageA, imageB, {
    progress: session.progress,
    sources: [describe(a), describe(b)],
    scans,
  });
}
