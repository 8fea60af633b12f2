/**
 * Whether this process started any dockwright work (a build session opened:
 * a build, pull, push, load or read). Kept on `globalThis` under a registered
 * symbol, so every copy of dockwright in the process (an image file may
 * import another copy) shares it. An image file run directly that defined
 * images but did nothing is told how to build them (`cli/direct_run.ts`).
 *
 * @module
 */

const KEY = Symbol.for("dockwright.activity");

/**
 * Notes that work started (`BuildSession.open` calls it).
 *
 * @example
 * ```ts
 * noteActivity();
 * hadActivity(); // true
 * ```
 */
export function noteActivity(): void {
  (globalThis as unknown as Record<symbol, boolean>)[KEY] = true;
}

/**
 * True when any work started in this process.
 *
 * @example
 * ```ts
 * if (!hadActivity()) console.error("nothing was built");
 * ```
 */
export function hadActivity(): boolean {
  return (globalThis as unknown as Record<symbol, boolean | undefined>)[KEY] === true;
}
