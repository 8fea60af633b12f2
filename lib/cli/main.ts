/**
 * `main(import.meta)`: the one line that makes an image file buildable by
 * running it (`deno run -A image.ts`, `bun image.ts`).
 *
 * @module
 */

import process from "node:process";
import { fileURLToPath } from "node:url";
import { BUILD_HELP, buildImages, parseBuildFlags } from "./build_command.ts";
import { noteEntryPoint } from "./direct_run.ts";
import { imagesOf } from "./load_images.ts";
import { reportError } from "./report_error.ts";
import { UsageError } from "./usage_error.ts";

/** The parts of `import.meta` that {@link main} reads. */
export interface ModuleMeta {
  /** The module's URL (`import.meta.url`). */
  url: string;
  /** Optional: TypeScript's own `ImportMeta` has no `main` (Deno's, Bun's and Node's types do). */
  main?: boolean;
}

/**
 * When the calling module is the program being run, builds every image it
 * exports with the command-line flags (`--out`, `--format`, `--compressor`,
 * `--json`, ...). Does nothing when the module is imported.
 *
 * @example
 * ```ts
 * import { buildImage, main } from "dockwright";
 * export default buildImage({ name: "hello" });
 * main(import.meta);
 * ```
 */
export function main(meta: ModuleMeta): void {
  if (!meta.main) return;
  noteEntryPoint();
  // Wait until the module has finished evaluating, then read its exports.
  setTimeout(async () => {
    try {
      const flags = parseBuildFlags(process.argv.slice(2));
      if (flags.help) {
        process.stdout.write(BUILD_HELP);
        return;
      }
      if (flags.positionals.length > 0) {
        throw new UsageError(
          `unexpected argument ${JSON.stringify(flags.positionals[0])}`,
          "see --help",
        );
      }
      const module = await import(meta.url) as Record<string, unknown>;
      const images = imagesOf(module);
      if (images.length === 0) {
        throw new UsageError(
          `${meta.url} exports no image`,
          "add `export default buildImage({...})`",
        );
      }
      await buildImages(
        images,
        flags,
        meta.url.startsWith("file:") ? fileURLToPath(meta.url) : undefined,
      );
    } catch (error) {
      process.exitCode = reportError(error);
    }
  }, 0);
}
