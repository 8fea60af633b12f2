/**
 * Streaming zstd compression through the host's libzstd, loaded with each
 * runtime's foreign-function interface (`Deno.dlopen`, `bun:ffi`).
 *
 * Why not `node:zlib`: its zstd cannot use worker threads in either runtime
 * (`ZSTD_c_nbWorkers` is rejected) and runs at 60-85% of the `zstd` command.
 * libzstd with `nbWorkers >= 1` compresses on its own threads while the
 * caller goes on, and its output is the same for any worker count, and the
 * same as `zstd -T<n>` with n >= 1, which is what Nix's `compressor = "zstd"`
 * runs (`zstd -T$NIX_BUILD_CORES`, level 3, content checksum on). Both
 * runtimes call the same library, so they write the same bytes.
 *
 * Without libzstd (no host library at all), the same calls are served by the
 * runtime's own zstd (`node:zlib`), after a one-line notice on stderr: the
 * input is cut into 8 MiB blocks, each compressed into a frame of its own
 * (level 3, content checksum; the same bytes for any chunking of the input).
 * That is valid zstd, which every decoder reads, but not the bytes of
 * `zstd -T` nor the same in Deno and Bun, so {@link zstdCodec} names it
 * apart (`zlib-deno-2.9.6`) and cache keys never mix the two.
 *
 * @module
 */

import { availableParallelism } from "node:os";
import process from "node:process";
import * as zlib from "node:zlib";

/**
 * libzstd could not be loaded or failed: says why and what to do.
 *
 * @example
 * ```ts
 * try { await ZstdCompressor.open(); } catch (e) { if (e instanceof ZstdError) console.error(e.message); }
 * ```
 */
export class ZstdError extends Error {
  /** Stable machine-readable error code. */
  readonly code = "ZSTD";
  /**
   * A libzstd failure.
   *
   * @param message why, and what to do
   * @param options the underlying error as `cause`
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ZstdError";
  }
}

// zstd.h constants (stable ABI since 1.4.0).
const ZSTD_c_compressionLevel = 100;
const ZSTD_c_checksumFlag = 201;
const ZSTD_c_nbWorkers = 400;
const ZSTD_e_continue = 0;
const ZSTD_e_end = 2;

/** The calls made into libzstd, the same on both runtimes. */
interface LibZstd {
  createCCtx(): unknown;
  freeCCtx(cctx: unknown): void;
  setParameter(cctx: unknown, param: number, value: number): bigint;
  /** `ZSTD_compressStream2(cctx, out, in, op)`; `out` and `in` point at 24-byte structs. */
  compressStream2(cctx: unknown, out: Uint8Array, input: Uint8Array, op: number): bigint;
  isError(code: bigint): boolean;
  errorName(code: bigint): string;
  /** The address of a view's first byte. */
  address(view: Uint8Array): bigint;
  version: string;
  /** Names the codec in cache keys: `libzstd-1.5.4`, or `zlib-<runtime>-<version>` for the fallback. */
  codec: string;
}

const SYMBOLS = {
  ZSTD_createCCtx: { parameters: [], result: "pointer" },
  ZSTD_freeCCtx: { parameters: ["pointer"], result: "usize" },
  ZSTD_CCtx_setParameter: { parameters: ["pointer", "i32", "i32"], result: "usize" },
  ZSTD_compressStream2: { parameters: ["pointer", "buffer", "buffer", "i32"], result: "usize" },
  ZSTD_isError: { parameters: ["usize"], result: "u32" },
  ZSTD_getErrorName: { parameters: ["usize"], result: "pointer" },
  ZSTD_versionString: { parameters: [], result: "pointer" },
} as const;

/** Where libzstd is looked for, first match wins; `DOCKWRIGHT_LIBZSTD` goes first. */
function candidates(): string[] {
  const own = process.env.DOCKWRIGHT_LIBZSTD;
  const names = process.platform === "darwin"
    ? [
      "libzstd.1.dylib",
      "/opt/homebrew/lib/libzstd.1.dylib",
      "/usr/local/lib/libzstd.1.dylib",
      "/opt/local/lib/libzstd.1.dylib",
    ]
    : process.platform === "win32"
    ? ["libzstd.dll", "zstd.dll"]
    : ["libzstd.so.1", "libzstd.so"];
  return own ? [own] : names;
}

const HOW_TO_INSTALL =
  "install libzstd (Debian/Ubuntu: apt-get install libzstd1; Fedora: dnf install libzstd; " +
  "macOS: brew install zstd) or point DOCKWRIGHT_LIBZSTD at libzstd's shared library";

// deno-lint-ignore no-explicit-any
type Any = any;

/** What differs between the runtimes' FFIs: opening, C strings, addresses. */
interface Ffi {
  // deno-lint-ignore no-explicit-any
  symbols: Record<keyof typeof SYMBOLS, (...args: any[]) => any>;
  cString(pointer: unknown): string;
  address(view: Uint8Array): number | bigint;
}

function denoFfi(path: string): Ffi {
  const D = (globalThis as Any).Deno;
  return {
    symbols: D.dlopen(path, SYMBOLS).symbols,
    cString: (p) => new D.UnsafePointerView(p).getCString(),
    address: (view) => D.UnsafePointer.value(D.UnsafePointer.of(view)),
  };
}

async function bunFfi(path: string): Promise<Ffi> {
  // A computed specifier keeps `deno check` from resolving Bun's module.
  const specifier = "bun:ffi";
  const ffi: Any = await import(specifier);
  const kind = (
    t: string,
  ) => (t === "pointer" || t === "buffer" ? "ptr" : t === "usize" ? "u64" : t);
  const symbols: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, def] of Object.entries(SYMBOLS)) {
    symbols[name] = { args: def.parameters.map(kind), returns: kind(def.result) };
  }
  return {
    symbols: ffi.dlopen(path, symbols).symbols,
    cString: (p) => new ffi.CString(p).toString(),
    address: (view) => ffi.ptr(view),
  };
}

