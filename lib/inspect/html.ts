/**
 * `inspect --html`: one self-contained page (inline CSS and script, the
 * report embedded as JSON, a Content-Security-Policy that forbids every
 * request) with a zoomable treemap of the image by size (layers, then store
 * paths and top folders, then folders and files), a tooltip with path and
 * size, and the layers, config, history and waste beside it.
 *
 * @module
 */

import { formatBytes } from "./format.ts";
import type { ImageReport } from "./inspect.ts";

const STYLE = `
*{box-sizing:border-box}
html,body{margin:0;height:100%;font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f6f7f9}
header{padding:10px 16px;background:#1d2330;color:#eef1f6}
header h1{margin:0 0 4px;font-size:18px;font-weight:600}
header .meta{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;color:#b8c1d1;display:flex;flex-wrap:wrap;gap:4px 18px}
main{display:flex;height:calc(100% - 62px)}
#left{flex:1;display:flex;flex-direction:column;min-width:0;padding:8px 8px 8px 16px}
#crumbs{padding:4px 0 8px;font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#crumbs a{color:#2454c5;cursor:pointer;text-decoration:none}
#crumbs a:hover{text-decoration:underline}
#crumbs .sep{color:#8a93a3;margin:0 6px}
#map{position:relative;flex:1;min-height:300px;background:#fff;border:1px solid #cfd5df;overflow:hidden}
.block{position:absolute;overflow:hidden;border:1px solid rgba(255,255,255,.9);cursor:pointer}
.block>.label{position:absolute;left:3px;top:1px;right:3px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-size:11px;color:#111;pointer-events:none}
.block.top>.label{font-weight:600;font-size:12px}
.block.inner{border-color:rgba(255,255,255,.75)}
.block:hover{outline:2px solid #1d2330;outline-offset:-2px;z-index:2}
#tip{position:fixed;z-index:10;pointer-events:none;max-width:560px;padding:6px 8px;background:#1d2330;color:#fff;border-radius:4px;font-size:12px;box-shadow:0 2px 8px rgba(0,0,0,.3)}
#tip .path{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
#tip .size{color:#b8c1d1;margin-top:2px}
aside{width:430px;flex:none;overflow:auto;padding:8px 16px 16px 8px}
aside h2{font-size:14px;margin:12px 0 6px}
table{border-collapse:collapse;width:100%;font-size:12px;background:#fff}
th,td{border:1px solid #dde2ea;padding:3px 5px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;white-space:nowrap}
tr.layer{cursor:pointer}
tr.layer:hover{background:#eef3ff}
code,pre{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
td code{word-break:break-all}
table{table-layout:auto}
pre{background:#fff;border:1px solid #dde2ea;padding:6px;margin:0;white-space:pre-wrap;word-break:break-all}
ol.history{margin:0;padding-left:22px;font-size:12px}
ol.history li{margin-bottom:4px;word-break:break-all}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.muted{color:#6b7485}
`;

