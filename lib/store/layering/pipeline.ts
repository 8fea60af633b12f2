/**
 * `layeringPipeline`: the small language of `streamLayeredImage` (via
 * `dockerMakeLayers` and flatten_references_graph) for splitting a closure
 * into layers, e.g. `[["popularity_contest"], ["limit_layers", 100]]`.
 *
 * A pipeline is a list of steps `[name, ...arguments]`, applied in order to
 * a value that starts as the closure graph and may become a list or a dict
 * (`{main, common, rest}`) of graphs. The final value is flattened (dicts by
 * value, in key order) and each non-empty graph becomes a layer, its paths in
 * the graph's vertex order. That order starts as the closure sorted by
 * `narSize` (stable), is kept by every subgraph, and is concatenated when
 * `limit_layers` merges graphs.
 *
 * Structural mistakes are found before anything runs; a step applied to the
 * wrong kind of value (where Nix's Python would crash) throws while running.
 * Both throw {@link LayeringPipelineError} naming the step.
 *
 * @module
 */

import { type GraphNode, indexGraph } from "../closure_graph.ts";
import { popularityContest } from "./popularity.ts";

/**
 * The step names Nix's `pipe.py` registers.
 *
 * @example
 * ```ts
 * LAYERING_STEPS.includes("popularity_contest"); // true
 * ```
 */
export const LAYERING_STEPS = [
  "popularity_contest",
  "limit_layers",
  "split_paths",
  "subcomponent_in",
  "subcomponent_out",
  "over",
  "map",
  "pipe",
  "flatten",
  "split_every",
  "remove_paths",
  "reverse",
] as const;

/**
 * One of {@link LAYERING_STEPS}.
 *
 * @example
 * ```ts
 * const name: LayeringStepName = "split_every";
 * ```
 */
export type LayeringStepName = (typeof LAYERING_STEPS)[number];

/**
 * A pipeline that failed validation, or a step given the wrong kind of value.
 *
 * @example
 * ```ts
 * try { validatePipeline([["popularity"]]); }
 * catch (e) { (e as LayeringPipelineError).message; } // layeringPipeline[0]: unknown step "popularity"; ...
 * ```
 */
export class LayeringPipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LayeringPipelineError";
  }
}

/**
 * A `split_paths` item: a path, or `{"children_of": ...}` (the direct
 * references of those paths).
 *
 * @example
 * ```ts
 * const specs: SplitSpec[] = [{ path: "/nix/store/abc-hello" }, { childrenOf: ["/nix/store/def-env"] }];
 * ```
 */
export type SplitSpec = { path: string } | { childrenOf: string[] };

/**
 * A validated step; `where` locates it in the pipeline for error messages.
 *
 * @example
 * ```ts
 * const step: LayeringStep = { op: "limit_layers", n: 100, where: "layeringPipeline[1]" };
 * ```
 */
export type LayeringStep =
  | { op: "popularity_contest" | "flatten" | "reverse"; where: string }
  | { op: "limit_layers" | "split_every"; n: number; where: string }
  | { op: "split_paths"; specs: SplitSpec[]; where: string }
  | { op: "subcomponent_in" | "subcomponent_out" | "remove_paths"; paths: string[]; where: string }
  | { op: "over"; key: "main" | "common" | "rest"; step: LayeringStep; where: string }
  | { op: "map"; step: LayeringStep; where: string }
  | { op: "pipe"; steps: LayeringStep[]; where: string };

/** The only keys a step ever puts in a dict. */
const DICT_KEYS: readonly string[] = ["main", "common", "rest"];

const USAGE: Record<LayeringStepName, string> = {
  popularity_contest: '["popularity_contest"]',
  limit_layers: '["limit_layers", n]',
  split_paths: '["split_paths", [path or {"children_of": path or [paths]}, ...]]',
  subcomponent_in: '["subcomponent_in", [paths]]',
  subcomponent_out: '["subcomponent_out", [paths]]',
  over: '["over", "main" | "common" | "rest", step]',
  map: '["map", step]',
  pipe: '["pipe", [steps]]',
  flatten: '["flatten"]',
  split_every: '["split_every", n]',
  remove_paths: '["remove_paths", path or [paths]]',
  reverse: '["reverse"]',
};