/** The libzstd calls over either runtime's FFI (sizes come back as bigint on both). */
function bindLibZstd({ symbols: s, cString, address }: Ffi): LibZstd {
  return {
    createCCtx: () => s.ZSTD_createCCtx(),
    freeCCtx: (c) => void s.ZSTD_freeCCtx(c),
    setParameter: (c, p, v) => BigInt(s.ZSTD_CCtx_setParameter(c, p, v)),
    compressStream2: (c, out, input, op) => BigInt(s.ZSTD_compressStream2(c, out, input, op)),
    isError: (code) => s.ZSTD_isError(code) !== 0,
    errorName: (code) => cString(s.ZSTD_getErrorName(code)),
    address: (view) => BigInt(address(view)),
    version: cString(s.ZSTD_versionString()),
    get codec() {
      return `libzstd-${this.version}`;
    },
  };
}

/** The fallback's block size: each block of input becomes one zstd frame. */
const FALLBACK_BLOCK = 8 << 20;

/** One fallback stream: settings, the block being filled, and output not yet handed out. */
interface FallbackStream {
  params: Record<number, number>;
  block: Uint8Array;
  filled: number;
  /** True once a frame was written (an empty input still gets one frame). */
  framed: boolean;
  queue: Uint8Array[];
  queued: number;
}

/**
 * {@link LibZstd} served by node:zlib's zstd (`zstdCompressSync`, one frame
 * per block), for machines without libzstd; undefined when the runtime has no
 * zstd either. "Addresses" are handles of views kept in a table, so the
 * caller's structs work unchanged.
 */
function zlibLibZstd(): LibZstd | undefined {
  const z = zlib as unknown as {
    zstdCompressSync?(data: Uint8Array, options: { params: Record<number, number> }): Uint8Array;
  };
  const compressSync = z.zstdCompressSync;
  if (typeof compressSync !== "function") return undefined;
  const deno = (globalThis as Any).Deno?.version?.deno as string | undefined;
  const runtime = deno ? `deno-${deno}` : `bun-${process.versions.bun ?? process.version}`;
  const views = new Map<bigint, WeakRef<Uint8Array>>();
  let next = 1n;
  const view = (handle: bigint): Uint8Array => {
    const v = views.get(handle)?.deref();
    if (!v) throw new ZstdError("the zstd fallback lost a buffer (a handle was used twice)");
    return v;
  };
  const words = (struct: Uint8Array) => new BigUint64Array(struct.buffer, struct.byteOffset, 3);
  const frame = (z: FallbackStream, data: Uint8Array) => {
    const out = compressSync(data, { params: z.params });
    z.queue.push(out);
    z.queued += out.length;
    z.framed = true;
  };
  return {
    createCCtx: (): FallbackStream => ({
      params: {},
      block: new Uint8Array(FALLBACK_BLOCK),
      filled: 0,
      framed: false,
      queue: [],
      queued: 0,
    }),
    freeCCtx: (cctx) => {
      const z = cctx as FallbackStream;
      z.queue = [];
      z.block = new Uint8Array(0);
    },
    setParameter: (cctx, param, value) => {
      // nbWorkers: one thread here; the output never depends on it anyway.
      if (param !== ZSTD_c_nbWorkers) (cctx as FallbackStream).params[param] = value;
      return 0n;
    },
    compressStream2: (cctx, out, input, op) => {
      const z = cctx as FallbackStream;
      const inp = words(input);
      if (inp[2] < inp[1]) {
        const data = view(inp[0]).subarray(Number(inp[2]), Number(inp[1]));
        views.delete(inp[0]);
        for (let o = 0; o < data.length;) {
          const n = Math.min(data.length - o, z.block.length - z.filled);
          z.block.set(data.subarray(o, o + n), z.filled);
          z.filled += n;
          o += n;
          if (z.filled === z.block.length) {
            frame(z, z.block);
            z.filled = 0;
          }
        }
        inp[2] = inp[1];
      }
      if (op === ZSTD_e_end && (z.filled > 0 || !z.framed)) {
        frame(z, z.block.subarray(0, z.filled));
        z.filled = 0;
      }
      const dst = words(out);
      const target = view(dst[0]);
      let pos = Number(dst[2]);
      while (z.queue.length > 0 && pos < Number(dst[1])) {
        const head = z.queue[0];
        const n = Math.min(head.length, Number(dst[1]) - pos);
        target.set(head.subarray(0, n), pos);
        pos += n;
        z.queued -= n;
        if (n === head.length) z.queue.shift();
        else z.queue[0] = head.subarray(n);
      }
      dst[2] = BigInt(pos);
      return BigInt(z.queued);
    },
    isError: () => false,
    errorName: () => "",
    address: (v) => {
      const handle = next++;
      views.set(handle, new WeakRef(v));
      if (views.size > 64) {
        for (const [h, ref] of views) if (!ref.deref()) views.delete(h);
      }
      return handle;
    },
    version: `node:zlib (${runtime})`,
    codec: `zlib-${runtime}`,
  };
}

