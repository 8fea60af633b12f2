/**
 * The closure graph: what Nix's `exportReferencesGraph` (with `__structuredAttrs`)
 * writes for a set of store paths, one entry per path in the closure.
 *
 * Every layering algorithm reads this shape. Extra keys (`narHash`,
 * `closureSize`, ...) are ignored; `references` may include the path itself.
 *
 * @module
 */

/**
 * One store path of a closure graph.
 *
 * @example
 * ```ts
 * const node: GraphNode = { path: "/nix/store/abc-hello-2.12", narSize: 250_000, references: ["/nix/store/def-glibc-2.39"] };
 * ```
 */
export interface GraphNode {
  /** Full store path, e.g. `/nix/store/<hash>-hello-2.12`. */
  path: string;
  /** Size of the path's NAR serialisation in bytes. */
  narSize: number;
  /** Store paths this one refers to; may include `path` itself. */
  references: string[];
}

/**
 * A closure graph that is malformed: not a list, a bad entry, a duplicate
 * path, or a reference to a path that is not in the graph.
 *
 * @example
 * ```ts
 * try { parseClosureGraph([{ path: 1 }]); } catch (e) { e instanceof ClosureGraphError; }
 * ```
 */
export class ClosureGraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClosureGraphError";
  }
}

function entryName(index: number, path?: unknown): string {
  return typeof path === "string" ? `closure graph[${index}] (${path})` : `closure graph[${index}]`;
}

/**
 * Checks and copies a parsed `exportReferencesGraph` JSON value.
 * Throws {@link ClosureGraphError} naming the first bad entry.
 *
 * @example
 * ```ts
 * const graph = parseClosureGraph(JSON.parse(await Deno.readTextFile("graph.json")));
 * ```
 */
export function parseClosureGraph(json: unknown): GraphNode[] {
  if (!Array.isArray(json)) {
    throw new ClosureGraphError(
      `closure graph: expected a list of {path, narSize, references}, got ${describe(json)}`,
    );
  }
  const graph = json.map((entry: unknown, i): GraphNode => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new ClosureGraphError(`${entryName(i)}: expected an object, got ${describe(entry)}`);
    }
    const { path, narSize, references } = entry as Record<string, unknown>;
    if (typeof path !== "string" || path === "") {
      throw new ClosureGraphError(
        `${entryName(i)}: "path" must be a non-empty string, got ${describe(path)}`,
      );
    }
    if (typeof narSize !== "number" || !Number.isSafeInteger(narSize) || narSize < 0) {
      throw new ClosureGraphError(
        `${entryName(i, path)}: "narSize" must be a non-negative integer, got ${describe(narSize)}`,
      );
    }
    if (!Array.isArray(references) || !references.every((r) => typeof r === "string")) {
      throw new ClosureGraphError(
        `${entryName(i, path)}: "references" must be a list of store paths, got ${
          describe(references)
        }`,
      );
    }
    return { path, narSize, references: [...references] };
  });
  indexGraph(graph);
  return graph;
}

/**
 * Maps each path to its node after checking what every algorithm relies on:
 * paths are unique and every reference is a node of the graph (Nix's scripts
 * crash with a KeyError otherwise).
 *
 * @example
 * ```ts
 * const graph: GraphNode[] = [
 *   { path: "/nix/store/a-hello", narSize: 250_000, references: ["/nix/store/b-libidn2", "/nix/store/c-glibc"] },
 *   { path: "/nix/store/b-libidn2", narSize: 400_000, references: ["/nix/store/c-glibc"] },
 *   { path: "/nix/store/c-glibc", narSize: 30_000_000, references: [] },
 * ];
 * const byPath = indexGraph(graph);
 * byPath.get("/nix/store/a-hello")?.narSize; // 250000
 * ```
 */
export function indexGraph(graph: readonly GraphNode[]): Map<string, GraphNode> {
  const byPath = new Map<string, GraphNode>();
  graph.forEach((node, i) => {
    if (byPath.has(node.path)) {
      const first = graph.findIndex((n) => n.path === node.path);
      throw new ClosureGraphError(
        `${entryName(i, node.path)}: duplicate path (also closure graph[${first}])`,
      );
    }
    byPath.set(node.path, node);
  });
  graph.forEach((node, i) => {
    for (const ref of node.references) {
      if (!byPath.has(ref)) {
        throw new ClosureGraphError(
          `${entryName(i, node.path)}: references ${ref}, which is not in the graph`,
        );
      }
    }
  });
  return byPath;
}

/**
 * The transitive closure of `roots` (roots included), in depth-first
 * pre-order following each node's `references` order.
 *
 * @example
 * ```ts
 * const graph: GraphNode[] = [
 *   { path: "/nix/store/a-hello", narSize: 250_000, references: ["/nix/store/b-libidn2", "/nix/store/c-glibc"] },
 *   { path: "/nix/store/b-libidn2", narSize: 400_000, references: ["/nix/store/c-glibc"] },
 *   { path: "/nix/store/c-glibc", narSize: 30_000_000, references: [] },
 * ];
 * closureOf(graph, ["/nix/store/b-libidn2"]); // Set { "/nix/store/b-libidn2", "/nix/store/c-glibc" }
 * ```
 */
export function closureOf(graph: readonly GraphNode[], roots: Iterable<string>): Set<string> {
  const byPath = indexGraph(graph);
  const seen = new Set<string>();
  for (const root of roots) {
    if (!byPath.has(root)) throw new ClosureGraphError(`closureOf: ${root} is not in the graph`);
    const stack = [root];
    while (stack.length > 0) {
      const path = stack.pop()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const refs = byPath.get(path)!.references;
      for (let i = refs.length - 1; i >= 0; i--) if (!seen.has(refs[i])) stack.push(refs[i]);
    }
  }
  return seen;
}

/**
 * Splits a store path at its first `-` into `[name, hashPrefix]`, the key
 * auto-layer sorts by (`path.split("-", 1)` reversed), so
 * `/nix/store/abc-foo-1.0` gives `["foo-1.0", "/nix/store/abc"]`.
 *
 * @example
 * ```ts
 * storePathName("/nix/store/abc-foo-1.0"); // ["foo-1.0", "/nix/store/abc"]
 * ```
 */
export function storePathName(path: string): [name: string, hashPrefix: string] {
  const dash = path.indexOf("-");
  if (dash < 0) throw new ClosureGraphError(`${path} is not a store path: no "-" after the hash`);
  return [path.slice(dash + 1), path.slice(0, dash)];
}

/**
 * Orders strings by Unicode code point, as Python compares `str`
 * (JavaScript's `<` compares UTF-16 code units, which differs above U+FFFF).
 *
 * @example
 * ```ts
 * ["b", "a"].sort(compareCodePoints); // ["a", "b"]
 * ```
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after every BMP code point.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Orders store paths by the tuple `(name, hashPrefix)` from {@link storePathName},
 * element by element, as auto-layer sorts a layer's paths: `foo` before `foo-bar`.
 *
 * @example
 * ```ts
 * ["/nix/store/b-zlib", "/nix/store/a-glibc"].sort(compareStorePaths); // glibc first
 * ```
 */
export function compareStorePaths(a: string, b: string): number {
  const [an, ah] = storePathName(a);
  const [bn, bh] = storePathName(b);
  return compareCodePoints(an, bn) || compareCodePoints(ah, bh);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}
