/**
 * `includeNixDB`: the bash snippet Nix's `mkDbExtraCommand` prepends to
 * `extraCommands`, so the image holds a Nix database registering the
 * closure of its store-path contents (`nix-store --load-db`).
 *
 * Unlike Nix, registration times are reset to 1980-01-01 so the database, and
 * so the layer, is reproducible (nixpkgs #289813).
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SOURCE_DATE_EPOCH } from "../../model/constants.ts";
import { dumpNixDb, queryNixClosure } from "../../store/nix_store.ts";
import { requireHostTool, shellQuote as q } from "../../host/shell.ts";

/**
 * The snippet, run with cwd = the future `/`. The registration of `roots`'
 * closure is written into `workDir` (which the caller removes afterwards).
 * Needs `nix-store` and `sqlite3` on the host.
 *
 * @example
 * ```ts
 * import { runShell } from "../../host/shell.ts";
 * const hello = "/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12";
 * const script = nixDbScript([hello], "/tmp/run/work") + "\nmkdir -p data";
 * await runShell(script, { attribute: "extraCommands", cwd: "/tmp/run/rootfs" });
 * ```
 */
export function nixDbScript(roots: readonly string[], workDir: string): string {
  requireHostTool("nix-store", "includeNixDB", "apt-get install nix-bin");
  requireHostTool("sqlite3", "includeNixDB", "apt-get install sqlite3");
  const registration = roots.length ? dumpNixDb(queryNixClosure(roots).map((n) => n.path)) : "";
  const regFile = join(workDir, "nix-db-registration");
  writeFileSync(regFile, registration);
  return [
    `echo "Generating the nix database..." >&2`,
    `NIX_REMOTE="local?root=$PWD" USER=nobody nix-store --load-db < ${q(regFile)}`,
    // Registration times would make the image irreproducible (nixpkgs #289813).
    `sqlite3 nix/var/nix/db/db.sqlite "UPDATE ValidPaths SET registrationTime = ${SOURCE_DATE_EPOCH}"`,
    // nix-store points this link at the build folder; make it the image's own path.
    `if [ -L nix/var/nix/gcroots/profiles ]; then ln -sfn /nix/var/nix/profiles nix/var/nix/gcroots/profiles; fi`,
    // 8 MiB of zeros nix keeps for garbage collection under disk pressure; it recreates it when needed.
    `rm -f nix/var/nix/db/reserved`,
    `mkdir -p nix/var/nix/gcroots/docker/`,
    ...roots.map((r) => `ln -s ${q(r)} nix/var/nix/gcroots/docker/${q(r.split("/").pop()!)}`),
  ].join("\n");
}
