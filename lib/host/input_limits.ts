/**
 * The limits every reader of images applies to what it is given (archives,
 * layout folders, registry answers, layers): how big a JSON document may be
 * and how deeply it may nest, how many layers an image may have, how long a
 * path may be, how many entries a file tree may hold, how much a compressed
 * input may expand, and how much free disk space must stay free. Each has a
 * default that no real image reaches and an environment variable that raises
 * (or lowers) it; a reader that meets more throws an {@link InputError}
 * naming the input, the member, the limit and the variable.
 *
 * @module
 */

import { statfsSync } from "node:fs";
import process from "node:process";

/**
 * The limits, as numbers.
 *
 * @example
 * ```ts
 * const limits: InputLimits = inputLimits();
 * limits.maxJsonBytes; // 16777216 unless DOCKWRIGHT_MAX_JSON_BYTES says otherwise
 * ```
 */
export interface InputLimits {
  /** Bytes of one JSON document (manifest.json, index.json, manifests, configs, token answers). */
  maxJsonBytes: number;
  /** Nesting of arrays and objects in one JSON document. */
  maxJsonDepth: number;
  /** Layers of one image. */
  maxLayers: number;
  /** Bytes of a path or link target inside an image (Linux's `PATH_MAX`). */
  maxPathBytes: number;
  /** Entries of one file tree (a layer, or an image's layers applied). */
  maxEntries: number;
  /** Members of one image archive. */
  maxArchiveMembers: number;
  /** How many times its input size a compressed input may expand to, beyond {@link EXPANSION_ALLOWANCE}. */
  maxExpansion: number;
  /** Bytes that must stay free on a disk written with what an input expands to. `0` turns the check off. */
  minFreeBytes: number;
}

/**
 * One limit: its environment variable, its default, and what it counts (for messages and docs).
 *
 * @example
 * ```ts
 * const spec: LimitSpec = LIMITS.maxLayers; // { env: "DOCKWRIGHT_MAX_LAYERS", default: 500, ... }
 * ```
 */
export interface LimitSpec {
  /** The environment variable that sets it. */
  env: string;
  /** Its value when the variable is unset. */
  default: number;
  /** What it limits, for messages ("a JSON document's size"). */
  what: string;
  /** The unit of the numbers in messages. */
  unit: "bytes" | "levels" | "layers" | "entries" | "members" | "times";
}

const MiB = 1 << 20;

/**
 * Every limit, with its variable and default.
 *
 * @example
 * ```ts
 * LIMITS.maxJsonBytes.env; // "DOCKWRIGHT_MAX_JSON_BYTES"
 * LIMITS.maxJsonBytes.default; // 16777216
 * ```
 */
export const LIMITS: Readonly<Record<keyof InputLimits, LimitSpec>> = {
  maxJsonBytes: {
    env: "DOCKWRIGHT_MAX_JSON_BYTES",
    default: 16 * MiB,
    what: "the size of a JSON document",
    unit: "bytes",
  },
  maxJsonDepth: {
    env: "DOCKWRIGHT_MAX_JSON_DEPTH",
    default: 64,
    what: "the nesting of a JSON document",
    unit: "levels",
  },
  maxLayers: {
    env: "DOCKWRIGHT_MAX_LAYERS",
    default: 500,
    what: "the number of layers of an image",
    unit: "layers",
  },
  maxPathBytes: {
    env: "DOCKWRIGHT_MAX_PATH_BYTES",
    default: 4096,
    what: "the length of a path or link target",
    unit: "bytes",
  },
  maxEntries: {
    env: "DOCKWRIGHT_MAX_ENTRIES",
    default: 1_000_000,
    what: "the number of entries of a file tree",
    unit: "entries",
  },
  maxArchiveMembers: {
    env: "DOCKWRIGHT_MAX_ARCHIVE_MEMBERS",
    default: 100_000,
    what: "the number of members of an image archive",
    unit: "members",
  },
  maxExpansion: {
    env: "DOCKWRIGHT_MAX_EXPANSION",
    default: 250,
    what: "how much a compressed input may expand",
    unit: "times",
  },
  minFreeBytes: {
    env: "DOCKWRIGHT_MIN_FREE_BYTES",
    default: 128 * MiB,
    what: "the free space a disk must keep",
    unit: "bytes",
  },
};

