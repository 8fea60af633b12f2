/**
 * The environment helpers of `dockerTools` (`fakeNss`, `binSh`, `usrBinEnv`,
 * `caCertificates`, `shadowSetup`) and the small builders image definitions
 * use with them (`symlinkJoin`, `buildEnv`, `writeShellScriptBin`).
 *
 * Where Nix takes a program from nixpkgs, dockwright takes it from the host,
 * checked and copied into the image:
 * - `binSh`, `usrBinEnv`: a statically linked busybox (Debian `busybox-static`,
 *   or `$DOCKWRIGHT_BUSYBOX`) as `/bin/sh` and `/usr/bin/env`. Nix links bash
 *   and coreutils' env; busybox's `sh` (ash) and `env` are what a scratch image
 *   can run without libraries.
 * - `caCertificates`: the host's CA bundle (`/etc/ssl/certs/ca-certificates.crt`,
 *   Debian `ca-certificates`, or `$DOCKWRIGHT_CA_BUNDLE`).
 * These files are the host's: the layer changes when the host's busybox or CA
 * bundle changes. A missing tool is a clear error at build time, not import time.
 *
 * @module
 */

import { existsSync, realpathSync } from "node:fs";
import process from "node:process";
import { staticBusyboxPath } from "../host/busybox.ts";
import { MissingToolError } from "../host/shell.ts";
import { GeneratedTree } from "../tree/generated_tree.ts";
import { AttributeError } from "./errors.ts";
import type { Source, SourceList } from "./sources.ts";
import { isNonEmptyString, isStringList, validateAttrs } from "./validate.ts";
import { writeTextFile } from "./writers.ts";

/** `fakeNss` with Nix's `override { extraPasswdLines, extraGroupLines }`. */
export interface FakeNss extends GeneratedTree {
  /**
   * A fakeNss with extra lines in `/etc/passwd` and `/etc/group`.
   *
   * @example
   * ```ts
   * const nss = fakeNss.override({
   *   extraPasswdLines: ["alice:x:1000:1000::/home/alice:/bin/sh"],
   *   extraGroupLines: ["alice:x:1000:"],
   * });
   * // nss's /etc/passwd: root, alice, then nobody
   * ```
   */
  override(args: { extraPasswdLines?: string[]; extraGroupLines?: string[] }): FakeNss;
}

function makeFakeNss(extraPasswdLines: string[], extraGroupLines: string[]): FakeNss {
  const tree = new GeneratedTree("fake-nss") as FakeNss;
  tree.file(
    "etc/passwd",
    "root:x:0:0:root user:/var/empty:/bin/sh\n" + extraPasswdLines.map((l) => l + "\n").join("") +
      "nobody:x:65534:65534:nobody:/var/empty:/bin/sh\n",
  );
  tree.file(
    "etc/group",
    "root:x:0:\n" + extraGroupLines.map((l) => l + "\n").join("") + "nobody:x:65534:\n",
  );
  tree.file("etc/nsswitch.conf", "hosts: files dns\n");
  tree.dir("var/empty");
  tree.override = (args) => {
    validateAttrs("fakeNss.override", args, {
      extraPasswdLines: isStringList,
      extraGroupLines: isStringList,
    }, []);
    return makeFakeNss(args.extraPasswdLines ?? [], args.extraGroupLines ?? []);
  };
  return tree;
}

/**
 * Nix `fakeNss`: `/etc/passwd` and `/etc/group` with root and nobody,
 * `/etc/nsswitch.conf` (`hosts: files dns`) and an empty `/var/empty`.
 *
 * @example
 * ```ts
 * import { buildLayeredImage } from "../../mod.ts";
 *
 * buildLayeredImage({ name: "app", contents: [fakeNss], config: { User: "nobody" } });
 * ```
 */
export const fakeNss: FakeNss = makeFakeNss([], []);

/**
 * Nix `dockerTools.binSh`: `/bin/sh` (here: a static busybox, which runs as `sh`).
 *
 * @example
 * ```ts
 * import { buildLayeredImage } from "../../mod.ts";
 *
 * buildLayeredImage({ name: "shell", contents: [binSh], config: { Cmd: ["/bin/sh"] } });
 * ```
 */
export const binSh: GeneratedTree = GeneratedTree.lazy("bin-sh", (t) => {
  t.hostFile("bin/sh", staticBusyboxPath("binSh"), true);
});

/**
 * Nix `dockerTools.usrBinEnv`: `/usr/bin/env` (here: a static busybox, which runs as `env`).
 *
 * @example
 * ```ts
 * import { buildLayeredImage } from "../../mod.ts";
 *
 * buildLayeredImage({ name: "scripts", contents: [usrBinEnv, binSh] });
 * ```
 */
export const usrBinEnv: GeneratedTree = GeneratedTree.lazy("usr-bin-env", (t) => {
  t.hostFile("usr/bin/env", staticBusyboxPath("usrBinEnv"), true);
});

function caBundlePath(): string {
  const configured = process.env.DOCKWRIGHT_CA_BUNDLE;
  const candidates = configured ? [configured] : [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
  ];
  for (const c of candidates) if (existsSync(c)) return realpathSync(c);
  throw new MissingToolError(
    "a CA certificate bundle",
    "caCertificates",
    configured
      ? `${configured} does not exist`
      : "apt-get install ca-certificates, or set DOCKWRIGHT_CA_BUNDLE",
  );
}

