/**
 * The tar writer against Python's tarfile (the Nix streamer's encoder) and GNU tar:
 * byte-identical output for the same members, and exact header values read back.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TarEntry } from "../lib/tar/entry.ts";
import { writeTar } from "../lib/tar/writer.ts";
import { FileTree } from "../lib/tree/file_tree.ts";

async function tarBytes(entries: TarEntry[], chunkSize?: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of writeTar(entries, { chunkSize })) chunks.push(c);
  return new Uint8Array(Buffer.concat(chunks));
}

const enc = new TextEncoder();
const base = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1, size: 0 } as const;
function file(path: string, content: string, extra: Partial<TarEntry> = {}): TarEntry {
  const bytes = enc.encode(content);
  return {
    ...base,
    path,
    type: "file",
    mode: 0o444,
    size: bytes.length,
    body: { kind: "bytes", bytes },
    ...extra,
  };
}

/** The hard cases: long names and link targets, huge ids, long user names, special bits, UTF-8, devices, xattrs. */
const HARD: TarEntry[] = [
  { ...base, path: "/nix", type: "directory", mode: 0o755 },
  { ...base, path: "/nix/store", type: "directory", mode: 0o755 },
  file("/nix/store/abc-hello/bin/hello", "#!/bin/sh\necho hi\n", { mode: 0o555 }),
  file(`/nix/store/${"d".repeat(120)}/file`, "long path\n"),
  file(`deep/${"x/".repeat(140)}leaf`, "very long path\n"),
  {
    ...base,
    path: "link",
    type: "symlink",
    mode: 0o777,
    linkTarget: `/nix/store/${"t".repeat(150)}`,
  },
  {
    ...base,
    path: "hard",
    type: "hardlink",
    mode: 0o444,
    linkTarget: "/nix/store/abc-hello/bin/hello",
  },
  file("big-ids", "ids\n", { uid: 3_000_000, gid: 2_097_152, mode: 0o644 }),
  file("long-names", "names\n", { uname: "u".repeat(40), gname: "g".repeat(33) }),
  file("setuid", "s\n", { mode: 0o4755 }),
  { ...base, path: "sticky", type: "directory", mode: 0o1777 },
  file("héllo-wörld-😀", "utf8\n"),
  { ...base, path: "dev/null", type: "char", mode: 0o666, devMajor: 1, devMinor: 3 },
  { ...base, path: "dev/sda", type: "block", mode: 0o660, devMajor: 8, devMinor: 0 },
  { ...base, path: "fifo", type: "fifo", mode: 0o644 },
  file("xattr", "x\n", {
    xattrs: { "user.comment": "hello", "security.capability": new Uint8Array([1, 0, 0, 2]) },
  }),
  file("mtime-big", "m\n", { mtime: 2 ** 33 + 5 }),
];

/** Python script: builds the same members with tarfile (PAX, stream mode) and writes them to argv[1]. */
const PYTHON_WRITER = String.raw`
import json, sys, tarfile, io
spec = json.load(open(sys.argv[2]))
types = {"file": tarfile.REGTYPE, "directory": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}
with open(sys.argv[1], "wb") as out:
    with tarfile.open(mode="w|", fileobj=out, format=tarfile.PAX_FORMAT) as t:
        for e in spec:
            ti = tarfile.TarInfo(e["path"])
            ti.type = types[e["type"]]
            ti.mode = e["mode"]; ti.uid = e["uid"]; ti.gid = e["gid"]
            ti.uname = e["uname"]; ti.gname = e["gname"]; ti.mtime = e["mtime"]
            if e.get("linkTarget"): ti.linkname = e["linkTarget"]
            if e.get("devMajor") is not None: ti.devmajor = e["devMajor"]; ti.devminor = e["devMinor"]
            for k, v in sorted(e.get("xattrs", {}).items()):
                ti.pax_headers["SCHILY.xattr." + k] = bytes(v).decode("utf-8", "surrogateescape")
            data = bytes(e.get("content", []))
            ti.size = len(data) if e["type"] == "file" else 0
            t.addfile(ti, io.BytesIO(data) if e["type"] == "file" else None)
`;

/** Python script: prints every member's header fields as JSON. */
const PYTHON_READER = String.raw`
import json, sys, tarfile
out = []
for m in tarfile.open(sys.argv[1]):
    out.append(dict(name=m.name, type=m.type.decode(), mode=m.mode, uid=m.uid, gid=m.gid, uname=m.uname,
                    gname=m.gname, size=m.size, mtime=m.mtime, linkname=m.linkname,
                    devmajor=m.devmajor, devminor=m.devminor,
                    xattrs={k: list(v.encode("utf-8", "surrogateescape")) for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}))
print(json.dumps(out))
`;