const SCRIPT = `
"use strict";
var report = JSON.parse(document.getElementById("report").textContent);
var mapEl = document.getElementById("map");
var tip = document.getElementById("tip");
var crumbs = document.getElementById("crumbs");

function fmt(n) {
  if (n < 1024) return n + " B";
  var u = ["KiB", "MiB", "GiB", "TiB"], v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " " + u[i];
}
function shortList(paths, files) {
  return paths.slice(0, 3).join(", ") + (files > 3 ? ", … (" + files + " files)" : "");
}
function shortDigest(d) { return d ? d.slice(7, 19) : ""; }
function weight(n) { return n.size + 512 * n.entries; }
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// Parent links and the layer each node belongs to.
(function link(node, parent, layer) {
  node.parent = parent;
  if (node.kind === "layer") layer = Number(node.name.replace(/^layer /, ""));
  node.layer = layer;
  (node.children || []).forEach(function (c) { link(c, node, layer); });
})(report.map, null, 0);

var layerCount = report.layers.length;
function color(node, depth) {
  var hue = layerCount > 0 && node.layer ? Math.round((node.layer - 1) * 360 / Math.max(layerCount, 1) + 200) % 360 : 210;
  var light = node.kind === "rest" ? 88 : Math.min(84, 58 + depth * 9);
  var sat = node.kind === "rest" ? 10 : node.kind === "store" ? 62 : 48;
  return "hsl(" + hue + "," + sat + "%," + light + "%)";
}

function title(node) {
  if (node.kind === "image") return node.name;
  if (node.kind === "layer") {
    var l = report.layers[node.layer - 1];
    return "layer " + node.layer + " · " + shortDigest(l.diffId) + " · " + fmt(l.size);
  }
  if (node.kind === "rest") return node.name + " (small)";
  // A store path by its name, as nix-tree shows it; the tooltip has the whole path.
  if (node.kind === "store") return node.name.replace(/^.*[/][0-9a-z]{32}-/, "");
  return node.name;
}
function fullPath(node) {
  if (node.kind === "layer" || node.kind === "image") return title(node);
  if (node.kind === "rest") return node.name + " in " + node.path;
  return node.path;
}

function worst(row, side) {
  var s = 0, max = 0, min = Infinity;
  row.forEach(function (r) { s += r.a; if (r.a > max) max = r.a; if (r.a < min) min = r.a; });
  return Math.max(side * side * max / (s * s), (s * s) / (side * side * min));
}
// Lays out nodes in the rectangle, area by weight; a node gets at least
// 'floor' of the whole, so that small layers keep a block with a label.
function squarify(nodes, x, y, w, h, floor) {
  var total = 0;
  nodes.forEach(function (n) { total += weight(n); });
  var out = [];
  if (total <= 0 || w <= 0 || h <= 0) return out;
  var min = (floor || 0) * total;
  var shown = nodes.map(function (n) { return { n: n, v: Math.max(weight(n), min) }; });
  var sum = 0;
  shown.forEach(function (r) { sum += r.v; });
  var scale = w * h / sum;
  var rest = shown.map(function (r) { return { n: r.n, a: r.v * scale }; }).filter(function (r) { return r.a > 0; });
  rest.sort(function (p, q) { return q.a - p.a; });
  while (rest.length) {
    var side = Math.min(w, h), row = [rest[0]], i = 1, wr = worst(row, side);
    while (i < rest.length) {
      var next = row.concat([rest[i]]), nw = worst(next, side);
      if (nw > wr) break;
      row = next; wr = nw; i++;
    }
    var area = 0;
    row.forEach(function (r) { area += r.a; });
    if (w >= h) {
      var cw = area / h, cy = y;
      row.forEach(function (r) { var rh = r.a / cw; out.push({ n: r.n, x: x, y: cy, w: cw, h: rh }); cy += rh; });
      x += cw; w -= cw;
    } else {
      var rh2 = area / w, cx = x;
      row.forEach(function (r) { var rw = r.a / rh2; out.push({ n: r.n, x: cx, y: y, w: rw, h: rh2 }); cx += rw; });
      y += rh2; h -= rh2;
    }
    rest = rest.slice(i);
  }
  return out;
}

var current = report.map;
function place(parentEl, rect, node, depth, top) {
  var b = el("div", "block " + (top ? "top" : "inner"));
  b.style.left = rect.x + "px";
  b.style.top = rect.y + "px";
  b.style.width = Math.max(0, rect.w) + "px";
  b.style.height = Math.max(0, rect.h) + "px";
  b.style.background = color(node, depth);
  b.dataset.kind = node.kind;
  if (node.path) b.dataset.path = node.path;
  if (node.layer) b.dataset.layer = String(node.layer);
  b.node = node;
  var showLabel = rect.w > 24 && rect.h > 12;
  if (showLabel) b.appendChild(el("div", "label", title(node) + (node.kind === "layer" ? "" : "  " + fmt(node.size))));
  parentEl.appendChild(b);
  if (top && node.children && node.children.length && rect.w > 12 && rect.h > 30) {
    var head = showLabel ? 17 : 2;
    squarify(node.children, 2, head, rect.w - 6, rect.h - head - 4).forEach(function (r) {
      place(b, r, r.n, depth + 1, false);
    });
  }
}
function render() {
  mapEl.textContent = "";
  var w = mapEl.clientWidth, h = mapEl.clientHeight;
  var kids = current.children && current.children.length ? current.children : [current];
  var floor = Math.min(0.08, 0.5 / kids.length);
  squarify(kids, 0, 0, w, h, floor).forEach(function (r) { place(mapEl, r, r.n, 0, true); });
  crumbs.textContent = "";
  var chain = [];
  for (var n = current; n; n = n.parent) chain.unshift(n);
  chain.forEach(function (n, i) {
    if (i > 0) crumbs.appendChild(el("span", "sep", "›"));
    var label = n.kind === "image" ? n.name : n.kind === "layer" ? title(n) : n.name;
    if (n === current) crumbs.appendChild(el("b", "", label + (n.kind === "layer" ? "" : "  (" + fmt(n.size) + ")")));
    else {
      var a = el("a", "", label);
      a.addEventListener("click", function () { zoom(n); });
      crumbs.appendChild(a);
    }
  });
}
function zoom(node) {
  current = node;
  tip.hidden = true;
  render();
}
// A click zooms into the big block it falls in (one level down).
mapEl.addEventListener("click", function (e) {
  var b = e.target.closest(".block.top");
  if (b && b.node.children && b.node.children.length) zoom(b.node);
});
mapEl.addEventListener("contextmenu", function (e) {
  if (current.parent) { e.preventDefault(); zoom(current.parent); }
});
document.addEventListener("keydown", function (e) {
  if ((e.key === "Escape" || e.key === "Backspace") && current.parent) zoom(current.parent);
});
mapEl.addEventListener("mousemove", function (e) {
  var b = e.target.closest(".block");
  if (!b) { tip.hidden = true; return; }
  var n = b.node;
  tip.textContent = "";
  tip.appendChild(el("div", "path", fullPath(n)));
  var info = fmt(n.size) + " in " + n.entries + (n.entries === 1 ? " entry" : " entries");
  if (n.kind !== "layer" && n.layer) info += " · layer " + n.layer;
  tip.appendChild(el("div", "size", info));
  tip.hidden = false;
  var x = e.clientX + 14, y = e.clientY + 14;
  var r = tip.getBoundingClientRect();
  if (x + r.width > window.innerWidth - 4) x = Math.max(4, e.clientX - r.width - 14);
  if (y + r.height > window.innerHeight - 4) y = Math.max(4, e.clientY - r.height - 14);
  tip.style.left = x + "px";
  tip.style.top = y + "px";
});
mapEl.addEventListener("mouseleave", function () { tip.hidden = true; });
window.addEventListener("resize", render);

// The side panel.
function row(cells, cls) {
  var tr = el("tr", cls);
  cells.forEach(function (c) { var td = el("td", c.cls, c.text); if (c.node) td.appendChild(c.node); tr.appendChild(td); });
  return tr;
}
(function side() {
  var tbody = document.getElementById("layers-body");
  report.layers.forEach(function (l, i) {
    var sw = el("span", "swatch");
    sw.style.background = color({ layer: l.number, kind: "layer" }, 0);
    var label = el("span");
    label.appendChild(sw);
    label.appendChild(el("code", "", shortDigest(l.diffId)));
    var stores = l.storePaths.length ? l.storePaths.length + " store path" + (l.storePaths.length === 1 ? "" : "s") : "";
    var tr = row([
      { text: String(l.number), cls: "num" },
      { node: label },
      { text: fmt(l.compressedSize), cls: "num" },
      { text: fmt(l.size), cls: "num" },
      { text: String(l.files), cls: "num" },
      { text: stores },
    ], "layer");
    tr.title = l.diffId + (l.history && (l.history.created_by || l.history.comment) ? "\\n" + (l.history.created_by || l.history.comment) : "");
    tr.addEventListener("click", function () { zoom(report.map.children[i]); });
    tbody.appendChild(tr);
  });
  var cfg = {};
  Object.keys(report.containerConfig).forEach(function (k) { cfg[k] = report.containerConfig[k]; });
  document.getElementById("config").textContent = JSON.stringify(cfg, null, 2);
  var hist = document.getElementById("history");
  report.history.forEach(function (h) {
    var li = el("li");
    li.appendChild(el("span", "muted", (h.created || "") + (h.empty_layer ? " (no layer) " : " ")));
    li.appendChild(el("span", "", h.created_by || h.comment || ""));
    hist.appendChild(li);
  });
  var w = report.waste;
  document.getElementById("waste").textContent = fmt(w.wastedBytes) + " wasted (" + fmt(w.overwrittenBytes) +
    " overwritten, " + fmt(w.deletedBytes) + " deleted, " + fmt(w.duplicateBytes) + " duplicated); efficiency " +
    (w.efficiency * 100).toFixed(1) + "%";
  var wb = document.getElementById("waste-body");
  w.items.forEach(function (it) {
    wb.appendChild(row([
      { text: fmt(it.bytes), cls: "num" },
      { text: it.kind },
      { node: el("code", "", it.kind === "duplicate" ? shortList(it.paths || [], it.files || 0) : it.path) },
      { text: it.layers.join(", ") },
    ]));
  });
  var bf = document.getElementById("biggest-body");
  report.biggestFiles.forEach(function (f) {
    bf.appendChild(row([{ text: fmt(f.size), cls: "num" }, { node: el("code", "", f.path) }, { text: String(f.layer), cls: "num" }]));
  });
})();
render();
document.body.dataset.ready = "true";
`;

