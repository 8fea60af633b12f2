/**
 * The three Nix layering algorithms (auto-layer, popularity contest,
 * layeringPipeline) against the worked examples of the reference (§8.2),
 * the subtleties of §9, and the examples in nixpkgs' own tests and docstrings.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  autoLayer,
  ClosureGraphError,
  closureOf,
  compareCodePoints,
  type GraphNode,
  layerBudget,
  LayerBudgetError,
  LayeringPipelineError,
  limitLayers,
  packageName,
  parseClosureGraph,
  popularityContest,
  popularityContestPipeline,
  popularityScores,
  runPipeline,
  storePathName,
  validatePipeline,
} from "../lib/store/layering/mod.ts";

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";
/** A deterministic 32-character Nix base-32 hash for `seed`. */
function hash(seed: number): string {
  let x = (seed * 2654435761 + 12345) >>> 0;
  let out = "";
  for (let i = 0; i < 32; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += NIX32[(x >>> 16) % 32];
  }
  return out;
}
let seed = 0;
const sp = (name: string) => `/nix/store/${hash(++seed)}-${name}`;

const K = 1024;
const M = 1024 * 1024;

/** The §8.2 graph. Self-references on some nodes, as exportReferencesGraph writes them. */
const P = {
  python3: sp("python3-3.11.9"),
  glibc: sp("glibc-2.39-52"),
  openssl: sp("openssl-3.0.14"),
  libunistring: sp("libunistring-1.2"),
  libidn2: sp("libidn2-2.3.7"),
  hello: sp("hello-2.12.1"),
  zlib: sp("zlib-1.3.1"),
  xgcc: sp("xgcc-13.3.0-libgcc"),
  custom: sp("hello-customisation-layer"),
  base: sp("hello-base.json"),
};
const EXAMPLE: GraphNode[] = [
  { path: P.python3, narSize: 90 * M, references: [P.glibc, P.openssl, P.python3, P.zlib] },
  { path: P.glibc, narSize: 30 * M, references: [P.glibc, P.libidn2, P.xgcc] },
  { path: P.openssl, narSize: 8 * M, references: [P.glibc, P.openssl] },
  { path: P.libunistring, narSize: 2 * M, references: [P.libunistring] },
  { path: P.libidn2, narSize: 400 * K, references: [P.libunistring] },
  { path: P.hello, narSize: 200 * K, references: [P.glibc, P.hello] },
  { path: P.zlib, narSize: 150 * K, references: [P.glibc] },
  { path: P.xgcc, narSize: 150 * K, references: [] },
  // The customisation layer (symlinks into hello and python3) and the base
  // JSON: small, so they are the last paths auto-layer considers.
  { path: P.custom, narSize: 4 * K, references: [P.hello, P.python3] },
  { path: P.base, narSize: 600, references: [P.hello] },
];
const EXCLUDE = [P.custom, P.base];

/** Maps store paths back to their short names for readable assertions. */
const SHORT = new Map(Object.entries(P).map(([k, v]) => [v, k]));
const short = (layers: string[][]) => layers.map((l) => l.map((p) => SHORT.get(p) ?? p));

/** Layers written compactly: `"a | b c"` is `[["a"], ["b", "c"]]`. */
const table = (text: string) => text.split("|").map((layer) => layer.trim().split(/\s+/));

/** A graph of bare names, for the pipeline examples taken from nixpkgs' tests. */
function named(sizes: Record<string, number>, edges: string): GraphNode[] {
  const pairs = edges.split(/\s+/).filter(Boolean).map((edge) => edge.split("->"));
  return Object.entries(sizes).map(([path, narSize]) => ({
    path,
    narSize,
    references: pairs.filter(([from]) => from === path).map(([, to]) => to),
  }));
}

/**
 * closure-graph.py's scores, transcribed literally (reference trees with a
 * shared subtree cache, then the cached contest), as an independent oracle.
 */
function closureGraphPy(graph: GraphNode[]): Map<string, bigint> {
  type Tree = Map<string, Tree>;
  const lookup = new Map(graph.map((n) => [n.path, n.references.filter((r) => r !== n.path)]));
  const roots = graph
    .filter((n) => !graph.some((o) => o.path !== n.path && o.references.includes(n.path)))
    .map((n) => n.path);
  const subgraphs = new Map<string, Tree>();
  const segment = (root: string): Tree => {
    const children: Tree = new Map();
    for (const ref of lookup.get(root)!) {
      if (!subgraphs.has(ref)) subgraphs.set(ref, segment(ref));
      children.set(ref, subgraphs.get(ref)!);
    }
    return children;
  };
  const cache = new Map<string, Map<string, bigint>>();
  const contest = (tree: Tree): Map<string, bigint> => {
    const popularity = new Map<string, bigint>();
    const add = (path: string, n: bigint) => popularity.set(path, (popularity.get(path) ?? 0n) + n);
    for (const [path, subtree] of tree) {
      add(path, 1n);
      if (!cache.has(path)) cache.set(path, contest(subtree));
      for (const [subpath, n] of cache.get(path)!) add(subpath, n + 1n);
    }
    return popularity;
  };
  const scores = contest(new Map(roots.map((r) => [r, segment(r)])));
  // Same key order as popularityScores (input order) so deepEqual compares values only.
  return new Map(graph.map((n) => [n.path, scores.get(n.path)!]));
}