function python(script: string, args: string[]): string {
  const r = spawnSync("python3", ["-c", script, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe("tar writer", () => {
  it("writes exactly the bytes Python's tarfile writes (the Nix streamer's format)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dw-tar-"));
    try {
      // xattrs that are not valid UTF-8 make Python add hdrcharset=BINARY; compare only UTF-8-safe ones here.
      const entries = HARD.map((e) =>
        e.path === "xattr" ? { ...e, xattrs: { "user.comment": "hello", "user.n": "1" } } : e
      );
      const spec = entries.map((e) => ({
        ...e,
        content: e.body?.kind === "bytes" ? [...e.body.bytes] : [],
        xattrs: e.xattrs
          ? Object.fromEntries(
            Object.entries(e.xattrs).map((
              [k, v],
            ) => [k, [...(typeof v === "string" ? enc.encode(v) : v)]]),
          )
          : undefined,
        body: undefined,
      }));
      writeFileSync(join(dir, "spec.json"), JSON.stringify(spec));
      python(PYTHON_WRITER, [join(dir, "py.tar"), join(dir, "spec.json")]);
      const ours = await tarBytes(entries);
      const theirs = new Uint8Array(Buffer.from(spawnSync("cat", [join(dir, "py.tar")]).stdout));
      assert.equal(ours.length, theirs.length, "archive length");
      for (let i = 0; i < ours.length; i += 512) {
        assert.deepEqual(
          ours.subarray(i, i + 512),
          theirs.subarray(i, i + 512),
          `block at byte ${i} differs`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives header values that Python's tarfile reads back exactly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dw-tar-"));
    try {
      writeFileSync(join(dir, "ours.tar"), await tarBytes(HARD));
      const members = JSON.parse(python(PYTHON_READER, [join(dir, "ours.tar")]));
      assert.equal(members.length, HARD.length);
      const typeFlag = {
        file: "0",
        hardlink: "1",
        symlink: "2",
        char: "3",
        block: "4",
        directory: "5",
        fifo: "6",
      };
      HARD.forEach((e, i) => {
        const m = members[i];
        assert.equal(m.name, e.path.replace(/\/$/, ""), "name");
        assert.equal(m.type, typeFlag[e.type], `${e.path} type`);
        assert.equal(m.mode, e.mode, `${e.path} mode`);
        assert.equal(m.uid, e.uid, `${e.path} uid`);
        assert.equal(m.gid, e.gid, `${e.path} gid`);
        assert.equal(m.uname, e.uname, `${e.path} uname`);
        assert.equal(m.gname, e.gname, `${e.path} gname`);
        assert.equal(m.size, e.size, `${e.path} size`);
        assert.equal(m.mtime, e.mtime, `${e.path} mtime`);
        assert.equal(m.linkname, e.linkTarget ?? "", `${e.path} linkname`);
        if (e.type === "char" || e.type === "block") {
          assert.equal(m.devmajor, e.devMajor);
          assert.equal(m.devminor, e.devMinor);
        }
        for (const [k, v] of Object.entries(e.xattrs ?? {})) {
          assert.deepEqual(m.xattrs[`SCHILY.xattr.${k}`], [
            ...(typeof v === "string" ? enc.encode(v) : v),
          ], `${e.path} xattr ${k}`);
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is read by GNU tar with the same names, modes, owners and link targets", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dw-tar-"));
    try {
      writeFileSync(join(dir, "ours.tar"), await tarBytes(HARD));
      const r = spawnSync(
        "tar",
        ["--numeric-owner", "--full-time", "-tvf", join(dir, "ours.tar")],
        {
          encoding: "utf8",
          env: { ...process.env, TZ: "UTC", LC_ALL: "C.UTF-8" },
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, HARD.length);
      assert.match(lines[0], /^drwxr-xr-x 0\/0 +0 1970-01-01 00:00:01 \/nix\/$/);
      assert.ok(lines.some((l) => l.includes(`${"x/".repeat(140)}leaf`)), "long path intact");
      assert.ok(lines.some((l) => /^-rw-r--r-- 3000000\/2097152 /.test(l)), "large ids");
      assert.ok(lines.some((l) => /^-rwsr-xr-x .* setuid$/.test(l)), "setuid bit");
      assert.ok(lines.some((l) => /^drwxrwxrwt .* sticky\/$/.test(l)), "sticky bit");
      assert.ok(
        lines.some((l) => l.endsWith(`link -> /nix/store/${"t".repeat(150)}`)),
        "long link target",
      );
      assert.ok(
        lines.some((l) =>
          /^hr--r--r-- .* hard link to \/?nix\/store\/abc-hello\/bin\/hello$/.test(l)
        ),
        "hardlink",
      );
      assert.ok(lines.some((l) => /^crw-rw-rw- 0\/0 +1,3 /.test(l)), "char device");
      assert.ok(lines.some((l) => l.endsWith("héllo-wörld-😀")), "UTF-8 name");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("pads the archive to 10240-byte records and is deterministic", async () => {
    const a = await tarBytes(HARD);
    const b = await tarBytes(HARD);
    assert.equal(a.length % 10240, 0);
    assert.deepEqual(a, b);
    const empty = await tarBytes([]);
    assert.equal(empty.length, 10240);
    assert.ok(empty.every((x) => x === 0));
  });

  it("streams large bodies and rejects a body whose length differs from its header", async () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 7).fill(7);
    const entry: TarEntry = {
      ...base,
      path: "big",
      type: "file",
      mode: 0o644,
      size: big.length,
      body: {
        kind: "stream",
        open: async function* () {
          yield big.subarray(0, 1000);
          yield big.subarray(1000);
        },
      },
    };
    const out = await tarBytes([entry]);
    assert.equal(out.length % 10240, 0);
    assert.deepEqual(out.subarray(512, 512 + big.length), big);
    const short: TarEntry = {
      ...entry,
      body: {
        kind: "stream",
        open: async function* () {
          yield big.subarray(0, 10);
        },
      },
    };
    await assert.rejects(tarBytes([short]), /stream gave 10 bytes, header says/);
  });

  it("archives host files of any size across chunk boundaries, and notices a file that grew or shrank", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dw-tar-host-"));
    try {
      for (const size of [0, 1, 511, 512, 513, 1023, 1024, 1025, 3000]) {
        const content = new Uint8Array(size).map((_, i) => (i * 7 + 1) & 0xff);
        const path = join(dir, `f${size}`);
        writeFileSync(path, content);
        const entry = (declared: number): TarEntry => ({
          ...base,
          path: "f",
          type: "file",
          mode: 0o644,
          size: declared,
          body: { kind: "host", path, identity: "x" },
        });
        for (const chunkSize of [512, 1024, 1536, 1 << 20]) {
          const out = await tarBytes([entry(size)], chunkSize);
          assert.deepEqual(
            out.subarray(512, 512 + size),
            content,
            `size ${size}, chunks of ${chunkSize}`,
          );
          await assert.rejects(tarBytes([entry(size + 1)], chunkSize), (e: Error) => {
            assert.equal(e.name, "SourceChangedError");
            assert.match(
              e.message,
              new RegExp(
                `changed while it was being archived \\(expected ${
                  size + 1
                } bytes, found ${size}\\)`,
              ),
            );
            return true;
          });
          if (size > 0) {
            await assert.rejects(
              tarBytes([entry(size - 1)], chunkSize),
              /changed while it was being archived \(expected \d+ bytes, found more\)/,
            );
          }
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("orders folder entries by their UTF-8 bytes, as Python (and GNU tar --sort=name) do", () => {
    const names = [
      "b",
      "B",
      "a-b",
      "a.b",
      "a",
      "ab",
      "é",
      "z\u{e000}",
      "z\u{ffff}",
      "z\u{10000}",
      "z\u{1f600}",
      "\u{fffd}",
      "0",
      "~",
    ];
    const tree = new FileTree();
    for (const name of names) {
      tree.put(name, {
        type: "file",
        mode: 0o644,
        size: 0,
        body: { kind: "bytes", bytes: new Uint8Array() },
      });
    }
    const ours = tree.toEntries({ root: null }).map((e) => e.path);
    const python = spawnSync("python3", [
      "-c",
      "import json,sys; print(json.dumps(sorted(json.load(sys.stdin), key=lambda s: s.encode())))",
    ], {
      input: JSON.stringify(names),
      encoding: "utf8",
    });
    assert.equal(python.status, 0, python.stderr);
    assert.deepEqual(ours, JSON.parse(python.stdout));
  });
});
