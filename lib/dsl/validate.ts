/**
 * Validation of builder attributes: every check names the function, the
 * attribute and what is allowed, and runs before any work is done.
 *
 * @module
 */

import { AttributeError, suggest } from "./errors.ts";

/** A check for one attribute value; throws {@link AttributeError}. */
export type Check = (fn: string, attr: string, value: unknown) => void;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? value.slice(0, 57) + "..." : value);
  }
  if (typeof value === "object") return "an attribute set";
  return `${typeof value} ${String(value)}`;
}

/** A string. */
export const isString: Check = (fn, attr, v) => {
  if (typeof v !== "string") {
    throw new AttributeError(fn, attr, `must be a string (got ${describe(v)})`);
  }
};

/** A non-empty string. */
export const isNonEmptyString: Check = (fn, attr, v) => {
  isString(fn, attr, v);
  if (v === "") throw new AttributeError(fn, attr, "must not be empty");
};

/** true or false. */
export const isBool: Check = (fn, attr, v) => {
  if (typeof v !== "boolean") {
    throw new AttributeError(fn, attr, `must be true or false (got ${describe(v)})`);
  }
};

/** An integer in [min, max]. */
export function isInt(min: number, max = Number.MAX_SAFE_INTEGER): Check {
  return (fn, attr, v) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
      throw new AttributeError(fn, attr, `must be an integer ${range} (got ${describe(v)})`);
    }
  };
}

/** One of the given strings. */
export function oneOf(values: readonly string[]): Check {
  return (fn, attr, v) => {
    if (typeof v !== "string" || !values.includes(v)) {
      throw new AttributeError(
        fn,
        attr,
        `must be one of ${values.map((x) => JSON.stringify(x)).join(", ")} (got ${describe(v)})`,
      );
    }
  };
}

/** null, or whatever `check` accepts. */
export function nullable(check: Check): Check {
  return (fn, attr, v) => {
    if (v !== null) check(fn, attr, v);
  };
}

/** A list of strings. */
export const isStringList: Check = (fn, attr, v) => {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new AttributeError(fn, attr, `must be a list of strings (got ${describe(v)})`);
  }
};

/** A plain attribute set (object that is not a list). */
export const isAttrs: Check = (fn, attr, v) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new AttributeError(fn, attr, `must be an attribute set (got ${describe(v)})`);
  }
};

/**
 * Checks `args` against `checks`: rejects unknown attributes (with a "did you
 * mean"), missing required ones, and wrong values.
 *
 * @example
 * ```ts
 * validateAttrs("buildImage", { name: "x" }, { name: isString }, ["name"]); // passes
 * validateAttrs("buildImage", { nmae: "x" }, { name: isString }, ["name"]);
 * // throws AttributeError: buildImage: attribute "nmae" is not an attribute of buildImage;
 * // did you mean "name"? (known: name)
 * ```
 */
export function validateAttrs(
  fn: string,
  args: unknown,
  checks: Record<string, Check>,
  required: readonly string[],
): asserts args is Record<string, unknown> {
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    throw new TypeError(
      `${fn}: expects one attribute set, e.g. ${fn}({ name: "hello" }) (got ${describe(args)})`,
    );
  }
  const known = Object.keys(checks);
  for (const key of Object.keys(args)) {
    if (!(key in checks)) {
      const hint = suggest(key, known);
      throw new AttributeError(
        fn,
        key,
        `is not an attribute of ${fn}${hint ? `; did you mean "${hint}"?` : ""} (known: ${
          known.join(", ")
        })`,
      );
    }
  }
  for (const key of required) {
    if ((args as Record<string, unknown>)[key] === undefined) {
      throw new AttributeError(fn, key, "is required");
    }
  }
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    checks[key](fn, key, value);
  }
}
