/**
 * Typed errors of the tar reader and extractor.
 *
 * Every error names the member involved (`entry`) and carries a stable `code`
 * so callers can branch without matching messages.
 *
 * @module
 */

/**
 * Base class: a tar archive could not be read or extracted.
 *
 * Thrown directly (code `TAR_EXTRACT`) when the file system refuses an
 * operation during extraction, e.g. a parent that is not a directory.
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * import { extractTar } from "./extract.ts";
 * try { await extractTar(createReadStream("layer.tar"), "/tmp/root"); }
 * catch (e) { if (e instanceof TarError) console.error(e.code, e.entry); }
 * ```
 */
export class TarError extends Error {
  /** The member name involved, as found in the archive. */
  readonly entry?: string;
  /** Stable machine-readable error code. */
  readonly code: string;

  constructor(message: string, opts: { code?: string; entry?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code ?? "TAR_EXTRACT";
    this.entry = opts.entry;
  }
}

/**
 * Quotes a member name for messages (JSON keeps control characters visible).
 *
 * @example
 * ```ts
 * quoteEntry("a\nb"); // "\"a\\nb\""
 * ```
 */
export function quoteEntry(name: string): string {
  return JSON.stringify(name);
}

/**
 * The archive ends mid-header or mid-body, or with a partial block.
 *
 * @example
 * ```ts
 * throw new TarTruncatedError("etc/passwd", "its content stops after 12 of 900 bytes");
 * ```
 */
export class TarTruncatedError extends TarError {
  constructor(entry: string | undefined, detail: string) {
    const where = entry === undefined ? "" : ` at member ${quoteEntry(entry)}`;
    super(`the tar archive is truncated${where}: ${detail}; re-download or rebuild it`, {
      code: "TAR_TRUNCATED",
      entry,
    });
  }
}

/**
 * A header's checksum does not match its bytes (neither the unsigned nor the
 * signed sum, both of which GNU tar accepts).
 *
 * @example
 * ```ts
 * throw new TarChecksumError("bin/sh", 1234, 1240, 4096);
 * ```
 */
export class TarChecksumError extends TarError {
  constructor(entry: string, stored: number, computed: number, offset: number) {
    super(
      `tar header checksum mismatch for member ${quoteEntry(entry)} at byte ${offset}: ` +
        `header says ${stored}, bytes sum to ${computed}; the archive is corrupt: re-download or rebuild it`,
      { code: "TAR_CHECKSUM", entry },
    );
  }
}

/**
 * A header is malformed: a bad octal or base-256 number, a bad PAX record,
 * an unknown magic or type flag, or an unsupported GNU extension.
 *
 * @example
 * ```ts
 * throw new TarFormatError("usr/lib/x", "the size field is not an octal number");
 * ```
 */
export class TarFormatError extends TarError {
  constructor(entry: string | undefined, detail: string) {
    const where = entry === undefined ? "" : ` (member ${quoteEntry(entry)})`;
    super(`malformed tar archive${where}: ${detail}`, { code: "TAR_FORMAT", entry });
  }
}

/**
 * A member name is unsafe to extract: absolute where not allowed, a `..`
 * component, empty, or containing NUL.
 *
 * @example
 * ```ts
 * throw new TarUnsafePathError("../etc/passwd", "it has a '..' component");
 * ```
 */
export class TarUnsafePathError extends TarError {
  constructor(entry: string, detail: string) {
    super(
      `refusing tar member ${quoteEntry(entry)}: ${detail}; the archive tries to write outside ` +
        `the extraction directory or is corrupt`,
      { code: "TAR_UNSAFE_PATH", entry },
    );
  }
}

/**
 * A link would let a write land outside the target: writing through a
 * symlink, or a hardlink to something that is not a regular file extracted
 * inside the root.
 *
 * @example
 * ```ts
 * throw new TarLinkEscapeError("evil/file", "its parent \"evil\" is a symlink");
 * ```
 */
export class TarLinkEscapeError extends TarError {
  constructor(entry: string, detail: string) {
    super(
      `refusing tar member ${quoteEntry(entry)}: ${detail}; extraction never writes through ` +
        `links, so rebuild the archive without this member`,
      { code: "TAR_LINK_ESCAPE", entry },
    );
  }
}

/**
 * Says which archive a {@link TarError} is about (its type and entry stay),
 * e.g. when a base image or a merge input is not a tar at all. Returns `error`.
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * import { readTar } from "./reader.ts";
 * const path = "base.tar";
 * try { for await (const _ of readTar(createReadStream(path))); }
 * catch (e) { throw inArchive(e, path, "not a readable image archive"); }
 * ```
 */
export function inArchive(error: unknown, path: string, what: string): unknown {
  if (error instanceof TarError && !error.message.startsWith(path)) {
    error.message = `${path}: ${what}: ${error.message}`;
  }
  return error;
}
