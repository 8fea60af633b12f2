/**
 * Progress on a terminal: layers, bytes and rate on one rewritten stderr line.
 * Silent when stderr is not a terminal, under CI, or when disabled.
 *
 * @module
 */

import process from "node:process";

/**
 * A progress reporter.
 *
 * @example
 * ```ts
 * const p = Progress.auto();
 * p.begin("layer 1/2"); p.add(1 << 20); p.end();
 * ```
 */
export class Progress {
  #label = "";
  #bytes = 0;
  #start = 0;
  #lastDraw = 0;

  constructor(readonly enabled: boolean) {}

  /** Enabled when stderr is a terminal and `CI` is not set. */
  static auto(): Progress {
    return new Progress(Boolean(process.stderr.isTTY) && !process.env.CI);
  }

  /** A reporter that never prints. */
  static silent(): Progress {
    return new Progress(false);
  }

  /** Starts a new step (e.g. one layer). */
  begin(label: string): void {
    this.#label = label;
    this.#bytes = 0;
    this.#start = performance.now();
    this.#draw(true);
  }

  /** Counts bytes processed in the current step. */
  add(bytes: number): void {
    this.#bytes += bytes;
    this.#draw(false);
  }

  /** Ends the current step and clears the line. */
  end(): void {
    if (this.enabled) process.stderr.write("\r\x1b[2K");
  }

  /** Prints a line above the progress line. */
  log(message: string): void {
    if (this.enabled) process.stderr.write(`\r\x1b[2K${message}\n`);
  }

  #draw(force: boolean): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const mib = this.#bytes / 1048576;
    const seconds = (now - this.#start) / 1000;
    const rate = seconds > 0 ? mib / seconds : 0;
    process.stderr.write(
      `\r\x1b[2K${this.#label}  ${mib.toFixed(1)} MiB  ${rate.toFixed(0)} MiB/s`,
    );
  }
}
