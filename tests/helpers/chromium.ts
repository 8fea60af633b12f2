/**
 * Debian's chromium, headless, driven over the Chrome DevTools Protocol with
 * the runtimes' own `WebSocket` and `fetch` (no npm package, no downloaded
 * browser). Enough for tests that open a page, watch its console and network,
 * read the DOM, move the mouse and take a screenshot.
 *
 * @example
 * ```ts
 * const browser = await launchChromium();
 * try {
 *   const page = await browser.page();
 *   await page.open("file:///tmp/page.html");
 *   console.log(await page.evaluate("document.title"));
 * } finally {
 *   await browser.close();
 * }
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { hasTool, rmrf, tempDir } from "./tools.ts";

/** The chromium command: `$CHROMIUM`, else `chromium` (Debian) or `chromium-browser`. */
export function chromiumCommand(): string {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  return hasTool("chromium") || !hasTool("chromium-browser") ? "chromium" : "chromium-browser";
}

/** A CDP event. */
export interface CdpEvent {
  method: string;
  // deno-lint-ignore no-explicit-any
  params: any;
}

/** One page (tab) over its own DevTools WebSocket. */
export class CdpPage {
  #next = 1;
  // deno-lint-ignore no-explicit-any
  readonly #pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Set<(e: CdpEvent) => void>();
  /** Every event received, in order. */
  readonly events: CdpEvent[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.addEventListener("message", (m: MessageEvent) => {
      const msg = JSON.parse(String(m.data));
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        if (!p) return;
        this.#pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`CDP: ${msg.error.message} (${msg.error.code})`));
        else p.resolve(msg.result);
      } else if (msg.method) {
        const event = { method: msg.method, params: msg.params };
        this.events.push(event);
        for (const l of this.#listeners) l(event);
      }
    });
    socket.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error("CDP: the socket closed"));
      this.#pending.clear();
    });
  }

  /** Connects to a page's `webSocketDebuggerUrl`. */
  static connect(url: string): Promise<CdpPage> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.addEventListener("open", () => resolve(new CdpPage(socket)), { once: true });
      socket.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), {
        once: true,
      });
    });
  }

  /** Sends a command and waits for its result. */
  // deno-lint-ignore no-explicit-any
  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Waits for the next event `method` (or one already received when `seen`). */
  waitFor(method: string, timeoutMs = 15_000): Promise<CdpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`no ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (e: CdpEvent) => {
        if (e.method !== method) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(e);
      };
      this.#listeners.add(listener);
    });
  }

  /** Evaluates `expression` in the page and returns its value (JSON-serialisable). */
  // deno-lint-ignore no-explicit-any
  async evaluate(expression: string): Promise<any> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (r.exceptionDetails) {
      throw new Error(
        `page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`,
      );
    }
    return r.result.value;
  }

  /** Enables the domains the tests watch, sets the viewport, and opens `url`. */
  async open(url: string, viewport = { width: 1280, height: 800 }): Promise<void> {
    for (const domain of ["Page", "Runtime", "Network", "Log"]) await this.send(`${domain}.enable`);
    await this.send("Emulation.setDeviceMetricsOverride", {
      ...viewport,
      deviceScaleFactor: 1,
      mobile: false,
    });
    const loaded = this.waitFor("Page.loadEventFired");
    const r = await this.send("Page.navigate", { url });
    if (r.errorText) throw new Error(`cannot open ${url}: ${r.errorText}`);
    await loaded;
  }

  /** Moves the mouse to (x, y) in CSS pixels. */
  async hover(x: number, y: number): Promise<void> {
    await this.send("Input.dispatchMouseEvent", { type: "mouseMoved", x, y });
  }

  /** Clicks at (x, y). */
  async click(x: number, y: number): Promise<void> {
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", { type, x, y, button: "left", clickCount: 1 });
    }
  }

  /** A PNG of the viewport. */
  async screenshot(): Promise<Uint8Array> {
    const r = await this.send("Page.captureScreenshot", { format: "png" });
    return new Uint8Array(Buffer.from(r.data, "base64"));
  }

  /** Console errors, uncaught exceptions and error log entries so far. */
  errors(): string[] {
    const out: string[] = [];
    for (const e of this.events) {
      if (
        e.method === "Runtime.consoleAPICalled" &&
        (e.params.type === "error" || e.params.type === "assert")
      ) {
        out.push(
          `console.${e.params.type}: ${
            e.params.args.map((a: { value?: unknown; description?: string }) =>
              a.value ?? a.description
            ).join(" ")
          }`,
        );
      } else if (e.method === "Runtime.exceptionThrown") {
        out.push(
          `exception: ${
            e.params.exceptionDetails.exception?.description ?? e.params.exceptionDetails.text
          }`,
        );
      } else if (e.method === "Log.entryAdded" && e.params.entry.level === "error") {
        out.push(`log: ${e.params.entry.text} ${e.params.entry.url ?? ""}`);
      }
    }
    return out;
  }

  /** URLs of every request the page made (the page itself included). */
  requests(): string[] {
    return this.events.filter((e) => e.method === "Network.requestWillBeSent").map((e) =>
      e.params.request.url as string
    );
  }
}

/** A running headless chromium. */
export interface Chromium {
  /** The page chromium opened at start. */
  page(): Promise<CdpPage>;
  /** Stops chromium and removes its profile. */
  close(): Promise<void>;
}

/**
 * Starts headless chromium with a fresh profile and a DevTools port.
 *
 * @example
 * ```ts
 * const browser = await launchChromium();
 * await browser.close();
 * ```
 */
export async function launchChromium(): Promise<Chromium> {
  const profile = tempDir("dw-chromium-");
  const child: ChildProcess = spawn(chromiumCommand(), [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--metrics-recording-only",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    `--user-data-dir=${profile}`,
    "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Uint8Array) => {
    if (stderr.length < 20_000) stderr += new TextDecoder().decode(d);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmrf(profile);
  };
  try {
    const portFile = join(profile, "DevToolsActivePort");
    const deadline = Date.now() + 30_000;
    while (!existsSync(portFile) || readFileSync(portFile, "utf8").split("\n").length < 2) {
      if (child.exitCode !== null) {
        throw new Error(`chromium exited (${child.exitCode}):\n${stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`chromium did not start within 30 s:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const port = Number(readFileSync(portFile, "utf8").split("\n")[0]);
    let page: CdpPage | undefined;
    return {
      async page() {
        if (page) return page;
        const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as Array<
          { type: string; webSocketDebuggerUrl: string }
        >;
        const target = targets.find((t) => t.type === "page");
        if (!target) throw new Error("chromium has no page target");
        page = await CdpPage.connect(target.webSocketDebuggerUrl);
        return page;
      },
      async close() {
        try {
          page?.socket.close();
        } finally {
          await stop();
        }
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