let loaded: Promise<LibZstd> | undefined;

/** Opens libzstd once per thread. */
function loadLibZstd(): Promise<LibZstd> {
  return loaded ??= (async () => {
    // The ZSTD_inBuffer/ZSTD_outBuffer structs are written as three 64-bit words.
    if (process.arch === "ia32" || process.arch === "arm") {
      throw new ZstdError("zstd compression needs a 64-bit runtime");
    }
    const isDeno = typeof (globalThis as Any).Deno?.dlopen === "function";
    const reasons: string[] = [];
    for (const path of candidates()) {
      try {
        const lib = bindLibZstd(isDeno ? denoFfi(path) : await bunFfi(path));
        const [major, minor] = lib.version.split(".").map(Number);
        if (major < 1 || (major === 1 && minor < 4)) {
          reasons.push(`${path} is libzstd ${lib.version}, older than 1.4`);
          continue;
        }
        return lib;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if ((e as Error)?.name === "NotCapable" || /--allow-ffi/.test(message)) {
          throw new ZstdError(
            `zstd compression loads libzstd, which needs Deno's --allow-ffi permission (or -A): ${message}`,
            { cause: e },
          );
        }
        reasons.push(`${path}: ${message}`);
      }
    }
    const fallback = zlibLibZstd();
    if (!fallback) {
      throw new ZstdError(
        `zstd compression needs the libzstd shared library, which could not be loaded (${
          reasons.join("; ")
        }): ${HOW_TO_INSTALL}`,
      );
    }
    process.stderr.write(
      `dockwright: libzstd not found, so zstd comes from ${
        fallback.codec.startsWith("zlib-deno") ? "Deno" : "Bun"
      }'s own zstd (node:zlib): valid, but not the bytes of \`zstd -T\` (libzstd, as Nix runs it); ` +
        `for those, ${HOW_TO_INSTALL}\n`,
    );
    return fallback;
  })().catch((e) => {
    loaded = undefined; // A later call may succeed (e.g. after the library is installed).
    throw e;
  });
}

/**
 * The version of the libzstd that compresses, e.g. `"1.5.4"`. It names the
 * codec in cache keys: another libzstd may write other bytes.
 *
 * @example
 * ```ts
 * console.log(`zstd ${await libZstdVersion()}`);
 * ```
 */
export async function libZstdVersion(): Promise<string> {
  return (await loadLibZstd()).version;
}

/**
 * The zstd codec for cache keys: `libzstd-<version>`, or, without libzstd,
 * `zlib-<runtime>-<version>` (node:zlib's zstd, whose bytes differ).
 *
 * @example
 * ```ts
 * await zstdCodec(); // "libzstd-1.5.4"
 * ```
 */
export async function zstdCodec(): Promise<string> {
  return (await loadLibZstd()).codec;
}

/** Output is collected in a buffer of this size (by default). */
const OUT_SIZE = 1 << 20;

/**
 * Receives compressed bytes: a view of a buffer that is reused as soon as
 * the callback returns (copy it to keep it).
 */
