/**
 * The layer worker, as the single executable embeds it. The layer pipeline
 * starts its worker at `new URL("./layer_worker.ts", import.meta.url)`; in
 * the executable `import.meta.url` is the executable's own path in Bun's
 * embedded file system, and this file, compiled next to `main.ts` (the
 * other entry point), is embedded right there as `layer_worker.js`.
 *
 * @example
 * ```sh
 * bun build --compile lib/cli/compiled/main.ts lib/cli/compiled/layer_worker.ts --outfile dist/dockwright
 * ```
 *
 * @module
 */

import "../../cache/layer_worker.ts";
