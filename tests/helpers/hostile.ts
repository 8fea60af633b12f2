/**
 * Building hostile and odd inputs at run time, and measuring what reading
 * them costs: a tar writer with full control of every header byte (names
 * with `..`, NUL or raw bytes, links, devices, lying sizes), docker-archives,
 * OCI layouts and Docker 25 archives from hand-made layers, decompression
 * bombs written as concatenated gzip or zstd frames (a few KiB on disk), a
 * child-process runner that records peak memory (`VmHWM`) and disk use, and
 * a registry stand-in that misbehaves on request.
 *
 * Only `node:` built-ins, so it runs under Deno and Bun. Nothing generated is
 * committed.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import { join } from "node:path";
import process from "node:process";
import * as zlib from "node:zlib";

const enc = new TextEncoder();

/** sha256 of `bytes` as hex. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function bytesOf(x: string | Uint8Array): Uint8Array {
  return typeof x === "string" ? enc.encode(x) : x;
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

// ---------------------------------------------------------------------------
// Tar, byte by byte
// ---------------------------------------------------------------------------

/** One member, as raw as a hostile writer may make it. */
export interface RawMember {
  /** The name: any bytes (a string is UTF-8). */
  name: string | Uint8Array;
  /** Type flag: "0" file (default), "1" hard link, "2" symlink, "3" char, "4" block, "5" dir, "6" fifo. */
  type?: "0" | "1" | "2" | "3" | "4" | "5" | "6";
  /** Content of a file. */
  data?: string | Uint8Array;
  /** Target of a link. */
  linkname?: string | Uint8Array;
  /** Permission bits; default 0644 (0755 for folders). */
  mode?: number;
  /** The size the header declares; default the data's length. */
  size?: number;
  /** Extra PAX records. */
  pax?: Record<string, string | Uint8Array>;
  /** Device numbers. */
  devMajor?: number;
  devMinor?: number;
}

function putString(b: Uint8Array, at: number, len: number, value: Uint8Array): void {
  b.set(value.subarray(0, len), at);
}

function putOctal(b: Uint8Array, at: number, len: number, value: number): void {
  putString(b, at, len - 1, enc.encode(value.toString(8).padStart(len - 1, "0")));
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = concat([enc.encode(` ${key}=`), value, enc.encode("\n")]);
  let n = body.length;
  while (String(n).length + body.length !== n) n = String(n).length + body.length;
  return concat([enc.encode(String(n)), body]);
}

function ustar(f: {
  name: Uint8Array;
  type: string;
  size: number;
  mode: number;
  link?: Uint8Array;
  devMajor?: number;
  devMinor?: number;
}): Uint8Array {
  const b = new Uint8Array(512);
  putString(b, 0, 100, f.name);
  putOctal(b, 100, 8, f.mode);
  putOctal(b, 108, 8, 0);
  putOctal(b, 116, 8, 0);
  putOctal(b, 124, 12, f.size);
  putOctal(b, 136, 12, 315532800);
  b.fill(0x20, 148, 156);
  b[156] = f.type.charCodeAt(0);
  if (f.link) putString(b, 157, 100, f.link);
  putString(b, 257, 8, enc.encode("ustar\x0000"));
  if (f.devMajor !== undefined) putOctal(b, 329, 8, f.devMajor);
  if (f.devMinor !== undefined) putOctal(b, 337, 8, f.devMinor);
  let sum = 0;
  for (const x of b) sum += x;
  putString(b, 148, 7, enc.encode(sum.toString(8).padStart(6, "0") + "\0"));
  return b;
}

/** Zeros that complete a block after `size` bytes. */
export function padding(size: number): Uint8Array {
  return new Uint8Array((512 - (size % 512)) % 512);
}

/**
 * The header blocks of one member: a PAX header when the name or link is not
 * plain ASCII under 100 bytes (or `pax` is given), then the ustar block.
 */