/**
 * Checks a pipeline's structure and returns it as typed steps: every step
 * known, every argument of the right kind, nested steps included.
 *
 * @example
 * ```ts
 * validatePipeline([["popularity_contest"], ["limit_layers", 100]]);
 * validatePipeline([["limit_layers", 0]]); // throws: layeringPipeline[0]: limit_layers needs a positive integer, ...
 * ```
 */
export function validatePipeline(pipeline: unknown): LayeringStep[] {
  if (!Array.isArray(pipeline)) {
    throw new LayeringPipelineError(
      `layeringPipeline: expected a list of steps such as [["popularity_contest"], ["limit_layers", 100]], got ${
        describe(pipeline)
      }`,
    );
  }
  return pipeline.map((step, i) => parseStep(step, `layeringPipeline[${i}]`));
}

function parseStep(step: unknown, where: string): LayeringStep {
  if (!Array.isArray(step) || step.length === 0 || typeof step[0] !== "string") {
    throw new LayeringPipelineError(
      `${where}: a step is a list ["name", ...arguments], got ${describe(step)}`,
    );
  }
  const [name, ...args] = step as [string, ...unknown[]];
  if (!(LAYERING_STEPS as readonly string[]).includes(name)) {
    throw new LayeringPipelineError(
      `${where}: unknown step ${JSON.stringify(name)}; known: ${LAYERING_STEPS.join(", ")}`,
    );
  }
  const op = name as LayeringStepName;
  const fail = (needs: string, got: unknown): never => {
    throw new LayeringPipelineError(
      `${where}: ${op} needs ${needs}, got ${describe(got)}; usage: ${USAGE[op]}`,
    );
  };
  const arity = (count: number, needs: string) => {
    if (args.length !== count) {
      throw new LayeringPipelineError(
        `${where}: ${op} takes ${
          count === 0 ? "no arguments" : `${count} argument${count > 1 ? "s" : ""} (${needs})`
        }, got ${args.length}; usage: ${USAGE[op]}`,
      );
    }
  };

  switch (op) {
    case "popularity_contest":
    case "flatten":
    case "reverse":
      arity(0, "");
      return { op, where };
    case "limit_layers":
    case "split_every": {
      arity(1, "a positive integer");
      const n = args[0];
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
        return fail("a positive integer", n);
      }
      return { op, n: n as number, where };
    }
    case "split_paths": {
      arity(1, "a list of paths or children_of items");
      const specs = args[0];
      if (!Array.isArray(specs)) {
        return fail('a list of paths or {"children_of": ...} items', specs);
      }
      return {
        op,
        specs: (specs as unknown[]).map((spec, j): SplitSpec => {
          if (typeof spec === "string") return { path: spec };
          if (typeof spec === "object" && spec !== null && !Array.isArray(spec)) {
            const keys = Object.keys(spec);
            if (keys.length === 1 && keys[0] === "children_of") {
              const of = (spec as { children_of: unknown }).children_of;
              const list = Array.isArray(of) ? of : [of];
              if (list.every((p) => typeof p === "string")) return { childrenOf: list as string[] };
              return fail(`item ${j}'s "children_of" to be a path or a list of paths`, of);
            }
            return fail(
              `item ${j} to be a path or {"children_of": ...} (the only key allowed)`,
              spec,
            );
          }
          return fail(`item ${j} to be a path or {"children_of": ...}`, spec);
        }),
        where,
      };
    }
    case "subcomponent_in":
    case "subcomponent_out": {
      arity(1, "a list of paths");
      const paths = args[0];
      if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string")) {
        return fail("a list of paths", paths);
      }
      return { op, paths: [...paths] as string[], where };
    }
    case "remove_paths": {
      arity(1, "a path or a list of paths");
      const paths = args[0];
      if (typeof paths === "string") return { op, paths: [paths], where };
      if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string")) {
        return fail("a path or a list of paths", paths);
      }
      return { op, paths: [...paths] as string[], where };
    }
    case "over": {
      arity(2, "a key and a step");
      const [key, inner] = args;
      if (typeof key !== "string" || !DICT_KEYS.includes(key)) {
        return fail(
          'a key "main", "common" or "rest" (the keys split_paths and subcomponent_* make)',
          key,
        );
      }
      return {
        op,
        key: key as "main" | "common" | "rest",
        step: parseStep(inner, `${where}[2]`),
        where,
      };
    }
    case "map":
      arity(1, "a step");
      return { op, step: parseStep(args[0], `${where}[1]`), where };
    case "pipe": {
      arity(1, "a list of steps");
      const steps = args[0];
      if (!Array.isArray(steps)) return fail("a list of steps", steps);
      return {
        op,
        steps: (steps as unknown[]).map((s, j) => parseStep(s, `${where}[1][${j}]`)),
        where,
      };
    }
  }
}