// ---------------------------------------------------------------------------
// auto-layer
// ---------------------------------------------------------------------------

describe("autoLayer: §8.2 worked examples", () => {
  const layers = (limit: number) =>
    short(autoLayer(EXAMPLE, { layerLimit: limit, excludePaths: EXCLUDE }));

  it("limit 100: every path alone, by closure size", () => {
    assert.deepEqual(
      layers(100),
      table("xgcc | libunistring | libidn2 | glibc | zlib | hello | openssl | python3"),
    );
  });
  it("limit 5", () => {
    assert.deepEqual(
      layers(5),
      table("libunistring | glibc libidn2 xgcc | openssl | python3 zlib | hello"),
    );
  });
  it("limit 4", () => {
    assert.deepEqual(
      layers(4),
      table("glibc libidn2 libunistring xgcc | openssl | python3 zlib | hello"),
    );
  });
  it("limit 3", () => {
    assert.deepEqual(
      layers(3),
      table("glibc libidn2 libunistring xgcc | openssl python3 zlib | hello"),
    );
  });
  it("limit 2", () => {
    assert.deepEqual(
      layers(2),
      table("glibc libidn2 libunistring openssl python3 xgcc zlib | hello"),
    );
  });
  it("limit 1: everything in one layer, sorted by name", () => {
    assert.deepEqual(
      layers(1),
      table("glibc hello libidn2 libunistring openssl python3 xgcc zlib"),
    );
  });
  it("excluded paths count toward the limit: limit 9 gives only the 8 layers of limit 100", () => {
    // 8 store layers + the layer holding only the customisation layer and base.json = 9;
    // the next split (the customisation layer alone) would make 10.
    assert.deepEqual(layers(9), layers(100));
    assert.equal(layers(9).length, 8);
  });
  it("without excludePaths the customisation layer and base.json stay in the output", () => {
    const all = short(autoLayer(EXAMPLE, { layerLimit: 5 }));
    assert.deepEqual(all.at(-1), ["hello", "base", "custom"]); // hello-2.12.1 < hello-base.json < hello-customisation-layer
  });
  it("debug: the layer table auto-layer prints with DEBUG=1", () => {
    const lines: string[] = [];
    autoLayer(EXAMPLE, { layerLimit: 5, excludePaths: EXCLUDE, debug: (l) => lines.push(l) });
    const table = JSON.parse(lines.join("\n")) as {
      usedBy: string[];
      paths: string[];
      layerSize: number;
      closureSize: number;
    }[];
    assert.deepEqual(Object.keys(table[0]), ["usedBy", "paths", "layerSize", "closureSize"]);
    assert.deepEqual(table.map((l) => l.usedBy.map((p) => SHORT.get(p))), [
      ["libunistring"],
      ["glibc"],
      ["openssl"],
      ["python3"],
      [],
    ]);
    // The last layer still lists the excluded paths: the table is printed before they are removed.
    assert.deepEqual(table[4].paths.map((p) => SHORT.get(p)), ["hello", "base", "custom"]);
    assert.deepEqual(table.map((l) => l.layerSize), [
      2 * M,
      30 * M + 400 * K + 150 * K,
      8 * M,
      90 * M + 150 * K,
      200 * K + 4 * K + 600,
    ]);
    // python3's closure is every store path but hello (200K) and the two excluded ones.
    const store = 130 * M + 900 * K;
    assert.deepEqual(table.map((l) => l.closureSize), [
      2 * M,
      32 * M + 550 * K,
      40 * M + 550 * K,
      store - 200 * K,
      store + 4 * K + 600,
    ]);
    assert.equal(lines[0], "[");
    assert.equal(lines[1], "  {");
  });
});

