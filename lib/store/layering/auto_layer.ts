/**
 * Nix's default layering for `streamLayeredImage` since 2024: auto-layer
 * (`pkgs/build-support/docker/auto-layer.py`), ported step by step.
 *
 * The largest store paths, one at a time, become "primary" paths. Each store
 * path belongs to the layer named by the set of primaries it is assigned to:
 * a new primary P takes every dependency D of P, unless D already belongs to
 * a layer keyed by a primary that P itself depends on; primaries that depend
 * on P are dropped from D's key, so dependencies shared by several large paths
 * end up in a layer of their own. The loop stops at the first primary whose
 * split would exceed the layer limit.
 *
 * @module
 */

import { compareStorePaths, type GraphNode, indexGraph } from "../closure_graph.ts";

/**
 * Options of {@link autoLayer}.
 *
 * @example
 * ```ts
 * import { layerBudget } from "./mod.ts";
 * declare const customisationLayer: string; // its store path
 * const opts: AutoLayerOptions = { layerLimit: layerBudget(100, 0), excludePaths: [customisationLayer] };
 * ```
 */
export interface AutoLayerOptions {
  /** Most layers to make (`availableLayers`, §4.1); a positive integer. */
  layerLimit: number;
  /**
   * Paths that take part in the split but are left out of the result (the
   * customisation layer and the base image's JSON); layers left empty vanish.
   */
  excludePaths?: Iterable<string>;
  /** Receives the layer table, one line at a time (auto-layer's `DEBUG=1` JSON on stderr). */
  debug?: (line: string) => void;
}

/** One row of the debug table: the same keys, in the same order, as auto-layer's. */
interface LayerInfo {
  usedBy: string[];
  paths: string[];
  layerSize: number;
  closureSize: number;
}

/**
 * Splits a closure graph into at most `layerLimit` layers, exactly as
 * auto-layer.py does, and returns each layer's paths, dependencies first.
 *
 * Determinism where Python's is seed-dependent: layers with equal closure size
 * are ordered by their sorted path lists, compared element-wise with
 * {@link compareStorePaths} (Python's order there follows set hashing).
 *
 * @example
 * ```ts
 * import type { GraphNode } from "../closure_graph.ts";
 * const graph: GraphNode[] = [
 *   { path: "/nix/store/a-hello", narSize: 250_000, references: ["/nix/store/b-libidn2", "/nix/store/c-glibc"] },
 *   { path: "/nix/store/b-libidn2", narSize: 400_000, references: ["/nix/store/c-glibc"] },
 *   { path: "/nix/store/c-glibc", narSize: 30_000_000, references: [] },
 * ];
 * autoLayer(graph, { layerLimit: 99 }); // [["/nix/store/c-glibc"], ["/nix/store/b-libidn2"], ["/nix/store/a-hello"]]
 * autoLayer(graph, { layerLimit: 2 }); // [["/nix/store/c-glibc"], ["/nix/store/a-hello", "/nix/store/b-libidn2"]]
 * ```
 */
export function autoLayer(graph: readonly GraphNode[], opts: AutoLayerOptions): string[][] {
  const { layerLimit } = opts;
  if (!Number.isSafeInteger(layerLimit) || layerLimit < 1) {
    throw new RangeError(`autoLayer: layerLimit must be a positive integer, got ${layerLimit}`);
  }
  indexGraph(graph); // unique paths, no dangling references
  const ignore = new Set(opts.excludePaths ?? []);

  // Nodes by index in input order; edges as index lists (self-references kept,
  // as in the Python: `dependencies` subtracts the start node anyway).
  const paths = graph.map((n) => n.path);
  const indexOf = new Map(paths.map((p, i) => [p, i]));
  const deps = graph.map((n) => n.references.map((r) => indexOf.get(r)!));
  const users: number[][] = paths.map(() => []);
  deps.forEach((refs, user) => {
    for (const ref of refs) users[ref].push(user);
  });

  // Stable ascending sort by narSize; popping from the end takes the largest,
  // and among equal sizes the one that came later in the input.
  const bySize = paths.map((_, i) => i).sort((a, b) => graph[a].narSize - graph[b].narSize);

  // A layer id is a sorted list of primary indices, interned to a number so
  // the split is an array of ids and counting layers is counting ids.
  const idMembers: number[][] = [];
  const idByKey = new Map<string, number>();
  const intern = (members: number[]): number => {
    const key = members.join(",");
    let id = idByKey.get(key);
    if (id === undefined) {
      id = idMembers.length;
      idMembers.push(members);
      idByKey.set(key, id);
    }
    return id;
  };
  let split = new Int32Array(paths.length).fill(intern([]));

  while (bySize.length > 0) {
    const primary = bySize.pop()!;
    const next = split.slice();
    next[primary] = intern([primary]);
    const primaryDeps = reachable(primary, deps);
    const primaryUsers = reachable(primary, users);
    for (const dep of primaryDeps) {
      let members = idMembers[next[dep]].filter((p) => !primaryUsers.has(p));
      if (!members.some((p) => primaryDeps.has(p))) {
        members = [...members, primary].sort((a, b) => a - b);
      }
      next[dep] = intern(members);
    }
    if (new Set(next).size > layerLimit) break; // keep the previous split
    split = next;
  }

  // Group by layer id (this order does not matter: the layers are sorted below).
  const groups = new Map<number, number[]>();
  split.forEach((id, node) => {
    const group = groups.get(id);
    if (group) group.push(node);
    else groups.set(id, [node]);
  });

  const layers: LayerInfo[] = [...groups].map(([id, members]) => {
    const layerPaths = members.map((i) => paths[i]).sort(compareStorePaths);
    let closureSize = 0;
    for (const i of reachableFrom(members, deps)) closureSize += graph[i].narSize;
    return {
      usedBy: idMembers[id].map((i) => paths[i]).sort(compareStorePaths),
      paths: layerPaths,
      layerSize: members.reduce((sum, i) => sum + graph[i].narSize, 0),
      closureSize,
    };
  });
  // A layer's closure includes the closures of the layers it depends on, so
  // ascending closure size puts dependencies first.
  layers.sort((a, b) => a.closureSize - b.closureSize || comparePathLists(a.paths, b.paths));

  if (opts.debug) {
    for (const line of JSON.stringify(layers, null, 2).split("\n")) opts.debug(line);
  }
  // Python asserts Σ layerSize == Σ narSize here; with unique paths (checked by
  // indexGraph) every node is in exactly one group, so it always holds.

  return layers
    .map((layer) => layer.paths.filter((p) => !ignore.has(p)))
    .filter((layer) => layer.length > 0);
}

/** Nodes reachable from `start` through `edges`, excluding `start` itself. */
function reachable(start: number, edges: readonly number[][]): Set<number> {
  const seen = reachableFrom([start], edges);
  seen.delete(start);
  return seen;
}

/** Nodes reachable from `starts` through `edges`, including the starts. */
function reachableFrom(starts: readonly number[], edges: readonly number[][]): Set<number> {
  const seen = new Set<number>();
  const stack = [...starts];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const next of edges[node]) if (!seen.has(next)) stack.push(next);
  }
  return seen;
}

function comparePathLists(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareStorePaths(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
