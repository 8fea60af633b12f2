/**
 * `inspect --html`: the page, opened by Debian's headless chromium over the
 * DevTools protocol, loads with no console error and no request but its own,
 * shows one block per layer with its label, and a hover over a store path's
 * block shows that store path. Set DOCKWRIGHT_INSPECT_SCREENSHOT=docs/inspect.png
 * to write the screenshot of the example's page there.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import type { ImageReport } from "../mod.ts";
import {
  type CdpPage,
  type Chromium,
  chromiumCommand,
  launchChromium,
} from "./helpers/chromium.ts";
import { CLI, ROOT, RUNTIME, runTs } from "./helpers/dockwright.ts";
import { requireTools, rmrf, tempDir } from "./helpers/tools.ts";

const EXAMPLE = join(ROOT, "examples", "closure-graph", "image.ts");

describe("inspect --html", () => {
  let dir: string;
  let browser: Chromium | undefined;

  before(() => {
    dir = tempDir("dw-inspect-html-");
  });
  after(async () => {
    await browser?.close();
    rmrf(dir);
  });

  /** The centre of the first element `selector` matches, in CSS pixels. */
  const centre = async (page: CdpPage, selector: string): Promise<[number, number]> =>
    await page.evaluate(`(() => {
      const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect();
      return [r.x + r.width / 2, r.y + r.height / 2];
    })()`);

  it("shows the example image as a map of layers and store paths, offline", async (t) => {
    if (!requireTools(t, [chromiumCommand(), "busybox"])) return;
    const page = join(dir, "closure.html");
    // The example image file, built and inspected in one command.
    const r = await runTs(RUNTIME, CLI, [
      "inspect",
      EXAMPLE,
      "--html",
      page,
      "--json",
      "--cache-dir",
      join(dir, "cache"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as ImageReport;
    const html = readFileSync(page, "utf8");
    assert.doesNotMatch(
      html,
      /<(?:script|link|img|iframe)[^>]+(?:src|href)=/i,
      "no external resources",
    );
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);

    browser = await launchChromium();
    const tab = await browser.page();
    const url = pathToFileURL(page).href;
    await tab.open(url);
    assert.equal(await tab.evaluate("document.body.dataset.ready"), "true");

    const blocks = await tab.evaluate(
      `Array.from(document.querySelectorAll("#map > .block")).map((b) => ({
      kind: b.dataset.kind, layer: Number(b.dataset.layer), label: b.querySelector(".label")?.textContent ?? "" }))`,
    ) as Array<
      { kind: string; layer: number; label: string }
    >;
    assert.equal(blocks.length, report.layers.length, "one block per layer");
    for (const l of report.layers) {
      const block = blocks.find((b) => b.layer === l.number);
      assert.ok(block, `a block for layer ${l.number}`);
      assert.equal(block.kind, "layer");
      assert.match(block.label, new RegExp(`^layer ${l.number} · ${l.diffId.slice(7, 19)} · `));
    }

    // Hover over a store path's block: the tooltip names the store path.
    const storePath = report.storePaths[0].path;
    const selector = `.block[data-kind="store"][data-path=${JSON.stringify(storePath)}]`;
    const [x, y] = await centre(tab, selector);
    await tab.hover(x, y);
    const tip = await tab.evaluate(
      `[document.getElementById("tip").hidden, document.getElementById("tip").textContent]`,
    ) as [boolean, string];
    assert.equal(tip[0], false, "the tooltip shows");
    assert.ok(tip[1].includes(storePath), `the tooltip names ${storePath}: ${tip[1]}`);
    assert.match(tip[1], /\d+ B in \d+ entr/);

    if (process.env.DOCKWRIGHT_INSPECT_SCREENSHOT) {
      writeFileSync(process.env.DOCKWRIGHT_INSPECT_SCREENSHOT, await tab.screenshot());
    }

    // Click a layer to zoom in, Esc to zoom out.
    const [lx, ly] = await centre(tab, `#map > .block[data-layer="1"]`);
    await tab.click(lx, ly);
    assert.match(
      await tab.evaluate(`document.getElementById("crumbs").textContent`),
      /›layer 1 · /,
    );
    await tab.send("Input.dispatchKeyEvent", { type: "keyDown", key: "Escape", code: "Escape" });
    assert.equal(
      await tab.evaluate(`document.querySelectorAll("#map > .block[data-kind=layer]").length`),
      3,
    );

    const png = await tab.screenshot();
    assert.deepEqual([...png.slice(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.deepEqual(tab.errors(), [], "no console errors");
    assert.deepEqual(tab.requests(), [url], "no request but the page itself");
  });
});
