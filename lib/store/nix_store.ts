/**
 * Reading closures from a real Nix store with `nix-store`: the closure of
 * some roots, with each path's references and NAR size, in one call
 * (`nix-store --query --requisites` then `nix-store --dump-db`).
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import type { GraphNode } from "./closure_graph.ts";

/** Raised when Nix is needed but missing or failing. */
export class NixStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NixStoreError";
  }
}

function nixStore(args: string[], what: string): string {
  const r = spawnSync("nix-store", args, { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error) {
    throw new NixStoreError(
      `${what} needs nix-store, which is not installed (${
        (r.error as NodeJS.ErrnoException).code
      }); ` +
        `install Nix (apt-get install nix-bin), or give the closure as a graph file (closureGraph)`,
    );
  }
  if (r.status !== 0) {
    throw new NixStoreError(`nix-store ${args[0]} ${args[1] ?? ""} failed: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/**
 * Parses `nix-store --dump-db` output (the `--load-db` registration format:
 * path, narHash, narSize, deriver, reference count, references).
 *
 * @example
 * ```ts
 * parseDumpDb("/nix/store/a-x\nsha256:...\n120\n\n0\n"); // [{ path: "/nix/store/a-x", narSize: 120, references: [] }]
 * ```
 */
export function parseDumpDb(text: string): GraphNode[] {
  const lines = text.split("\n");
  const out: GraphNode[] = [];
  let i = 0;
  while (i < lines.length && lines[i] !== "") {
    const path = lines[i++];
    i++; // narHash
    const narSize = Number(lines[i++]);
    i++; // deriver
    const count = Number(lines[i++]);
    if (!Number.isFinite(narSize) || !Number.isInteger(count)) {
      throw new NixStoreError(`unexpected nix-store --dump-db output near ${path}`);
    }
    const references = lines.slice(i, i + count);
    i += count;
    out.push({ path, narSize, references });
  }
  return out;
}

/**
 * The closure graph of `roots` from the local Nix store.
 *
 * @example
 * ```ts
 * const graph = queryNixClosure(["/nix/store/abc-hello-2.12"]);
 * ```
 */
export function queryNixClosure(roots: readonly string[]): GraphNode[] {
  if (roots.length === 0) return [];
  const requisites = nixStore(["--query", "--requisites", ...roots], "reading store paths").split(
    "\n",
  ).filter(Boolean);
  return parseDumpDb(nixStore(["--dump-db", ...requisites], "reading store paths"));
}

/**
 * The registration of `paths` (for `includeNixDB`), in `nix-store --load-db` format.
 *
 * @example
 * ```ts
 * const registration = dumpNixDb(["/nix/store/abc-hello-2.12"]);
 * ```
 */
export function dumpNixDb(paths: readonly string[]): string {
  return nixStore(["--dump-db", ...paths], "includeNixDB");
}
