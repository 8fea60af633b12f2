/**
 * Loading image values into a local engine (podman or docker), the way
 * nix2container's `copyToPodman` / `copyToDockerDaemon` do: built, then
 * streamed as an uncompressed docker-archive into `podman load` /
 * `docker load`, whatever their `compressor`.
 *
 * @module
 */

import { BuildSession } from "../build/session.ts";
import type { Image } from "../model/image.ts";
import { type Engine, ENGINES, loadIntoEngine } from "../transport/engine/load.ts";
import { OptionError } from "./errors.ts";
import type { ImageDefinition } from "./image_definition.ts";

export { type Engine, ENGINES };

/** Options of {@link load}. */
export interface LoadOptions {
  /** Cache folder (blob store). Default: as for `build`. */
  cacheDir?: string;
  /** Progress on stderr. Default: on when stderr is a terminal and CI is unset. */
  progress?: boolean;
  /** Build in this session (its cache, progress and already built images). */
  session?: BuildSession;
}

/**
 * Builds `images` and loads them into `engine`; returns the names the
 * engine gave them (`localhost/hello:latest` in podman). The engine runs as
 * `podman load` / `docker load` from PATH, or as `$DOCKWRIGHT_PODMAN` /
 * `$DOCKWRIGHT_DOCKER` (a command with arguments, e.g. `podman --root /tmp/x`).
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const names = await load([buildImage({ name: "hello", tag: "1" })], "podman");
 * console.log(names); // ["localhost/hello:1"]
 * ```
 */
export async function load(
  images: ImageDefinition | readonly (ImageDefinition | Image)[],
  engine: Engine = "podman",
  options: LoadOptions = {},
): Promise<string[]> {
  if (!(ENGINES as readonly string[]).includes(engine)) {
    throw new OptionError(
      `cannot load into ${JSON.stringify(engine)}`,
      `use one of: ${ENGINES.join(", ")}`,
    );
  }
  const session = options.session ??
    BuildSession.open({ cacheDir: options.cacheDir, progress: options.progress });
  session.layerEncoding = "none";
  const list = Array.isArray(images) ? images : [images];
  const built: Image[] = [];
  for (const image of list) {
    built.push("resolve" in image ? await session.resolveImage(image) : image);
  }
  session.progress.begin(`loading ${built.length} image(s) into ${engine}`);
  try {
    return await loadIntoEngine(session.store, built, engine);
  } finally {
    session.progress.end();
  }
}