/**
 * What any input may expand to on top of `maxExpansion` times its size: small inputs are never refused.
 *
 * @example
 * ```ts
 * new ExpansionBudget("./base.tar.zst", 0).limit === EXPANSION_ALLOWANCE; // true
 * ```
 */
export const EXPANSION_ALLOWANCE = 256 * MiB;

/**
 * The limits in force: each variable of {@link LIMITS} when it is set to a
 * whole number (`0` or more; `k`, `M`, `G` suffixes for powers of 1024), else
 * its default. Read at each call, so a change of the environment applies to
 * the next input.
 *
 * @example
 * ```ts
 * inputLimits().maxLayers; // 500, or $DOCKWRIGHT_MAX_LAYERS
 * ```
 */
export function inputLimits(): InputLimits {
  const out = {} as InputLimits;
  for (const [key, spec] of Object.entries(LIMITS) as Array<[keyof InputLimits, LimitSpec]>) {
    out[key] = limitFromEnv(spec);
  }
  return out;
}

/** One limit from its variable; a value that is not a whole number is an error naming the variable. */
function limitFromEnv(spec: LimitSpec): number {
  const text = process.env[spec.env];
  if (text === undefined || text.trim() === "") return spec.default;
  const m = /^\s*(\d+)\s*([kKmMgG]?)(?:i?B)?\s*$/.exec(text);
  const value = m
    ? Number(m[1]) * ({ "": 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2].toLowerCase()] ?? 1)
    : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new InputError(
      spec.env,
      `is ${JSON.stringify(text)}, not a whole number (such as ${spec.default})`,
    );
  }
  return value;
}

/**
 * Bytes as people read them: `512 B`, `16 MiB`, `1.5 GiB`.
 *
 * @example
 * ```ts
 * formatBytes(16 * 1024 * 1024); // "16 MiB"
 * ```
 */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * An input that is not acceptable as it is: over a limit of {@link LIMITS},
 * not the kind of file it should be, or otherwise unsafe to read. The message
 * names the input (and the member) first.
 *
 * @example
 * ```ts
 * const e = new InputError("./base.tar", "manifest.json is 300 MiB, over the limit");
 * e.message; // "./base.tar: manifest.json is 300 MiB, over the limit"
 * ```
 */
export class InputError extends Error {
  /**
   * An unacceptable input.
   *
   * @param source the input: a file, folder or registry reference
   * @param problem what is wrong, naming the member and the limit
   */
  constructor(readonly source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = "InputError";
  }
}

/**
 * Throws an {@link InputError} when `actual` is over the limit `key`:
 * `source: <what> is <actual>, over the limit of <limit> (<what it limits>); raise <ENV> if the input is trusted`.
 *
 * @example
 * ```ts
 * checkLimit("./base.tar", "manifest.json[0].Layers", 200000, "maxLayers");
 * // throws: ./base.tar: manifest.json[0].Layers has 200000 layers, over the limit of 500 ...
 * ```
 */
export function checkLimit(
  source: string,
  what: string,
  actual: number,
  key: keyof InputLimits,
  limits: InputLimits = inputLimits(),
): void {
  if (actual > limits[key]) throw limitError(source, what, actual, key, limits[key]);
}

/**
 * The error {@link checkLimit} throws, for callers that count as they go.
 *
 * @example
 * ```ts
 * throw limitError("./base.tar", "layer.tar", 1 << 30, "maxExpansion", 250);
 * ```
 */
export function limitError(
  source: string,
  what: string,
  actual: number,
  key: keyof InputLimits,
  limit: number,
): InputError {
  const spec = LIMITS[key];
  const show = (n: number) => spec.unit === "bytes" ? formatBytes(n) : `${n} ${spec.unit}`;
  const measured = spec.unit === "times"
    ? `expands to more than ${formatBytes(actual)}`
    : spec.unit === "levels"
    ? `nests at least ${actual} levels deep`
    : `${spec.unit === "bytes" ? "is" : "has"} ${show(actual)}`;
  const bound = spec.unit === "times" ? `${limit} times its size plus 256 MiB` : show(limit);
  return new InputError(
    source,
    `${what} ${measured}, over the limit of ${bound} (${spec.what}); ` +
      `if the input is trusted, raise ${spec.env}`,
  );
}