/**
 * Options of {@link runPipeline}.
 *
 * @example
 * ```ts
 * declare const customisationLayer: string; // its store path
 * const opts: RunPipelineOptions = { excludePaths: [customisationLayer], debug: console.error };
 * ```
 */
export interface RunPipelineOptions {
  /** Paths removed, with every reference to them, before the pipeline runs. */
  excludePaths?: Iterable<string>;
  /** Receives one line per step: where it is and the shape of its result. */
  debug?: (line: string) => void;
}

/**
 * Runs a layering pipeline on a closure graph, as flatten_references_graph
 * does: excluded paths and the references to them are removed first (so
 * their dependencies can become roots), self-references are dropped, the
 * result is flattened and empty layers are dropped. An empty graph gives no
 * layers (make-layers.nix returns `[]` without running anything).
 *
 * @example
 * ```ts
 * import type { GraphNode } from "../closure_graph.ts";
 * const graph: GraphNode[] = [
 *   { path: "/nix/store/a-hello", narSize: 250_000, references: ["/nix/store/b-libidn2", "/nix/store/c-glibc"] },
 *   { path: "/nix/store/b-libidn2", narSize: 400_000, references: ["/nix/store/c-glibc"] },
 *   { path: "/nix/store/c-glibc", narSize: 30_000_000, references: [] },
 * ];
 * runPipeline(graph, [["popularity_contest"], ["limit_layers", 2]]);
 * // [["/nix/store/c-glibc"], ["/nix/store/b-libidn2", "/nix/store/a-hello"]]
 * ```
 */
