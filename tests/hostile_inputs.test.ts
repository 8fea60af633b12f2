/**
 * Hostile and broken inputs, made at run time (nothing generated is
 * committed): traversal names, link tricks, bombs, huge or deep JSON, special
 * files, lying layouts and misbehaving registries, used as `fromImage`, the
 * base of a layered image, an `exportImage` input, a `mergeImages` input, a
 * `runAsRoot` base and a `pullImage`/`openImage` source. Each must give one
 * clear error naming the input, write nothing and leave no temp file, without
 * crashing, hanging, or using more than 512 MiB of memory or its disk budget.
 * Legal oddities (Docker 25 archives, podman's OCI archives, old `docker save`
 * links, names that are not UTF-8, ...) must still be accepted.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import type * as http from "node:http";
import { join } from "node:path";
import process from "node:process";
import {
  build,
  buildImage,
  buildLayeredImage,
  exportImage,
  InputError,
  inspectImage,
  mergeImages,
  openImage,
  writeTextDir,
} from "../mod.ts";
import { writeRootFolder } from "../lib/build/run/root_folder.ts";
import { parseConfigFile } from "../lib/model/image_config.ts";
import { FileTree } from "../lib/tree/file_tree.ts";
import { decompress } from "../lib/codec/decompress.ts";
import { readTar } from "../lib/tar/reader.ts";
import { encodeHeader } from "../lib/tar/header.ts";
import { ROOT, RUNTIME, runtimeCommand } from "./helpers/dockwright.ts";
import {
  compressedTar,
  configFor,
  dir,
  docker25Members,
  dockerArchive,
  dockerArchiveMembers,
  endless,
  type FaultServer,
  file,
  ociLayout,
  ociLayoutMembers,
  plainLayer,
  type RawMember,
  runMeasured,
  sha256,
  startFaultServer,
  symlink,
  tar,
  zeroBombArchive,
  zeroBombLayer,
} from "./helpers/hostile.ts";
import { requireTools, rmrf, tempDir } from "./helpers/tools.ts";

const enc = new TextEncoder();
const MiB = 1 << 20;

/** How an input is used. */
type Consumer = "fromImage" | "layered" | "export" | "merge" | "runAsRoot";
const ARCHIVE_USES: Consumer[] = ["fromImage", "layered", "export", "merge", "runAsRoot"];
const LAYOUT_USES: Consumer[] = ["fromImage", "layered", "export", "runAsRoot"];
/** Layer contents are checked where dockwright applies layers; as a base they pass unchanged, as in docker. */
const APPLY_USES: Consumer[] = ["export", "runAsRoot"];

function valueFor(use: Consumer, path: string) {
  switch (use) {
    case "fromImage":
      return buildImage({ name: "hostile", fromImage: path, copyToRoot: writeTextDir("/x", "x") });
    case "layered":
      return buildLayeredImage({ name: "hostile", fromImage: path });
    case "export":
      return exportImage({ fromImage: path });
    case "merge":
      return mergeImages([path]);
    case "runAsRoot":
      return buildImage({ name: "hostile", fromImage: path, runAsRoot: "true" });
  }
}

/** The source line of an image file using `path` as `use`. */
function imageFileFor(use: Consumer, path: string): string {
  const p = JSON.stringify(path);
  const body = {
    fromImage: `buildImage({ name: "hostile", fromImage: ${p} })`,
    layered: `buildLayeredImage({ name: "hostile", fromImage: ${p} })`,
    export: `exportImage({ fromImage: ${p} })`,
    merge: `mergeImages([${p}])`,
    runAsRoot: `buildImage({ name: "hostile", fromImage: ${p}, runAsRoot: "true" })`,
  }[use];
  return `import { buildImage, buildLayeredImage, exportImage, mergeImages } from ${
    JSON.stringify(join(ROOT, "mod.ts"))
  };\nexport default ${body};\n`;
}

/** One hostile input, how it may be used, and what its error must say. */
interface Case {
  name: string;
  make: (dir: string) => string | Promise<string>;
  uses: Consumer[];
  expect: RegExp;
  /** Extra environment of a command-line run (limits lowered to keep the test small). */
  env?: Record<string, string>;
  /** Run it through the command line too (with memory and disk measured). */
  cli?: Consumer;
  /** Disk the command-line run may use at its peak (default 64 MiB). */
  diskBudget?: number;
}

const LAYER = tar([dir("etc"), file("etc/motd", "hi\n")]);
const CONFIG = configFor([LAYER]);
const CONFIG_NAME = `${sha256(CONFIG)}.json`;
const LAYER_NAME = `${sha256(LAYER)}/layer.tar`;
const entry = (fields: Record<string, unknown>) => [{
  Config: CONFIG_NAME,
  RepoTags: ["hostile:latest"],
  Layers: [LAYER_NAME],
  ...fields,
}];
const archive = (name: string, spec: Parameters<typeof dockerArchive>[1]) => (d: string) =>
  dockerArchive(join(d, name), spec);
const layerArchive = (name: string, members: RawMember[]) => (d: string) =>
  dockerArchive(join(d, name), { layers: [tar(members)] });

/** A layout folder changed by `change` after it is written. */
function layout(name: string, change: (path: string, manifestHex: string) => void) {
  return (d: string) => {
    const path = join(d, name);
    const hex = ociLayout(path, { layers: [plainLayer(LAYER)] });
    change(path, hex);
    return path;
  };
}

const blobPath = (layoutDir: string, hex: string) => join(layoutDir, "blobs", "sha256", hex);

