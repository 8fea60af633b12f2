/**
 * zstd through libzstd: the same bytes as the `zstd` command Nix runs
 * (`zstd -T<n>`, level 3), whatever the chunking or the number of worker
 * threads; without the library, node:zlib's zstd after a notice, under cache
 * keys of its own.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, buildImage, greeterExecutable, writeTextFile } from "../mod.ts";
import { compressorId } from "../lib/codec/compress.ts";
import { libZstdVersion, ZstdCompressor } from "../lib/codec/libzstd.ts";
import { requireTools, rmrf, run, runOk, tempDir } from "./helpers/tools.ts";
import { CLI, HELLO, ROOT, RUNTIME, runTs } from "./helpers/dockwright.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** About 20 MiB, several of libzstd's 8 MiB jobs: text that compresses, and noise that does not. */
function sample(): Uint8Array {
  const out = new Uint8Array(20 << 20);
  let x = 0x12345678;
  for (let i = 0; i < out.length; i++) {
    if ((i >> 16) % 3 === 0) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    } else {
      out[i] = "dockwright layers ".charCodeAt(i % 18);
    }
  }
  return out;
}

function compress(data: Uint8Array, z: ZstdCompressor, piece: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const keep = (part: Uint8Array) => parts.push(part.slice());
  for (let o = 0; o < data.length; o += piece) z.push(data.subarray(o, o + piece), keep);
  z.end(keep);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The `zstd` command's version, e.g. "1.5.4". */
async function cliVersion(): Promise<string> {
  const { stdout } = await runOk("zstd", ["--version"]);
  return /v(\d+\.\d+\.\d+)/.exec(stdout)![1];
}

describe("zstd (libzstd)", () => {
  let dir: string;
  before(() => {
    dir = tempDir("dw-zstd-");
  });
  after(() => rmrf(dir));

  it("writes the bytes of `zstd -3 -T1`, for any chunking and worker count", async (t) => {
    if (!requireTools(t, ["zstd"])) return;
    const data = sample();
    const input = join(dir, "sample.bin");
    writeFileSync(input, data);
    const outputs = [
      compress(data, await ZstdCompressor.open(3, 1), 1 << 20),
      compress(data, await ZstdCompressor.open(3, 2), 4093),
      compress(data, await ZstdCompressor.open(3, 3), 5 << 20),
      compress(data, await ZstdCompressor.open(), data.length),
    ];
    for (const out of outputs.slice(1)) assert.equal(sha256(out), sha256(outputs[0]));
    // Content checksum flag (bit 2 of the frame header descriptor), as the zstd command sets it.
    assert.deepEqual([...outputs[0].subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    assert.equal(outputs[0][4] & 0x04, 0x04);
    const decoded =
      (await run("sh", ["-c", "zstd -dc | sha256sum", "sh"], { input: outputs[0] })).stdout;
    assert.equal(decoded.split(" ")[0], sha256(data));
    // From a pipe, as Nix runs it (`tar | zstd`): given a file, zstd knows the size and tunes for it.
    const cli = await runOk("sh", ["-c", 'zstd -3 -T1 -c < "$1"', "sh", input]);
    const version = await libZstdVersion();
    if (version === await cliVersion()) {
      assert.equal(
        sha256(outputs[0]),
        sha256(cli.stdoutBytes),
        `libzstd ${version} vs the zstd command`,
      );
    } else {
      t.diagnostic(
        `libzstd ${version} and the zstd command differ in version: compared by content only`,
      );
    }
    // A tiny output buffer makes every call fill it, the end included: still one frame, the same bytes.
    const slice = data.subarray(0, 1 << 20);
    const reference = compress(slice, await ZstdCompressor.open(3, 2), 1 << 20);
    for (const outSize of [31, 4096]) {
      const small = compress(slice, await ZstdCompressor.open(3, 2, outSize), 65536);
      assert.equal(sha256(small), sha256(reference), `output buffer of ${outSize} bytes`);
    }
    // One byte: every call fills the buffer, so the end must be told by libzstd, not by a short buffer.
    const tiny = data.subarray(0, 64 << 10);
    assert.equal(
      sha256(compress(tiny, await ZstdCompressor.open(3, 2, 1), 4096)),
      sha256(compress(tiny, await ZstdCompressor.open(3, 2), 1 << 20)),
      "output buffer of 1 byte",
    );
    writeFileSync(input, slice);
    const frames = await runOk("sh", ["-c", 'zstd -3 -T1 -c < "$1" | sha256sum', "sh", input]);
    if (version === await cliVersion()) {
      assert.equal(frames.stdout.split(" ")[0], sha256(reference));
    }
    assert.equal(await compressorId("zstd"), `zstd/libzstd-${version}`);
    assert.equal(await compressorId("gz"), "gz");
  });

  it("compresses a docker-archive exactly as `zstd -3 -T1` does the uncompressed one", async (t) => {
    if (!requireTools(t, ["zstd"])) return;
    const image = buildImage({
      name: "zsame",
      copyToRoot: writeTextFile({
        name: "hello",
        destination: "/bin/hello",
        text: greeterExecutable("zstd\n"),
        executable: true,
      }),
      config: { Cmd: ["/bin/hello"] },
    });
    const cacheDir = join(dir, "cache");
    const plain = join(dir, "zsame.tar");
    const zst = join(dir, "zsame.tar.zst");
    await build(image, { out: plain, compressor: "none", cacheDir, progress: false });
    await build(image, { out: zst, compressor: "zstd", cacheDir, progress: false });
    if ((await libZstdVersion()) !== (await cliVersion())) {
      t.diagnostic("libzstd and the zstd command differ in version: compared by content only");
      const { stdout } = await runOk("sh", ["-c", 'zstd -dc "$1" | sha256sum', "sh", zst]);
      assert.equal(stdout.split(" ")[0], sha256(readFileSync(plain)));
      return;
    }
    const { stdout } = await runOk("sh", ["-c", 'zstd -3 -T1 -c < "$1" | sha256sum', "sh", plain]);
    assert.equal(stdout.split(" ")[0], sha256(readFileSync(zst)));
  });

  it("without libzstd, zstd comes from node:zlib after a notice, under cache keys of its own", async (t) => {
    if (!requireTools(t, ["zstd"])) return;
    // A 20 MiB file: libzstd's worker threads then cut other blocks than node:zlib's one thread.
    writeFileSync(join(dir, "big.bin"), sample());
    const file = join(dir, "big.ts");
    writeFileSync(
      file,
      `import { buildImage } from ${JSON.stringify(join(ROOT, "mod.ts"))};
export default buildImage({ name: "big", tag: "latest", copyToRoot: ${
        JSON.stringify(join(dir, "big.bin"))
      } });
`,
    );
    const cache = join(dir, "cache-nolib");
    const noLib = { DOCKWRIGHT_LIBZSTD: join(dir, "no-such-libzstd.so") };
    const oci = async (out: string, env: Record<string, string> = {}) => {
      const r = await runTs(RUNTIME, CLI, [
        "build",
        file,
        "--format",
        "oci",
        "--compressor",
        "zstd",
        "--json",
        "--out",
        join(dir, out),
        "--cache-dir",
        cache,
      ], { env });
      assert.equal(r.code, 0, r.stderr);
      return { layer: JSON.parse(r.stdout).layers[0].digest as string, stderr: r.stderr };
    };
    const fallback = await oci("nolib.oci", noLib);
    assert.match(
      fallback.stderr,
      /^dockwright: libzstd not found, so zstd comes from (Deno|Bun)'s own zstd \(node:zlib\): valid, but not the bytes of `zstd -T`[^\n]*install libzstd[^\n]*DOCKWRIGHT_LIBZSTD[^\n]*\n/,
    );
    assert.equal(fallback.stderr.match(/libzstd not found/g)!.length, 1, "one notice");
    // The same cache, with libzstd: its own bytes, not the fallback's blob.
    const withLib = await oci("lib.oci");
    assert.doesNotMatch(withLib.stderr, /libzstd not found/);
    assert.notEqual(withLib.layer, fallback.layer, "cache keys keep the two codecs apart");
    assert.equal((await oci("nolib2.oci", noLib)).layer, fallback.layer, "and back again");
    // Both decompress to the same layer tar.
    const unpacked = await Promise.all(["nolib.oci", "lib.oci"].map(async (out, i) => {
      const digest = [fallback.layer, withLib.layer][i].slice("sha256:".length);
      const blob = join(dir, out, "blobs", "sha256", digest);
      return (await runOk("sh", ["-c", 'zstd -dc "$1" | sha256sum', "sh", blob])).stdout;
    }));
    assert.equal(unpacked[0], unpacked[1]);
    // A docker-archive compressed as a whole: a valid zstd stream of the uncompressed archive.
    const plain = join(dir, "nolib.tar");
    const zst = join(dir, "nolib.tar.zst");
    for (const [out, compressor] of [[plain, "none"], [zst, "zstd"]]) {
      const r = await runTs(RUNTIME, CLI, [
        "build",
        HELLO,
        "--compressor",
        compressor,
        "--out",
        out,
        "--cache-dir",
        cache,
      ], { env: noLib });
      assert.equal(r.code, 0, r.stderr);
    }
    const { stdout } = await runOk("sh", ["-c", 'zstd -dc "$1" | sha256sum', "sh", zst]);
    assert.equal(stdout.split(" ")[0], sha256(readFileSync(plain)));
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith("nolib.tar")).sort(), [
      "nolib.tar",
      "nolib.tar.zst",
    ]);
  });
});
