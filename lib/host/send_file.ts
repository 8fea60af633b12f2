/**
 * Copying a file's bytes to a descriptor without bringing them into the
 * process: Linux `sendfile(2)` through the runtime's foreign-function
 * interface (`Deno.dlopen`, `bun:ffi`). For a stream of layers from the blob
 * store to stdout, the kernel moves the pages from the page cache to the pipe
 * (or drops them, for `/dev/null`): no read into a buffer, no write from it.
 *
 * Where that is not available (not Linux, no libc to open, Deno without
 * `--allow-ffi`), {@link fileSender} gives undefined and callers read and
 * write as usual.
 *
 * @module
 */

import process from "node:process";

/**
 * Sends whole files to a descriptor.
 *
 * @example
 * ```ts
 * declare const sender: FileSender; // from fileSender()
 * sender.write(new TextEncoder().encode("header\n"), 1);
 * sender.send("/etc/hostname", 13, 1);
 * ```
 */
export interface FileSender {
  /**
   * Writes the `size` bytes of the file at `path` to `fd` (blocking until the
   * descriptor takes them, even when it is a non-blocking pipe). Throws an
   * error with `code` `EPIPE` when the reader has gone, and one naming the file
   * when it holds fewer than `size` bytes.
   */
  send(path: string, size: number, fd: number): void;
  /** Writes all of `bytes` to `fd`, blocking likewise. */
  write(bytes: Uint8Array, fd: number): void;
}

// deno-lint-ignore no-explicit-any
type Any = any;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  sendfile: { parameters: ["i32", "i32", "pointer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

interface Libc {
  open(path: Uint8Array, flags: number): number;
  close(fd: number): number;
  sendfile(out: number, input: number, count: number): number;
  write(fd: number, bytes: Uint8Array, length: number): number;
  poll(fds: Uint8Array, count: number, timeout: number): number;
  errno(): number;
}

const EINTR = 4;
const EAGAIN = 11;
const EPIPE = 32;
const O_RDONLY_CLOEXEC = 0o2000000;
const POLLOUT = 4;
/** At most this many bytes per sendfile call (Linux sends at most about 2 GiB anyway). */
const STEP = 1 << 30;

function denoLibc(): Libc | undefined {
  const D = (globalThis as Any).Deno;
  // Asking first: without --allow-ffi, dlopen would prompt on a terminal.
  if (D.permissions?.querySync?.({ name: "ffi" })?.state !== "granted") return undefined;
  const s = D.dlopen("libc.so.6", SYMBOLS).symbols;
  return libcOf(s, () => new D.UnsafePointerView(s.__errno_location()).getInt32(0));
}

/** The calls of libc's `symbols` (the same in both runtimes but for reading `errno`). */
function libcOf(s: Any, errno: () => number): Libc {
  return {
    open: (path, flags) => s.open(path, flags),
    close: (fd) => s.close(fd),
    sendfile: (out, input, count) => Number(s.sendfile(out, input, null, count)),
    write: (fd, bytes, length) => Number(s.write(fd, bytes, length)),
    poll: (fds, count, timeout) => s.poll(fds, count, timeout),
    errno,
  };
}

async function bunLibc(): Promise<Libc> {
  // A computed specifier keeps `deno check` from resolving Bun's module.
  const specifier = "bun:ffi";
  const ffi: Any = await import(specifier);
  const kind = (t: string) =>
    t === "pointer" || t === "buffer" ? "ptr" : t === "usize" ? "u64" : t === "isize" ? "i64" : t;
  const defs: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, def] of Object.entries(SYMBOLS)) {
    defs[name] = { args: def.parameters.map(kind), returns: kind(def.result) };
  }
  const s = ffi.dlopen("libc.so.6", defs).symbols;
  return libcOf(s, () => ffi.read.i32(s.__errno_location(), 0));
}

let loaded: Promise<FileSender | undefined> | undefined;

/**
 * The sender of this thread, or undefined where there is none (see the module
 * notes); `DOCKWRIGHT_SENDFILE=0` turns it off.
 *
 * @example
 * ```ts
 * const sender = await fileSender();
 * sender?.send("/etc/hostname", 13, 1); // to stdout, when the file holds 13 bytes
 * ```
 */
export function fileSender(): Promise<FileSender | undefined> {
  return loaded ??= (async () => {
    if (process.platform !== "linux" || process.env.DOCKWRIGHT_SENDFILE === "0") return undefined;
    try {
      const libc = "Deno" in globalThis ? denoLibc() : await bunLibc();
      return libc && sender(libc);
    } catch {
      return undefined;
    }
  })();
}

function failure(libc: Libc, what: string): Error {
  const errno = libc.errno();
  const error = new Error(`${what} failed (errno ${errno})`) as NodeJS.ErrnoException;
  error.code = errno === EPIPE ? "EPIPE" : `E${errno}`;
  error.errno = errno;
  return error;
}

function sender(libc: Libc): FileSender {
  const encoder = new TextEncoder();
  // struct pollfd { int fd; short events; short revents; }
  const pollfd = new Uint8Array(8);
  const pollView = new DataView(pollfd.buffer);
  const waitWritable = (fd: number) => {
    pollView.setInt32(0, fd, true);
    pollView.setInt16(4, POLLOUT, true);
    pollView.setInt16(6, 0, true);
    libc.poll(pollfd, 1, -1);
  };
  /** -1 after an error that a retry may cure (EINTR, EAGAIN: after waiting), else the result. */
  const retrying = (result: number, fd: number, what: string): number => {
    if (result >= 0) return result;
    const errno = libc.errno();
    if (errno === EAGAIN) waitWritable(fd);
    else if (errno !== EINTR) throw failure(libc, what);
    return -1;
  };
  return {
    send(path, size, fd) {
      const input = libc.open(encoder.encode(path + "\0"), O_RDONLY_CLOEXEC);
      if (input < 0) throw failure(libc, `open ${path}`);
      try {
        let sent = 0;
        while (sent < size) {
          const n = retrying(
            libc.sendfile(fd, input, Math.min(size - sent, STEP)),
            fd,
            `sendfile ${path}`,
          );
          if (n === 0) throw new Error(`${path} holds ${sent} bytes, expected ${size}`);
          if (n > 0) sent += n;
        }
      } finally {
        libc.close(input);
      }
    },
    write(bytes, fd) {
      let offset = 0;
      while (offset < bytes.length) {
        const rest = offset === 0 ? bytes : bytes.subarray(offset);
        const n = retrying(libc.write(fd, rest, rest.length), fd, "write");
        if (n > 0) offset += n;
      }
    },
  };
}