export function runPipeline(
  graph: readonly GraphNode[],
  pipeline: unknown,
  opts: RunPipelineOptions = {},
): string[][] {
  const steps = validatePipeline(pipeline);
  if (graph.length === 0) return [];
  const exclude = new Set(opts.excludePaths ?? []);
  const kept = graph
    .filter((node) => !exclude.has(node.path))
    .map((node) => ({ ...node, references: node.references.filter((r) => !exclude.has(r)) }));
  indexGraph(kept);
  // Vertices sorted by narSize (stable), as references_graph_to_igraph builds them.
  const sorted = [...kept].sort((a, b) => a.narSize - b.narSize);
  const start = new LayerGraph(
    sorted.map((n) => n.path),
    new Map(sorted.map((n) => [n.path, [...new Set(n.references)].filter((r) => r !== n.path)])),
  );

  let value: Value = start;
  for (const step of steps) value = apply(step, value, opts.debug);
  if (value instanceof LayerGraph) {
    throw new LayeringPipelineError(
      "layeringPipeline: the result is a single graph, not a list of layers (Nix's flatten_references_graph " +
        'fails here too); end the pipeline with a step that splits it, e.g. ["popularity_contest"] or ["split_every", n]',
    );
  }
  return flatten(value).filter((g) => g.names.length > 0).map((g) => [...g.names]);
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/** What flows between steps: a graph, a list of values, or a dict of values. */
type Value = LayerGraph | Value[] | Map<string, Value>;

/**
 * A directed graph of store paths with a vertex order, like the igraph graphs
 * of the Python: subgraphs keep the parent's order, merges concatenate.
 */
class LayerGraph {
  readonly #has: Set<string>;
  constructor(
    readonly names: readonly string[],
    readonly edges: ReadonlyMap<string, readonly string[]>,
  ) {
    this.#has = new Set(names);
  }

  has(name: string): boolean {
    return this.#has.has(name);
  }

  successors(name: string): readonly string[] {
    return this.edges.get(name) ?? [];
  }

  /** The subgraph on the vertices `keep` accepts, in this graph's order. */
  induced(keep: (name: string) => boolean): LayerGraph {
    const names = this.names.filter(keep);
    return new LayerGraph(names, new Map(names.map((n) => [n, this.successors(n).filter(keep)])));
  }

  /** Vertices nobody refers to. */
  roots(): string[] {
    const referenced = new Set<string>();
    for (const n of this.names) for (const s of this.successors(n)) referenced.add(s);
    return this.names.filter((n) => !referenced.has(n));
  }

  /** Everything reachable from `starts` (included), following edges forwards or backwards. */
  reach(starts: Iterable<string>, mode: "out" | "in"): Set<string> {
    const edges = mode === "out" ? this.edges : this.#reversed();
    const seen = new Set<string>();
    const stack = [...starts];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      for (const next of edges.get(n) ?? []) if (!seen.has(next)) stack.push(next);
    }
    return seen;
  }

  #reversed(): Map<string, string[]> {
    const rev = new Map<string, string[]>(this.names.map((n) => [n, []]));
    for (const n of this.names) for (const s of this.successors(n)) rev.get(s)!.push(n);
    return rev;
  }

  /** igraph's disjoint union (`acc + g`): vertices concatenated, no edges between the parts. */
  static merge(graphs: readonly LayerGraph[]): LayerGraph {
    return new LayerGraph(
      graphs.flatMap((g) => g.names),
      new Map(graphs.flatMap((g) => [...g.edges])),
    );
  }
}

function kind(value: Value): string {
  if (value instanceof LayerGraph) return "a graph";
  if (Array.isArray(value)) return "a list";
  return `a dict with keys ${
    [...value.keys()].map((k) => JSON.stringify(k)).join(", ") || "(none)"
  }`;
}

function summarize(value: Value): string {
  if (value instanceof LayerGraph) return `graph of ${value.names.length} paths`;
  if (Array.isArray(value)) {
    const shown = value.slice(0, 8).map(summarize).join(", ");
    return `[${shown}${value.length > 8 ? `, ... (${value.length} items)` : ""}]`;
  }
  return `{${[...value].map(([k, v]) => `${k}: ${summarize(v)}`).join(", ")}}`;
}

// ---------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------

function apply(step: LayeringStep, value: Value, debug?: (line: string) => void): Value {
  const result = run(step, value, debug);
  debug?.(`${step.where} ${step.op}: ${summarize(result)}`);
  return result;
}