export function tarHeader(m: RawMember): Uint8Array {
  const name = bytesOf(m.name);
  const link = bytesOf(m.linkname ?? "");
  const type = m.type ?? "0";
  const size = m.size ?? (m.data === undefined ? 0 : bytesOf(m.data).length);
  const plain = (b: Uint8Array) => b.length < 100 && b.every((c) => c >= 0x20 && c < 0x7f);
  const records: Uint8Array[] = [];
  if (!plain(name)) records.push(paxRecord("path", name));
  if (!plain(link)) records.push(paxRecord("linkpath", link));
  for (const [k, v] of Object.entries(m.pax ?? {})) records.push(paxRecord(k, bytesOf(v)));
  const blocks: Uint8Array[] = [];
  if (records.length > 0) {
    const data = concat(records);
    blocks.push(
      ustar({ name: enc.encode("././@PaxHeader"), type: "x", size: data.length, mode: 0 }),
      data,
      padding(data.length),
    );
  }
  blocks.push(ustar({
    name: plain(name) ? name : enc.encode("pax-named"),
    type,
    size: type === "0" ? size : 0,
    mode: m.mode ?? (type === "5" ? 0o755 : 0o644),
    link: plain(link) ? link : enc.encode("pax-linked"),
    devMajor: m.devMajor,
    devMinor: m.devMinor,
  }));
  return concat(blocks);
}

/** A whole tar: each member's headers, content and padding, then two zero blocks. */
export function tar(members: readonly RawMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    parts.push(tarHeader(m));
    if ((m.type ?? "0") === "0" && m.data !== undefined) {
      const data = bytesOf(m.data);
      parts.push(data, padding(data.length));
    }
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

/** A folder member. */
export const dir = (name: string, mode = 0o755): RawMember => ({ name, type: "5", mode });
/** A file member. */
export const file = (
  name: string | Uint8Array,
  data: string | Uint8Array,
  mode = 0o644,
): RawMember => ({
  name,
  data,
  mode,
});
/** A symlink member. */
export const symlink = (name: string, target: string): RawMember => ({
  name,
  type: "2",
  linkname: target,
  mode: 0o777,
});

// ---------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------

/** A config document for `layers` (uncompressed tars), with `extra` fields merged in. */
export function configFor(
  layers: readonly Uint8Array[],
  extra: Record<string, unknown> = {},
): Uint8Array {
  return enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/bin"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => `sha256:${sha256(l)}`) },
    ...extra,
  }));
}

/** What {@link dockerArchive} puts in an archive. */
export interface ArchiveSpec {
  /** Uncompressed layer tars. */
  layers?: Uint8Array[];
  /** The config bytes (default {@link configFor} of the layers). */
  config?: Uint8Array;
  /** manifest.json as a value (default: one image, `hostile:latest`). */
  manifest?: unknown;
  /** manifest.json as bytes (wins over `manifest`). */
  manifestBytes?: Uint8Array;
  /** Members written before the usual ones. */
  before?: RawMember[];
  /** Members written after the usual ones. */
  after?: RawMember[];
}

/**
 * The members of a docker-archive as skopeo and Nix's streamer lay it out:
 * `<diffId>/layer.tar`, `<config digest>.json`, `manifest.json`.
 */
export function dockerArchiveMembers(spec: ArchiveSpec): RawMember[] {
  const layers = spec.layers ?? [tar([dir("etc"), file("etc/motd", "hi\n")])];
  const config = spec.config ?? configFor(layers);
  const configName = `${sha256(config)}.json`;
  const layerNames = layers.map((l) => `${sha256(l)}/layer.tar`);
  const manifest = spec.manifestBytes ??
    enc.encode(JSON.stringify(
      spec.manifest ?? [{ Config: configName, RepoTags: ["hostile:latest"], Layers: layerNames }],
    ));
  return [
    ...(spec.before ?? []),
    ...layers.map((l, i) => file(layerNames[i], l)),
    file(configName, config),
    file("manifest.json", manifest),
    ...(spec.after ?? []),
  ];
}

/** Writes a docker-archive (plain tar) at `path`; returns `path`. */
export function dockerArchive(path: string, spec: ArchiveSpec = {}): string {
  writeFileSync(path, tar(dockerArchiveMembers(spec)));
  return path;
}

/**
 * A `docker save` archive of Docker 25+: an OCI layout (`oci-layout`,
 * `index.json`, `blobs/sha256/*`) plus `manifest.json` naming the config and
 * layers by their blob paths, and `repositories`.
 */