/**
 * Nix `dockerTools.caCertificates`: the CA bundle at
 * `/etc/ssl/certs/ca-bundle.crt`, `/etc/ssl/certs/ca-certificates.crt` and
 * `/etc/pki/tls/certs/ca-bundle.crt` (the last two link to the first).
 *
 * @example
 * ```ts
 * import { buildLayeredImage } from "../../mod.ts";
 *
 * buildLayeredImage({ name: "client", contents: [caCertificates] });
 * ```
 */
export const caCertificates: GeneratedTree = GeneratedTree.lazy("ca-certificates", (t) => {
  t.hostFile("etc/ssl/certs/ca-bundle.crt", caBundlePath());
  t.symlink("etc/ssl/certs/ca-certificates.crt", "ca-bundle.crt");
  t.symlink("etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-bundle.crt");
});

/**
 * Nix `dockerTools.shadowSetup`: a shell snippet that creates the files
 * `useradd`/`groupadd` need, for `runAsRoot` or `fakeRootCommands` with
 * `enableFakechroot`. Nix prepends shadow's `bin` to PATH; here the image
 * (or the host, for fakechroot) must provide the shadow tools.
 *
 * @example
 * ```ts
 * import { buildLayeredImage } from "../../mod.ts";
 *
 * buildLayeredImage({
 *   name: "app",
 *   contents: ["./rootfs"], // with the shadow tools (useradd, groupadd)
 *   enableFakechroot: true,
 *   fakeRootCommands: shadowSetup + "groupadd -r app\nuseradd -r -g app app\n",
 * });
 * ```
 */
export const shadowSetup = `export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
mkdir -p /etc/pam.d
if [ ! -f /etc/passwd ]; then
  echo "root:x:0:0::/root:/bin/sh" > /etc/passwd
  echo "root:!x:::::::" > /etc/shadow
fi
if [ ! -f /etc/group ]; then
  echo "root:x:0:" > /etc/group
  echo "root:x::" > /etc/gshadow
fi
if [ ! -f /etc/pam.d/other ]; then
  cat > /etc/pam.d/other <<EOF
account sufficient pam_unix.so
auth sufficient pam_rootok.so
password requisite pam_unix.so nullok yescrypt
session required pam_unix.so
EOF
fi
if [ ! -f /etc/login.defs ]; then
  touch /etc/login.defs
fi
`;

/**
 * Several sources joined into one, in order (Nix `symlinkJoin`). In
 * `contents`, store paths in it are linked into `/` and their closures kept;
 * other sources are copied.
 *
 * @example
 * ```ts
 * const env = symlinkJoin({ name: "env", paths: [fakeNss, binSh, "./rootfs"] });
 * ```
 */
export class SourceGroup implements SourceList {
  /**
   * A group of sources; see {@link symlinkJoin} and {@link buildEnv}.
   *
   * @param name the group's name (Nix's derivation name)
   * @param paths the sources, in order; groups may nest
   */
  constructor(readonly name: string, readonly paths: readonly (Source | SourceGroup)[]) {}

  /** The sources, nested groups flattened. */
  flatten(): Source[] {
    return this.paths.flatMap((p) => (p instanceof SourceGroup ? p.flatten() : [p]));
  }
}

function checkGroupArgs(
  fn: string,
  args: { name: string; paths: unknown },
  extra: Record<string, () => void> = {},
): void {
  validateAttrs(fn, args, { name: isNonEmptyString, paths: () => {}, ...extra }, ["name", "paths"]);
  if (!Array.isArray(args.paths)) {
    throw new AttributeError(fn, "paths", "must be a list of sources");
  }
}

/**
 * Nix `symlinkJoin { name, paths }`.
 *
 * @example
 * ```ts
 * symlinkJoin({ name: "root", paths: [fakeNss, "./rootfs"] });
 * ```
 */
export function symlinkJoin(args: { name: string; paths: (Source | SourceGroup)[] }): SourceGroup {
  checkGroupArgs("symlinkJoin", args);
  return new SourceGroup(args.name, args.paths);
}

/**
 * Nix `buildEnv { name, paths }` (with `pathsToLink = ["/"]`, its default).
 *
 * @example
 * ```ts
 * buildEnv({ name: "image-root", paths: ["/nix/store/...-hello", binSh] });
 * ```
 */
export function buildEnv(
  args: { name: string; paths: (Source | SourceGroup)[]; pathsToLink?: string[] },
): SourceGroup {
  checkGroupArgs("buildEnv", args, {
    pathsToLink: () => {
      if (args.pathsToLink && !(args.pathsToLink.length === 1 && args.pathsToLink[0] === "/")) {
        throw new AttributeError("buildEnv", "pathsToLink", 'only ["/"] is supported');
      }
    },
  });
  return new SourceGroup(args.name, args.paths);
}

/**
 * Nix `writeShellScriptBin name text`: `bin/<name>`, a `/bin/sh` script.
 *
 * @example
 * ```ts
 * writeShellScriptBin("hello", 'echo "hello $1"');
 * ```
 */
export function writeShellScriptBin(name: string, text: string): GeneratedTree {
  return writeTextFile({
    name,
    text: `#!/bin/sh\n${text}`,
    executable: true,
    destination: `/bin/${name}`,
  });
}
