/**
 * An image file run directly (`deno run -A image.ts`, `bun image.ts`) reports
 * like the command line: an invalid definition is one `error:` line and exit
 * 2 (the stack only with DOCKWRIGHT_DEBUG=1); a missing Deno permission is one
 * line naming `-A`; a file that exports images but never calls
 * `main(import.meta)` says how to build it. Errors that are not dockwright's
 * keep the runtime's own report.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { CLI, ROOT, RUNTIME, runtimeCommand, runTs } from "./helpers/dockwright.ts";
import { rmrf, run, tempDir } from "./helpers/tools.ts";

const MOD = JSON.stringify(join(ROOT, "mod.ts"));
const HELLO_IMAGE = `buildImage({
  name: "direct",
  tag: "latest",
  copyToRoot: writeTextFile({ name: "hello", destination: "/bin/hello", text: "hi\\n" }),
  config: { Cmd: ["/bin/hello"] },
  compressor: "none",
})`;

describe("image files run directly", () => {
  let dir: string;
  let cache: string;
  /** Writes `source` to `name` in the test folder; returns its path. */
  const file = (name: string, source: string) => {
    writeFileSync(join(dir, name), source);
    return join(dir, name);
  };
  before(() => {
    dir = tempDir("dw-direct-");
    cache = join(dir, "cache");
  });
  after(() => rmrf(dir));

  it("an invalid definition prints the CLI's one error line and exits 2", async () => {
    const bad = file(
      "bad.ts",
      `import { buildImage, main } from ${MOD};
export default buildImage({ name: "x", copytoroot: "./a" });
main(import.meta);
`,
    );
    const direct = await runTs(RUNTIME, bad, ["--cache-dir", cache], { cwd: dir });
    assert.equal(direct.code, 2, direct.stderr);
    assert.match(
      direct.stderr,
      /^error: buildImage: attribute "copytoroot" is not an attribute of buildImage; did you mean "copyToRoot"\?/,
    );
    assert.equal(direct.stderr.trimEnd().split("\n").length, 1, direct.stderr);
    assert.doesNotMatch(direct.stderr, /Uncaught|\n\s+at /);
    const viaCli = await runTs(RUNTIME, CLI, ["build", bad, "--cache-dir", cache], { cwd: dir });
    assert.equal(viaCli.code, 2);
    assert.equal(direct.stderr, viaCli.stderr, "the same line as `dockwright build`");
    const debug = await runTs(RUNTIME, bad, [], { cwd: dir, env: { DOCKWRIGHT_DEBUG: "1" } });
    assert.equal(debug.code, 2);
    assert.match(debug.stderr, /^error: buildImage: attribute "copytoroot"[^\n]*\nAttributeError/);
    assert.match(debug.stderr, /\n\s+at .*bad\.ts/, "the stack, with DOCKWRIGHT_DEBUG=1");
  });

  it("an error that is not dockwright's keeps the runtime's own report", async () => {
    const broken = file(
      "broken.ts",
      `import { buildImage } from ${MOD};
const value: { x?: { y: number } } = {};
console.log(buildImage.name, value.x!.y);
`,
    );
    const r = await runTs(RUNTIME, broken, [], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /TypeError/);
    assert.match(r.stderr, /broken\.ts:3/, "where it happened");
  });

  it("a missing Deno permission gives one line naming -A (Bun has no permissions to miss)", async () => {
    const ok = file(
      "ok.ts",
      `import { buildImage, main, writeTextFile } from ${MOD};
export default ${HELLO_IMAGE};
main(import.meta);
`,
    );
    // Deno's node:child_process gives its own permissions to a child whose arguments name
    // the deno executable (even through sh or env): the path goes in the environment instead.
    const deno = (...args: string[]) =>
      run("sh", ["-c", 'exec "$DW_DENO" run "$@"', "sh", ...args], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: "1", DW_DENO: runtimeCommand("deno")[0] },
      });
    const none = await deno(ok, "--cache-dir", cache);
    assert.equal(none.code, 2, none.stderr);
    assert.match(
      none.stderr,
      /^error: Deno denied a permission dockwright needs \(Requires \w+ access to [^\n]*run again with the --allow-\w+ flag\): run it with deno run -A ok\.ts --cache-dir \S+\n$/,
    );
    // Some flags given, others not: still one line, naming the flag Deno asked for and -A.
    const some = await deno("--allow-read", "--allow-env", ok);
    assert.equal(some.code, 2, some.stderr);
    assert.match(
      some.stderr,
      /^error: Deno denied [^\n]*--allow-\w+ flag\): run it with deno run -A ok\.ts\n$/,
    );
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith(".tar")), [], "nothing built");
    const bun = await runTs("bun", ok, ["--cache-dir", cache, "--quiet"], { cwd: dir });
    assert.equal(bun.code, 0, bun.stderr);
    assert.ok(existsSync(join(dir, "direct.tar")));
  });

  it("a file that exports images but never calls main(import.meta) says how to build it", async () => {
    const work = join(dir, "no-main");
    const noMain = file(
      "no_main.ts",
      `import { buildImage, writeTextFile } from ${MOD};
export default ${HELLO_IMAGE};
export const second = ${HELLO_IMAGE.replace('"direct"', '"second"')};
`,
    );
    const r = await runTs(RUNTIME, noMain, [], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      "error: no_main.ts exports images (default, second) but never calls main(import.meta), so " +
        "nothing was built: add `main(import.meta);` at its end (main is exported by dockwright), " +
        "or run: dockwright build no_main.ts\n",
    );
    assert.equal(existsSync(work), false);
    // A file that builds by itself, and one that exports no image: no hint, exit 0.
    const selfBuilt = file(
      "self_built.ts",
      `import { build, buildImage, writeTextFile } from ${MOD};
export const image = ${HELLO_IMAGE.replace('"direct"', '"self-built"')};
await build(image, { out: ${JSON.stringify(join(dir, "self-built.tar"))}, cacheDir: ${
        JSON.stringify(cache)
      }, progress: false });
`,
    );
    const built = await runTs(RUNTIME, selfBuilt, [], { cwd: dir });
    assert.equal(built.code, 0, built.stderr);
    assert.equal(built.stderr, "");
    assert.ok(existsSync(join(dir, "self-built.tar")));
    const plain = file(
      "plain.ts",
      `import { buildImage } from ${MOD};\nconsole.log(typeof buildImage);\n`,
    );
    const quiet = await runTs(RUNTIME, plain, [], { cwd: dir });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, "function\n");
    assert.equal(quiet.stderr, "");
  });
});
