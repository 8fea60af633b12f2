/**
 * Opening the files of an input safely: a file is read only when it is a
 * regular file (never a fifo, which would hang, a device such as `/dev/zero`,
 * which never ends, a socket or a folder), and a file of a layout folder only
 * when it lies inside that folder once every link is resolved. Opening never
 * blocks (`O_NONBLOCK`), and the checks are made on the opened descriptor, so
 * what is checked is what is read.
 *
 * @module
 */

import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  openSync,
  readSync,
  realpathSync,
  type Stats,
} from "node:fs";
import { sep } from "node:path";
import { InputError, inputLimits, limitError } from "./input_limits.ts";

/**
 * A regular file of an input, open for reading.
 *
 * @example
 * ```ts
 * const file: InputFile = openInputFile("./base.tar", { source: "./base.tar" });
 * file.size; // its size when opened
 * closeInputFile(file);
 * ```
 */
export interface InputFile {
  /** The open descriptor; {@link closeInputFile} or a stream from {@link inputFileStream} closes it. */
  fd: number;
  /** Its size when opened. */
  size: number;
  /** Its path with every link resolved. */
  realPath: string;
}

/**
 * Where an input file is and what it is, for messages.
 *
 * @example
 * ```ts
 * const options: InputFileOptions = { source: "./app.oci", member: "index.json", within: "./app.oci" };
 * ```
 */
export interface InputFileOptions {
  /** The input the file belongs to (an archive, a layout folder), named first in errors. */
  source: string;
  /** What the file is within the input (`index.json`, `blob sha256:...`); default: the path. */
  member?: string;
  /**
   * A folder the file must lie in once links are resolved (an OCI layout): a
   * link leading out of it is refused.
   */
  within?: string;
}

/** What a non-regular file is, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a fifo (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

const realRoots = new Map<string, string>();

/** The folder `dir` with its links resolved (remembered: a layout is opened many times). */
function realRoot(dir: string, options: InputFileOptions): string {
  let real = realRoots.get(dir);
  if (real === undefined) {
    try {
      real = realpathSync(dir);
    } catch (error) {
      throw new InputError(options.source, `cannot open it (${codeOf(error)})`);
    }
    if (realRoots.size > 64) realRoots.clear();
    realRoots.set(dir, real);
  }
  return real;
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/**
 * Opens `path` for reading when it is a regular file (inside `within`, when
 * given); otherwise throws an {@link InputError} that names the input, the
 * member and what the file is instead.
 *
 * @example
 * ```ts
 * const file = openInputFile("./app.oci/index.json", { source: "./app.oci", within: "./app.oci" });
 * try {
 *   console.log(file.size);
 * } finally {
 *   closeInputFile(file);
 * }
 * ```
 */
export function openInputFile(path: string, options: InputFileOptions): InputFile {
  const member = options.member ?? path;
  let target = path;
  if (options.within !== undefined) {
    const root = realRoot(options.within, options);
    try {
      target = realpathSync(path);
    } catch (error) {
      const code = codeOf(error);
      throw new InputError(
        options.source,
        code === "ENOENT" ? `${member} is missing` : `cannot open ${member} (${code})`,
      );
    }
    if (target !== root && !target.startsWith(root.endsWith(sep) ? root : root + sep)) {
      throw new InputError(
        options.source,
        `${member} is a link that leads out of the layout (to ${target}); refusing to read it`,
      );
    }
  }
  let fd: number;
  try {
    fd = openSync(
      target,
      constants.O_RDONLY | constants.O_NONBLOCK |
        (options.within !== undefined ? constants.O_NOFOLLOW : 0),
    );
  } catch (error) {
    const code = codeOf(error);
    throw new InputError(
      options.source,
      code === "ENOENT"
        ? `${member} is missing`
        : code === "ELOOP"
        ? `${member} is a link that cannot be followed`
        : `cannot open ${member} (${code})`,
    );
  }
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (error) {
    closeSync(fd);
    throw new InputError(options.source, `cannot read ${member} (${codeOf(error)})`);
  }
  if (!st.isFile()) {
    closeSync(fd);
    throw new InputError(
      options.source,
      `${member} is ${kindOf(st)}, not a regular file; refusing to read it`,
    );
  }
  return { fd, size: st.size, realPath: target };
}

/**
 * Closes a file from {@link openInputFile} (not needed after {@link inputFileStream}).
 *
 * @example
 * ```ts
 * closeInputFile(openInputFile("./base.tar", { source: "./base.tar" }));
 * ```
 */
export function closeInputFile(file: InputFile): void {
  try {
    closeSync(file.fd);
  } catch {
    // Already closed.
  }
}

/**
 * The bytes of an input file; `destroy()` stops reading and closes the file.
 *
 * @example
 * ```ts
 * const stream: InputFileStream = inputFileStream(openInputFile("./base.tar", { source: "./base.tar" }));
 * stream.destroy(); // not read after all
 * ```
 */
export interface InputFileStream extends AsyncIterable<Uint8Array> {
  /** Stops reading and closes the descriptor (once, whoever asks first). */
  destroy(): void;
}

/**
 * The bytes of an open input file, in 1 MiB chunks. The stream owns the
 * descriptor from now on: it is closed at the end, when the reader stops, or
 * by `destroy()` (never close it yourself too: the number may be reused).
 *
 * @example
 * ```ts
 * const file = openInputFile("./base.tar", { source: "./base.tar" });
 * const stream = inputFileStream(file);
 * let n = 0;
 * try {
 *   for await (const chunk of stream) n += chunk.length;
 * } finally {
 *   stream.destroy();
 * }
 * ```
 */
export function inputFileStream(file: InputFile): InputFileStream {
  return createReadStream("", { fd: file.fd, highWaterMark: 1 << 20, autoClose: true });
}

/**
 * Reads a whole small input file (a JSON document) of at most `limit` bytes
 * (default `maxJsonBytes`), checked as {@link openInputFile} does.
 *
 * @example
 * ```ts
 * const bytes = readInputFile("./app.oci/index.json", { source: "./app.oci", within: "./app.oci" });
 * ```
 */
export function readInputFile(
  path: string,
  options: InputFileOptions & { limit?: number },
): Uint8Array {
  const file = openInputFile(path, options);
  try {
    const limit = options.limit ?? inputLimits().maxJsonBytes;
    const member = options.member ?? path;
    if (file.size > limit) {
      throw limitError(options.source, member, file.size, "maxJsonBytes", limit);
    }
    // Read one byte more than announced: a file that grows while it is read is refused too.
    const out = new Uint8Array(file.size + 1);
    let at = 0;
    for (;;) {
      const n = readSync(file.fd, out, at, out.length - at, null);
      if (n === 0) break;
      at += n;
      if (at > file.size) {
        throw new InputError(options.source, `${member} changed while it was read`);
      }
    }
    return out.subarray(0, at);
  } finally {
    closeInputFile(file);
  }
}
