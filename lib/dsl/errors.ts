/**
 * Errors about image definitions: they name the function, the attribute and
 * what would be accepted.
 *
 * @module
 */

/**
 * A wrong attribute name, type or value in an image definition.
 *
 * @example
 * ```ts
 * const error = new AttributeError("buildImage", "tag", "must be a string");
 * error.message; // 'buildImage: attribute "tag" must be a string'
 * ```
 */
export class AttributeError extends Error {
  /**
   * An error about `attribute` of a call to `fn`.
   *
   * @param fn the builder called, e.g. `"buildImage"`
   * @param attribute the attribute at fault, e.g. `"tag"` or `"contents[2]"`
   * @param problem what is wrong, phrased after the attribute name
   */
  constructor(readonly fn: string, readonly attribute: string, problem: string) {
    super(`${fn}: attribute "${attribute}" ${problem}`);
    this.name = "AttributeError";
  }
}

/**
 * A build option that cannot apply (for example `--format` on an
 * `exportImage` value, or a malformed `--repo_tag`); `hint` says what to do.
 * The command line reports it like a usage error (exit 2).
 *
 * @example
 * ```ts
 * const error = new OptionError('--repo_tag "x" needs the form NAME:TAG', "e.g. -t hello:latest");
 * error.hint; // "e.g. -t hello:latest"
 * ```
 */
export class OptionError extends Error {
  /**
   * An option that cannot apply, with what to do instead.
   *
   * @param message what cannot apply
   * @param hint what to do instead, shown after the message
   */
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "OptionError";
  }
}

/** Edit distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(
        d[i - 1][j] + 1,
        d[i][j - 1] + 1,
        d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return d[a.length][b.length];
}

/**
 * The closest of `known` to `name` (case-insensitive match first), if reasonably close.
 *
 * @example
 * ```ts
 * suggest("copytoroot", ["copyToRoot", "config"]); // "copyToRoot"
 * ```
 */
export function suggest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const exact = known.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const score = distance(lower, k.toLowerCase());
    if (score < bestScore) [best, bestScore] = [k, score];
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
