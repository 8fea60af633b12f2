/**
 * JSON and list formatting as Python writes them, for byte-identical output
 * with Nix's streamer (`json.dumps(..., indent=4)`, `repr(list)`).
 *
 * @module
 */

/**
 * `json.dumps(value, indent)` with Python's default `ensure_ascii=True`:
 * the layout of `JSON.stringify(value, null, indent)`, non-ASCII escaped as `\uXXXX`.
 *
 * @example
 * ```ts
 * pythonJsonDumps({ a: "é" }, 4); // '{\n    "a": "\\u00e9"\n}'
 * ```
 */
export function pythonJsonDumps(value: unknown, indent: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function pythonStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + quote;
}

/**
 * Python's `repr` of a list of strings, e.g. `['/nix/store/a', '/nix/store/b']`.
 *
 * @example
 * ```ts
 * pythonListRepr(["a", "b"]); // "['a', 'b']"
 * ```
 */
export function pythonListRepr(items: readonly string[]): string {
  return `[${items.map(pythonStringRepr).join(", ")}]`;
}
