/**
 * `inspect` and `diff` as text for people: the report, the size tree with
 * bars (`inspect --tree`), and the diff.
 *
 * @module
 */

import type { ConfigChange, ImageDiff, PathChange, PathState } from "./diff.ts";
import { platformName } from "../model/platform.ts";
import type { ImageReport } from "./inspect.ts";
import { nodeWeight, type SizeNode } from "./size_map.ts";

/**
 * Bytes for people: `512 B`, `1.5 KiB`, `12.3 MiB`.
 *
 * @example
 * ```ts
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** `sha256:0123456789ab` (12 hex digits), enough to tell layers apart. */
function short(digest: string): string {
  return digest.slice(0, 19);
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

function padLeft(text: string, width: number): string {
  return text.length >= width ? text : " ".repeat(width - text.length) + text;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * The report as text: image, digests, platform, config, history, layers with
 * their store paths and biggest files, the biggest files and waste.
 *
 * @example
 * ```ts
 * import type { ImageReport } from "./inspect.ts";
 * declare const report: ImageReport;
 * console.log(formatReport(report));
 * ```
 */
export function formatReport(report: ImageReport): string {
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${pad(name, 11)}${value}`);
  const name = report.name ? `${report.name}${report.tag ? `:${report.tag}` : ""}` : "(unnamed)";
  field("image", `${name}  from ${report.source}`);
  field(
    "manifest",
    `${report.manifest.digest}  ${
      report.manifest.origin === "source"
        ? `(as read, ${report.manifest.mediaType})`
        : "(computed: the OCI manifest of the layers as stored)"
    }`,
  );
  field("config", `${report.config.digest}  (${formatBytes(report.config.size)})`);
  const p = report.platform;
  field("platform", platformName(p));
  if (report.index) {
    const all = report.index.platforms.map(platformName);
    field(
      "index",
      `${report.index.digest ?? "index.json"}  (${all.length} platforms: ${
        all.join(", ")
      }; --platform picks one)`,
    );
  }
  if (report.created) field("created", report.created);
  if (report.author) field("author", report.author);
  const config = report.containerConfig as Record<string, unknown>;
  for (const key of ["Entrypoint", "Cmd", "User", "WorkingDir"]) {
    if (config[key] !== undefined) field(key, JSON.stringify(config[key]));
  }
  const env = (config.Env as string[] | undefined) ?? [];
  env.forEach((e, i) => field(i === 0 ? "Env" : "", e));
  for (const [key, value] of Object.entries(config)) {
    if (["Entrypoint", "Cmd", "User", "WorkingDir", "Env"].includes(key) || value === undefined) {
      continue;
    }
    field(key, JSON.stringify(value));
  }
  const t = report.totals;
  field(
    "size",
    `${plural(report.layers.length, "layer")}, ${formatBytes(t.compressedSize)} stored, ${
      formatBytes(t.size)
    } uncompressed, ${plural(t.files, "file")} (${formatBytes(t.fileBytes)})`,
  );
  field(
    "visible",
    `${plural(t.visibleFiles, "file")} (${formatBytes(t.visibleBytes)}) in the final file system`,
  );
  const w = report.waste;
  field(
    "waste",
    `${formatBytes(w.wastedBytes)}: ${formatBytes(w.overwrittenBytes)} overwritten, ${
      formatBytes(w.deletedBytes)
    } deleted, ${formatBytes(w.duplicateBytes)} duplicated; efficiency ${
      (w.efficiency * 100).toFixed(1)
    }%`,
  );

  if (report.history.length > 0) {
    lines.push("", "history");
    for (const [i, h] of report.history.entries()) {
      const what = h.created_by ?? h.comment ?? "";
      const text = what.length > 110 ? `${what.slice(0, 107)}...` : what;
      lines.push(
        `  ${padLeft(String(i + 1), 3)}  ${h.created ?? ""}${
          h.empty_layer ? "  (no layer)" : ""
        }  ${text}`,
      );
    }
  }

  lines.push("", "layers");
  for (const l of report.layers) {
    lines.push(
      `  ${padLeft(String(l.number), 3)}  diffId ${l.diffId}`,
      `       digest ${l.digest}  (${l.encoding})`,
      `       ${formatBytes(l.compressedSize)} stored, ${formatBytes(l.size)} uncompressed, ${
        plural(l.members, "member")
      }: ${plural(l.files, "file")} (${formatBytes(l.fileBytes)}), ${
        plural(l.directories, "folder")
      }, ${plural(l.symlinks, "symlink")}${
        l.hardlinks ? `, ${plural(l.hardlinks, "hard link")}` : ""
      }${l.whiteouts ? `, ${plural(l.whiteouts, "whiteout")}` : ""}`,
    );
    if (l.storePaths.length > 0) {
      lines.push(`       ${plural(l.storePaths.length, "store path")}:`);
      for (const sp of l.storePaths.slice(0, 12)) {
        lines.push(`         ${padLeft(formatBytes(sp.size), 10)}  ${sp.path}`);
      }
      if (l.storePaths.length > 12) lines.push(`         ... ${l.storePaths.length - 12} more`);
    }
    if (l.biggestFiles.length > 0) {
      lines.push("       biggest files:");
      for (const f of l.biggestFiles.slice(0, 5)) {
        lines.push(`         ${padLeft(formatBytes(f.size), 10)}  ${f.path}`);
      }
    }
  }

  if (report.storePaths.length > 0) {
    lines.push("", "store paths, biggest first");
    for (const sp of report.storePaths.slice(0, 20)) {
      lines.push(
        `  ${padLeft(formatBytes(sp.size), 10)}  ${sp.path}  (layer ${sp.layers.join(", ")})`,
      );
    }
    if (report.storePaths.length > 20) lines.push(`  ... ${report.storePaths.length - 20} more`);
  }
  if (report.biggestFiles.length > 0) {
    lines.push("", "biggest files");
    for (const f of report.biggestFiles) {
      lines.push(`  ${padLeft(formatBytes(f.size), 10)}  ${f.path}  (layer ${f.layer})`);
    }
  }
  if (w.items.length > 0) {
    lines.push("", "waste, biggest first");
    for (const item of w.items) {
      const paths = item.paths ?? [];
      const where = item.kind === "duplicate"
        ? paths.slice(0, 3).join(", ") +
          ((item.files ?? 0) > 3 ? `, ... (${item.files} files)` : "")
        : item.path;
      lines.push(
        `  ${padLeft(formatBytes(item.bytes), 10)}  ${pad(item.kind, 11)}  ${where}  (layers ${
          item.layers.join(", ")
        })`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** Options of {@link formatTree}. */
export interface TreeOptions {
  /** Levels below the image (layers, store paths and top folders, folders...). Default 3. */
  depth?: number;
  /** Children shown per node. Default 10. */
  top?: number;
  /** Width of the bars. Default 24. */
  barWidth?: number;
}

/**
 * The size tree as text with bars (`inspect --tree`): each line's bar is its
 * share of the whole image.
 *
 * @example
 * ```ts
 * import type { ImageReport } from "./inspect.ts";
 * declare const report: ImageReport;
 * console.log(formatTree(report.map!, { depth: 2 }));
 * ```
 */
export function formatTree(map: SizeNode, options: TreeOptions = {}): string {
  const depth = options.depth ?? 3;
  const top = options.top ?? 10;
  const width = options.barWidth ?? 24;
  const total = Math.max(1, map.size);
  const lines: string[] = [];
  const bar = (node: SizeNode) => {
    const cells = (node.size / total) * width;
    const full = Math.floor(cells);
    const part = cells - full;
    const partial = part >= 0.75 ? "▊" : part >= 0.5 ? "▌" : part >= 0.25 ? "▎" : "";
    return pad("█".repeat(full) + partial, width);
  };
  const line = (node: SizeNode, indent: string) => {
    const label = node.kind === "rest" ? `(${node.name} in ${node.path})` : node.name;
    lines.push(
      `${padLeft(formatBytes(node.size), 10)} ${bar(node)} ${indent}${label}${
        node.kind === "dir" ? "/" : ""
      }`,
    );
  };
  const walk = (node: SizeNode, level: number, indent: string) => {
    line(node, indent);
    if (level >= depth || !node.children) return;
    // Biggest content first; the map's order (by tar bytes) breaks ties.
    const children = [...node.children].sort((x, y) =>
      (x.kind === "rest" ? 1 : 0) - (y.kind === "rest" ? 1 : 0) || y.size - x.size ||
      nodeWeight(y) - nodeWeight(x)
    );
    const shown = children.slice(0, top);
    for (const child of shown) walk(child, level + 1, indent + "  ");
    const hidden = children.slice(top);
    if (hidden.length > 0) {
      const size = hidden.reduce((s, c) => s + c.size, 0);
      const entries = hidden.reduce((s, c) => s + c.entries, 0);
      line({
        name: `${hidden.length} more`,
        kind: "rest",
        path: node.path ?? node.name,
        size,
        entries,
      }, indent + "  ");
    }
  };
  walk(map, 0, "");
  return lines.join("\n") + "\n";
}

function describeState(s: PathState): string {
  const parts = [s.type, `0${s.mode.toString(8)}`, `${s.uid}:${s.gid}`];
  if (s.type === "file") parts.push(formatBytes(s.size));
  if (s.linkTarget !== undefined) parts.push(`-> ${s.linkTarget}`);
  if (s.device !== undefined) parts.push(`device ${s.device}`);
  return parts.join(" ");
}

function describeChange(c: PathChange): string {
  if (c.change === "added") return `+ ${c.path}  (${describeState(c.b)}, layer ${c.b.layer})`;
  if (c.change === "removed") return `- ${c.path}  (${describeState(c.a)}, layer ${c.a.layer})`;
  const what = c.fields.map((f) => {
    switch (f) {
      case "type":
        return `type ${c.a.type} -> ${c.b.type}`;
      case "mode":
        return `mode 0${c.a.mode.toString(8)} -> 0${c.b.mode.toString(8)}`;
      case "owner":
        return `owner ${c.a.uid}:${c.a.gid} -> ${c.b.uid}:${c.b.gid}`;
      case "size":
        return `size ${c.a.size} -> ${c.b.size}`;
      case "content":
        return "content";
      case "target":
        return `target ${c.a.linkTarget ?? "(none)"} -> ${c.b.linkTarget ?? "(none)"}`;
      case "device":
        return `device ${c.a.device ?? "(none)"} -> ${c.b.device ?? "(none)"}`;
    }
  });
  return `~ ${c.path}  (${what.join(", ")})`;
}

function describeValue(v: unknown): string {
  const text = JSON.stringify(v);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

function describeConfig(c: ConfigChange): string {
  if (!("a" in c)) return `+ ${c.key}: ${describeValue(c.b)}`;
  if (!("b" in c)) return `- ${c.key}: ${describeValue(c.a)}`;
  return `~ ${c.key}: ${describeValue(c.a)} -> ${describeValue(c.b)}`;
}

/**
 * The diff as text: the two images, layers, config changes, store paths and
 * paths (`+` added, `-` removed, `~` changed and what changed).
 *
 * @example
 * ```ts
 * import type { ImageDiff } from "./diff.ts";
 * declare const diff: ImageDiff;
 * console.log(formatDiff(diff));
 * ```
 */
export function formatDiff(diff: ImageDiff): string {
  const lines: string[] = [];
  const header = (mark: string, s: ImageDiff["a"]) =>
    lines.push(
      `${mark} ${s.source}  (manifest ${short(s.manifestDigest)}, config ${
        short(s.configDigest)
      }, ${plural(s.layers, "layer")})`,
    );
  header("---", diff.a);
  header("+++", diff.b);
  if (diff.same) {
    lines.push("same image: same config and same layers");
    if (diff.a.manifestDigest !== diff.b.manifestDigest) {
      lines.push("(the manifests differ: the layers are stored with other compression)");
    }
    return lines.join("\n") + "\n";
  }
  const l = diff.layers;
  lines.push(
    "",
    `layers: ${l.shared.length} shared, ${l.onlyA.length} only in a, ${l.onlyB.length} only in b`,
  );
  for (const x of l.onlyA) {
    lines.push(
      `  - layer ${x.number}  ${x.diffId}${x.size !== undefined ? `  ${formatBytes(x.size)}` : ""}`,
    );
  }
  for (const x of l.onlyB) {
    lines.push(
      `  + layer ${x.number}  ${x.diffId}${x.size !== undefined ? `  ${formatBytes(x.size)}` : ""}`,
    );
  }
  if (diff.config.length > 0) {
    lines.push("", `config: ${plural(diff.config.length, "difference")}`);
    for (const c of diff.config) lines.push(`  ${describeConfig(c)}`);
  }
  const sp = diff.storePaths;
  if (sp.added.length + sp.removed.length > 0) {
    lines.push("", `store paths: ${sp.added.length} added, ${sp.removed.length} removed`);
    for (const p of sp.removed) lines.push(`  - ${p}`);
    for (const p of sp.added) lines.push(`  + ${p}`);
  }
  const s = diff.summary;
  lines.push(
    "",
    `paths: ${s.added} added, ${s.removed} removed, ${s.changed} changed; uncompressed ${
      formatBytes(s.sizeA)
    } -> ${formatBytes(s.sizeB)}`,
  );
  for (const c of diff.paths) lines.push(`  ${describeChange(c)}`);
  return lines.join("\n") + "\n";
}
