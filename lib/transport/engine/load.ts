/**
 * Loading images into a local container engine (`podman load`, `docker
 * load`), as nix2container's `copyToPodman` / `copyToDockerDaemon` do: an
 * uncompressed docker-archive streamed into the engine's stdin, whatever the
 * image's compressor, so every engine version reads it and nothing is
 * written to disk.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import type { BlobStore } from "../../cache/blob_store.ts";
import { hostToolPath } from "../../host/shell.ts";
import type { Image } from "../../model/image.ts";
import { writeTar } from "../../tar/writer.ts";
import { dockerArchiveEntries } from "../docker_archive/write.ts";
import { encodeImages } from "../encode.ts";

/** The engines an image can be loaded into. */
export const ENGINES = ["podman", "docker"] as const;

/** One of {@link ENGINES}. */
export type Engine = typeof ENGINES[number];

/** An engine that is missing or refused the images. */
export class EngineError extends Error {
  /**
   * A failed load into `engine`.
   *
   * @param engine the engine
   * @param message what went wrong and what to do
   */
  constructor(readonly engine: Engine, message: string) {
    super(message);
    this.name = "EngineError";
  }
}

/**
 * The engine's command: `$DOCKWRIGHT_PODMAN` / `$DOCKWRIGHT_DOCKER` (a
 * program and arguments, space separated, e.g. `podman --root /tmp/x`), else
 * `podman` / `docker` on PATH.
 */
function engineCommand(engine: Engine): string[] {
  const configured = process.env[`DOCKWRIGHT_${engine.toUpperCase()}`];
  const argv = configured ? configured.split(" ").filter((a) => a) : [engine];
  if (!hostToolPath(argv[0])) {
    throw new EngineError(
      engine,
      `--load ${engine}: ${argv[0]} is not installed or not on PATH; ` +
        (engine === "podman"
          ? "install it (apt-get install podman), or load with --load docker"
          : "install Docker, or load with --load podman"),
    );
  }
  return argv;
}

/**
 * Streams `images` as one uncompressed docker-archive into `<engine> load`
 * and returns the names the engine reports (`localhost/hello:latest` for
 * podman, `hello:latest` for docker).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Image } from "../../model/image.ts";
 *
 * declare const store: BlobStore;
 * declare const image: Image; // named hello:latest
 * const names = await loadIntoEngine(store, [image], "podman"); // ["localhost/hello:latest"]
 * ```
 */
export async function loadIntoEngine(
  store: BlobStore,
  images: readonly Image[],
  engine: Engine,
): Promise<string[]> {
  const [program, ...args] = engineCommand(engine);
  const encoded = await encodeImages(store, images, { kind: "tar" });
  const child = spawn(program, [...args, "load"], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Uint8Array) => (stdout += new TextDecoder().decode(c)));
  child.stderr!.on(
    "data",
    (c: Uint8Array) => (stderr = (stderr + new TextDecoder().decode(c)).slice(-4000)),
  );
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code ?? 1));
  });
  let writeError: unknown;
  try {
    for await (const chunk of writeTar(dockerArchiveEntries(store, encoded))) {
      if (!child.stdin!.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          child.stdin!.once("drain", resolve);
          child.stdin!.once("error", reject);
          child.once("close", () => resolve());
        });
      }
      if (child.exitCode !== null) break;
    }
  } catch (error) {
    writeError = error; // the engine went away; its exit status says why
  }
  child.stdin!.end();
  const code = await exited;
  if (code !== 0) {
    const reason = stderr.trim().split("\n").filter((l) => l).slice(-3).join("; ") ||
      `exit status ${code}`;
    throw new EngineError(
      engine,
      `${engine} load refused the image${images.length > 1 ? "s" : ""}: ${reason}` +
        (engine === "docker" ? " (is the Docker daemon running, and may you use it?)" : ""),
    );
  }
  if (writeError) throw writeError;
  const names = [...stdout.matchAll(/^Loaded image(?: ID)?: (.+)$/gm)].map((m) => m[1].trim());
  return names;
}
