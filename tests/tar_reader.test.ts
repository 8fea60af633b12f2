/**
 * The tar reader, decompression and safe extraction, against archives written
 * by Python's tarfile and GNU tar: exact header values, compressed input,
 * arbitrary chunking, truncation and corruption, and hostile archives that
 * try to write outside the extraction directory.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { decompress, DecompressError, detectCompression } from "../lib/codec/decompress.ts";
import type { EntryType } from "../lib/tar/entry.ts";
import {
  TarChecksumError,
  type TarError,
  TarFormatError,
  TarLinkEscapeError,
  TarTruncatedError,
  TarUnsafePathError,
} from "../lib/tar/errors.ts";
import { type ExtractOutcome, extractTar } from "../lib/tar/extract.ts";
import { readTar, type TarHeader } from "../lib/tar/reader.ts";
import { normalizeMemberPath } from "../lib/tar/safe_path.ts";

const IS_ROOT = process.getuid?.() === 0;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Runs `fn` with a fresh temporary directory, removed afterwards (read-only dirs included). */
async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dw-tar-reader-"));
  try {
    await fn(dir);
  } finally {
    spawnSync("chmod", ["-R", "u+rwX", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

function sh(cmd: string, args: string[], input?: Uint8Array): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr?.toString()}`);
  return r.stdout;
}

/** Yields `bytes` in chunks of `size` bytes (views, like a file stream). */
async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Yields `bytes` in chunks whose sizes cycle through `sizes`. */
async function* mixedChunks(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = sizes[k % sizes.length];
    yield bytes.subarray(i, i + n);
    i += n;
  }
}

function fileBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The deterministic content pattern of generated files: byte i is i mod 251. */
function pattern(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = i % 251;
  return out;
}

interface ReadMember {
  header: TarHeader;
  content: Uint8Array;
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<ReadMember[]> {
  const out: ReadMember[] = [];
  for await (const { header, body } of readTar(source)) {
    const parts: Uint8Array[] = [];
    for await (const c of body) parts.push(c.slice());
    out.push({ header, content: new Uint8Array(Buffer.concat(parts)) });
  }
  return out;
}

/** One member for the Python writer. */
interface Spec {
  name: string;
  type?: EntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** UTF-8 text content. */
  text?: string;
  /** Generated content of this many bytes ({@link pattern}). */
  size?: number;
  /** xattr name to byte values. */
  xattrs?: Record<string, number[]>;
}

/** Python: writes the members of the JSON spec in argv[2] to argv[1] in format argv[3] with global PAX records argv[4]. */
const PY_WRITE = String.raw`
import json, sys, tarfile, io
spec = json.load(open(sys.argv[2]))
fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}[sys.argv[3]]
glob = json.loads(sys.argv[4])
types = {"file": tarfile.REGTYPE, "directory": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}
with open(sys.argv[1], "wb") as out:
    with tarfile.open(mode="w|", fileobj=out, format=fmt, pax_headers=glob, encoding="utf-8") as t:
        for e in spec:
            ti = tarfile.TarInfo(e["name"])
            ti.type = types[e.get("type", "file")]
            ti.mode = e.get("mode", 0o644); ti.uid = e.get("uid", 0); ti.gid = e.get("gid", 0)
            ti.uname = e.get("uname", "root"); ti.gname = e.get("gname", "root"); ti.mtime = e.get("mtime", 1)
            ti.linkname = e.get("linkname", "")
            ti.devmajor = e.get("devmajor", 0); ti.devminor = e.get("devminor", 0)
            for k, v in sorted(e.get("xattrs", {}).items()):
                ti.pax_headers["SCHILY.xattr." + k] = bytes(v).decode("utf-8", "surrogateescape")
            if "size" in e:
                data = (bytes(i % 251 for i in range(251)) * (e["size"] // 251 + 1))[:e["size"]]
            else:
                data = e.get("text", "").encode()
            if ti.type == tarfile.REGTYPE:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
`;

/** Python: every member's header fields and content digest, as JSON. */
const PY_READ = String.raw`
import hashlib, json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], encoding="utf-8") as t:
    for m in t:
        data = t.extractfile(m).read() if m.isreg() else b""
        out.append(dict(name=m.name, type=m.type.decode("latin-1"), mode=m.mode, uid=m.uid, gid=m.gid,
                        uname=m.uname, gname=m.gname, size=m.size, mtime=m.mtime, linkname=m.linkname,
                        devmajor=m.devmajor, devminor=m.devminor, sha256=hashlib.sha256(data).hexdigest(),
                        xattrs={k[13:]: list(v.encode("utf-8", "surrogateescape"))
                                for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}))
print(json.dumps(out))
`;

function pyWrite(
  path: string,
  spec: Spec[],
  format: "pax" | "gnu" | "ustar",
  global: Record<string, string> = {},
): Uint8Array {
  const specPath = `${path}.json`;
  writeFileSync(specPath, JSON.stringify(spec));
  sh("python3", ["-c", PY_WRITE, path, specPath, format, JSON.stringify(global)]);
  return fileBytes(path);
}

interface PyMember {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  sha256: string;
  xattrs: Record<string, number[]>;
}

function pyRead(path: string): PyMember[] {
  return JSON.parse(sh("python3", ["-c", PY_READ, path]).toString("utf8"));
}

const PY_TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
};

/** Asserts that our reader saw exactly what Python's tarfile sees. */
function assertSameAsPython(ours: ReadMember[], theirs: PyMember[], label: string): void {
  assert.equal(ours.length, theirs.length, `${label}: member count`);
  theirs.forEach((p, i) => {
    const { header: h, content } = ours[i];
    const at = `${label}: ${p.name}`;
    assert.equal(h.path, p.name, `${label}: member ${i} name`);
    assert.equal(h.type, PY_TYPES[p.type], `${at} type`);
    assert.equal(h.mode, p.mode & 0o7777, `${at} mode`);
    assert.equal(h.uid, p.uid, `${at} uid`);
    assert.equal(h.gid, p.gid, `${at} gid`);
    assert.equal(h.uname, p.uname, `${at} uname`);
    assert.equal(h.gname, p.gname, `${at} gname`);
    assert.equal(h.mtime, Math.floor(p.mtime), `${at} mtime`);
    if (h.type === "file") assert.equal(h.size, p.size, `${at} size`);
    else assert.equal(h.size, 0, `${at} size of a non-file`);
    assert.equal(sha256(content), p.sha256, `${at} content`);
    if (h.type === "symlink" || h.type === "hardlink") {
      assert.equal(h.linkTarget, p.linkname, `${at} link`);
    } else assert.equal(h.linkTarget, undefined, `${at} no link`);
    if (h.type === "char" || h.type === "block") {
      assert.equal(h.devMajor, p.devmajor, `${at} devmajor`);
      assert.equal(h.devMinor, p.devminor, `${at} devminor`);
    }
    const xattrs = Object.fromEntries(
      Object.entries(h.xattrs ?? {}).map(([k, v]) => [k, [...(v as Uint8Array)]]),
    );
    assert.deepEqual(xattrs, p.xattrs, `${at} xattrs`);
  });
}

/** Recomputes a header block's checksum after a test edited it. */
function fixChecksum(block: Uint8Array, signed = false): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += signed && b >= 0x80 ? b - 256 : b;
  const text = sum.toString(8).padStart(6, "0");
  block.set(new TextEncoder().encode(text + "\0 "), 148);
}

/** Everything under `dir` with type, mode, size, link target and content digest; `skip` names are left out at the top level. */
function snapshot(dir: string, skip: string[] = []): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      if (rel === "" && skip.includes(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      let what = `${r} ${st.mode.toString(8)} ${st.size}`;
      if (st.isSymbolicLink()) what += ` -> ${readlinkSync(join(dir, r))}`;
      if (st.isFile()) what += ` ${sha256(fileBytes(join(dir, r)))}`;
      out.push(what);
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

const LONG_DIR = `${"d".repeat(90)}/${"e".repeat(90)}/${"f".repeat(90)}`; // > 255 with the leaf
const UTF8_NAME = "héllo-wörld-😀.txt";

/** The hard cases, for every format that can hold them. */
function hardSpec(format: "pax" | "gnu"): Spec[] {
  const spec: Spec[] = [
    { name: "dir", type: "directory", mode: 0o755 },
    { name: "dir/setuid", mode: 0o4755, text: "#!/bin/sh\n" },
    { name: "dir/setgid", mode: 0o2711, text: "g" },
    { name: "sticky", type: "directory", mode: 0o1777 },
    { name: "big-ids", uid: 3_000_000, gid: 2_097_152, text: "ids" },
    { name: `${"p".repeat(60)}/${"q".repeat(60)}`, text: "longer than 100" },
    { name: `${LONG_DIR}/leaf`, text: "longer than 255" },
    { name: "long-link", type: "symlink", mode: 0o777, linkname: `/nix/store/${"t".repeat(150)}` },
    { name: UTF8_NAME, text: "utf8" },
    { name: "long-names", uname: "u".repeat(40), gname: "g".repeat(33), text: "names" },
    { name: "dev/null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 },
    { name: "dev/sda", type: "block", mode: 0o660, devmajor: 8, devminor: 0 },
    { name: "fifo", type: "fifo", mode: 0o600 },
    { name: "hard", type: "hardlink", linkname: "dir/setuid" },
    { name: "mtime-big", mtime: 2 ** 33 + 5, text: "m" },
    { name: "empty", text: "" },
    { name: "block-sized", size: 512 },
    { name: "odd-sized", size: 100_001 },
  ];
  if (format === "pax") {
    spec.push(
      {
        name: "xattr",
        text: "x",
        xattrs: {
          "user.comment": [...new TextEncoder().encode("hello")],
          "security.capability": [1, 0, 0xff, 2],
        },
      },
      { name: "mtime-fraction", mtime: 1_700_000_000.75, text: "f" },
      { name: "utf8-link", type: "symlink", linkname: `../${UTF8_NAME}` },
    );
  }
  return spec;
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

describe("normalizeMemberPath", () => {
  it("cleans names and refuses unsafe ones", () => {
    const ok: Array<[string, boolean, string]> = [
      ["./", false, ""],
      ["/", true, ""],
      [".", false, ""],
      ["./usr//bin/", false, "usr/bin"],
      ["/nix/store/abc-x/bin", true, "nix/store/abc-x/bin"],
      ["//nix/./store", true, "nix/store"],
      ["a..b/..c", false, "a..b/..c"],
    ];
    for (const [name, allowAbsolute, want] of ok) {
      assert.equal(normalizeMemberPath(name, { allowAbsolute }), want, name);
    }
    const bad: Array<[string, boolean]> = [
      ["", true],
      ["/etc/passwd", false],
      ["../x", true],
      ["a/../../x", true],
      ["a/..", true],
      ["a\0b", true],
    ];
    for (const [name, allowAbsolute] of bad) {
      assert.throws(() => normalizeMemberPath(name, { allowAbsolute }), (e: unknown) => {
        assert.ok(e instanceof TarUnsafePathError, `${JSON.stringify(name)} gives ${e}`);
        assert.equal(e.entry, name);
        assert.equal(e.code, "TAR_UNSAFE_PATH");
        return true;
      });
    }
  });
});

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

describe("readTar", () => {
  it("reads the header values Python's tarfile reads, in PAX, GNU and ustar formats", async () => {
    await withTemp(async (dir) => {
      for (const format of ["pax", "gnu"] as const) {
        const bytes = pyWrite(join(dir, `${format}.tar`), hardSpec(format), format);
        const ours = await readAll(chunked(bytes, 65536));
        assertSameAsPython(ours, pyRead(join(dir, `${format}.tar`)), format);
        const byName = new Map(ours.map((m) => [m.header.path, m.header]));
        // Spot checks against the spec itself, not only against Python.
        assert.equal(byName.get("dir/setuid")?.mode, 0o4755);
        assert.equal(byName.get("sticky")?.mode, 0o1777);
        assert.equal(byName.get("big-ids")?.uid, 3_000_000);
        assert.equal(byName.get("big-ids")?.gid, 2_097_152);
        // GNU format has no long user names: Python cuts them at 32 bytes.
        assert.equal(byName.get("long-names")?.uname, "u".repeat(format === "pax" ? 40 : 32));
        assert.equal(byName.get(`${LONG_DIR}/leaf`)?.size, 15);
        assert.equal(byName.get("long-link")?.linkTarget, `/nix/store/${"t".repeat(150)}`);
        assert.equal(byName.get("hard")?.linkTarget, "dir/setuid");
        assert.equal(byName.get("dev/null")?.devMinor, 3);
        assert.equal(byName.get("mtime-big")?.mtime, 2 ** 33 + 5);
        assert.ok(byName.has(UTF8_NAME));
        if (format === "pax") {
          assert.deepEqual(
            byName.get("xattr")?.xattrs?.["security.capability"],
            new Uint8Array([1, 0, 0xff, 2]),
          );
          assert.equal(byName.get("mtime-fraction")?.mtime, 1_700_000_000);
        }
      }
      // ustar: names up to 255 bytes through the prefix field.
      const ustar: Spec[] = [
        { name: `${"a".repeat(150)}/${"b".repeat(99)}`, text: "prefix" },
        { name: "dir", type: "directory", mode: 0o2755 },
        { name: "link", type: "symlink", linkname: "dir" },
      ];
      const bytes = pyWrite(join(dir, "ustar.tar"), ustar, "ustar");
      const ours = await readAll(chunked(bytes, 4096));
      assertSameAsPython(ours, pyRead(join(dir, "ustar.tar")), "ustar");
      assert.equal(ours[0].header.path.length, 250);
    });
  });

  it("reads archives GNU tar writes from a real tree (gnu, oldgnu, posix, ustar, v7)", async () => {
    await withTemp(async (dir) => {
      const tree = join(dir, "tree");
      mkdirSync(join(tree, LONG_DIR), { recursive: true });
      writeFileSync(join(tree, LONG_DIR, "leaf"), "deep\n");
      writeFileSync(join(tree, "setuid"), "s");
      chmodSync(join(tree, "setuid"), 0o4755);
      mkdirSync(join(tree, "sticky"));
      chmodSync(join(tree, "sticky"), 0o1777);
      writeFileSync(join(tree, UTF8_NAME), "utf8");
      writeFileSync(join(tree, "big"), pattern(1_000_003));
      linkSync(join(tree, "big"), join(tree, "big-hardlink"));
      symlinkSync(`/nix/store/${"t".repeat(150)}`, join(tree, "long-link"));
      sh("mkfifo", [join(tree, "fifo")]);
      if (IS_ROOT) {
        chownSync(join(tree, "big"), 3_000_000, 3_000_001);
        lchownSync(join(tree, "long-link"), 12, 34);
      }
      utimesSync(join(tree, "setuid"), 1_000_000_000, 1_000_000_000);
      lutimesSync(join(tree, "long-link"), 1_234_567_890, 1_234_567_890);
      for (const format of ["gnu", "oldgnu", "posix"]) {
        const path = join(dir, `${format}.tar`);
        sh("tar", [`--format=${format}`, "-cf", path, "-C", dir, "tree"]);
        const ours = await readAll(chunked(fileBytes(path), 10240));
        assertSameAsPython(ours, pyRead(path), `GNU tar ${format}`);
        // Which of the two names holds the data depends on directory order.
        const pair = ours.filter((m) => m.header.path.startsWith("tree/big"));
        const big = pair.find((m) => m.header.type === "file")!;
        assert.deepEqual(pair.map((m) => m.header.type).sort(), ["file", "hardlink"]);
        assert.equal(sha256(big.content), sha256(pattern(1_000_003)));
        if (IS_ROOT) assert.equal(big.header.uid, 3_000_000);
        assert.equal(ours.find((m) => m.header.path === "tree/sticky")?.header.mode, 0o1777);
      }
      // Formats without long names: a tree that fits.
      const small = join(dir, "small");
      mkdirSync(join(small, "sub"), { recursive: true });
      writeFileSync(join(small, "sub", "file"), "v7 and ustar\n");
      symlinkSync("sub/file", join(small, "link"));
      for (const format of ["ustar", "v7"]) {
        const path = join(dir, `${format}.tar`);
        sh("tar", [`--format=${format}`, "-cf", path, "-C", dir, "small"]);
        assertSameAsPython(
          await readAll(chunked(fileBytes(path), 333)),
          pyRead(path),
          `GNU tar ${format}`,
        );
      }
    });
  });

  it("applies PAX global headers to the members that follow, under their own x records", async () => {
    await withTemp(async (dir) => {
      const spec: Spec[] = [
        { name: "a", text: "a" },
        { name: "b", uname: "u".repeat(40), text: "b" }, // long: gets its own x record
      ];
      const bytes = pyWrite(join(dir, "g.tar"), spec, "pax", {
        uname: "globaluser",
        path: "hijacked", // per-member keys in a global header are ignored
        comment: "ignored",
      });
      const ours = await readAll(chunked(bytes, 512));
      assert.equal(ours[0].header.uname, "globaluser");
      assert.equal(ours[1].header.uname, "u".repeat(40));
      assert.deepEqual(ours.map((m) => m.header.path), ["a", "b"]);
    });
  });

  it("reads gzip and zstd input through decompress()", async () => {
    assert.equal(detectCompression(new Uint8Array([0x1f, 0x8b, 8])), "gzip");
    assert.equal(detectCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0])), "zstd");
    assert.equal(detectCompression(new Uint8Array([0x28, 0xb5])), "none");
    assert.equal(detectCompression(new TextEncoder().encode("ustar")), "none");
    await withTemp(async (dir) => {
      const path = join(dir, "hard.tar");
      const plain = pyWrite(path, hardSpec("pax"), "pax");
      const want = await readAll(chunked(plain, 65536));
      const gz = sh("gzip", ["-9", "-c", path]);
      const zst = sh("zstd", ["-q", "-c", path]);
      for (const [label, bytes] of [["gzip", gz], ["zstd", zst], ["none", plain]] as const) {
        for (const size of [1, 3, 8192, 1 << 20]) {
          const got = await readAll(decompress(chunked(new Uint8Array(bytes), size)));
          assert.deepEqual(got, want, `${label} in ${size}-byte chunks`);
        }
      }
      // Decompressed bytes are exactly the plain archive.
      const parts: Uint8Array[] = [];
      for await (const c of decompress(chunked(new Uint8Array(zst), 777))) parts.push(c.slice());
      assert.deepEqual(new Uint8Array(Buffer.concat(parts)), plain);
    });
  });

  it("gives the same result for 1-byte and odd-sized input chunks", async () => {
    await withTemp(async (dir) => {
      const bytes = pyWrite(join(dir, "a.tar"), hardSpec("pax"), "pax");
      const want = await readAll(chunked(bytes, bytes.length));
      for (const size of [1, 7, 511, 513, 4099]) {
        assert.deepEqual(await readAll(chunked(bytes, size)), want, `${size}-byte chunks`);
      }
    });
  });

  it("streams bodies as views of the input, skips unread bodies and refuses stale reads", async () => {
    await withTemp(async (dir) => {
      const size = 8 * 1024 * 1024 + 3;
      const bytes = pyWrite(join(dir, "big.tar"), [{ name: "big", size }, {
        name: "unread",
        size: 70_000,
      }, { name: "after", text: "ok" }], "gnu");
      const members = readTar(chunked(bytes, 65536));
      const first = await members.next();
      assert.ok(!first.done);
      let pieces = 0;
      let total = 0;
      const hash = createHash("sha256");
      for await (const piece of first.value.body) {
        assert.ok(piece.length <= 65536, "no piece is larger than an input chunk");
        assert.equal(piece.buffer, bytes.buffer, "pieces are views of the input, not copies");
        hash.update(piece);
        pieces++;
        total += piece.length;
      }
      assert.equal(total, size);
      assert.ok(pieces > 100, `streamed in ${pieces} pieces`);
      assert.equal(hash.digest("hex"), sha256(pattern(size)));
      const second = await members.next();
      assert.ok(!second.done);
      assert.equal(second.value.header.path, "unread");
      const secondBody = second.value.body[Symbol.asyncIterator]();
      await secondBody.next(); // read a little, then move on
      const third = await members.next();
      assert.ok(!third.done);
      assert.equal(third.value.header.path, "after");
      await assert.rejects(secondBody.next(), /read after the next member was requested/);
      const rest: Uint8Array[] = [];
      for await (const c of third.value.body) rest.push(c);
      assert.equal(new TextDecoder().decode(Buffer.concat(rest)), "ok");
      assert.ok((await members.next()).done);
    });
  });

  it("closes the source when the caller stops early, plain and compressed", async () => {
    await withTemp(async (dir) => {
      const path = join(dir, "s.tar");
      pyWrite(path, [{ name: "a", size: 200_000 }, { name: "b", size: 200_000 }], "gnu");
      const inputs = [
        fileBytes(path),
        new Uint8Array(sh("gzip", ["-c", path])),
        new Uint8Array(sh("zstd", ["-q", "-c", path])),
      ];
      for (const [i, bytes] of inputs.entries()) {
        let closed = false;
        let pulled = 0;
        const source = async function* () {
          try {
            for (let i = 0; i < bytes.length; i += 4096) {
              pulled++;
              yield bytes.subarray(i, i + 4096);
            }
          } finally {
            closed = true;
          }
        };
        for await (const m of readTar(decompress(source()))) {
          assert.equal(m.header.path, "a");
          break;
        }
        assert.ok(closed, "the source was closed");
        // (Compressed inputs are a few kB here: the decompressor may well have read them whole.)
        if (i === 0) {
          assert.ok(pulled * 4096 < bytes.length, `pulled ${pulled} chunks: the rest was not read`);
        }
      }
    });
  });

  it("tolerates missing end-of-archive blocks but reports truncation", async () => {
    await withTemp(async (dir) => {
      const bytes = pyWrite(join(dir, "t.tar"), [{ name: "a", size: 1000 }, {
        name: "b",
        text: "b",
      }], "gnu");
      // Layout: header a @0, body @512 (1000 + 24 padding), header b @1536, body @2048, end @2560.
      const names = async (b: Uint8Array) =>
        (await readAll(chunked(b, 100))).map((m) => m.header.path);
      assert.deepEqual(await names(bytes.subarray(0, 2560)), ["a", "b"], "no end blocks");
      assert.deepEqual(await names(bytes.subarray(0, 3072)), ["a", "b"], "one end block");
      const truncated = async (
        b: Uint8Array,
        entry: string | undefined,
        re: RegExp,
        readBodies = true,
      ) => {
        await assert.rejects(
          (async () => {
            for await (const m of readTar(chunked(b, 100))) {
              if (readBodies) { for await (const _ of m.body); }
            }
          })(),
          (e: unknown) => {
            assert.ok(e instanceof TarTruncatedError, String(e));
            assert.equal(e.entry, entry);
            assert.match(e.message, re);
            assert.match(e.message, /re-download or rebuild/);
            return true;
          },
        );
      };
      await truncated(bytes.subarray(0, 900), "a", /stops after 388 of 1000 bytes/);
      await truncated(bytes.subarray(0, 900), "a", /ends inside its content/, false);
      await truncated(bytes.subarray(0, 1520), "a", /padding/);
      await truncated(
        bytes.subarray(0, 1536 + 200),
        undefined,
        /partial 200-byte header block after member "a"/,
      );
      await truncated(bytes.subarray(0, 3072 + 100), undefined, /partial 100-byte block/);
      await truncated(new Uint8Array(0), undefined, /empty/);
    });
  });

  it("rejects bad checksums, accepts signed ones, and reports malformed headers", async () => {
    await withTemp(async (dir) => {
      const bytes = pyWrite(join(dir, "c.tar"), [{ name: "é-file", text: "x" }, {
        name: "next",
        text: "y",
      }], "gnu");
      const expectError = async (
        b: Uint8Array,
        cls: new (...a: never[]) => TarError,
        re: RegExp,
      ) => {
        await assert.rejects(readAll(chunked(b, 512)), (e: unknown) => {
          assert.ok(e instanceof cls, `want ${cls.name}, got ${e}`);
          assert.match((e as Error).message, re);
          return true;
        });
      };
      const flipped = bytes.slice();
      flipped[1] ^= 0x01;
      await expectError(flipped, TarChecksumError, /checksum mismatch for member .* at byte 0/);

      const signed = bytes.slice();
      fixChecksum(signed.subarray(0, 512), true); // "é" has bytes >= 0x80: the signed sum differs
      assert.notDeepEqual(signed.subarray(148, 156), bytes.subarray(148, 156));
      assert.deepEqual((await readAll(chunked(signed, 512))).map((m) => m.header.path), [
        "é-file",
        "next",
      ]);

      const badOctal = bytes.slice();
      badOctal.set(new TextEncoder().encode("00000000009"), 124);
      fixChecksum(badOctal.subarray(0, 512));
      await expectError(badOctal, TarFormatError, /size field is not an octal number/);

      const badMagic = bytes.slice();
      badMagic.set(new TextEncoder().encode("NOTTAR"), 257);
      fixChecksum(badMagic.subarray(0, 512));
      await expectError(badMagic, TarFormatError, /unknown header magic/);

      const sparse = bytes.slice();
      sparse[156] = "S".charCodeAt(0);
      fixChecksum(sparse.subarray(0, 512));
      await expectError(sparse, TarFormatError, /sparse/);

      const pax = pyWrite(join(dir, "p.tar"), [{ name: "x".repeat(120), text: "x" }], "pax");
      const badPax = pax.slice();
      const rec = Buffer.from(badPax.subarray(512, 1024)).indexOf(" path=");
      badPax[512 + rec - 1] = "9".charCodeAt(0); // the record length no longer matches
      await expectError(badPax, TarFormatError, /bad PAX record/);
    });
  });

  it("reports corrupt gzip as DecompressError", async () => {
    await withTemp(async (dir) => {
      const path = join(dir, "z.tar");
      pyWrite(path, [{ name: "a", size: 300_000 }], "gnu");
      const gz = new Uint8Array(sh("gzip", ["-c", path]));
      const badCrc = gz.slice();
      badCrc[badCrc.length - 6] ^= 0xff; // CRC32 trailer: the data inflates, the check fails at the end
      const badMethod = gz.slice();
      badMethod[2] = 7;
      for (const [label, b] of [["crc", badCrc], ["method", badMethod]] as const) {
        await assert.rejects(readAll(decompress(chunked(b, 4096))), (e: unknown) => {
          assert.ok(e instanceof DecompressError, `${label}: ${e}`);
          assert.match(e.message, /gzip stream is corrupt/);
          return true;
        });
      }
      const cut = gz.subarray(0, gz.length >> 1);
      await assert.rejects(readAll(decompress(chunked(cut, 4096))), (e: unknown) => {
        assert.ok(e instanceof DecompressError || e instanceof TarTruncatedError, String(e));
        return true;
      });
      // An error of the source itself (a failed read) passes through unchanged.
      const failing = (bytes: Uint8Array) =>
        async function* () {
          yield bytes.subarray(0, 1000);
          throw new Error("disk on fire");
        };
      for (const bytes of [gz, new Uint8Array(sh("cat", [path]))]) {
        await assert.rejects(readAll(decompress(failing(bytes)())), /^Error: disk on fire$/);
      }
    });
  });
});

// ---------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------

/** Every entry under `dir` with the attributes extraction must reproduce. */
function attributes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      let what = `mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid} mtime=${
        Math.floor(st.mtimeMs / 1000)
      }`;
      if (st.isSymbolicLink()) what += ` -> ${readlinkSync(join(dir, r))}`;
      if (st.isFile()) {
        what += ` ${sha256(fileBytes(join(dir, r)))}`;
        // Hardlinks: name the first path of the inode.
        const first = inodes.get(st.ino);
        if (first) what += ` link=${first}`;
        else inodes.set(st.ino, r);
      }
      if (st.isCharacterDevice() || st.isBlockDevice()) what += ` rdev=${st.rdev}`;
      out.set(r, what);
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

/** A temp layout for hostile archives: `box/target` is extracted into, `box/sentinel` must never change. */
interface Box {
  work: string;
  target: string;
  sentinel: string;
}

function makeBox(dir: string): Box {
  const box = join(dir, "box");
  const target = join(box, "target");
  const sentinel = join(box, "sentinel");
  mkdirSync(target, { recursive: true });
  mkdirSync(sentinel);
  writeFileSync(join(sentinel, "keep"), "original\n");
  return { work: dir, target, sentinel };
}

async function expectRefused(
  box: Box,
  archive: Uint8Array,
  cls: new (...a: never[]) => Error,
  opts: { allowAbsolute?: boolean; entry?: string } = {},
): Promise<void> {
  const before = snapshot(box.work, ["archives"]).filter((l) => !l.startsWith("box/target"));
  await assert.rejects(
    extractTar(chunked(archive, 1000), box.target, { allowAbsolute: opts.allowAbsolute }),
    (e: unknown) => {
      assert.ok(e instanceof cls, `want ${cls.name}, got ${e}`);
      if (opts.entry !== undefined) assert.equal((e as TarError).entry, opts.entry);
      return true;
    },
  );
  const after = snapshot(box.work, ["archives"]).filter((l) => !l.startsWith("box/target"));
  assert.deepEqual(after, before, "nothing changed outside the target directory");
  assert.equal(readFileSync(join(box.sentinel, "keep"), "utf8"), "original\n");
  assert.deepEqual(readdirSync(box.sentinel), ["keep"]);
}

describe("extractTar", () => {
  it("extracts a tree like GNU tar does (modes, owners, times, links, read-only directories)", async () => {
    await withTemp(async (dir) => {
      const tree = join(dir, "tree");
      mkdirSync(join(tree, "ro", "sub"), { recursive: true });
      writeFileSync(join(tree, "ro", "sub", "inside"), "in a read-only dir\n");
      writeFileSync(join(tree, "ro", "file"), "ro\n");
      mkdirSync(join(tree, LONG_DIR), { recursive: true });
      writeFileSync(join(tree, LONG_DIR, "leaf"), "deep\n");
      writeFileSync(join(tree, "setuid"), "s");
      chmodSync(join(tree, "setuid"), 0o4755);
      writeFileSync(join(tree, "setgid"), "g");
      chmodSync(join(tree, "setgid"), 0o2750);
      mkdirSync(join(tree, "sticky"));
      chmodSync(join(tree, "sticky"), 0o1777);
      writeFileSync(join(tree, UTF8_NAME), "utf8");
      writeFileSync(join(tree, "big"), pattern(3_000_000));
      chmodSync(join(tree, "big"), 0o444);
      linkSync(join(tree, "big"), join(tree, "big-hardlink"));
      symlinkSync("/etc/shadow", join(tree, "abs-link")); // data only: never followed
      symlinkSync("../../..", join(tree, "up-link"));
      sh("mkfifo", [join(tree, "fifo")]);
      if (IS_ROOT) {
        chownSync(join(tree, "big"), 3_000_000, 3_000_001);
        lchownSync(join(tree, "abs-link"), 12, 34);
        chownSync(join(tree, "ro"), 5, 6);
      }
      for (
        const [p, t] of [["setuid", 1e9], ["big", 1.5e9], ["ro/sub", 1.2e9], [
          UTF8_NAME,
          7,
        ]] as const
      ) {
        utimesSync(join(tree, p), t, t);
      }
      lutimesSync(join(tree, "abs-link"), 1_234_567_890, 1_234_567_890);
      chmodSync(join(tree, "ro", "sub"), 0o555);
      chmodSync(join(tree, "ro"), 0o555);
      utimesSync(join(tree, "ro"), 1.1e9, 1.1e9);
      utimesSync(tree, 1.3e9, 1.3e9);

      const archive = join(dir, "tree.tar");
      sh("tar", ["--format=posix", "-cf", archive, "-C", tree, "."]);
      const theirs = join(dir, "theirs");
      mkdirSync(theirs);
      sh("tar", ["-xpf", archive, "-C", theirs, "--same-owner", "--numeric-owner"]);
      const ours = join(dir, "ours");
      const seen: Array<[string, ExtractOutcome]> = [];
      const result = await extractTar(chunked(fileBytes(archive), 65536), ours, {
        onEntry: (h, outcome) => seen.push([h.path, outcome]),
      });
      assert.equal(result.entries, seen.length);
      assert.ok(seen.every(([, o]) => o === "created"), JSON.stringify(seen));
      assert.deepEqual(attributes(ours), attributes(theirs));
      assert.equal(lstatSync(join(ours, "setuid")).mode & 0o7777, 0o4755);
      assert.equal(lstatSync(join(ours, "ro")).mode & 0o7777, 0o555);
      assert.equal(lstatSync(join(ours, "big")).ino, lstatSync(join(ours, "big-hardlink")).ino);
      assert.equal(readlinkSync(join(ours, "abs-link")), "/etc/shadow");
      assert.ok(lstatSync(join(ours, "fifo")).isFIFO());
      assert.equal(
        lstatSync(ours).mode & 0o7777,
        lstatSync(tree).mode & 0o7777,
        "./ sets the root's attributes",
      );
      if (IS_ROOT) assert.equal(lstatSync(join(ours, "big")).uid, 3_000_000);
    });
  });

  it("decompresses gzip and zstd layers and handles 1-byte chunks", async () => {
    await withTemp(async (dir) => {
      const path = join(dir, "l.tar");
      pyWrite(path, [
        { name: "/nix", type: "directory", mode: 0o755 },
        { name: "/nix/store/abc-hello/bin/hello", mode: 0o555, size: 70_000 },
        { name: "/nix/store/abc-hello/link", type: "symlink", linkname: "bin/hello" },
        {
          name: "/nix/store/abc-hello/hard",
          type: "hardlink",
          linkname: "/nix/store/abc-hello/bin/hello",
        },
      ], "pax");
      const want = (root: string) => {
        assert.equal(
          sha256(fileBytes(join(root, "nix/store/abc-hello/bin/hello"))),
          sha256(pattern(70_000)),
        );
        assert.equal(readlinkSync(join(root, "nix/store/abc-hello/link")), "bin/hello");
        assert.equal(lstatSync(join(root, "nix/store/abc-hello/hard")).nlink, 2);
      };
      const inputs: Array<[string, Uint8Array]> = [
        ["none", fileBytes(path)],
        ["gzip", new Uint8Array(sh("gzip", ["-c", path]))],
        ["zstd", new Uint8Array(sh("zstd", ["-q", "-c", path]))],
      ];
      for (const [label, bytes] of inputs) {
        for (const size of [1, 65536]) {
          const root = join(dir, `${label}-${size}`);
          await extractTar(chunked(bytes, size), root);
          want(root);
        }
        // Small and large chunks mixed: gathered small writes must keep their order.
        const root = join(dir, `${label}-mixed`);
        await extractTar(mixedChunks(bytes, [1, 70_000, 3, 100, 65_536, 511]), root);
        want(root);
      }
    });
  });

  it("replaces existing entries like an OCI changeset, never following what it replaces", async () => {
    await withTemp(async (dir) => {
      const box = makeBox(dir);
      const t = box.target;
      mkdirSync(join(t, "keepdir"));
      writeFileSync(join(t, "keepdir", "old"), "old");
      writeFileSync(join(t, "file-to-dir"), "f");
      mkdirSync(join(t, "dir-to-file"));
      symlinkSync(box.sentinel, join(t, "dir-to-file", "link-out")); // removed, not followed
      symlinkSync(join(box.sentinel, "keep"), join(t, "symlink-to-file")); // replaced, not written through
      writeFileSync(join(t, "overwrite"), "previous contents, longer");
      writeFileSync(join(t, "file-to-symlink"), "f");
      writeFileSync(join(t, "file-to-hardlink"), "f");
      symlinkSync(box.sentinel, join(t, "dirlink-to-dir")); // mkdir must not accept it as a directory
      const archive = pyWrite(join(dir, "r.tar"), [
        { name: "keepdir", type: "directory", mode: 0o700, mtime: 5 },
        { name: "keepdir/new", text: "new" },
        { name: "file-to-dir", type: "directory" },
        { name: "dir-to-file", text: "now a file" },
        { name: "symlink-to-file", text: "pwned?" },
        { name: "overwrite", text: "short" },
        { name: "file-to-symlink", type: "symlink", linkname: "overwrite" },
        { name: "file-to-hardlink", type: "hardlink", linkname: "overwrite" },
        { name: "dirlink-to-dir", type: "directory", mode: 0o750 },
        { name: "dirlink-to-dir/inside", text: "in" },
      ], "gnu");
      const before = snapshot(box.sentinel);
      await extractTar(chunked(archive, 512), t);
      assert.deepEqual(snapshot(box.sentinel), before);
      assert.deepEqual(readdirSync(join(t, "keepdir")).sort(), ["new", "old"]);
      assert.equal(lstatSync(join(t, "keepdir")).mode & 0o7777, 0o700);
      assert.equal(lstatSync(join(t, "keepdir")).mtimeMs, 5000);
      assert.ok(lstatSync(join(t, "file-to-dir")).isDirectory());
      assert.equal(readFileSync(join(t, "dir-to-file"), "utf8"), "now a file");
      assert.ok(lstatSync(join(t, "symlink-to-file")).isFile());
      assert.equal(readFileSync(join(t, "overwrite"), "utf8"), "short");
      assert.equal(readlinkSync(join(t, "file-to-symlink")), "overwrite");
      assert.equal(lstatSync(join(t, "file-to-hardlink")).ino, lstatSync(join(t, "overwrite")).ino);
      assert.ok(lstatSync(join(t, "dirlink-to-dir")).isDirectory());
      assert.deepEqual(readdirSync(join(t, "dirlink-to-dir")), ["inside"]);
    });
  });

  it("creates device nodes when root and possible, else skips and reports them", async () => {
    await withTemp(async (dir) => {
      const archive = pyWrite(join(dir, "d.tar"), [
        { name: "dev", type: "directory", mode: 0o755 },
        { name: "dev/null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 },
        { name: "dev/loop9", type: "block", mode: 0o660, devmajor: 7, devminor: 9 },
        { name: "dev/fifo", type: "fifo", mode: 0o620 },
      ], "pax");
      const root = join(dir, "root");
      const outcomes = new Map<string, ExtractOutcome>();
      const { entries } = await extractTar(chunked(archive, 512), root, {
        onEntry: (h, o) => outcomes.set(h.path, o),
      });
      assert.equal(entries, 4);
      for (const [name, kind] of [["dev/null", "char"], ["dev/loop9", "block"]] as const) {
        if (outcomes.get(name) === "created") {
          const st = lstatSync(join(root, name));
          assert.ok(kind === "char" ? st.isCharacterDevice() : st.isBlockDevice(), name);
          assert.equal(st.mode & 0o7777, kind === "char" ? 0o666 : 0o660);
        } else {
          assert.equal(outcomes.get(name), "skipped");
          assert.ok(!existsSync(join(root, name)));
        }
      }
      if (!IS_ROOT) assert.equal(outcomes.get("dev/null"), "skipped");
      assert.equal(outcomes.get("dev/fifo"), "created");
      assert.ok(lstatSync(join(root, "dev/fifo")).isFIFO());
      assert.equal(lstatSync(join(root, "dev/fifo")).mode & 0o7777, 0o620);
    });
  });

  describe("refuses hostile archives and writes nothing outside the target", () => {
    const hostile = (
      label: string,
      spec: (box: Box) => Spec[],
      cls: new (...a: never[]) => Error,
      opts: { allowAbsolute?: boolean; entry?: string; format?: "pax" | "gnu" } = {},
    ) =>
      it(label, async () => {
        await withTemp(async (dir) => {
          const box = makeBox(dir);
          mkdirSync(join(dir, "archives"));
          const archive = pyWrite(join(dir, "archives", "h.tar"), spec(box), opts.format ?? "pax");
          await expectRefused(box, archive, cls, opts);
        });
      });

    hostile(
      "an absolute path when absolute names are not allowed",
      (b) => [{ name: join(b.sentinel, "x"), text: "x" }],
      TarUnsafePathError,
      {
        allowAbsolute: false,
      },
    );
    hostile("../x", () => [{ name: "../x", text: "x" }], TarUnsafePathError, { entry: "../x" });
    hostile(
      "a/../../x",
      () => [{ name: "a", type: "directory" }, { name: "a/../../x", text: "x" }],
      TarUnsafePathError,
    );
    hostile(
      "a symlink to an absolute directory, then a file through it",
      (
        b,
      ) => [{ name: "evil", type: "symlink", linkname: b.sentinel }, {
        name: "evil/file",
        text: "pwned",
      }],
      TarLinkEscapeError,
      { entry: "evil/file" },
    );
    hostile(
      "a symlink to ../.., then a file through it",
      () => [{ name: "evil", type: "symlink", linkname: "../.." }, {
        name: "evil/x",
        text: "pwned",
      }],
      TarLinkEscapeError,
    );
    hostile(
      "a symlink to ../sentinel, then a directory and a file through it",
      () => [{ name: "d/evil", type: "symlink", linkname: "../../sentinel" }, {
        name: "d/evil/sub",
        type: "directory",
      }],
      TarLinkEscapeError,
    );
    hostile(
      "a hardlink to ../../etc/passwd",
      () => [{ name: "passwd", type: "hardlink", linkname: "../../etc/passwd" }],
      TarLinkEscapeError,
      { entry: "passwd" },
    );
    hostile(
      "a hardlink to an absolute path outside when absolute names are not allowed",
      (b) => [{ name: "h", type: "hardlink", linkname: join(b.sentinel, "keep") }],
      TarLinkEscapeError,
      { allowAbsolute: false },
    );
    hostile(
      "a hardlink to a symlink that points out",
      (
        b,
      ) => [{ name: "s", type: "symlink", linkname: join(b.sentinel, "keep") }, {
        name: "h",
        type: "hardlink",
        linkname: "s",
      }],
      TarLinkEscapeError,
      { entry: "h" },
    );
    hostile(
      "a hardlink through a symlinked directory",
      () => [{ name: "s", type: "symlink", linkname: "../sentinel" }, {
        name: "h",
        type: "hardlink",
        linkname: "s/keep",
      }],
      TarLinkEscapeError,
    );
    hostile(
      "a hardlink to a member that was never extracted",
      () => [{ name: "h", type: "hardlink", linkname: "missing/file" }],
      TarLinkEscapeError,
    );

    it("a file written through a symlink left by an earlier layer", async () => {
      await withTemp(async (dir) => {
        const box = makeBox(dir);
        symlinkSync("../sentinel", join(box.target, "lower"));
        mkdirSync(join(dir, "archives"));
        const archive = pyWrite(join(dir, "archives", "h.tar"), [{
          name: "lower/keep",
          text: "pwned",
        }], "gnu");
        await expectRefused(box, archive, TarLinkEscapeError);
      });
    });

    it("truncated, corrupt and bad-checksum archives", async () => {
      await withTemp(async (dir) => {
        const box = makeBox(dir);
        mkdirSync(join(dir, "archives"));
        const path = join(dir, "archives", "t.tar");
        const bytes = pyWrite(path, [{ name: "a", size: 5000 }, { name: "b", text: "b" }], "gnu");
        await expectRefused(box, bytes.subarray(0, 3000), TarTruncatedError, { entry: "a" });
        await expectRefused(box, bytes.subarray(0, 512 * 11 + 100), TarTruncatedError);
        const flipped = bytes.slice();
        flipped[512 * 11 + 3] ^= 0x40; // in the name of "b"
        await expectRefused(box, flipped, TarChecksumError);
        const gz = new Uint8Array(sh("gzip", ["-c", path]));
        gz[gz.length - 5] ^= 0xff;
        await expectRefused(box, gz, DecompressError);
      });
    });
  });
});