describe("autoLayer: §9 subtleties", () => {
  it("stops at the first split over the limit, even when a later, smaller path would fit", () => {
    const [R, A, B, s] = [sp("r"), sp("a"), sp("b"), sp("s")];
    const graph: GraphNode[] = [
      { path: R, narSize: 1, references: [A, B] },
      { path: A, narSize: 100, references: [s] },
      { path: B, narSize: 50, references: [s] },
      { path: s, narSize: 10, references: [] },
    ];
    // A: {A: A, s} {}: B, R (2 layers). B would make s shared: 4 > 3, stop.
    // (Skipping B and splitting s off instead would have fit in 3.)
    assert.deepEqual(autoLayer(graph, { layerLimit: 3 }), [[A, s], [B, R]]);
  });
  it("equal narSize: the node later in the input becomes its own layer first", () => {
    const [a, b, r] = [sp("a"), sp("b"), sp("root")];
    const nodes: Record<string, GraphNode> = {
      a: { path: a, narSize: 100, references: [] },
      b: { path: b, narSize: 100, references: [] },
      r: { path: r, narSize: 1, references: [a, b] },
    };
    // Only one split fits in 2 layers: the later of a and b gets it.
    assert.deepEqual(autoLayer([nodes.a, nodes.b, nodes.r], { layerLimit: 2 }), [[b], [a, r]]);
    assert.deepEqual(autoLayer([nodes.b, nodes.a, nodes.r], { layerLimit: 2 }), [[a], [b, r]]);
  });
  it("paths in a layer sort by the tuple (name, hash prefix), not by the whole path or a joined string", () => {
    const gtk = "/nix/store/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-gtk";
    const gtk3 = "/nix/store/00000000000000000000000000000000-gtk+3-3.24";
    const gtkOther = "/nix/store/11111111111111111111111111111111-gtk";
    const graph: GraphNode[] = [gtk3, gtk, gtkOther].map((path) => ({
      path,
      narSize: 1,
      references: [],
    }));
    // "gtk" < "gtk+3-3.24" as names; by whole path gtk+3 would come first, and
    // "gtk+3-3.24-<hash>" < "gtk-<hash>" as joined strings ("+" < "-").
    assert.deepEqual(autoLayer(graph, { layerLimit: 1 }), [[gtkOther, gtk, gtk3]]);
  });
  it("layers with equal closure size come out ordered by their paths, whatever the input order", () => {
    const [x, y, z] = [sp("alpha"), sp("beta"), sp("gamma")];
    const nodes = [x, y, z].map((path) => ({ path, narSize: 10, references: [] }));
    assert.deepEqual(autoLayer(nodes, { layerLimit: 10 }), [[x], [y], [z]]);
    assert.deepEqual(autoLayer([...nodes].reverse(), { layerLimit: 10 }), [[x], [y], [z]]);
  });
  it("an empty graph gives no layers; a bad limit or graph is refused", () => {
    assert.deepEqual(autoLayer([], { layerLimit: 3 }), []);
    assert.throws(() => autoLayer(EXAMPLE, { layerLimit: 0 }), RangeError);
    assert.throws(() => autoLayer(EXAMPLE, { layerLimit: 2.5 }), RangeError);
    assert.throws(
      () => autoLayer([{ path: P.hello, narSize: 1, references: [P.glibc] }], { layerLimit: 3 }),
      (e: Error) =>
        e instanceof ClosureGraphError &&
        e.message.includes(`references ${P.glibc}, which is not in the graph`),
    );
  });
});

// ---------------------------------------------------------------------------
// Popularity contest
// ---------------------------------------------------------------------------

