/**
 * Image config JSON as Nix writes it.
 *
 * Nix builds the config with `builtins.toJSON`, which sorts attribute names,
 * then edits it with jq, which keeps insertion order and pretty-prints with
 * two spaces; the file is named after the sha256 of jq's output including its
 * final newline. We reproduce that byte layout.
 *
 * @module
 */

/**
 * Deep copy of `value` with object keys sorted, like Nix's `builtins.toJSON`.
 *
 * @example
 * ```ts
 * nixJsonOrder({ b: 1, a: { d: 1, c: 2 } }); // { a: { c: 2, d: 1 }, b: 1 }
 * ```
 */
export function nixJsonOrder<T>(value: T): T {
  if (Array.isArray(value)) return value.map(nixJsonOrder) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = nixJsonOrder((value as Record<string, unknown>)[key]);
    }
    return out as T;
  }
  return value;
}

/**
 * jq's default output: two-space indentation and a final newline.
 *
 * @example
 * ```ts
 * jqBytes({ a: 1 }); // bytes of '{\n  "a": 1\n}\n'
 * ```
 */
export function jqBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
}

/**
 * Env merging as Nix's streamer does it: base entries first, then the image's;
 * a later value of the same name replaces the earlier one in its first position.
 *
 * @example
 * ```ts
 * mergeEnv(["A=1", "B=2"], ["B=3", "C=4"]); // ["A=1", "B=3", "C=4"]
 * ```
 */
export function mergeEnv(base: readonly string[], own: readonly string[]): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const entry of [...base, ...own]) {
    const name = entry.split("=", 1)[0];
    if (!values.has(name)) order.push(name);
    values.set(name, entry);
  }
  return order.map((name) => values.get(name)!);
}