export function docker25Members(
  layers: readonly Uint8Array[],
  tag = "docker25:latest",
): RawMember[] {
  const config = configFor(layers);
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: `sha256:${sha256(config)}`,
      size: config.length,
    },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: `sha256:${sha256(l)}`,
      size: l.length,
    })),
  }));
  const index = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${sha256(manifest)}`,
      size: manifest.length,
      annotations: {
        "io.containerd.image.name": `docker.io/library/${tag}`,
        "org.opencontainers.image.ref.name": tag.split(":")[1],
      },
    }],
  }));
  const blob = (b: Uint8Array) => `blobs/sha256/${sha256(b)}`;
  return [
    dir("blobs"),
    dir("blobs/sha256"),
    ...layers.map((l) => file(blob(l), l)),
    file(blob(config), config),
    file(blob(manifest), manifest),
    file("index.json", index),
    file(
      "manifest.json",
      JSON.stringify([{
        Config: blob(config),
        RepoTags: [tag],
        Layers: layers.map(blob),
        LayerSources: {},
      }]),
    ),
    file("oci-layout", '{"imageLayoutVersion":"1.0.0"}'),
    file("repositories", JSON.stringify({ [tag.split(":")[0]]: { latest: sha256(layers[0]) } })),
  ];
}

/** A layer of an OCI layout: its blob and media type (tar, tar+gzip, tar+zstd). */
export interface LayoutLayer {
  /** The blob as stored. */
  blob: Uint8Array;
  /** Its diff_id (sha256 of the uncompressed tar). */
  diffId: string;
  /** Its media type. */
  mediaType?: string;
}

/** An uncompressed tar as a {@link LayoutLayer}. */
export function plainLayer(tarBytes: Uint8Array): LayoutLayer {
  return {
    blob: tarBytes,
    diffId: `sha256:${sha256(tarBytes)}`,
    mediaType: "application/vnd.oci.image.layer.v1.tar",
  };
}

/** What {@link ociLayoutBlobs} writes. */
export interface LayoutSpec {
  layers: LayoutLayer[];
  /** Fields merged into the config. */
  config?: Record<string, unknown>;
  /** The ref name in index.json. Default `latest`. */
  tag?: string;
}

/** Blobs, manifest and index of an OCI layout, as members (for an archive) or files. */
export function ociLayoutMembers(spec: LayoutSpec): {
  blobs: Map<string, Uint8Array>;
  manifestHex: string;
  index: Uint8Array;
} {
  const config = enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: spec.layers.map((l) => l.diffId) },
    ...spec.config,
  }));
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: `sha256:${sha256(config)}`,
      size: config.length,
    },
    layers: spec.layers.map((l) => ({
      mediaType: l.mediaType ?? "application/vnd.oci.image.layer.v1.tar",
      digest: `sha256:${sha256(l.blob)}`,
      size: l.blob.length,
    })),
  }));
  const blobs = new Map<string, Uint8Array>();
  for (const b of [config, manifest, ...spec.layers.map((l) => l.blob)]) blobs.set(sha256(b), b);
  const index = enc.encode(JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${sha256(manifest)}`,
      size: manifest.length,
      annotations: { "org.opencontainers.image.ref.name": spec.tag ?? "latest" },
    }],
  }));
  return { blobs, manifestHex: sha256(manifest), index };
}