describe("popularity contest", () => {
  const withoutExcluded = EXAMPLE
    .filter((n) => !EXCLUDE.includes(n.path))
    .map((n) => ({ ...n, references: n.references.filter((r) => !EXCLUDE.includes(r)) }));

  it("§8.2 scores with the excluded nodes removed first", () => {
    const scores = popularityScores(withoutExcluded);
    assert.deepEqual(Object.fromEntries([...scores].map(([p, s]) => [SHORT.get(p), s])), {
      libunistring: 16n,
      libidn2: 12n,
      xgcc: 12n,
      glibc: 8n,
      openssl: 2n,
      zlib: 2n,
      hello: 1n,
      python3: 1n,
    });
  });
  it("§8.2 order", () => {
    assert.deepEqual(short([popularityContest(withoutExcluded)])[0], [
      "libunistring",
      "libidn2",
      "xgcc",
      "glibc",
      "openssl",
      "zlib",
      "hello",
      "python3",
    ]);
  });
  it("§8.2 limit_layers 4, through the pipeline with excludePaths", () => {
    const layers = runPipeline(EXAMPLE, popularityContestPipeline(4), { excludePaths: EXCLUDE });
    assert.deepEqual(
      short(layers),
      table("libunistring | libidn2 | xgcc | glibc openssl zlib hello python3"),
    );
  });
  it("removing excluded paths after ranking (the old grep -v) gives different layers", () => {
    // With the customisation layer and base.json as roots, hello (now referenced
    // twice) outranks openssl and zlib.
    const grepped = popularityContest(EXAMPLE).filter((p) => !EXCLUDE.includes(p));
    assert.deepEqual(
      short(limitLayers(grepped, 4)),
      table("libunistring | libidn2 | xgcc | glibc hello openssl zlib python3"),
    );
  });
  it("closure-graph.py's docstring example: A1 B2 C3 D4 E5 F9 G2, printed F E D C B G A", () => {
    //     A - B - C - D -\
    //      \   \   \      \
    //       \   \ - E ---- F
    //        \- G
    const graph = named(
      { A: 1, B: 1, C: 1, D: 1, E: 1, F: 1, G: 1 },
      "A->B A->G B->C B->E C->D C->E D->F E->F",
    );
    assert.deepEqual(Object.fromEntries(popularityScores(graph)), {
      A: 1n,
      B: 2n,
      C: 3n,
      D: 4n,
      E: 5n,
      F: 9n,
      G: 2n,
    });
    assert.deepEqual(popularityContest(graph), ["F", "E", "D", "C", "B", "G", "A"]);
  });
  it("closure-graph.py's unit tests: foo1 bar2 baz4 tux6, and ties by name", () => {
    const graph = named({ foo: 0, bar: 0, baz: 0, tux: 0 }, "foo->bar foo->baz bar->baz baz->tux");
    assert.deepEqual(
      Object.fromEntries(popularityScores(graph)),
      { foo: 1n, bar: 2n, baz: 4n, tux: 6n },
    );
    // popularity_contest_test.py: E D F B A C Root1 Root2 Root3 X.
    const test = named(
      { Root1: 1, A: 1, B: 3, D: 1, E: 1, F: 1, Root2: 1, Root3: 1, C: 1, X: 5 },
      "Root1->A A->B A->D D->E B->D B->F Root2->B Root3->C",
    );
    assert.deepEqual(popularityContest(test), [
      "E",
      "D",
      "F",
      "B",
      "A",
      "C",
      "Root1",
      "Root2",
      "Root3",
      "X",
    ]);
  });
  it("ties sort by package_name (the hash moved to the end), not by the whole path", () => {
    const zlib = "/nix/store/00000000000000000000000000000000-zlib-1.3";
    const bash = "/nix/store/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-bash-5.2";
    const bash2 = "/nix/store/11111111111111111111111111111111-bash-5.2";
    const graph = [zlib, bash, bash2].map((path) => ({ path, narSize: 0, references: [] }));
    assert.equal(packageName(bash), "bash-5.2-/nix/store/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
    assert.equal(packageName("noDash"), "noDash");
    assert.deepEqual(popularityContest(graph), [bash2, bash, zlib]);
  });
  it("a ladder 80 levels deep: scores past 2^53 stay exact and order right", () => {
    // Levels 0..78 hold two paths each, both referring to both paths of the
    // next level; level 79 holds bottom-a and bottom-z. l0-left also refers
    // to bottom-z directly, so bottom-z scores exactly one more than bottom-a.
    // As doubles the two scores would be equal and bottom-a would sort first.
    const DEPTH = 80;
    const level = (k: number): [string, string] =>
      k === DEPTH - 1
        ? [`/nix/store/${hash(9000)}-bottom-a`, `/nix/store/${hash(9001)}-bottom-z`]
        : [`/nix/store/${hash(2 * k)}-l${k}-left`, `/nix/store/${hash(2 * k + 1)}-l${k}-right`];
    const graph: GraphNode[] = [];
    for (let k = 0; k < DEPTH; k++) {
      const refs = k < DEPTH - 1 ? [...level(k + 1)] : [];
      const [left, right] = level(k);
      graph.push({
        path: left,
        narSize: 1,
        references: k === 0 ? [...refs, level(DEPTH - 1)[1]] : refs,
      });
      graph.push({ path: right, narSize: 1, references: refs });
    }
    // Independent arithmetic: through a path at level k, bottom-a is worth
    // h(78) = 2 and h(k) = 1 + 2 h(k + 1); the two roots add up to 2 h(0).
    let h = 2n;
    for (let k = DEPTH - 3; k >= 0; k--) h = 1n + 2n * h;
    const expected = 2n * h;
    assert.ok(expected > 2n ** 53n);
    assert.equal(Number(expected), Number(expected + 1n)); // indistinguishable as doubles

    const scores = popularityScores(graph);
    const [bottomA, bottomZ] = level(DEPTH - 1);
    assert.equal(scores.get(bottomA), expected);
    assert.equal(scores.get(bottomZ), expected + 1n);
    const order = popularityContest(graph);
    assert.deepEqual(order.slice(0, 4), [bottomZ, bottomA, ...level(DEPTH - 2)]);
    // Deeper is more popular all the way up; the two roots come last.
    for (let i = 1; i < order.length; i++) {
      assert.ok(scores.get(order[i - 1])! >= scores.get(order[i])!);
    }
    assert.deepEqual(order.slice(-2), level(0));
  });
  it("agrees with a literal transcription of closure-graph.py on random graphs", () => {
    let x = 7;
    const random = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let round = 0; round < 20; round++) {
      const n = 5 + Math.floor(random() * 60);
      const paths = Array.from({ length: n }, (_, i) => `/nix/store/${hash(1000 + i)}-p${i}`);
      // References only to later paths (acyclic), some self-references and duplicates.
      const graph = paths.map((path, i) => {
        const refs = random() < 0.5 ? [path] : [];
        for (let k = Math.floor(random() * 4); k > 0 && i + 1 < n; k--) {
          const to = paths[i + 1 + Math.floor(random() * (n - i - 1))];
          refs.push(to, ...(random() < 0.2 ? [to] : []));
        }
        return { path, narSize: 1, references: refs };
      });
      assert.deepEqual(popularityScores(graph), closureGraphPy(graph), `round ${round}`);
    }
  });
  it("a cycle is refused (closure-graph.py recurses forever)", () => {
    const graph = named({ a: 1, b: 1 }, "a->b b->a");
    assert.throws(() => popularityScores(graph), /cycle: a -> b -> a|cycle: b -> a -> b/);
  });
  it("limitLayers: n-1 singletons, then the rest; empty layers dropped", () => {
    assert.deepEqual(limitLayers(["a", "b", "c", "d"], 3), table("a | b | c d"));
    assert.deepEqual(limitLayers(["a", "b"], 5), table("a | b"));
    assert.deepEqual(limitLayers(["a", "b"], 1), [["a", "b"]]);
    assert.deepEqual(limitLayers([], 1), []);
    assert.throws(() => limitLayers(["a"], 0), RangeError);
  });
});

// ---------------------------------------------------------------------------
// layeringPipeline
// ---------------------------------------------------------------------------

