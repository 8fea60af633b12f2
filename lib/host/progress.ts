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
  /** Steps begun and not yet ended: images built at once share one line. */
  #active = 0;

  /**
   * A reporter that prints when `enabled` (see {@link Progress.auto}).
   *
   * @param enabled whether anything is printed
   */
  constructor(readonly enabled: boolean) {}

  /** Enabled when stderr is a terminal and `CI` is not set. */
  static auto(): Progress {
    return new Progress(Boolean(process.stderr.isTTY) && !process.env.CI);
  }

  /** A reporter that never prints. */
  static silent(): Progress {
    return new Progress(false);
  }

  /**
   * Starts a step (e.g. one layer). Steps may overlap (images built at once):
   * the line then shows the latest step, how many run, and the bytes and
   * rate of all of them since the first began.
   */
  begin(label: string): void {
    if (this.#active === 0) {
      this.#bytes = 0;
      this.#start = performance.now();
    }
    this.#active++;
    this.#label = label;
    this.#draw(true);
  }

  /** Counts bytes processed in the running steps. */
  add(bytes: number): void {
    this.#bytes += bytes;
    this.#draw(false);
  }

  /** Ends a step; the line is cleared when no step runs any more. */
  end(): void {
    this.#active = Math.max(0, this.#active - 1);
    if (this.enabled && this.#active === 0) process.stderr.write("\r\x1b[2K");
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
    const others = this.#active > 1 ? ` (+${this.#active - 1} running)` : "";
    const width = process.stderr.columns ?? 100;
    const line = `${this.#label}${others}  ${mib.toFixed(1)} MiB  ${rate.toFixed(0)} MiB/s`;
    process.stderr.write(
      `\r\x1b[2K${line.length > width - 1 ? line.slice(0, width - 2) + "…" : line}`,
    );
  }
}