function run(step: LayeringStep, value: Value, debug?: (line: string) => void): Value {
  const expect = (what: "graph" | "list" | "list or dict"): never => {
    throw new LayeringPipelineError(
      `${step.where}: ${step.op} expects ${what === "graph" ? "a graph" : `a ${what}`}, got ${
        kind(value)
      }`,
    );
  };
  const graph = (): LayerGraph => (value instanceof LayerGraph ? value : expect("graph"));
  const list = (): Value[] => (Array.isArray(value) ? value : expect("list"));

  switch (step.op) {
    case "popularity_contest": {
      const g = graph();
      const nodes = g.names.map((path) => ({
        path,
        narSize: 0,
        references: [...g.successors(path)],
      }));
      return popularityContest(nodes).map((path) => new LayerGraph([path], new Map([[path, []]])));
    }
    case "limit_layers": {
      // The first n-1 items pass through as they are; the rest are merged into one graph.
      const items = list();
      const rest = items.slice(step.n - 1);
      rest.forEach((item, j) => {
        if (!(item instanceof LayerGraph)) {
          throw new LayeringPipelineError(
            `${step.where}: limit_layers can only merge graphs, but item ${step.n - 1 + j} is ${
              kind(item)
            }`,
          );
        }
      });
      return [...items.slice(0, step.n - 1), LayerGraph.merge(rest as LayerGraph[])];
    }
    case "split_paths":
      return splitPaths(step.specs, graph());
    case "subcomponent_in":
    case "subcomponent_out": {
      const g = graph();
      const main = g.reach(
        step.paths.filter((p) => g.has(p)),
        step.op === "subcomponent_in" ? "in" : "out",
      );
      return new Map([["main", g.induced((n) => main.has(n))], [
        "rest",
        g.induced((n) => !main.has(n)),
      ]]);
    }
    case "over": {
      if (value instanceof LayerGraph || Array.isArray(value)) return expect("list or dict");
      if (!value.has(step.key)) {
        // Python: KeyError. split_paths leaves out the parts that came out empty.
        throw new LayeringPipelineError(
          `${step.where}: over ${JSON.stringify(step.key)}: the dict has no ${
            JSON.stringify(step.key)
          } ` +
            `(it has ${
              [...value.keys()].map((k) => JSON.stringify(k)).join(", ") || "nothing"
            }); split_paths leaves out empty parts`,
        );
      }
      const out = new Map(value);
      out.set(step.key, apply(step.step, value.get(step.key)!, debug));
      return out;
    }
    case "map":
      return list().map((item) => apply(step.step, item, debug));
    case "pipe":
      return step.steps.reduce((acc, s) => apply(s, acc, debug), value);
    case "flatten":
      if (value instanceof LayerGraph) return expect("list or dict");
      return flatten(value);
    case "split_every": {
      const g = graph();
      const chunks: LayerGraph[] = [];
      for (let i = 0; i < g.names.length; i += step.n) {
        const chunk = new Set(g.names.slice(i, i + step.n));
        chunks.push(g.induced((n) => chunk.has(n)));
      }
      return chunks;
    }
    case "remove_paths": {
      const remove = new Set(step.paths);
      return graph().induced((n) => !remove.has(n));
    }
    case "reverse":
      return [...list()].reverse();
  }
}

/** Leaves of nested lists and dicts (dicts by value, in key order). */
function flatten(value: Value): LayerGraph[] {
  if (value instanceof LayerGraph) return [value];
  const items = Array.isArray(value) ? value : [...value.values()];
  return items.flatMap(flatten);
}

/**
 * split_paths.py: `main` = the split paths and the dependencies only they
 * reach, `common` = their dependencies the rest also reaches, `rest` = the
 * others; empty parts left out. Edges into the split paths are deleted
 * first, and the parts are subgraphs of that edited graph.
 */
function splitPaths(specs: readonly SplitSpec[], g: LayerGraph): Map<string, LayerGraph> {
  const split: string[] = [];
  for (const spec of specs) {
    if ("path" in spec) {
      if (g.has(spec.path)) split.push(spec.path);
    } else {
      for (const p of spec.childrenOf) if (g.has(p)) split.push(...g.successors(p));
    }
  }
  if (split.length === 0) return new Map([["rest", g]]);

  // With several roots the Python adds a fake root pointing at all of them.
  const roots = g.roots();
  const isSplit = new Set(split);
  if (roots.length === 1 && isSplit.has(roots[0])) return new Map([["main", g]]);

  const splitOff = g.reach(split, "out");
  const edited = new LayerGraph(
    g.names,
    new Map(g.names.map((n) => [n, g.successors(n).filter((s) => !isSplit.has(s))])),
  );
  // The fake root's edges into split paths are deleted too.
  const restWithCommon = edited.reach(roots.filter((r) => !isSplit.has(r)), "out");
  const common = new Set([...splitOff].filter((n) => restWithCommon.has(n)));

  const parts: [string, LayerGraph][] = [
    ["main", edited.induced((n) => splitOff.has(n) && !common.has(n))],
    ["common", edited.induced((n) => common.has(n))],
    ["rest", edited.induced((n) => restWithCommon.has(n) && !common.has(n))],
  ];
  return new Map(parts.filter(([, part]) => part.names.length > 0));
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return `the list ${show(value)}`;
  if (typeof value === "object") return `the object ${show(value)}`;
  return `${typeof value} ${show(value)}`;
}

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value); // BigInt, cycles
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