describe("runPipeline", () => {
  // pipe_test.py's graph. Vertex order is by narSize (stable), so these sizes
  // give Root1, A, B, C, D, E, F, G, Root2, Root3 although the input lists
  // the nodes the other way round.
  const PIPE_TEST = named(
    { Root3: 10, Root2: 9, G: 8, F: 7, E: 6, D: 5, C: 4, B: 3, A: 2, Root1: 1 },
    "Root1->A A->B A->C B->D B->E E->F B->G Root2->B Root3->C",
  );

  it("the pipe_test.py example from §4.4", () => {
    const pipeline = [
      ["split_paths", ["B"]],
      ["over", "main", ["pipe", [["subcomponent_in", ["B"]], ["over", "rest", [
        "popularity_contest",
      ]]]]],
      ["flatten"],
      ["map", ["remove_paths", "Root3"]],
      ["limit_layers", 5],
    ];
    // 1. split_paths B: three roots, so a fake root points at Root1-3. B and
    //    what it reaches: {B, D, E, F, G}. With the edges into B deleted, the
    //    fake root reaches {Root1, A, C, Root2, Root3}; nothing is shared, so
    //    "common" is empty and left out: {main: B D E F G, rest: Root1 A C Root2 Root3}.
    // 2. over main: subcomponent_in B on {B, D, E, F, G} is just {B}; the rest
    //    {D, E, F, G} (edge E->F) goes through popularity_contest: roots D, E, G
    //    score 1, F scores 2 (via E): F, then D E G by name.
    // 3. flatten (dicts by value, in key order): B, F, D, E, G, rest-graph.
    // 4. remove Root3 from each: the rest graph is Root1 A C Root2.
    // 5. limit_layers 5: B, F, D, E, then G and the rest merged in that order.
    assert.deepEqual(runPipeline(PIPE_TEST, pipeline), table("B | F | D | E | G Root1 A C Root2"));
  });
  it("pipe_test.py test_2: popularity_contest, limit_layers, reverse", () => {
    const graph = named({ Root1: 1, A: 1, B: 1, Root2: 1 }, "Root1->A A->B");
    assert.deepEqual(runPipeline(graph, [["popularity_contest"]]), table("B | A | Root1 | Root2"));
    assert.deepEqual(
      runPipeline(graph, [["popularity_contest"], ["limit_layers", 3]]),
      table("B | A | Root1 Root2"),
    );
    assert.deepEqual(
      runPipeline(graph, [["popularity_contest"], ["reverse"], ["limit_layers", 3]]),
      table("Root2 | Root1 | A B"),
    );
  });
  it("limit_layers keeps its empty merged graph until the end (it matters after reverse)", () => {
    const graph = named({ a: 1, b: 2 }, "");
    // limit_layers 3 on [a, b] gives [a, b, <empty>]; reversed, the empty graph
    // is first, so limit_layers 2 keeps it alone and merges b with a.
    assert.deepEqual(
      runPipeline(graph, [["popularity_contest"], ["limit_layers", 3], ["reverse"], [
        "limit_layers",
        2,
      ]]),
      [["b", "a"]],
    );
  });
  it("flatten_references_graph_test.py: split_paths, over, exclude_paths", () => {
    const graph = named({ A: 2, B: 4, C: 6, D: 8 }, "A->A A->C B->C B->D C->C D->D");
    assert.deepEqual(runPipeline(graph, [["split_paths", ["B"]]]), table("B D | C | A"));
    assert.deepEqual(
      runPipeline(graph, [["split_paths", ["B"]], ["over", "main", ["subcomponent_in", ["B"]]]]),
      table("B | D | C | A"),
    );
    // Excluding A makes B the only root, and splitting the root returns the whole graph.
    assert.deepEqual(
      runPipeline(graph, [["split_paths", ["B"]]], { excludePaths: ["A"] }),
      table("B C D"),
    );
    assert.deepEqual(
      runPipeline(graph, [["split_paths", ["B"]]], { excludePaths: ["D"] }),
      table("B | C | A"),
    );
  });

  // split_paths_test.py's graph (X detached). Sizes give the vertex order
  // X, C, Root3, Root2, F, E, D, B, A, Root1.
  const SPLIT_TEST = named(
    { Root1: 10, A: 9, B: 8, D: 7, E: 6, F: 5, Root2: 4, Root3: 3, C: 2, X: 1 },
    "Root1->A A->B A->D D->E B->D B->F Root2->B Root3->C",
  );
  it("split_paths: main, common and rest (split_paths_test.py)", () => {
    // B reaches D, E, F; A reaches D too, so D and E are common.
    assert.deepEqual(
      runPipeline(SPLIT_TEST, [["split_paths", ["B"]]]),
      table("F B | E D | X C Root3 Root2 A Root1"),
    );
    assert.deepEqual(
      runPipeline(SPLIT_TEST, [["split_paths", ["B", "Root3"]]]),
      table("C Root3 F B | E D | X Root2 A Root1"),
    );
    // No common part: the dict holds only main and rest.
    assert.deepEqual(
      runPipeline(SPLIT_TEST, [["split_paths", ["D"]]]),
      table("E D | X C Root3 Root2 F B A Root1"),
    );
    // Nothing matches: {rest: graph}.
    assert.deepEqual(
      runPipeline(SPLIT_TEST, [["split_paths", ["nope"]]]),
      table("X C Root3 Root2 F E D B A Root1"),
    );
  });
  it("split_paths with children_of, and the edges into split paths stay deleted", () => {
    // children_of A = B and D. Main = {B, D, E, F}; with A->B, A->D, B->D and
    // Root2->B deleted, main's edges are B->F and D->E only, so in the
    // popularity contest B and D are both roots: E and F score 2, B and D 1.
    // (With B->D kept, D would score 2 and E 3.)
    const pipeline = [["split_paths", [{ children_of: "A" }]], ["over", "main", [
      "popularity_contest",
    ]], ["flatten"]];
    assert.deepEqual(
      runPipeline(SPLIT_TEST, pipeline),
      table("E | F | B | D | X C Root3 Root2 A Root1"),
    );
    assert.deepEqual(
      runPipeline(SPLIT_TEST, [["split_paths", [{ children_of: ["Root3", "nope"] }]]]),
      table("C | X Root3 Root2 F E D B A Root1"),
    );
  });
  it("split_paths on the only root returns the whole graph as main", () => {
    const graph = named({ r: 3, a: 2, b: 1 }, "r->a a->b");
    assert.deepEqual(
      runPipeline(graph, [["split_paths", ["r"]], ["over", "main", ["split_every", 1]]]),
      table("b | a | r"),
    );
  });
  it("subcomponent_out and subcomponent_in (subcomponent_test.py)", () => {
    const graph = named(
      { Root1: 1, A: 2, B: 3, C: 4, D: 5, E: 6, Root2: 7, Root3: 8, X: 9 },
      "Root1->A A->B A->C B->D B->E Root2->B Root3->C",
    );
    assert.deepEqual(
      runPipeline(graph, [["subcomponent_out", ["B"]]]),
      table("B D E | Root1 A C Root2 Root3 X"),
    );
    assert.deepEqual(
      runPipeline(graph, [["subcomponent_out", ["B", "Root3"]]]),
      table("B C D E Root3 | Root1 A Root2 X"),
    );
    assert.deepEqual(
      runPipeline(graph, [["subcomponent_in", ["B"]]]),
      table("Root1 A B Root2 | C D E Root3 X"),
    );
    assert.deepEqual(
      runPipeline(graph, [["subcomponent_in", ["B", "Root3"]]]),
      table("Root1 A B Root2 Root3 | C D E X"),
    );
    // Unknown paths match nothing: main is empty and dropped at the end.
    assert.deepEqual(
      runPipeline(graph, [["subcomponent_in", ["nope"]]]),
      table("Root1 A B C D E Root2 Root3 X"),
    );
  });
  it("split_every: chunks in vertex order (narSize ascending, stable)", () => {
    const graph = named({ e: 5, b: 2, d: 2, a: 1, c: 3 }, "");
    assert.deepEqual(runPipeline(graph, [["split_every", 2]]), table("a b | d c | e"));
    assert.deepEqual(runPipeline(graph, [["split_every", 10]]), table("a b d c e"));
  });
  it("reverse", () => {
    const graph = named({ a: 1, b: 2, c: 3 }, "");
    assert.deepEqual(runPipeline(graph, [["split_every", 1], ["reverse"]]), table("c | b | a"));
  });
  it("remove_paths: one path or a list; unknown paths are ignored", () => {
    const graph = named({ a: 1, b: 2, c: 3 }, "c->b");
    assert.deepEqual(runPipeline(graph, [["remove_paths", "b"], ["split_every", 5]]), [["a", "c"]]);
    assert.deepEqual(
      runPipeline(graph, [["remove_paths", ["a", "c", "nope"]], ["split_every", 5]]),
      [["b"]],
    );
  });
  it("excluded paths and the edges to them go before anything runs; self-references are dropped", () => {
    // Without the exclusion the customisation layer would be the only root.
    const layers = runPipeline(EXAMPLE, [["split_paths", [P.hello]]], { excludePaths: EXCLUDE });
    // Roots are now python3 and hello; hello's only dependency chain is shared with python3.
    assert.deepEqual(
      short(layers),
      table("hello | xgcc libidn2 libunistring glibc | zlib openssl python3"),
    );
  });
  it("an empty graph gives no layers", () => {
    assert.deepEqual(runPipeline([], [["popularity_contest"], ["limit_layers", 3]]), []);
    assert.deepEqual(
      runPipeline(EXAMPLE.filter((n) => n.path === P.base), [["popularity_contest"]], {
        excludePaths: [P.base],
      }),
      [],
    );
  });
  it("debug: one line per step", () => {
    const lines: string[] = [];
    runPipeline(PIPE_TEST, [["split_paths", ["B"]], ["flatten"]], { debug: (l) => lines.push(l) });
    assert.deepEqual(lines, [
      "layeringPipeline[0] split_paths: {main: graph of 5 paths, rest: graph of 5 paths}",
      "layeringPipeline[1] flatten: [graph of 5 paths, graph of 5 paths]",
    ]);
  });
});