/**
 * Counts what compressed inputs of one image expand to, against
 * `maxExpansion` times the image's input size plus {@link EXPANSION_ALLOWANCE}.
 * Shared by every decompression of one read, so a bomb split over many
 * layers is counted once.
 *
 * @example
 * ```ts
 * const budget = new ExpansionBudget("./base.tar.zst", 1_000_000);
 * budget.add(64 << 20, "layer 1"); // fine
 * budget.add(4 << 30, "layer 2"); // throws an InputError naming layer 2 and DOCKWRIGHT_MAX_EXPANSION
 * ```
 */
export class ExpansionBudget {
  #limit: number;
  #used = 0;
  readonly #ratio: number;

  /**
   * A budget for one input.
   *
   * @param source the input, for messages
   * @param inputBytes the size of the input as read (compressed)
   * @param ratio how many times `inputBytes` it may expand to; default `maxExpansion`
   */
  constructor(readonly source: string, inputBytes: number, ratio?: number) {
    this.#ratio = ratio ?? inputLimits().maxExpansion;
    this.#limit = EXPANSION_ALLOWANCE + this.#ratio * Math.max(0, inputBytes);
  }

  /** Bytes the inputs may expand to in all. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Counts `n` more bytes of input, for an input whose size is only known as
   * it streams (stdin): the limit grows with what was read.
   */
  addInput(n: number): void {
    this.#limit += this.#ratio * n;
  }

  /** Bytes counted so far. */
  get used(): number {
    return this.#used;
  }

  /** Counts `n` more bytes of output of `member`; throws when the total is over the limit. */
  add(n: number, member: string): void {
    this.#used += n;
    if (this.#used > this.limit) {
      const name = member.startsWith(`${this.source}: `)
        ? member.slice(this.source.length + 2)
        : member;
      throw limitError(this.source, name, this.#used, "maxExpansion", this.#ratio);
    }
  }
}

/**
 * Throws an {@link InputError} when the disk holding `path` has less than
 * `minFreeBytes` free: a hostile input must not fill the disk. Does nothing
 * where the runtime cannot tell (no `statfs`).
 *
 * @example
 * ```ts
 * checkFreeSpace("/home/me/.cache/dockwright/tmp", "./base.tar", "layer.tar");
 * ```
 */
export function checkFreeSpace(
  path: string,
  source: string,
  member: string,
  minFree: number = inputLimits().minFreeBytes,
): void {
  if (minFree <= 0) return;
  let free: number;
  try {
    const s = statfsSync(path);
    free = Number(s.bavail) * Number(s.bsize);
  } catch {
    return;
  }
  if (free < minFree) {
    throw new InputError(
      source,
      `${member}: the disk holding ${path} has ${formatBytes(free)} free, less than the ${
        formatBytes(minFree)
      } that must stay free; make room, or lower ${LIMITS.minFreeBytes.env}`,
    );
  }
}

/**
 * Bytes between two checks of free space while writing what an input expands to.
 *
 * @example
 * ```ts
 * let written = 0;
 * const chunk = new Uint8Array(1 << 20);
 * written += chunk.length;
 * if (written >= FREE_SPACE_CHECK_BYTES) checkFreeSpace("/tmp", "./base.tar", "layer.tar");
 * ```
 */
export const FREE_SPACE_CHECK_BYTES = 64 * MiB;

/**
 * Checks the nesting of a JSON text before it is parsed (a parser, or what
 * later walks the value, can run out of stack on `[[[[...]]]]`): throws an
 * {@link InputError} naming `source` and `name` when arrays and objects
 * nest deeper than `maxJsonDepth`.
 *
 * @example
 * ```ts
 * checkJsonDepth("./base.tar", "manifest.json", new TextEncoder().encode("[[1]]")); // fine
 * ```
 */
export function checkJsonDepth(
  source: string,
  name: string,
  bytes: Uint8Array,
  maxDepth: number = inputLimits().maxJsonDepth,
): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) {
        throw limitError(source, name, depth, "maxJsonDepth", maxDepth);
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}
