/**
 * `dockwright inspect SPEC`: what an image is made of, as text, a tree of
 * sizes with bars (`--tree`), JSON (`--json`) or a page with a zoomable map
 * (`--html FILE`). Also the flags `inspect` and `diff` share.
 *
 * @module
 */

import { resolve, sep } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { inspectImage, type InspectOptions } from "../../dsl/inspect.ts";
import { checkOutputFolder, writeFileAtomicallySync } from "../../host/atomic.ts";
import { formatReport, formatTree } from "../../inspect/format.ts";
import { inspectHtml } from "../../inspect/html.ts";
import type { OpenImageOptions } from "../../dsl/open_image.ts";
import type { Platform } from "../../model/platform.ts";
import { checkCacheDir, flagError, statOrUndefined, wholeNumber } from "../flags.ts";
import { UsageError } from "../usage_error.ts";

/** Help text of `inspect`. */
export const INSPECT_HELP =
  `Show what an image is made of: digests, platform, config, history, and per
layer its blobs, sizes, files, store paths and biggest files; the biggest files
of the final file system and the waste (bytes overwritten, deleted or stored in
several layers) with an efficiency figure.

Usage:
  dockwright inspect SPEC [options]

SPEC is a docker-archive (plain, .gz or .zst: Nix's, skopeo's, podman save's or
dockwright's; docker-archive:PATH[:REF|:@N] picks one of several), an OCI layout
folder or archive (oci:PATH[:REF], oci-archive:PATH[:REF]), a registry image
(docker://REF or registry/repository[:tag|@digest]), an export of an image file
(image.ts, image.ts#name), which is built first, or - for an archive piped into
standard input (./result | dockwright inspect -).

Options:
      --json              the report as JSON on stdout (only that: with --tree or
                          --html the size tree is in it, as map)
      --tree              the image as a tree of sizes with bars: layers, store paths
                          and top folders, folders
      --depth N           levels of --tree below the image (default 3)
      --html FILE         write one self-contained page with a zoomable map of the
                          image by size, the layers, config and history (it loads
                          nothing from the network); prints nothing else unless
                          --json or --tree is given. An existing FILE is replaced
                          only if it ends in .html or .htm; - writes to stdout
      --top N             biggest files and waste items to list (default 10)
      --platform P        OS/ARCH[/VARIANT] of a multi-platform image (default: this
                          machine's)
      --cache-dir DIR     blob cache (default: $DOCKWRIGHT_CACHE_DIR, else
                          $XDG_CACHE_HOME/dockwright, else ~/.cache/dockwright)
      --creds USER:PASS   registry credentials (default: DOCKWRIGHT_REGISTRY_USER/_PASSWORD,
                          then podman/docker auth files)
      --tls-verify=false  allow plain HTTP (and, under Bun, unverified TLS)
      --ca-file PATH      extra CA certificates (PEM) for registries
  -q, --quiet             no progress on stderr
  -h, --help              show this help

Layers are read as streams: memory holds their file headers, not their contents.
Exit codes: 0 shown, 1 the image cannot be read, 2 bad usage.
`;