describe("layeringPipeline validation", () => {
  const rejects = (pipeline: unknown, message: string | RegExp) =>
    assert.throws(() => validatePipeline(pipeline), (e: Error) => {
      assert.ok(e instanceof LayeringPipelineError, String(e));
      if (typeof message === "string") assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    });

  it("accepts every step, nested", () => {
    const steps = validatePipeline([
      ["split_paths", ["/nix/store/a-x", { children_of: ["/nix/store/b-y"] }]],
      ["over", "main", ["pipe", [["subcomponent_in", ["/nix/store/a-x"]], ["over", "rest", [
        "popularity_contest",
      ]]]]],
      ["over", "rest", ["subcomponent_out", []]],
      ["flatten"],
      ["map", ["remove_paths", "/nix/store/c-z"]],
      ["reverse"],
      ["limit_layers", 5],
    ]);
    assert.equal(steps.length, 7);
    assert.deepEqual(steps[0], {
      op: "split_paths",
      specs: [{ path: "/nix/store/a-x" }, { childrenOf: ["/nix/store/b-y"] }],
      where: "layeringPipeline[0]",
    });
  });
  it("names the step and lists the known ones", () => {
    rejects(
      [["popularity_contest"], ["limit_layers", 3], ["popularity"]],
      'layeringPipeline[2]: unknown step "popularity"; known: popularity_contest, limit_layers, split_paths, ' +
        "subcomponent_in, subcomponent_out, over, map, pipe, flatten, split_every, remove_paths, reverse",
    );
  });
  it("says what each argument must be", () => {
    rejects(
      [["limit_layers", 0]],
      'layeringPipeline[0]: limit_layers needs a positive integer, got number 0; usage: ["limit_layers", n]',
    );
    rejects([["limit_layers", "5"]], /limit_layers needs a positive integer, got string "5"/);
    rejects(
      [["limit_layers"]],
      /layeringPipeline\[0\]: limit_layers takes 1 argument \(a positive integer\), got 0/,
    );
    rejects([["split_every", 1.5]], /split_every needs a positive integer/);
    rejects([["reverse", true]], /reverse takes no arguments, got 1/);
    rejects(
      [["split_paths", "/nix/store/a-x"]],
      /split_paths needs a list of paths or \{"children_of": \.\.\.\} items, got string/,
    );
    rejects(
      [["split_paths", [{ parents_of: "x" }]]],
      /split_paths needs item 0 to be a path or \{"children_of": \.\.\.\}/,
    );
    rejects([["subcomponent_in", "/nix/store/a-x"]], /subcomponent_in needs a list of paths/);
    rejects([["remove_paths", [1]]], /remove_paths needs a path or a list of paths/);
    rejects(
      [["over", "mian", ["flatten"]]],
      /layeringPipeline\[0\]: over needs a key "main", "common" or "rest"/,
    );
  });
  it("locates mistakes inside over, map and pipe", () => {
    rejects(
      [["flatten"], ["over", "main", ["limit_layers", -1]]],
      /^layeringPipeline\[1\]\[2\]: limit_layers needs/,
    );
    rejects([["map", ["nope"]]], /^layeringPipeline\[0\]\[1\]: unknown step "nope"/);
    rejects(
      [["pipe", [["flatten"], ["split_every"]]]],
      /^layeringPipeline\[0\]\[1\]\[1\]: split_every takes 1 argument/,
    );
    rejects([["pipe", "flatten"]], /^layeringPipeline\[0\]: pipe needs a list of steps/);
  });
  it("refuses what is not a pipeline", () => {
    rejects("pipeline.json", /^layeringPipeline: expected a list of steps/);
    rejects(
      [["flatten"], "reverse"],
      /^layeringPipeline\[1\]: a step is a list \["name", \.\.\.arguments\], got string "reverse"/,
    );
    rejects([[]], /^layeringPipeline\[0\]: a step is a list/);
  });
  it("runPipeline validates before running", () => {
    assert.throws(() => runPipeline([], [["nope"]]), LayeringPipelineError);
  });
  it("a step given the wrong kind of value fails while running, naming the step", () => {
    const graph = named({ a: 1, b: 2 }, "b->a");
    assert.throws(
      () => runPipeline(graph, [["popularity_contest"], ["popularity_contest"]]),
      /^LayeringPipelineError: layeringPipeline\[1\]: popularity_contest expects a graph, got a list$/,
    );
    assert.throws(
      () => runPipeline(graph, [["limit_layers", 2]]),
      /layeringPipeline\[0\]: limit_layers expects a list, got a graph/,
    );
    assert.throws(
      () => runPipeline(graph, [["split_paths", ["a"]], ["map", ["flatten"]]]),
      /layeringPipeline\[1\]: map expects a list, got a dict with keys "main", "rest"/,
    );
    // split_paths leaves out empty parts; Nix's over then fails with a KeyError.
    assert.throws(
      () => runPipeline(graph, [["split_paths", ["a"]], ["over", "common", ["reverse"]]]),
      /layeringPipeline\[1\]: over "common": the dict has no "common" \(it has "main", "rest"\)/,
    );
    assert.throws(
      () =>
        runPipeline(graph, [["subcomponent_in", ["a"]], ["flatten"], ["limit_layers", 1], ["map", [
          "split_every",
          1,
        ]], ["limit_layers", 1]]),
      /layeringPipeline\[4\]: limit_layers can only merge graphs, but item 0 is a list/,
    );
  });
  it("a pipeline that ends with a single graph is refused, as flatten_references_graph fails on it", () => {
    const graph = named({ a: 1 }, "");
    assert.throws(
      () => runPipeline(graph, []),
      /the result is a single graph, not a list of layers/,
    );
    assert.throws(
      () => runPipeline(graph, [["remove_paths", "b"]]),
      /the result is a single graph/,
    );
  });
});

