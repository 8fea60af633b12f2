/**
 * Layers are applied as container runtimes apply them: a member's folder is
 * found through the symlinks of the image (inside the image root, never
 * outside), whiteouts and opaque folders are honoured through them, a folder
 * entry replaces a symlink. Each case builds an OCI layout from hand-made
 * layers, unpacks it with umoci (the reference: containerd and docker resolve
 * the same way) and with exportImage, and compares the two trees.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { build, exportImage } from "../mod.ts";
import { readTar } from "../lib/tar/reader.ts";
import {
  dir,
  file,
  ociLayout,
  plainLayer,
  type RawMember,
  sha256,
  symlink,
  tar,
} from "./helpers/hostile.ts";
import { requireTools, rmrf, tempDir, umociUnpack } from "./helpers/tools.ts";

/** path -> "type mode [target|content hash]", as a tree looks to a reader. */
type Tree = Map<string, string>;

async function exportedTree(tarPath: string): Promise<Tree> {
  const out: Tree = new Map();
  for await (const { header, body } of readTar(createReadStream(tarPath))) {
    const path = header.path.replace(/^\.\/?/, "");
    if (path === "") continue;
    const chunks: Uint8Array[] = [];
    for await (const c of body) chunks.push(c.slice());
    const what = header.type === "symlink"
      ? header.linkTarget
      : header.type === "file"
      ? sha256(Buffer.concat(chunks))
      : "";
    out.set(path, `${header.type} ${(header.mode & 0o777).toString(8)} ${what}`);
  }
  return out;
}

function unpackedTree(root: string): Tree {
  const out: Tree = new Map();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      const mode = (st.mode & 0o777).toString(8);
      if (st.isSymbolicLink()) out.set(path, `symlink ${mode} ${readlinkSync(join(root, path))}`);
      else if (st.isDirectory()) {
        out.set(path, `directory ${mode} `);
        walk(path);
      } else out.set(path, `file ${mode} ${sha256(readFileSync(join(root, path)))}`);
    }
  };
  walk("");
  return out;
}

/** Cases: layers bottom first, and paths that must (not) be in the result. */
const CASES: Array<{
  name: string;
  layers: RawMember[][];
  has?: string[];
  lacks?: string[];
}> = [
  {
    name: "merged /usr: lib -> usr/lib, then lib/b, a whiteout and an opaque folder through it",
    layers: [
      [
        dir("usr"),
        dir("usr/lib"),
        file("usr/lib/a", "a\n"),
        file("usr/lib/keep", "k\n"),
        symlink("lib", "usr/lib"),
        dir("usr/bin"),
        symlink("bin", "usr/bin"),
      ],
      [file("lib/b", "b\n"), file("bin/sh", "#!/bin/sh\n", 0o755)],
      [file("lib/.wh.keep", ""), file("lib/late", "l\n")],
    ],
    has: ["usr/lib/b", "usr/bin/sh", "usr/lib/late", "usr/lib/a", "lib"],
    lacks: ["usr/lib/keep"],
  },
  {
    name: "an opaque marker under a symlink hides the lower children of the linked folder",
    layers: [
      [dir("usr"), dir("usr/lib"), file("usr/lib/old", "o\n"), symlink("lib", "usr/lib")],
      [file("lib/.wh..wh..opq", ""), file("lib/new", "n\n")],
    ],
    has: ["usr/lib/new", "lib"],
    lacks: ["usr/lib/old"],
  },
  {
    name: "links that climb out of the root or are absolute resolve inside it",
    layers: [
      [
        dir("etc"),
        file("etc/passwd", "root\n"),
        symlink("evil", "/../../etc"),
        dir("a"),
        symlink("a/up", "../../../../etc"),
        symlink("x", "y"),
        symlink("y", "a/up"),
      ],
      [file("evil/shadow", "s\n"), file("a/up/group", "g\n"), file("x/chain", "c\n")],
    ],
    has: ["etc/shadow", "etc/group", "etc/chain"],
  },
  {
    name: "a folder entry replaces a symlink; a whiteout removes the link, not its target",
    layers: [
      [dir("data"), file("data/f", "f\n"), symlink("l1", "data"), symlink("l2", "data")],
      [dir("l1"), file("l1/own", "o\n"), file(".wh.l2", "")],
    ],
    has: ["l1/own", "data/f"],
    lacks: ["l2", "data/own"],
  },
  {
    name: "hard links named through a symlink, files and folders replacing each other",
    layers: [
      [
        dir("usr"),
        dir("usr/lib"),
        file("usr/lib/real", "r\n"),
        symlink("lib", "usr/lib"),
        file("thing", "file\n"),
        dir("other"),
        file("other/x", "x\n"),
      ],
      [
        { name: "hl", type: "1", linkname: "lib/real" },
        dir("thing"),
        file("thing/inside", "i\n"),
        file("other", "now a file\n"),
      ],
    ],
    has: ["hl", "thing/inside", "other"],
    lacks: ["other/x"],
  },
];

describe("layers applied as runtimes apply them (compared with umoci)", () => {
  let work: string;
  before(() => {
    work = tempDir("dw-apply-");
  });
  after(() => rmrf(work));

  for (const [i, c] of CASES.entries()) {
    it(c.name, async (t) => {
      if (!requireTools(t, ["umoci"])) return;
      const layout = join(work, `layout-${i}`);
      ociLayout(layout, { layers: c.layers.map((l) => plainLayer(tar(l))) });
      const bundle = join(work, `bundle-${i}`);
      await umociUnpack(layout, "latest", bundle);
      const out = join(work, `export-${i}.tar`);
      await build(exportImage({ fromImage: layout }), {
        out,
        cacheDir: join(work, "cache"),
        progress: false,
      });
      const ours = await exportedTree(out);
      const theirs = unpackedTree(join(bundle, "rootfs"));
      assert.deepEqual(
        [...ours].sort(),
        [...theirs].sort(),
        "exportImage's tree equals umoci's",
      );
      for (const p of c.has ?? []) assert.ok(ours.has(p), `${p} is there`);
      for (const p of c.lacks ?? []) assert.ok(!ours.has(p), `${p} is not there`);
    });
  }
});