/** The options `inspect` and `diff` share, as `parseArgs` takes them. */
export const IMAGE_OPTIONS = {
  "cache-dir": { type: "string" },
  platform: { type: "string" },
  creds: { type: "string" },
  "tls-verify": { type: "string" },
  "ca-file": { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Open options from the shared flags' values.
 *
 * @example
 * ```ts
 * openOptionsOf({ platform: "linux/arm64", "tls-verify": "false" });
 * // { platform: { os: "linux", architecture: "arm64" }, tlsVerify: false, ... }
 * ```
 */
export function openOptionsOf(v: Record<string, string | boolean | undefined>): OpenImageOptions {
  const options: OpenImageOptions = {};
  if (typeof v["cache-dir"] === "string") options.cacheDir = checkCacheDir(v["cache-dir"]);
  if (v.quiet) options.progress = false;
  if (typeof v.platform === "string") options.platform = parsePlatform(v.platform);
  const tls = v["tls-verify"];
  if (tls !== undefined) {
    if (tls !== "true" && tls !== "false") {
      throw new UsageError(
        `--tls-verify takes true or false (got ${JSON.stringify(tls)})`,
        "e.g. --tls-verify=false",
      );
    }
    options.tlsVerify = tls === "true";
  }
  if (typeof v.creds === "string") {
    if (v.creds.indexOf(":") <= 0) {
      throw new UsageError(
        "--creds must look like USER:PASSWORD",
        "or set DOCKWRIGHT_REGISTRY_USER and DOCKWRIGHT_REGISTRY_PASSWORD",
      );
    }
    options.creds = v.creds;
  }
  if (typeof v["ca-file"] === "string") options.caFile = v["ca-file"];
  return options;
}

function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split("/");
  if (!os || !architecture || rest.length > 0) {
    throw new UsageError(
      `--platform ${JSON.stringify(text)} is not OS/ARCH[/VARIANT]`,
      "e.g. --platform linux/arm64",
    );
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

/**
 * Refuses an empty image argument (`inspect ""`, `diff a.tar ""`) as bad usage.
 *
 * @example
 * ```ts
 * checkImageArgs(["a.tar", ""], "dockwright diff a.tar b.tar"); // throws: the second image is empty
 * ```
 */
export function checkImageArgs(specs: readonly string[], example: string): void {
  const empty = specs.findIndex((s) => s.trim() === "");
  if (empty < 0) return;
  throw new UsageError(
    `the ${specs.length > 1 ? `${empty === 0 ? "first" : "second"} ` : ""}image is an empty ` +
      "argument, which names no image",
    `give an archive, an OCI layout, a registry reference or image.ts#name, e.g. ${example}`,
  );
}

/** The paths an image spec may read: the spec, without its transport prefix, `:TAG` or `#export`. */
function pathsOf(spec: string): string[] {
  const bare = spec.replace(/^(docker-archive|oci-archive|oci):/, "");
  const paths = [spec, bare, bare.replace(/#[^/]*$/, "")];
  for (let colon = bare.lastIndexOf(":"); colon > 0; colon = bare.lastIndexOf(":", colon - 1)) {
    paths.push(bare.slice(0, colon));
  }
  return paths;
}

/**
 * Refuses an `--html` path that is empty, a folder, the image being
 * inspected, or an existing file that is not a page; `-` is stdout.
 */
function checkHtmlPath(html: string, spec: string): string {
  if (html === "") {
    throw new UsageError("--html needs a file name", "e.g. --html image.html");
  }
  if (html === "-") return html;
  const target = resolve(html);
  const stat = statOrUndefined(target);
  if (/(^|[/\\])\.{0,2}$/.test(html) || stat?.isDirectory()) {
    throw new UsageError(
      `--html ${html} is a folder; give the page's file name, e.g. ${
        html.replace(/[/\\]+$/, "")
      }/image.html`,
    );
  }
  // Only an existing file can be overwritten, and only an image that exists is read.
  for (const path of stat ? pathsOf(spec) : []) {
    const other = statOrUndefined(path);
    if (!other) continue;
    const same = stat!.dev === other.dev && stat!.ino === other.ino;
    const inside = other.isDirectory() && target.startsWith(resolve(path) + sep);
    if (same || inside) {
      throw new UsageError(
        `--html ${html} is ${
          same ? "the image being inspected" : `a file of the image ${path} being inspected`
        }; writing the page would overwrite it`,
        "give the page another file name, e.g. --html image.html",
      );
    }
  }
  if (stat && !/\.html?$/i.test(target)) {
    // A page replaces a page; a typo must not replace a source file.
    throw new UsageError(
      `--html ${html} exists and is not a .html page; it is not replaced`,
      "give a name ending in .html, or remove the file first",
    );
  }
  checkOutputFolder(target);
  return target;
}

/**
 * Runs `dockwright inspect` with `argv` (the arguments after `inspect`) and
 * returns the exit code; errors are thrown for the caller to report.
 *
 * @example
 * ```ts
 * process.exitCode = await inspectCommand(["./hello.tar", "--json"]);
 * ```
 */
export async function inspectCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...IMAGE_OPTIONS,
        tree: { type: "boolean" },
        depth: { type: "string" },
        html: { type: "string" },
        top: { type: "string" },
      },
    });
  } catch (error) {
    throw flagError(error, argv, "see dockwright inspect --help");
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(INSPECT_HELP);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError(
      `inspect takes exactly one image (got ${parsed.positionals.length})`,
      "dockwright inspect ./image.tar [--json] [--tree] [--html page.html]",
    );
  }
  const spec = parsed.positionals[0];
  checkImageArgs([spec], "dockwright inspect ./image.tar");
  const depth = wholeNumber(v.depth, "--depth", 3);
  const top = wholeNumber(v.top, "--top", 10);
  const html = v.html === undefined ? undefined : checkHtmlPath(v.html, spec);
  if (html === "-" && (v.json || v.tree)) {
    throw new UsageError(
      "--html - writes the page to stdout, which --json and --tree write to as well",
      "give the page a file name, e.g. --html image.html",
    );
  }
  const options: InspectOptions = {
    ...openOptionsOf(v),
    top,
    map: Boolean(v.tree || html),
  };
  const report = await inspectImage(spec, options);
  if (html === "-") process.stdout.write(inspectHtml(report));
  else if (html) {
    writeFileAtomicallySync(html, new TextEncoder().encode(inspectHtml(report)));
    if (!v.quiet) process.stderr.write(`wrote ${v.html}\n`);
  }
  // With --json, stdout is the JSON alone: the tree is in it as `map`.
  if (v.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else if (v.tree) process.stdout.write(formatTree(report.map!, { depth, top }));
  else if (!html) process.stdout.write(formatReport(report));
  return 0;
}