/** HTML-escapes text for element content and attribute values. */
function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/**
 * The page for `report` (which must have its `map`: `inspect` with `map: true`).
 * Open it from disk: it loads nothing from anywhere.
 *
 * @example
 * ```ts
 * import { writeFileSync } from "node:fs";
 * import type { ImageReport } from "./inspect.ts";
 * declare const report: ImageReport;
 * writeFileSync("image.html", inspectHtml(report));
 * ```
 */
export function inspectHtml(report: ImageReport): string {
  if (!report.map) {
    throw new TypeError("inspectHtml: the report has no map; inspect with map: true");
  }
  const name = report.name ? `${report.name}${report.tag ? `:${report.tag}` : ""}` : report.source;
  // In a <script> element, "</" and "<!--" must not appear: escape every "<".
  const data = JSON.stringify(report).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
  const p = report.platform;
  const t = report.totals;
  const meta = [
    `manifest ${report.manifest.digest.slice(0, 19)}…`,
    `config ${report.config.digest.slice(0, 19)}…`,
    `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`,
    `${report.layers.length} layers`,
    `${formatBytes(t.compressedSize)} stored`,
    `${formatBytes(t.size)} uncompressed`,
    `${t.files} files`,
    `efficiency ${(report.waste.efficiency * 100).toFixed(1)}%`,
  ];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="dockwright inspect">
<title>${escapeHtml(name)} · dockwright inspect</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(name)}</h1>
<div class="meta">${meta.map((m) => `<span>${escapeHtml(m)}</span>`).join("")}</div>
</header>
<main>
<section id="left">
<nav id="crumbs"></nav>
<div id="map" role="img" aria-label="the image by size: layers, store paths, folders"></div>
<div class="muted" style="padding-top:6px">Area: bytes in the layer tars (the smallest blocks enlarged to stay visible). Click to zoom in; the path above or Esc to zoom out.</div>
</section>
<aside>
<h2>Layers</h2>
<table><thead><tr><th class="num">#</th><th>diffId</th><th class="num">stored</th><th class="num">size</th><th class="num">files</th><th>store paths</th></tr></thead><tbody id="layers-body"></tbody></table>
<h2>Config</h2>
<pre id="config"></pre>
<h2>History</h2>
<ol class="history" id="history"></ol>
<h2>Waste</h2>
<p id="waste"></p>
<table><tbody id="waste-body"></tbody></table>
<h2>Biggest files</h2>
<table><thead><tr><th class="num">size</th><th>path</th><th class="num">layer</th></tr></thead><tbody id="biggest-body"></tbody></table>
</aside>
</main>
<div id="tip" role="tooltip" hidden></div>
<script type="application/json" id="report">${data}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
