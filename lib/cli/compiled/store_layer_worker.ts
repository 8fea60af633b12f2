/**
 * The store-layer worker, as the single executable embeds it (see
 * `layer_worker.ts` beside this file): `lib/store/store_layer_build.ts`
 * starts it at `new URL("./store_layer_worker.ts", import.meta.url)`, and
 * this file, compiled next to `main.ts`, is embedded right there.
 *
 * @example
 * ```sh
 * bun build --compile lib/cli/compiled/main.ts lib/cli/compiled/layer_worker.ts \
 *   lib/cli/compiled/store_layer_worker.ts --outfile dist/dockwright
 * ```
 *
 * @module
 */

import "../../store/store_layer_worker.ts";