// ---------------------------------------------------------------------------
// Closure graph helpers and the layer budget
// ---------------------------------------------------------------------------

describe("closure graph", () => {
  it("parseClosureGraph keeps the three fields and ignores the rest", () => {
    const json = JSON.parse(JSON.stringify([
      {
        path: P.hello,
        narSize: 5,
        narHash: "sha256:x",
        closureSize: 9,
        references: [P.hello, P.glibc],
      },
      { path: P.glibc, narSize: 4, references: [] },
    ]));
    assert.deepEqual(parseClosureGraph(json), [
      { path: P.hello, narSize: 5, references: [P.hello, P.glibc] },
      { path: P.glibc, narSize: 4, references: [] },
    ]);
  });
  it("parseClosureGraph names the bad entry", () => {
    const bad = (json: unknown, message: RegExp) =>
      assert.throws(
        () => parseClosureGraph(json),
        (e: Error) => e instanceof ClosureGraphError && message.test(e.message),
      );
    bad(
      { graph: [] },
      /^closure graph: expected a list of \{path, narSize, references\}, got an object/,
    );
    bad([null], /^closure graph\[0\]: expected an object, got null/);
    bad(
      [{ narSize: 1, references: [] }],
      /^closure graph\[0\]: "path" must be a non-empty string, got nothing/,
    );
    bad(
      [{ path: P.hello, narSize: "5", references: [] }],
      new RegExp(
        `^closure graph\\[0\\] \\(${P.hello}\\): "narSize" must be a non-negative integer, got string "5"`,
      ),
    );
    bad(
      [{ path: P.hello, narSize: -1, references: [] }],
      /"narSize" must be a non-negative integer/,
    );
    bad(
      [{ path: P.hello, narSize: 1, references: [1] }],
      /"references" must be a list of store paths/,
    );
    bad(
      [{ path: P.glibc, narSize: 1, references: [] }, {
        path: P.glibc,
        narSize: 1,
        references: [],
      }],
      /^closure graph\[1\] \(.*glibc.*\): duplicate path \(also closure graph\[0\]\)/,
    );
    bad(
      [{ path: P.hello, narSize: 1, references: [P.glibc] }],
      /^closure graph\[0\] \(.*hello.*\): references .*glibc.*, which is not in the graph/,
    );
  });
  it("closureOf: transitive, roots included", () => {
    assert.deepEqual(
      [...closureOf(EXAMPLE, [P.openssl])].map((p) => SHORT.get(p)),
      ["openssl", "glibc", "libidn2", "libunistring", "xgcc"],
    );
    assert.equal(closureOf(EXAMPLE, [P.custom, P.base]).size, 10);
    assert.throws(() => closureOf(EXAMPLE, ["/nix/store/x-missing"]), ClosureGraphError);
  });
  it("storePathName splits at the first dash", () => {
    assert.deepEqual(storePathName("/nix/store/abc-foo-1.0"), ["foo-1.0", "/nix/store/abc"]);
    assert.throws(() => storePathName("/nix/store/abc"), ClosureGraphError);
  });
  it("compareCodePoints orders like Python's str, not like UTF-16", () => {
    const fullwidthTilde = "\uff5e";
    const emoji = "\u{1f600}";
    assert.ok(emoji < fullwidthTilde); // UTF-16 code units: 0xd83d < 0xff5e
    assert.ok(compareCodePoints(emoji, fullwidthTilde) > 0); // code points: 0x1f600 > 0xff5e
    assert.deepEqual(["b", "a", "ab", ""].sort(compareCodePoints), ["", "a", "ab", "b"]);
  });
});

describe("layerBudget (§4.1)", () => {
  it("leaves maxLayers minus the customisation layer and the base image's layers", () => {
    assert.equal(layerBudget(100, 0), 99);
    assert.equal(layerBudget(2, 0), 1); // 1 store layer + 1 customisation layer
    assert.equal(layerBudget(4, 2), 1); // fromImage with 2 layers: exactly 4 layers
  });
  it("fails unless one layer is left for the store paths", () => {
    assert.throws(
      () => layerBudget(3, 2),
      (e: Error) =>
        e instanceof LayerBudgetError &&
        /^At least 1 layer is required to store contents/.test(e.message),
    );
    assert.throws(() => layerBudget(1, 0), LayerBudgetError);
    assert.throws(() => layerBudget(0, 0), RangeError);
    assert.throws(() => layerBudget(5, -1), RangeError);
  });
  it("popularityContestPipeline(n) is Nix's legacy pipeline", () => {
    assert.deepEqual(popularityContestPipeline(7), [["popularity_contest"], ["limit_layers", 7]]);
  });
});
