/**
 * The module map holds: imports between lib/ folders point down only, in the
 * order docs/architecture.md gives. A new upward import fails here, naming
 * the file and the import.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize, relative } from "node:path";
import { ROOT } from "./helpers/dockwright.ts";

/** Each folder's level: a module may import its own folder and lower levels only. */
export const LEVELS: Readonly<Record<string, number>> = {
  cli: 9,
  dsl: 8,
  build: 7,
  inspect: 7,
  transport: 6,
  store: 5,
  tree: 4,
  cache: 3,
  tar: 2,
  model: 2,
  codec: 1,
  elf: 1,
  host: 0,
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []
  );
}

/** The relative imports of a file (static, dynamic and `export ... from`; not those in JSDoc examples). */
function importsOf(file: string): string[] {
  const source = readFileSync(file, "utf8").split("\n").filter((l) => !/^\s*\*/.test(l)).join("\n");
  const out: string[] = [];
  for (const m of source.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
    out.push(normalize(join(dirname(file), m[1])));
  }
  return out;
}

/** The imports under `lib` (a lib/ folder) that do not point down, as "file imports target" lines. */
function upwardImports(root: string): string[] {
  const lib = join(root, "lib");
  const folderOf = (path: string) => relative(lib, path).split("/")[0];
  const upward: string[] = [];
  for (const file of tsFiles(lib)) {
    const from = folderOf(file);
    for (const target of importsOf(file)) {
      // The compiled executable hands image files the public API itself.
      if (from === "cli" && target === join(root, "mod.ts")) continue;
      if (!target.startsWith(lib + "/")) {
        upward.push(`${relative(root, file)} imports ${relative(root, target)} (outside lib/)`);
        continue;
      }
      const to = folderOf(target);
      if (to !== from && !(LEVELS[to] < LEVELS[from])) {
        upward.push(`${relative(root, file)} imports ${relative(root, target)}`);
      }
    }
  }
  return upward;
}

describe("module map", () => {
  it("every lib/ folder has a level", () => {
    const folders = readdirSync(join(ROOT, "lib"), { withFileTypes: true }).filter((e) =>
      e.isDirectory()
    );
    for (const f of folders) assert.ok(f.name in LEVELS, `lib/${f.name} is not in LEVELS`);
  });

  it("imports point down only", () => {
    const upward = upwardImports(ROOT);
    assert.deepEqual(upward, [], `imports that do not point down:\n${upward.join("\n")}`);
  });

  it("the check flags an upward import and a sideways one, not a JSDoc example", () => {
    const root = mkdtempSync(join(tmpdir(), "dw-arch-"));
    try {
      for (const d of ["dsl", "cli", "tar", "model"]) {
        mkdirSync(join(root, "lib", d), { recursive: true });
      }
      writeFileSync(join(root, "lib", "cli", "x.ts"), "export const x = 1;\n");
      writeFileSync(join(root, "lib", "model", "y.ts"), "export const y = 1;\n");
      writeFileSync(
        join(root, "lib", "dsl", "a.ts"),
        'import { x } from "../cli/x.ts";\n/**\n * import { y } from "../tar/z.ts";\n */\nexport const a = x;\n',
      );
      writeFileSync(join(root, "lib", "tar", "b.ts"), 'export { y } from "../model/y.ts";\n');
      assert.deepEqual(upwardImports(root).sort(), [
        "lib/dsl/a.ts imports lib/cli/x.ts",
        "lib/tar/b.ts imports lib/model/y.ts",
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