/** Writes an OCI layout folder at `path`; returns the manifest's hex digest. */
export function ociLayout(path: string, spec: LayoutSpec): string {
  const { blobs, manifestHex, index } = ociLayoutMembers(spec);
  mkdirSync(join(path, "blobs", "sha256"), { recursive: true });
  for (const [hex, bytes] of blobs) writeFileSync(join(path, "blobs", "sha256", hex), bytes);
  writeFileSync(join(path, "index.json"), index);
  writeFileSync(join(path, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  return manifestHex;
}

// ---------------------------------------------------------------------------
// Bombs
// ---------------------------------------------------------------------------

const BOMB_PIECE = 64 << 20;

function compressPiece(kind: "gzip" | "zstd", bytes: Uint8Array): Uint8Array {
  if (kind === "gzip") return new Uint8Array(zlib.gzipSync(bytes, { level: 9 }));
  const z = zlib as unknown as {
    zstdCompressSync(b: Uint8Array, o: unknown): Uint8Array;
    constants: Record<string, number>;
  };
  return new Uint8Array(
    z.zstdCompressSync(bytes, { params: { [z.constants.ZSTD_c_compressionLevel]: 3 } }),
  );
}

const pieces = new Map<string, Uint8Array>();

/** `size` bytes of `fill` as concatenated gzip members or zstd frames (64 MiB each, compressed once). */
export function compressedFill(kind: "gzip" | "zstd", size: number, fill = 0): Uint8Array[] {
  const key = `${kind}/${fill}`;
  let piece = pieces.get(key);
  if (!piece) {
    piece = compressPiece(kind, new Uint8Array(BOMB_PIECE).fill(fill));
    pieces.set(key, piece);
  }
  const out: Uint8Array[] = [];
  for (let left = size; left > 0; left -= BOMB_PIECE) {
    out.push(left >= BOMB_PIECE ? piece : compressPiece(kind, new Uint8Array(left).fill(fill)));
  }
  return out;
}

/** A member of {@link compressedTar}: small members as they are, big ones filled with one byte. */
export type CompressedMember = RawMember | { header: RawMember; size: number; fill: number };

/** Streams `pieces` through one zstd compressor into `path` (one frame, as the `zstd` command writes). */
async function zstdFile(path: string, pieces: () => Generator<Uint8Array>): Promise<void> {
  const z = zlib as unknown as {
    createZstdCompress(o: unknown): import("node:stream").Transform;
    constants: Record<string, number>;
  };
  const compressor = z.createZstdCompress({
    params: { [z.constants.ZSTD_c_compressionLevel]: 3 },
  });
  const fd = openSync(path, "w");
  const done = new Promise<void>((resolve, reject) => {
    compressor.on("data", (c: Uint8Array) => writeSync(fd, c));
    compressor.on("end", () => resolve());
    compressor.on("error", reject);
  });
  try {
    for (const piece of pieces()) {
      if (!compressor.write(piece)) await new Promise((r) => compressor.once("drain", r));
    }
    compressor.end();
    await done;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `path`: a tar of `members`, compressed so that a member of
 * gigabytes of one byte takes a few KiB (zstd: one frame, streamed) or about
 * a thousandth (gzip: members compressed once and concatenated), and no
 * memory.
 */
export async function compressedTar(
  path: string,
  kind: "gzip" | "zstd",
  members: readonly CompressedMember[],
): Promise<string> {
  if (kind === "zstd") {
    await zstdFile(path, function* () {
      for (const m of members) {
        if (!("header" in m)) {
          yield tar([m]).subarray(0, -1024);
          continue;
        }
        yield tarHeader({ ...m.header, size: m.size });
        const chunk = new Uint8Array(1 << 20).fill(m.fill);
        for (let left = m.size; left > 0; left -= chunk.length) {
          yield left >= chunk.length ? chunk : chunk.subarray(0, left);
        }
        yield padding(m.size);
      }
      yield new Uint8Array(1024);
    });
    return path;
  }
  const fd = openSync(path, "w");
  try {
    for (const m of members) {
      if ("header" in m) {
        writeSync(fd, compressPiece(kind, tarHeader({ ...m.header, size: m.size })));
        for (const piece of compressedFill(kind, m.size, m.fill)) writeSync(fd, piece);
        writeSync(fd, compressPiece(kind, padding(m.size)));
      } else {
        writeSync(fd, compressPiece(kind, tar([m]).subarray(0, -1024)));
      }
    }
    writeSync(fd, compressPiece(kind, new Uint8Array(1024)));
  } finally {
    closeSync(fd);
  }
  return path;
}

/**
 * Writes `path`: a compressed docker-archive whose first member
 * (`bomb/layer.tar`) is `zeros` zero bytes, followed by a small
 * `manifest.json`. A few KiB (zstd) or about zeros/1000 (gzip) on disk.
 */
export async function zeroBombArchive(
  path: string,
  kind: "gzip" | "zstd",
  zeros: number,
): Promise<string> {
  return await compressedTar(path, kind, [
    { header: { name: "bomb/layer.tar" }, size: zeros, fill: 0 },
    file("manifest.json", '[{"Config":"c.json","Layers":["bomb/layer.tar"]}]'),
  ]);
}

/** A gzip layer blob (concatenated members) holding one file of `zeros` zero bytes. */
export function zeroBombLayer(zeros: number): LayoutLayer {
  const parts = [
    compressPiece("gzip", tarHeader({ name: "zeros", size: zeros })),
    ...compressedFill("gzip", zeros),
    compressPiece("gzip", concat([padding(zeros), new Uint8Array(1024)])),
  ];
  return {
    blob: concat(parts),
    diffId: `sha256:${"0".repeat(64)}`, // never reached: the expansion limit stops it first
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  };
}

// ---------------------------------------------------------------------------
// Measuring a child
// ---------------------------------------------------------------------------

/** What {@link runMeasured} reports. */
export interface MeasuredRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the child (VmHWM), KiB; 0 when /proc cannot tell. */
  peakRssKiB: number;
  /** Peak bytes allocated under `diskDirs` while it ran. */
  peakDiskBytes: number;
  /** Wall time, ms. */
  ms: number;
  /** True when it was killed for running past `timeoutMs`. */
  timedOut: boolean;
}

/** Bytes allocated on disk under `path` (sparse files count what they use). */
export function diskUsage(path: string): number {
  let total = 0;
  const walk = (p: string) => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    total += Number(st.blocks ?? 0) * 512;
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = readdirSync(p);
      } catch {
        return;
      }
      for (const n of names) walk(join(p, n));
    }
  };
  walk(path);
  return total;
}

