/**
 * Entry of the single executable (`bun build --compile`, see the `compile` and
 * `release` tasks). Image files it builds import dockwright by name
 * (`"dockwright"`, `"npm:dockwright"`, `"npm:dockwright@^0.1"`,
 * `"jsr:@dockwright/dockwright"`): a Bun runtime plugin resolves all of them
 * to the library inside the executable, so a folder needs no node_modules and
 * the machine needs no Node, Deno or Bun. Relative imports between the user's
 * files are left to Bun, as usual.
 *
 * @example
 * ```sh
 * bun build --compile --minify lib/cli/compiled/main.ts lib/cli/compiled/layer_worker.ts \
 *   --outfile dist/dockwright
 * dist/dockwright build image.ts
 * ```
 *
 * @module
 */

import process from "node:process";
import * as dockwright from "../../../mod.ts";
import { runCli } from "../run_cli.ts";

/** The specifiers an image file may import dockwright by, besides the bare name. */
const NPM_NAME = /^dockwright(@[^/]*)?$/;
const JSR_NAME = /^@dockwright\/dockwright(@[^/]*)?$/;

/** The smallest part of `Bun.plugin` used here. */
interface PluginBuilder {
  module(specifier: string, load: () => { exports: object; loader: "object" }): void;
  onResolve(
    constraints: { filter: RegExp; namespace?: string },
    resolve: () => { path: string },
  ): void;
}

/**
 * Makes `import ... from "dockwright"` (and the `npm:`/`jsr:` forms) in files
 * loaded later resolve to this process's copy of the library. Bun only.
 *
 * @example
 * ```ts
 * registerSelfResolver();
 * await import("/work/image.ts"); // its `import { buildImage } from "dockwright"` works
 * ```
 */
export function registerSelfResolver(): void {
  const bun = (globalThis as { Bun?: { plugin(p: object): void } }).Bun;
  if (!bun) return;
  bun.plugin({
    name: "dockwright-self",
    setup(build: PluginBuilder) {
      const self = () => ({ path: "dockwright" });
      // "npm:x" and "jsr:x" reach plugins as namespace "npm"/"jsr" and path "x".
      build.onResolve({ filter: NPM_NAME, namespace: "npm" }, self);
      build.onResolve({ filter: JSR_NAME, namespace: "jsr" }, self);
      build.onResolve({ filter: /^(npm:dockwright|jsr:@dockwright\/dockwright)(@[^/]*)?$/ }, self);
      for (const specifier of ["dockwright", "npm:dockwright"]) {
        build.module(specifier, () => ({ exports: dockwright, loader: "object" }));
      }
    },
  });
}

registerSelfResolver();
process.exitCode = await runCli(process.argv.slice(2));