const CASES: Case[] = [
  // --- archives: names -------------------------------------------------------
  {
    name: "a member named ../../evil.json",
    make: archive("traversal.tar", { before: [file("../../evil.json", "{}")] }),
    uses: ARCHIVE_USES,
    expect: /refusing tar member "\.\.\/\.\.\/evil\.json".*'\.\.'/,
    cli: "merge",
  },
  {
    name: "an absolute member name",
    make: archive("absolute.tar", { before: [file("/etc/cron.d/x", "x")] }),
    uses: ARCHIVE_USES,
    expect: /refusing tar member "\/etc\/cron\.d\/x".*absolute/,
  },
  {
    name: "a member name with a NUL byte",
    make: archive("nul-name.tar", { before: [file("a\0b.json", "{}")] }),
    uses: ARCHIVE_USES,
    expect: /NUL byte/,
  },
  {
    name: "a member name of 100,000 components",
    make: archive("deep-member.tar", { before: [file("a/".repeat(100_000) + "x", "x")] }),
    uses: ARCHIVE_USES,
    expect: /longer than the limit of 4096 \(PATH_MAX\)/,
  },
  // --- archives: the manifest names what it should not -----------------------
  {
    name: "a manifest naming ../../etc/passwd as a layer",
    make: archive("manifest-traversal.tar", {
      manifest: entry({ Layers: ["../../etc/passwd"] }),
    }),
    uses: ARCHIVE_USES,
    expect:
      /manifest\.json\[0\]\.Layers\[0\] names "\.\.\/\.\.\/etc\/passwd", which is not a member name/,
    cli: "merge",
  },
  {
    name: "a manifest naming an absolute layer",
    make: archive("manifest-absolute.tar", { manifest: entry({ Layers: ["/etc/passwd"] }) }),
    uses: ARCHIVE_USES,
    expect: /Layers\[0\] names "\/etc\/passwd", which is not a member name/,
  },
  {
    name: "a manifest naming a member with NUL",
    make: archive("manifest-nul.tar", { manifest: entry({ Config: "c\0.json" }) }),
    uses: ARCHIVE_USES,
    expect: /manifest\.json\[0\]\.Config names "c\\u0000\.json"/,
  },
  {
    name: "a manifest naming a layer the archive lacks",
    make: archive("missing-layer.tar", { manifest: entry({ Layers: ["nope/layer.tar"] }) }),
    uses: ARCHIVE_USES,
    expect: /names "nope\/layer\.tar", which the archive does not contain/,
  },
  {
    name: "a number in RepoTags",
    make: archive("repotags-number.tar", { manifest: entry({ RepoTags: [42] }) }),
    uses: ARCHIVE_USES,
    expect: /RepoTags\[0\] \(42\) is not a name:tag reference/,
    cli: "merge",
  },
  {
    name: "a RepoTag that is not a reference",
    make: archive("repotags-bad.tar", { manifest: entry({ RepoTags: ["Evil Name:../x"] }) }),
    uses: ARCHIVE_USES,
    expect: /RepoTags\[0\] \("Evil Name:\.\.\/x"\) is not a name:tag reference/,
  },
  {
    name: "a manifest that is an object, not a list",
    make: archive("manifest-object.tar", { manifest: { Config: CONFIG_NAME } }),
    uses: ARCHIVE_USES,
    expect: /manifest\.json is not a non-empty list of images/,
  },
  {
    name: "Layers that is a string",
    make: archive("layers-string.tar", { manifest: entry({ Layers: LAYER_NAME }) }),
    uses: ARCHIVE_USES,
    expect: /manifest\.json\[0\]\.Layers must be a list/,
  },
  {
    name: "one layer listed 200,000 times",
    make: archive("amplified.tar", {
      manifest: entry({ Layers: new Array(200_000).fill(LAYER_NAME) }),
    }),
    uses: ARCHIVE_USES,
    expect: /Layers has 200000 layers, over the limit of 500 layers.*DOCKWRIGHT_MAX_LAYERS/,
    cli: "export",
  },
  {
    name: "a config whose diff_ids do not match the layers",
    make: archive("wrong-diff.tar", {
      config: configFor([], { rootfs: { type: "layers", diff_ids: [`sha256:${"0".repeat(64)}`] } }),
    }),
    uses: ARCHIVE_USES,
    expect: /has diff_id sha256:[0-9a-f]{64} but the config says sha256:0{64}/,
  },
  // --- archives: links -------------------------------------------------------
  {
    name: "a layer member linking to ../../../etc/passwd",
    make: archive("link-escape.tar", {
      layers: [],
      manifest: [{ Config: "c.json", Layers: ["layer.tar"] }],
      before: [symlink("layer.tar", "../../../etc/passwd")],
    }),
    uses: ARCHIVE_USES,
    expect: /member layer\.tar links outside the archive/,
  },
  {
    name: "a layer member linking to /etc/passwd",
    make: archive("link-absolute.tar", {
      before: [symlink("layer.tar", "/etc/passwd")],
      manifest: entry({ Layers: ["layer.tar"] }),
    }),
    uses: ARCHIVE_USES,
    expect: /member layer\.tar is a link to "\/etc\/passwd", which is not inside the archive/,
  },
  {
    name: "links that loop",
    make: archive("link-loop.tar", {
      before: [symlink("a.tar", "b.tar"), symlink("b.tar", "a.tar")],
      manifest: entry({ Layers: ["a.tar"] }),
    }),
    uses: ARCHIVE_USES,
    expect: /member a\.tar: its links loop or chain more than 40 times/,
    cli: "fromImage",
  },
  {
    name: "a hard link to a member that is not there",
    make: archive("hardlink-missing.tar", {
      before: [{ name: "h.tar", type: "1", linkname: "nowhere.tar" }],
      manifest: entry({ Layers: ["h.tar"] }),
    }),
    uses: ARCHIVE_USES,
    expect: /names "h\.tar", which the archive does not contain/,
  },
  // --- archives: special files and sizes -------------------------------------
  {
    name: "a fifo member",
    make: archive("fifo-member.tar", { before: [{ name: "pipe", type: "6" }] }),
    uses: ARCHIVE_USES,
    expect: /member pipe is a fifo: an image archive holds only files, folders and links/,
  },
  {
    name: "a character device member",
    make: archive("device-member.tar", {
      before: [{ name: "zero", type: "3", devMajor: 1, devMinor: 5 }],
    }),
    uses: ARCHIVE_USES,
    expect: /member zero is a char/,
  },
  {
    name: "a manifest.json of 300 MiB (compressed to a few KiB)",
    make: (d) =>
      compressedTar(join(d, "huge-manifest.tar.zst"), "zstd", [
        { header: { name: "manifest.json" }, size: 300 * MiB, fill: 0x20 },
      ]),
    uses: ARCHIVE_USES,
    expect: /manifest\.json is 300 MiB, over the limit of 16 MiB.*DOCKWRIGHT_MAX_JSON_BYTES/,
    cli: "merge",
  },
  {
    name: "a manifest.json nested 100,000 deep",
    make: archive("deep-manifest.tar", {
      manifestBytes: enc.encode("[".repeat(100_000) + "]".repeat(100_000)),
    }),
    uses: ARCHIVE_USES,
    expect: /manifest\.json nests at least 65 levels deep.*DOCKWRIGHT_MAX_JSON_DEPTH/,
    cli: "merge",
  },
  {
    name: "a config nested 100,000 deep",
    make: archive("deep-config.tar", {
      config: enc.encode(
        `{"rootfs":{"diff_ids":[]},"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`,
      ),
      manifest: [{ Config: "deep.json", Layers: [] }],
      after: [file("deep.json", `{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`)],
    }),
    uses: ARCHIVE_USES,
    expect: /nests at least 65 levels deep/,
  },
  {
    name: "more members than the limit",
    make: archive("many-members.tar", {
      before: Array.from({ length: 300 }, (_, i) => file(`m/${i}`, "")),
    }),
    uses: ["fromImage"],
    env: { DOCKWRIGHT_MAX_ARCHIVE_MEMBERS: "200" },
    expect: /the archive has 201 members, over the limit of 200 members/,
    cli: "fromImage",
  },
  {
    name: "a zstd bomb: 1 GiB of zeros in a 40 KiB archive",
    make: (d) => zeroBombArchive(join(d, "bomb.tar.zst"), "zstd", 1024 * MiB),
    uses: ARCHIVE_USES,
    expect:
      /bomb\.tar\.zst: the uncompressed archive expands to more than 2\d\d(\.\d)? MiB, over the limit of 250 times its size plus 256 MiB.*DOCKWRIGHT_MAX_EXPANSION/,
    cli: "fromImage",
    diskBudget: 320 * MiB,
  },
  {
    name: "a gzip bomb: 512 MiB of zeros in a 0.5 MiB archive",
    make: (d) => zeroBombArchive(join(d, "bomb.tar.gz"), "gzip", 512 * MiB),
    uses: ["merge", "export"],
    expect:
      /bomb\.tar\.gz: the uncompressed archive expands to more than 3\d\d(\.\d)? MiB, over the limit of 250 times its size plus 256 MiB/,
    cli: "merge",
    diskBudget: 448 * MiB,
  },
  {
    name: "a truncated gzip archive",
    make: (d) => {
      const path = join(d, "truncated.tar.gz");
      const gz = spawnSync("gzip", ["-c"], { input: tar(dockerArchiveMembers({})) }).stdout;
      writeFileSync(path, gz.subarray(0, gz.length - 40));
      return path;
    },
    uses: ARCHIVE_USES,
    expect: /truncated\.tar\.gz: the gzip stream is corrupt or truncated/,
  },
  {
    // Deno's and Bun's zstd decoders end quietly at a frame cut short.
    name: "a truncated zstd archive",
    make: (d) => {
      const path = join(d, "truncated.tar.zst");
      const zst = spawnSync("zstd", ["-q", "-c"], { input: tar(dockerArchiveMembers({})) }).stdout;
      writeFileSync(path, zst.subarray(0, zst.length - 40));
      return path;
    },
    uses: ARCHIVE_USES,
    expect:
      /truncated\.tar\.zst: the zstd stream is corrupt or truncated \(the zstd stream is cut short inside a frame\)/,
  },
  {
    name: "an empty file",
    make: (d) => {
      writeFileSync(join(d, "empty.tar"), "");
      return join(d, "empty.tar");
    },
    uses: ARCHIVE_USES,
    expect: /empty\.tar: is an empty file, not an image archive/,
  },
  // --- not regular files -----------------------------------------------------
  {
    name: "a fifo given as the archive (must not hang)",
    make: (d) => {
      const path = join(d, "fifo.tar");
      spawnSync("mkfifo", [path]);
      return path;
    },
    uses: ["fromImage", "export", "merge"],
    expect: /fifo\.tar: the archive is a fifo \(named pipe\), not a regular file/,
    cli: "fromImage",
  },
  {
    name: "a link to /dev/zero given as the archive",
    make: (d) => {
      symlinkSync("/dev/zero", join(d, "zero.tar"));
      return join(d, "zero.tar");
    },
    uses: ["fromImage", "export", "merge"],
    expect: /zero\.tar: the archive is a character device, not a regular file/,
    cli: "export",
  },
  {
    name: "a folder without index.json given to mergeImages",
    make: (d) => {
      mkdirSync(join(d, "folder.tar"));
      return join(d, "folder.tar");
    },
    uses: ["merge"],
    expect: /folder\.tar: the archive is a folder, not a regular file/,
  },
  // --- OCI layouts ------------------------------------------------------------
  {
    name: "a layout whose index.json is 300 MiB (sparse)",
    make: layout("huge-index.oci", (p) => truncateSync(join(p, "index.json"), 300 * MiB)),
    uses: LAYOUT_USES,
    expect: /huge-index\.oci: index\.json is 300 MiB, over the limit of 16 MiB/,
    cli: "export",
  },
  {
    name: "a layout whose index.json links to /dev/zero",
    make: layout("zero-index.oci", (p) => {
      rmrf(join(p, "index.json"));
      symlinkSync("/dev/zero", join(p, "index.json"));
    }),
    uses: LAYOUT_USES,
    expect:
      /zero-index\.oci: index\.json is a link that leads out of the layout \(to \/dev\/zero\)/,
    cli: "fromImage",
  },
  {
    name: "a layout whose manifest links to /dev/zero",
    make: layout("zero-manifest.oci", (p, hex) => {
      rmrf(blobPath(p, hex));
      symlinkSync("/dev/zero", blobPath(p, hex));
    }),
    uses: LAYOUT_USES,
    expect:
      /manifest sha256:[0-9a-f]{64} \(blob sha256:[0-9a-f]{64}\) is a link that leads out of the layout/,
  },
  {
    name: "a layout whose layer links to a file outside it",
    make: (d) => {
      const path = join(d, "outside-layer.oci");
      ociLayout(path, { layers: [plainLayer(LAYER)] });
      const outside = join(d, "outside-layer-copy");
      writeFileSync(outside, LAYER);
      rmrf(blobPath(path, sha256(LAYER)));
      symlinkSync(outside, blobPath(path, sha256(LAYER)));
      return path;
    },
    uses: LAYOUT_USES,
    expect: /layer 0 \(blob sha256:[0-9a-f]{64}\) is a link that leads out of the layout/,
  },
  {
    name: "a layout whose layer is a fifo (must not hang)",
    make: (d) => {
      const path = join(d, "fifo-layer.oci");
      ociLayout(path, { layers: [plainLayer(LAYER)] });
      rmrf(blobPath(path, sha256(LAYER)));
      spawnSync("mkfifo", [blobPath(path, sha256(LAYER))]);
      return path;
    },
    uses: LAYOUT_USES,
    expect: /layer 0 \(blob sha256:[0-9a-f]{64}\) is a fifo \(named pipe\), not a regular file/,
    cli: "export",
  },
  {
    name: "a layout with a folder where a blob belongs",
    make: (d) => {
      const path = join(d, "dir-blob.oci");
      ociLayout(path, { layers: [plainLayer(LAYER)] });
      rmrf(blobPath(path, sha256(LAYER)));
      mkdirSync(blobPath(path, sha256(LAYER)));
      return path;
    },
    uses: LAYOUT_USES,
    expect: /layer 0 \(blob sha256:[0-9a-f]{64}\) is a folder, not a regular file/,
  },
  {
    name: "a layout whose index.json is a folder",
    make: layout("dir-index.oci", (p) => {
      rmrf(join(p, "index.json"));
      mkdirSync(join(p, "index.json"));
    }),
    uses: LAYOUT_USES,
    expect: /dir-index\.oci: index\.json is a folder, not a regular file/,
  },
  {
    name: "a layout whose blob is bigger than its descriptor says",
    make: (d) => {
      const path = join(d, "lying-size.oci");
      ociLayout(path, { layers: [plainLayer(LAYER)] });
      writeFileSync(blobPath(path, sha256(LAYER)), Buffer.concat([LAYER, Buffer.alloc(4096)]));
      return path;
    },
    uses: LAYOUT_USES,
    expect: /blob sha256:[0-9a-f]{64} is \d+ bytes, but its descriptor says \d+/,
  },
  {
    name: "a layout whose index lists itself",
    make: (d) => {
      const path = join(d, "self-index.oci");
      ociLayout(path, { layers: [plainLayer(LAYER)] });
      // An index blob listing an index blob listing ... (a chain as deep as wanted).
      let child = readFileSync(join(path, "index.json"));
      for (let i = 0; i < 8; i++) {
        const doc = Buffer.from(JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: [{
            mediaType: "application/vnd.oci.image.index.v1+json",
            digest: `sha256:${sha256(child)}`,
            size: child.length,
          }],
        }));
        writeFileSync(blobPath(path, sha256(child)), child);
        child = doc;
      }
      writeFileSync(join(path, "index.json"), child);
      return path;
    },
    uses: LAYOUT_USES,
    expect: /indexes are nested more than 4 deep/,
  },
  {
    name: "a layout with 600 layers",
    make: (d) => {
      const path = join(d, "many-layers.oci");
      ociLayout(path, { layers: new Array(600).fill(plainLayer(LAYER)) });
      return path;
    },
    uses: LAYOUT_USES,
    expect: /has 600 layers, over the limit of 500 layers/,
  },
  {
    name: "a layout with a gzip bomb layer",
    make: (d) => {
      const path = join(d, "gzip-bomb.oci");
      ociLayout(path, { layers: [zeroBombLayer(512 * MiB)] });
      return path;
    },
    uses: ["export"],
    expect:
      /gzip-bomb\.oci: .*layer sha256:[0-9a-f]{64} expands to more than 3\d\d(\.\d)? MiB.*DOCKWRIGHT_MAX_EXPANSION/,
    cli: "export",
    diskBudget: 64 * MiB,
  },
  {
    name: "a descriptor with a negative size",
    make: layout("negative-size.oci", (p) => {
      const index = JSON.parse(readFileSync(join(p, "index.json"), "utf8"));
      index.manifests[0].size = -1;
      writeFileSync(join(p, "index.json"), JSON.stringify(index));
    }),
    uses: LAYOUT_USES,
    expect: /index manifests\[0\] is not a valid descriptor/,
  },
  // --- configs ------------------------------------------------------------------
  {
    name: "a config whose Env holds a number",
    make: archive("env-number.tar", {
      config: configFor([LAYER], { config: { Env: ["A=1", 2] } }),
    }),
    uses: ARCHIVE_USES,
    expect: /the image config's config\.Env must be a list of strings/,
  },
  {
    name: "a config whose Labels hold an object",
    make: archive("labels-object.tar", {
      config: configFor([LAYER], { config: { Labels: { a: { b: 1 } } } }),
    }),
    uses: ARCHIVE_USES,
    expect: /the image config's config\.Labels\["a"\] must be a string/,
    cli: "layered",
  },
  {
    name: "a config whose history holds a number",
    make: archive("history-number.tar", { config: configFor([LAYER], { history: [1] }) }),
    uses: ARCHIVE_USES,
    expect: /the image config's history\[0\] must be an object/,
  },
  // --- layers, where they are applied ----------------------------------------------
  {
    name: "a layer with a path 100,000 folders deep",
    make: layerArchive("deep-layer.tar", [file("a/".repeat(100_000) + "x", "x")]),
    uses: APPLY_USES,
    expect:
      /the member name is 200001 bytes, longer than the limit of 4096 \(PATH_MAX\).*DOCKWRIGHT_MAX_PATH_BYTES/,
    cli: "export",
  },
  {
    name: "a layer member named ../../../tmp/x",
    make: layerArchive("layer-traversal.tar", [file("../../../tmp/x", "x")]),
    uses: APPLY_USES,
    expect: /refusing tar member "\.\.\/\.\.\/\.\.\/tmp\/x"/,
  },
  {
    name: "a layer whose links loop",
    make: layerArchive("layer-loop.tar", [symlink("a", "b"), symlink("b", "a"), file("a/x", "x")]),
    uses: APPLY_USES,
    expect: /"a\/x": too many levels of symbolic links on its path/,
  },
  {
    name: "a layer writing below a file",
    make: layerArchive("below-file.tar", [file("f", "f"), file("f/x", "x")]),
    uses: APPLY_USES,
    expect: /"f\/x": "f" on its path is a file, not a folder/,
  },
  {
    name: "a layer with a hard link to nothing",
    make: layerArchive("hardlink-nothing.tar", [{ name: "h", type: "1", linkname: "nowhere" }]),
    uses: APPLY_USES,
    expect: /"h": its hard link names "nowhere", which is not a file of the image/,
  },
  {
    name: "a layer with more entries than the limit",
    make: layerArchive(
      "many-entries.tar",
      Array.from({ length: 300 }, (_, i) => file(`f${i}`, "")),
    ),
    uses: ["export"],
    env: { DOCKWRIGHT_MAX_ENTRIES: "200" },
    expect: /the image's files has 201 entries, over the limit of 200 entries/,
    cli: "export",
  },
];