function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs `cmd args` with its peak memory and the disk used under `diskDirs`
 * sampled every 25 ms; kills it (SIGKILL) after `timeoutMs`.
 */
export function runMeasured(
  cmd: string,
  args: readonly string[],
  opts: {
    cwd?: string;
    env?: Record<string, string | undefined>;
    timeoutMs: number;
    diskDirs?: readonly string[];
  },
): Promise<MeasuredRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: "1", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    child.stdout!.on("data", (c: Uint8Array) => out.push(c));
    child.stderr!.on("data", (c: Uint8Array) => err.push(c));
    let peakRssKiB = 0;
    let peakDiskBytes = 0;
    let timedOut = false;
    const sample = () => {
      if (child.pid !== undefined) peakRssKiB = Math.max(peakRssKiB, vmHwm(child.pid));
      let disk = 0;
      for (const d of opts.diskDirs ?? []) disk += diskUsage(d);
      peakDiskBytes = Math.max(peakDiskBytes, disk);
    };
    const poll = setInterval(sample, 25);
    const killer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    child.on("error", (e) => {
      clearInterval(poll);
      clearTimeout(killer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearInterval(poll);
      clearTimeout(killer);
      resolve({
        code: code ?? (signal === "SIGKILL" ? 137 : 128),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        peakRssKiB,
        peakDiskBytes,
        ms: Date.now() - started,
        timedOut,
      });
    });
  });
}

// ---------------------------------------------------------------------------
// A registry that misbehaves
// ---------------------------------------------------------------------------

/** A plain-HTTP server on 127.0.0.1 whose every answer is `handler`'s. */
export interface FaultServer {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** What to answer; set per case. */
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Requests seen, as `METHOD path`. */
  log: string[];
  /** Closes the server and every connection (stalled answers included). */
  stop(): Promise<void>;
}

/** Starts a {@link FaultServer} that answers 404 until given a handler. */
export async function startFaultServer(): Promise<FaultServer> {
  const sockets = new Set<net.Socket>();
  const fault: FaultServer = {
    host: "",
    log: [],
    handler: (_req, res) => {
      res.writeHead(404);
      res.end();
    },
    stop: async () => {},
  };
  const server = http.createServer((req, res) => {
    fault.log.push(`${req.method} ${req.url}`);
    // HTTPS probes arrive as garbage and never get here; the client falls back to HTTP.
    try {
      fault.handler(req, res);
    } catch {
      res.destroy();
    }
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("clientError", (_e, s) => s.destroy());
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
  fault.host = `127.0.0.1:${port}`;
  fault.stop = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return fault;
}

/** Writes an endless body of `byte` (until the client goes away). */
export function endless(res: http.ServerResponse, byte = 0x20): void {
  const chunk = Buffer.alloc(1 << 16, byte);
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once("drain", pump);
  };
  res.on("close", () => res.removeAllListeners("drain"));
  pump();
}