export type ZstdOutput = (part: Uint8Array) => void;

/**
 * One zstd frame, written incrementally: level 3 with a content checksum,
 * compressed by libzstd's worker threads (as `zstd -3 -T<n>`).
 *
 * @example
 * ```ts
 * const z = await ZstdCompressor.open();
 * const parts: Uint8Array[] = [];
 * z.push(new TextEncoder().encode("hello\n"), (part) => parts.push(part.slice()));
 * z.end((part) => parts.push(part.slice()));
 * ```
 */
export class ZstdCompressor {
  #cctx: unknown;
  readonly #out: Uint8Array;
  // Both structs in one buffer large enough to live outside the JS heap (its address never moves).
  readonly #structs = new BigUint64Array(new ArrayBuffer(4096));
  readonly #inStruct = new Uint8Array(this.#structs.buffer, 0, 24);
  readonly #outStruct = new Uint8Array(this.#structs.buffer, 32, 24);

  private constructor(readonly lib: LibZstd, level: number, workers: number, outSize: number) {
    // An ArrayBuffer of its own: Bun moves a small typed array's storage the first
    // time a view of it is taken, which would leave libzstd writing to the old place.
    this.#out = new Uint8Array(new ArrayBuffer(outSize));
    const cctx = lib.createCCtx();
    if (!cctx) {
      throw new ZstdError("libzstd could not allocate a compression context (out of memory?)");
    }
    this.#cctx = cctx;
    try {
      this.#check(lib.setParameter(cctx, ZSTD_c_compressionLevel, level), "setting the level");
      this.#check(lib.setParameter(cctx, ZSTD_c_checksumFlag, 1), "enabling the checksum");
      this.#check(
        lib.setParameter(cctx, ZSTD_c_nbWorkers, workers),
        `using ${workers} worker threads (this libzstd was built without multithreading; use one built with it)`,
      );
    } catch (e) {
      this.free();
      throw e;
    }
    this.#structs[4] = lib.address(this.#out);
    this.#structs[5] = BigInt(outSize);
  }

  /**
   * A compressor at `level` (default 3, Nix's) using `workers` threads
   * (default: one per core, at most 8; each costs about 20 MiB). The output
   * does not depend on `workers`, nor on `outSize`, the size of the output
   * buffer (tests make it tiny to exercise the flush loop).
   */
  static async open(
    level = 3,
    workers = Math.min(8, availableParallelism()),
    outSize = OUT_SIZE,
  ): Promise<ZstdCompressor> {
    return new ZstdCompressor(await loadLibZstd(), level, workers, outSize);
  }

  #check(code: bigint, doing: string): bigint {
    if (this.lib.isError(code)) {
      throw new ZstdError(`libzstd failed ${doing}: ${this.lib.errorName(code)}`);
    }
    return code;
  }

  /** Runs `ZSTD_compressStream2` until `input` is consumed (and, for `end`, the frame is complete). */
  #run(input: Uint8Array, op: number, emit: ZstdOutput): void {
    if (!this.#cctx) throw new ZstdError("the zstd stream is already finished");
    const s = this.#structs;
    s[0] = input.length ? this.lib.address(input) : 0n;
    s[1] = BigInt(input.length);
    s[2] = 0n;
    for (;;) {
      s[6] = 0n;
      const remaining = this.#check(
        this.lib.compressStream2(this.#cctx, this.#outStruct, this.#inStruct, op),
        "compressing",
      );
      const produced = Number(s[6]);
      if (produced > 0) emit(this.#out.subarray(0, produced));
      // At the end: done exactly when libzstd says nothing is left to flush (one
      // more call would start a new, empty frame). Otherwise: done when the input
      // is taken and the output buffer was not filled (a full one may mean more).
      if (op === ZSTD_e_end ? remaining === 0n : s[2] === s[1] && produced < this.#out.length) {
        break;
      }
    }
  }

  /**
   * Compresses `chunk` (copied into libzstd: the caller may reuse it at
   * once); gives `emit` the compressed bytes that are ready (often none).
   */
  push(chunk: Uint8Array, emit: ZstdOutput): void {
    if (chunk.length) this.#run(chunk, ZSTD_e_continue, emit);
  }

  /** Finishes the frame, gives `emit` the remaining bytes, and frees the context. */
  end(emit: ZstdOutput): void {
    try {
      this.#run(new Uint8Array(0), ZSTD_e_end, emit);
    } finally {
      this.free();
    }
  }

  /** Frees the context (idempotent); for abandoned streams. */
  free(): void {
    if (this.#cctx) this.lib.freeCCtx(this.#cctx);
    this.#cctx = undefined;
  }
}