/** Registry cases: what the stand-in answers to each request. */
interface RegistryCase {
  name: string;
  /** The image served (default: a small valid one). */
  image?: () => RegistryImage;
  /** Answers; `image` serves a valid image otherwise. */
  handler: (image: RegistryImage) => (req: http.IncomingMessage, res: http.ServerResponse) => void;
  expect: RegExp;
  /** Through the command line too, with this timeout (seconds). */
  cli?: boolean;
}

/** A small valid image as a registry serves it. */
interface RegistryImage {
  manifest: Uint8Array;
  manifestDigest: string;
  blobs: Map<string, Uint8Array>;
  /** Serves the image (200s), `/v2/` included. */
  serve: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

function registryImage(
  layers = [plainLayer(LAYER)],
  config?: Record<string, unknown>,
): RegistryImage {
  const { blobs, manifestHex } = ociLayoutMembers({ layers, config });
  const manifest = blobs.get(manifestHex)!;
  const image: RegistryImage = {
    manifest,
    manifestDigest: `sha256:${manifestHex}`,
    blobs,
    serve: (req, res) => {
      const url = req.url ?? "";
      if (url === "/v2/") return void res.end("{}");
      const m = /\/(manifests|blobs)\/sha256:([0-9a-f]{64})$/.exec(url);
      const bytes = m ? blobs.get(m[2]) : undefined;
      if (!bytes) return void res.writeHead(404).end();
      res.writeHead(200, {
        "content-type": m![1] === "manifests"
          ? "application/vnd.oci.image.manifest.v1+json"
          : "application/octet-stream",
        "content-length": String(bytes.length),
      });
      res.end(bytes);
    },
  };
  return image;
}

const isManifest = (req: http.IncomingMessage) => (req.url ?? "").includes("/manifests/");
const isConfigBlob = (img: RegistryImage) => (req: http.IncomingMessage) =>
  (req.url ?? "").includes("/blobs/") &&
  !(req.url ?? "").endsWith(sha256(LAYER)) && !(req.url ?? "").endsWith(img.manifestDigest);

const REGISTRY_CASES: RegistryCase[] = [
  {
    name: "a redirect of a blob to file:///etc/passwd",
    handler: (img) => (req, res) => {
      if (isConfigBlob(img)(req)) {
        return void res.writeHead(307, { location: "file:///etc/passwd" }).end();
      }
      img.serve(req, res);
    },
    expect: /redirects to a file: URL; only http: and https: redirects are followed/,
    cli: true,
  },
  {
    name: "a token realm at file:///etc/passwd",
    handler: () => (_req, res) => {
      res.writeHead(401, { "www-authenticate": 'Bearer realm="file:///etc/passwd",service="x"' });
      res.end();
    },
    expect: /names a token server at a file: URL; only http: and https: token servers are asked/,
  },
  {
    name: "a token realm at file:///dev/zero",
    handler: () => (_req, res) => {
      res.writeHead(401, { "www-authenticate": 'Bearer realm="file:///dev/zero"' });
      res.end();
    },
    expect: /token server at a file: URL/,
    cli: true,
  },
  {
    name: "a manifest that stalls after the headers",
    handler: (img) => (req, res) => {
      if (isManifest(req)) {
        res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
        return void res.write("{");
      }
      img.serve(req, res);
    },
    expect: /reading manifest sha256:[0-9a-f]{64} failed 2 times \(no data for 0\.3 s/,
    cli: true,
  },
  {
    name: "a blob that stalls half way",
    handler: (img) => (req, res) => {
      if (isConfigBlob(img)(req)) {
        const bytes = img.blobs.get((req.url ?? "").slice(-64))!;
        res.writeHead(200, { "content-length": String(bytes.length) });
        return void res.write(bytes.subarray(0, bytes.length >> 1));
      }
      img.serve(req, res);
    },
    expect:
      /downloading config \(sha256:[0-9a-f]{64}\) stopped after \d+ of \d+ bytes, 2 times \(no data for 0\.3 s/,
  },
  {
    name: "a registry that never answers",
    handler: () => () => {},
    expect:
      /cannot reach 127\.0\.0\.1:\d+ .*no answer from http:\/\/127\.0\.0\.1:\d+\/v2\/ within 0\.3 s/,
  },
  {
    name: "an endless error page",
    handler: (img) => (req, res) => {
      if (isManifest(req)) {
        res.writeHead(400, { "content-type": "text/html" });
        return endless(res);
      }
      img.serve(req, res);
    },
    expect: /cannot get manifest sha256:[0-9a-f]{64}: HTTP 400/,
    cli: true,
  },
  {
    name: "an endless token answer",
    handler: (img) => (req, res) => {
      if (req.url === "/v2/" || (req.url ?? "").startsWith("/v2/") && !req.headers.authorization) {
        const realm = `http://${req.headers.host}/token`;
        return void res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}"` }).end();
      }
      if ((req.url ?? "").startsWith("/token")) {
        res.writeHead(200, { "content-type": "application/json" });
        return endless(res);
      }
      img.serve(req, res);
    },
    expect:
      /the answer of the token server of 127\.0\.0\.1:\d+ .* is larger than 16 MiB; refusing it/,
    cli: true,
  },
  {
    name: "an endless manifest",
    handler: (img) => (req, res) => {
      if (isManifest(req)) {
        res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
        return endless(res);
      }
      img.serve(req, res);
    },
    expect:
      /manifest sha256:[0-9a-f]{64} is larger than 16 MiB; refusing it; .*DOCKWRIGHT_MAX_JSON_BYTES/,
  },
  {
    name: "a manifest nested 100,000 deep",
    image: () => {
      const img = registryImage();
      const deep = enc.encode("[".repeat(100_000) + "]".repeat(100_000));
      return { ...img, manifest: deep, manifestDigest: `sha256:${sha256(deep)}` };
    },
    handler: (img) => (req, res) => {
      if (isManifest(req)) return void res.end(img.manifest);
      img.serve(req, res);
    },
    expect: /manifest sha256:[0-9a-f]{64} nests at least 65 levels deep/,
  },
  {
    name: "a manifest with 600 layers",
    image: () => registryImage(new Array(600).fill(plainLayer(LAYER))),
    handler: (img) => img.serve,
    expect: /layers has 600 layers, over the limit of 500 layers/,
  },
  {
    name: "a gzip bomb layer",
    image: () => registryImage([zeroBombLayer(512 * MiB)]),
    handler: (img) => img.serve,
    expect:
      /layer 1\/1 \(sha256:[0-9a-f]{64}\) expands to more than 3\d\d(\.\d)? MiB.*DOCKWRIGHT_MAX_EXPANSION/,
    cli: true,
  },
  {
    name: "a config whose Env is a string",
    image: () => registryImage(undefined, { config: { Env: "PATH=/bin" } }),
    handler: (img) => img.serve,
    expect: /the image config's config\.Env must be a list of strings/,
  },
];

/** Files in `dir`, recursively, as relative paths. */
function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk("");
  return out;
}

/** Asserts an error is clear: ours (not a crash such as TypeError), naming the input, matching `expect`. */
function assertClear(error: unknown, expect: RegExp, what: string): void {
  assert.ok(error instanceof Error, `${what}: threw ${String(error)}`);
  assert.ok(
    !(error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError),
    `${what}: a crash, not a clear error: ${error.name}: ${error.message}`,
  );
  assert.match(error.message, expect, `${what}: ${error.message}`);
}

describe("hostile and broken inputs", () => {
  let work: string;
  let corpus: string;
  let registry: FaultServer;
  const paths = new Map<string, string>();

  before(async () => {
    work = tempDir("dw-hostile-");
    corpus = join(work, "corpus");
    mkdirSync(corpus);
    for (const c of CASES) paths.set(c.name, await c.make(corpus));
    registry = await startFaultServer();
  });
  after(async () => {
    await registry?.stop();
    rmrf(work);
  });

  it("archives, layouts and layers: every use refuses each one with a clear error and writes nothing", async (t) => {
    if (!requireTools(t, ["zstd", "gzip", "mkfifo"])) return;
    const cacheDir = join(work, "api-cache");
    const out = join(work, "api-out");
    mkdirSync(out);
    for (const c of CASES) {
      const saved = { ...process.env };
      Object.assign(process.env, c.env ?? {});
      try {
        for (const use of c.uses) {
          const what = `${c.name} (${use})`;
          let error: unknown;
          try {
            await build(valueFor(use, paths.get(c.name)!) as never, {
              out: join(out, `${use}.tar`),
              cacheDir,
              progress: false,
            });
          } catch (e) {
            error = e;
          }
          assert.ok(error !== undefined, `${what}: was accepted`);
          assertClear(error, c.expect, what);
          assert.deepEqual(readdirSync(out), [], `${what}: nothing written`);
          assert.deepEqual(readdirSync(join(cacheDir, "tmp")), [], `${what}: no temp file left`);
        }
        if (c.uses !== APPLY_USES && (c.uses.includes("fromImage") || c.uses.includes("export"))) {
          // inspect reads blobs where they are (a scan, not the cache): the same refusals.
          // (A layer's content is only refused where it is applied: inspect shows it.)
          const what = `${c.name} (inspect)`;
          let error: unknown;
          try {
            await inspectImage(paths.get(c.name)!, { cacheDir, progress: false });
          } catch (e) {
            error = e;
          }
          assert.ok(error !== undefined, `${what}: was accepted`);
          assertClear(error, c.expect, what);
          assert.deepEqual(readdirSync(join(cacheDir, "tmp")), [], `${what}: no temp file left`);
        }
      } finally {
        for (const k of Object.keys(c.env ?? {})) {
          if (saved[k] === undefined) delete process.env[k];
          else process.env[k] = saved[k];
        }
      }
    }
  });

  it("registries: redirects and realms to file:, stalls, endless bodies, deep JSON and bombs are refused in time", async () => {
    // openImage keeps the blobs in the cache; inspectImage scans them as they download.
    for (const [use, open] of [["openImage", openImage], ["inspectImage", inspectImage]] as const) {
      for (const c of REGISTRY_CASES) {
        const what = `${c.name} (${use})`;
        const img = c.image?.() ?? registryImage();
        registry.handler = c.handler(img);
        const cacheDir = join(work, "registry-cache", use, c.name.replace(/[^a-z0-9]+/gi, "-"));
        const started = Date.now();
        let error: unknown;
        try {
          await open(`docker://${registry.host}/hostile@${img.manifestDigest}`, {
            cacheDir,
            tlsVerify: false,
            readTimeoutMs: 300,
            attempts: 2,
            retryDelayMs: 10,
            progress: false,
          });
        } catch (e) {
          error = e;
        }
        assert.ok(error !== undefined, `${what}: was accepted`);
        assertClear(error, c.expect, what);
        assert.ok(Date.now() - started < 20_000, `${what}: took ${Date.now() - started} ms`);
        assert.deepEqual(readdirSync(join(cacheDir, "tmp")), [], `${what}: no temp file left`);
      }
    }
  });

  it("the command line: exit code 1, one error: line, under 512 MiB of memory and within its disk budget", async (t) => {
    if (!requireTools(t, ["zstd", "gzip", "mkfifo"])) return;
    const [cmd, ...pre] = runtimeCommand(RUNTIME);
    const runCase = async (
      label: string,
      source: string,
      expect: RegExp,
      env: Record<string, string>,
      diskBudget: number,
    ) => {
      const caseDir = join(work, "cli", label.replace(/[^a-z0-9]+/gi, "-").slice(0, 60));
      const [cache, out, tmp] = ["cache", "out", "tmp"].map((d) => join(caseDir, d));
      for (const d of [cache, out, tmp]) mkdirSync(d, { recursive: true });
      const imageFile = join(caseDir, "image.ts");
      writeFileSync(imageFile, source);
      const r = await runMeasured(cmd, [
        ...pre,
        join(ROOT, "cli.ts"),
        "build",
        imageFile,
        "--out",
        join(out, "result.tar"),
        "--cache-dir",
        cache,
      ], {
        cwd: caseDir,
        env: { TMPDIR: tmp, CI: "1", ...env },
        timeoutMs: 60_000,
        diskDirs: [cache, out, tmp],
      });
      const where = `${label}:\n${r.stderr}`;
      assert.ok(!r.timedOut, `${where}\nhung (killed after 60 s)`);
      assert.equal(r.code, 1, `${where}\nexit code ${r.code}`);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
      assert.equal(errors.length, 1, `${where}\none error: line`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, `${where}\nno stack trace`);
      assert.match(errors[0], expect, where);
      assert.ok(r.peakRssKiB < 512 * 1024, `${where}\npeak memory ${r.peakRssKiB} KiB`);
      assert.ok(r.peakDiskBytes < diskBudget, `${where}\npeak disk ${r.peakDiskBytes} bytes`);
      assert.deepEqual(readdirSync(out), [], `${where}\nnothing written`);
      assert.deepEqual(filesUnder(join(cache, "tmp")), [], `${where}\nno temp file left`);
      assert.deepEqual(filesUnder(tmp), [], `${where}\nno temp file in TMPDIR`);
    };
    for (const c of CASES) {
      if (!c.cli) continue;
      await runCase(
        c.name,
        imageFileFor(c.cli, paths.get(c.name)!),
        c.expect,
        c.env ?? {},
        c.diskBudget ?? 64 * MiB,
      );
    }
    for (const c of REGISTRY_CASES) {
      if (!c.cli) continue;
      const img = c.image?.() ?? registryImage();
      registry.handler = c.handler(img);
      const source = `import { pullImage } from ${JSON.stringify(join(ROOT, "mod.ts"))};\n` +
        `export default pullImage({ imageName: ${
          JSON.stringify(`${registry.host}/hostile`)
        }, imageDigest: ${JSON.stringify(img.manifestDigest)}, tlsVerify: false });\n`;
      await runCase(
        `registry ${c.name}`,
        source,
        // The command line retries 5 times by default.
        new RegExp(c.expect.source.replace("2 times", "5 times")),
        { DOCKWRIGHT_REGISTRY_TIMEOUT: "0.3" },
        64 * MiB,
      );
    }
  });

  it("legal oddities are accepted: Docker 25 archives, podman OCI archives, old docker save links, RepoTags null", async () => {
    const cacheDir = join(work, "legal-cache");
    const layers = [LAYER, tar([dir("etc"), file("etc/second", "2\n")])];
    // Docker 25+: manifest.json names the config and layers by their blob paths.
    const d25 = join(work, "docker25.tar");
    writeFileSync(d25, tar(docker25Members(layers)));
    const image = await openImage(d25, { cacheDir, progress: false });
    assert.equal(image.repoName, "docker25");
    assert.deepEqual(image.layers.map((l) => l.diffId), layers.map((l) => `sha256:${sha256(l)}`));
    for (const use of ["fromImage", "layered", "export", "merge"] as const) {
      await build(valueFor(use, d25) as never, {
        out: join(work, `d25-${use}.tar`),
        cacheDir,
        progress: false,
      });
    }
    const merged: string[] = [];
    const bytes = readFileSync(join(work, "d25-merge.tar"));
    for await (
      const { header } of readTar((async function* () {
        yield new Uint8Array(bytes);
      })())
    ) {
      merged.push(header.path);
    }
    assert.ok(merged.includes("manifest.json") && !merged.includes("index.json"), String(merged));
    // podman save --format oci-archive: an OCI layout as one tar, ref name localhost/name:tag.
    const { blobs, index } = ociLayoutMembers({
      layers: [plainLayer(LAYER)],
      tag: "localhost/podman-saved:1.0",
    });
    const ociArchive = join(work, "podman.oci.tar");
    writeFileSync(
      ociArchive,
      tar([
        file("oci-layout", '{"imageLayoutVersion":"1.0.0"}'),
        file("index.json", index),
        dir("blobs"),
        dir("blobs/sha256"),
        ...[...blobs].map(([hex, b]) => file(`blobs/sha256/${hex}`, b)),
      ]),
    );
    const podman = await openImage(ociArchive, { cacheDir, progress: false });
    assert.equal(`${podman.repoName}:${podman.tag}`, "localhost/podman-saved:1.0");
    // Old docker save: a repeated layer is a symlink to the first copy; RepoTags null (saved by id).
    const old = join(work, "old-save.tar");
    const config = configFor([LAYER, LAYER]);
    writeFileSync(
      old,
      tar([
        dir("aaa"),
        file("aaa/layer.tar", LAYER),
        dir("bbb"),
        symlink("bbb/layer.tar", "../aaa/layer.tar"),
        file(`${sha256(config)}.json`, config),
        file(
          "manifest.json",
          JSON.stringify([{
            Config: `${sha256(config)}.json`,
            RepoTags: null,
            Layers: ["aaa/layer.tar", "bbb/layer.tar"],
          }]),
        ),
      ]),
    );
    assert.equal((await openImage(old, { cacheDir, progress: false })).layers.length, 2);
    await build(mergeImages([old, d25]), {
      out: join(work, "old-merge.tar"),
      cacheDir,
      progress: false,
    });
  });

  it("zstd streams of many frames (zstd:chunked, cat a.zst b.zst) with skippable frames decode, in chunks of any size", async (t) => {
    if (!requireTools(t, ["zstd"])) return;
    // A docker-archive with runs of zeros (RLE blocks), compressed as three frames around a skippable one.
    const data = tar(dockerArchiveMembers({
      layers: [tar([file("zeros", new Uint8Array(300_000)), file("text", "x".repeat(5000))])],
    }));
    const third = Math.floor(data.length / 3);
    const zstd = (bytes: Uint8Array, args: string[]) =>
      new Uint8Array(spawnSync("zstd", ["-q", "-c", ...args], { input: bytes }).stdout);
    const skippable = new Uint8Array([0x5e, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 0x74, 0x6f, 0x63, 0x21]);
    const multi = Buffer.concat([
      zstd(data.subarray(0, third), ["-3"]),
      skippable,
      zstd(data.subarray(third, 2 * third), ["--no-check", "-19"]),
      zstd(data.subarray(2 * third), ["-1"]),
    ]);
    for (const size of [multi.length, 1, 7, 4096]) {
      const parts: Uint8Array[] = [];
      const chunks = (async function* () {
        for (let i = 0; i < multi.length; i += size) {
          yield new Uint8Array(multi.subarray(i, i + size));
        }
      })();
      for await (const c of decompress(chunks)) parts.push(c.slice());
      assert.ok(Buffer.concat(parts).equals(Buffer.from(data)), `decoded in chunks of ${size}`);
    }
    const archivePath = join(work, "multi-frame.tar.zst");
    writeFileSync(archivePath, multi);
    const image = await openImage(archivePath, {
      cacheDir: join(work, "zstd-cache"),
      progress: false,
    });
    assert.equal(image.repoName, "hostile");
    // Bytes after the last frame that are no frame: an error naming the file.
    writeFileSync(archivePath, Buffer.concat([multi, Buffer.from("garbage!")]));
    await assert.rejects(
      openImage(archivePath, { cacheDir: join(work, "zstd-cache"), progress: false }),
      /multi-frame\.tar\.zst: the zstd stream is corrupt or truncated \(a zstd frame was expected/,
    );
  });

  it("names that are not UTF-8 are kept byte for byte (PAX hdrcharset=BINARY, as Python writes them)", async (t) => {
    if (!requireTools(t, ["python3"])) return;
    const cacheDir = join(work, "names-cache");
    const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1
    const other = new Uint8Array([0x63, 0x61, 0x66, 0xe8]);
    const layer = tar([file(latin1, "one\n"), file(other, "two\n"), file("café", "utf8\n")]);
    const base = join(work, "latin1.tar");
    dockerArchive(base, { layers: [layer] });
    const out = join(work, "latin1-export.tar");
    await build(exportImage({ fromImage: base }), { out, cacheDir, progress: false });
    const listed = spawnSync("python3", [
      "-c",
      "import sys, tarfile\nfor m in tarfile.open(sys.argv[1]): sys.stdout.buffer.write(m.name.encode('utf-8', 'surrogateescape') + b'\\n')",
      out,
    ]).stdout;
    const names = Buffer.from(listed).toString("latin1").split("\n");
    assert.ok(names.includes("./caf\xe9"), `Latin-1 name kept: ${JSON.stringify(names)}`);
    assert.ok(names.includes("./caf\xe8"), "the second one too, not collapsed into it");
    assert.ok(names.includes("./caf\xc3\xa9"), "the UTF-8 name too");
    // The header bytes are Python's.
    const entry = {
      path: "caf\udce9",
      type: "file" as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
      mtime: 0,
      size: 0,
    };
    const python = spawnSync("python3", [
      "-c",
      "import sys, tarfile, io\nb = io.BytesIO()\nt = tarfile.open(fileobj=b, mode='w', format=tarfile.PAX_FORMAT)\n" +
      "ti = tarfile.TarInfo(b'caf\\xe9'.decode('utf-8', 'surrogateescape')); ti.mode = 0o644; ti.mtime = 0; ti.uname = ''; ti.gname = ''\n" +
      "t.addfile(ti); sys.stdout.buffer.write(b.getvalue()[:1536])",
    ]).stdout;
    assert.deepEqual(Buffer.from(encodeHeader(entry)), Buffer.from(python).subarray(0, 1536));
  });

  it("a runAsRoot base's devices and fifos are made in the VM's disk image only, never on this host", () => {
    const tree = new FileTree();
    tree.put("dev", { type: "directory", mode: 0o755, size: 0 });
    tree.put("dev/null", { type: "char", mode: 0o666, size: 0, devMajor: 1, devMinor: 3 });
    tree.put("dev/sda", { type: "block", mode: 0o660, size: 0, devMajor: 8, devMinor: 0 });
    tree.put("pipe", { type: "fifo", mode: 0o644, size: 0 });
    const folder = join(work, "vm-rootfs");
    mkdirSync(folder);
    const unapplied = writeRootFolder(tree, folder, { deferSpecialFiles: true });
    assert.deepEqual(readdirSync(join(folder, "dev")), [], "no device node on the host");
    assert.ok(!existsSync(join(folder, "pipe")), "no fifo on the host");
    assert.deepEqual(
      unapplied.filter((u) => u.missing).map((u) => u.path).sort(),
      ["dev/null", "dev/sda", "pipe"],
      "left to debugfs, which makes them inside the disk image",
    );
  });

  it("base configs are checked field by field, naming the field", () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ config: { Env: ["=x"] } }, /config\.Env\[0\] \("=x"\) must be NAME=value/],
      [{ config: { Env: ["A=\0"] } }, /config\.Env\[0\] .* must be free of NUL bytes/],
      [{ config: { Cmd: "sh" } }, /config\.Cmd must be a list of strings/],
      [
        { config: { ExposedPorts: { "80/tcp": 1 } } },
        /config\.ExposedPorts\["80\/tcp"\] must be \{\}/,
      ],
      [{ config: { Volumes: { "/data": [] } } }, /config\.Volumes\["\/data"\] must be \{\}/],
      [
        { config: { Healthcheck: { Interval: "1s" } } },
        /config\.Healthcheck\.Interval must be an integer/,
      ],
      [{ config: { StopTimeout: 1.5 } }, /config\.StopTimeout must be an integer/],
      [{ history: [{ created_by: 1 }] }, /history\[0\]\.created_by must be a string/],
      [{ history: [{ empty_layer: "yes" }] }, /history\[0\]\.empty_layer must be true or false/],
      [{ rootfs: { type: "files", diff_ids: [] } }, /rootfs\.type must be "layers"/],
      [{ architecture: 64 }, /architecture must be a string/],
    ];
    for (const [fields, expect] of bad) {
      const bytes = configFor([], fields);
      assert.throws(
        () => parseConfigFile("base.tar", bytes),
        (e: unknown) => e instanceof InputError && expect.test(e.message),
        JSON.stringify(fields),
      );
    }
    // Still accepted: nulls, unknown keys, Docker's legacy fields.
    parseConfigFile(
      "base.tar",
      configFor([], {
        config: { Env: null, Labels: null, Hostname: "", ArgsEscaped: true, Custom: { x: 1 } },
        container_config: { Cmd: ["/bin/sh"] },
        history: [{ created: "1970-01-01T00:00:01Z", empty_layer: true }],
      }),
    );
  });
});
