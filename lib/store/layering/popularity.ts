/**
 * The popularity contest, Nix's layering before auto-layer
 * (`references-by-popularity/closure-graph.py`, and `popularity_contest` in
 * flatten_references_graph, which computes the same thing).
 *
 * Each root's references are unfolded into a tree (a path with several
 * parents appears once per parent), and a path's score is, roughly, how many
 * times it appears in those trees, weighted by depth. Scores grow
 * exponentially with depth, so they are BigInts.
 *
 * @module
 */

import {
  ClosureGraphError,
  compareCodePoints,
  type GraphNode,
  indexGraph,
} from "../closure_graph.ts";

/**
 * Python's `package_name`: the path with its first `-`-separated segment
 * (`/nix/store/<hash>`) moved to the end, the tie-break key for equal scores.
 *
 * @example
 * ```ts
 * packageName("/nix/store/abc-foo-1.0"); // "foo-1.0-/nix/store/abc"
 * ```
 */
export function packageName(path: string): string {
  const dash = path.indexOf("-");
  return dash < 0 ? path : `${path.slice(dash + 1)}-${path.slice(0, dash)}`;
}

/**
 * Every path's popularity, in input order.
 *
 * closure-graph.py unfolds each root into a tree and gives each node of a
 * tree `1` plus, for every path below it, that path's count plus one. Unrolled,
 * the value path `x` gets through a node `v` is the number of paths (walks
 * down the references) from `v` that stay among the paths reaching `x`. Summed
 * over the roots, that is
 *
 *     score(x) = Σ P(u) over u = x and every path that reaches x,
 *
 * where `P(u)` is the number of distinct ways down from a root to `u`
 * (`P(root) = 1`). `P` takes one pass in topological order; each score is a
 * sum over x's referrers, transitively. No recursion, so depth does not matter.
 *
 * Throws {@link ClosureGraphError} on a cycle (other than a self-reference):
 * the Python recurses forever there.
 *
 * @example
 * ```ts
 * import type { GraphNode } from "../closure_graph.ts";
 * const graph: GraphNode[] = [
 *   { path: "/nix/store/a-hello", narSize: 250_000, references: ["/nix/store/b-libidn2", "/nix/store/c-glibc"] },
 *   { path: "/nix/store/b-libidn2", narSize: 400_000, references: ["/nix/store/c-glibc"] },
 *   { path: "/nix/store/c-glibc", narSize: 30_000_000, references: [] },
 * ];
 * popularityScores(graph).get("/nix/store/c-glibc"); // 4n
 * ```
 */
export function popularityScores(graph: readonly GraphNode[]): Map<string, bigint> {
  indexGraph(graph);
  const indexOf = new Map(graph.map((node, i) => [node.path, i]));
  // Python's lookup: references without self-references; the tree is a dict
  // keyed by reference, so duplicates count once.
  const children = graph.map((node, i) => [
    ...new Set(node.references.map((r) => indexOf.get(r)!).filter((c) => c !== i)),
  ]);
  const parents: number[][] = graph.map(() => []);
  children.forEach((cs, p) => cs.forEach((c) => parents[c].push(p)));

  // P(u): walk parents before children (reverse post-order).
  const order = topologicalOrder(graph, children);
  const ways: bigint[] = graph.map(() => 0n);
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k];
    if (parents[v].length === 0) ways[v] = 1n;
    for (const c of children[v]) ways[c] += ways[v];
  }

  const scores = new Map<string, bigint>();
  const seen = new Uint8Array(graph.length);
  graph.forEach((node, x) => {
    const reaching = [x];
    seen[x] = 1;
    let score = 0n;
    for (let k = 0; k < reaching.length; k++) {
      const u = reaching[k];
      score += ways[u];
      for (const p of parents[u]) {
        if (!seen[p]) {
          seen[p] = 1;
          reaching.push(p);
        }
      }
    }
    for (const u of reaching) seen[u] = 0;
    scores.set(node.path, score);
  });
  return scores;
}

/**
 * The paths of a closure graph, most popular first; equal scores ascending
 * by {@link packageName} (code point order, like Python's `str`).
 *
 * closure-graph.py then appends paths it never reached; for a valid graph
 * (closed, acyclic) every path is reached from some root, so there are none.
 *
 * @example
 * ```ts
 * import type { GraphNode } from "../closure_graph.ts";
 * const graph: GraphNode[] = [
 *   { path: "/nix/store/a-hello", narSize: 250_000, references: ["/nix/store/b-libidn2", "/nix/store/c-glibc"] },
 *   { path: "/nix/store/b-libidn2", narSize: 400_000, references: ["/nix/store/c-glibc"] },
 *   { path: "/nix/store/c-glibc", narSize: 30_000_000, references: [] },
 * ];
 * popularityContest(graph); // ["/nix/store/c-glibc", "/nix/store/b-libidn2", "/nix/store/a-hello"]
 * ```
 */
export function popularityContest(graph: readonly GraphNode[]): string[] {
  const scores = popularityScores(graph);
  return [...scores.keys()].sort((a, b) => {
    const sa = scores.get(a)!;
    const sb = scores.get(b)!;
    if (sa !== sb) return sa > sb ? -1 : 1;
    return compareCodePoints(packageName(a), packageName(b));
  });
}

/**
 * `limit_layers n` on a list: the first `n - 1` items one layer each, every
 * other item in one last layer; empty layers dropped.
 *
 * @example
 * ```ts
 * limitLayers(["a", "b", "c", "d"], 3); // [["a"], ["b"], ["c", "d"]]
 * ```
 */
export function limitLayers<T>(items: readonly T[], n: number): T[][] {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`limitLayers: the layer count must be a positive integer, got ${n}`);
  }
  const layers = items.slice(0, n - 1).map((item) => [item]);
  const rest = items.slice(n - 1);
  if (rest.length > 0) layers.push(rest);
  return layers;
}

/** Post-order over all nodes (references before referrers); throws on a cycle. */
function topologicalOrder(graph: readonly GraphNode[], children: readonly number[][]): number[] {
  const state = new Uint8Array(graph.length); // 0 new, 1 on the stack, 2 done
  const order: number[] = [];
  for (let start = 0; start < graph.length; start++) {
    if (state[start]) continue;
    const stack: [node: number, next: number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [node, next] = top;
      if (next < children[node].length) {
        top[1]++;
        const child = children[node][next];
        if (state[child] === 1) {
          const cycle = stack.slice(stack.findIndex(([v]) => v === child)).map(([v]) =>
            graph[v].path
          );
          throw new ClosureGraphError(
            `closure graph has a cycle: ${[...cycle, graph[child].path].join(" -> ")}`,
          );
        }
        if (state[child] === 0) {
          state[child] = 1;
          stack.push([child, 0]);
        }
      } else {
        state[node] = 2;
        order.push(node);
        stack.pop();
      }
    }
  }
  return order;
}
