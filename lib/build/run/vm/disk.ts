/**
 * The VM's disks: the root file system as an ext4 image made from a folder
 * with `mkfs.ext4 -d` (no mount, no root needed), with owners and special
 * files this process could not write fixed up by `debugfs`; and a sparse raw
 * disk the guest writes its result tar to.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { closeSync, ftruncateSync, openSync, writeFileSync } from "node:fs";
import type { Unapplied } from "../root_folder.ts";
import { VmSetupError } from "./errors.ts";
import { hostToolPath } from "../../../host/shell.ts";

const TYPE_BITS: Record<string, number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
};

function tool(name: string): string {
  const path = hostToolPath(name, ["/sbin", "/usr/sbin"]);
  if (!path) throw new VmSetupError(`${name} was not found`, "apt-get install e2fsprogs");
  return path;
}

/** debugfs commands that give `unapplied` entries their owners and modes, and create missing devices and fifos. */
function debugfsCommands(unapplied: readonly Unapplied[]): string {
  const lines: string[] = [];
  for (const { path, node, missing } of unapplied) {
    if (/["\n\\]/.test(path)) {
      throw new VmSetupError(
        `cannot ${
          missing ? "create" : "set the owner of"
        } /${path} on the VM's disk: its name has a quote, backslash or newline, which debugfs cannot take`,
        missing ? "rename it in the base image" : "build as root",
      );
    }
    const p = `"/${path}"`;
    if (missing) {
      // debugfs' mknod takes a name in the current folder, not a path.
      const slash = path.lastIndexOf("/");
      lines.push(`cd "/${slash < 0 ? "" : path.slice(0, slash)}"`);
      const name = `"${path.slice(slash + 1)}"`;
      if (node.type === "fifo") lines.push(`mknod ${name} p`);
      else {lines.push(
          `mknod ${name} ${node.type === "char" ? "c" : "b"} ${node.devMajor ?? 0} ${
            node.devMinor ?? 0
          }`,
        );}
      lines.push(`cd "/"`);
    }
    if (node.type !== "symlink") {
      lines.push(`sif ${p} mode 0${(TYPE_BITS[node.type] | (node.mode & 0o7777)).toString(8)}`);
    }
    lines.push(`sif ${p} uid ${node.uid ?? 0}`, `sif ${p} gid ${node.gid ?? 0}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Makes `image`, an ext4 file system of `sizeMiB` holding `folder`, owned as
 * the tree says.
 *
 * @example
 * ```ts
 * import { FileTree } from "../../../tree/file_tree.ts";
 * import { writeRootFolder } from "../root_folder.ts";
 * const unapplied = writeRootFolder(new FileTree(), "/tmp/run/rootfs");
 * makeRootDisk("/tmp/run/rootfs", "/tmp/run/root.img", 1024, unapplied, "/tmp/run", 0o755);
 * ```
 */
export function makeRootDisk(
  folder: string,
  image: string,
  sizeMiB: number,
  unapplied: readonly Unapplied[],
  workDir: string,
  rootMode: number,
): void {
  const mkfs = tool("mkfs.ext4");
  // No journal, no reserved blocks: the disk lives for one run.
  const r = spawnSync(mkfs, [
    "-q",
    "-F",
    "-m",
    "0",
    "-O",
    "^has_journal",
    "-E",
    "root_owner=0:0,nodiscard",
    "-d",
    folder,
    image,
    `${sizeMiB}M`,
  ], { encoding: "utf8" });
  if (r.status !== 0) {
    const full = /Could not allocate|No space left|too large|ran out/i.test(r.stderr);
    throw new VmSetupError(
      full
        ? `the image's files do not fit into diskSize = ${sizeMiB} MiB`
        : `mkfs.ext4 failed: ${r.stderr.trim() || r.error}`,
      full ? "raise diskSize" : "check that e2fsprogs (mkfs.ext4 -d) works on this machine",
    );
  }
  // mkfs gives the root folder its own mode, not the folder's.
  const rootCommand = `sif "/" mode 0${(0o040000 | (rootMode & 0o7777)).toString(8)}\n`;
  const commands = `${workDir}/debugfs.cmd`;
  writeFileSync(commands, rootCommand + debugfsCommands(unapplied));
  const d = spawnSync(tool("debugfs"), ["-w", "-f", commands, image], { encoding: "utf8" });
  if (d.status !== 0 || /^(?!debugfs ).*(error|not found|Invalid)/im.test(d.stderr)) {
    throw new VmSetupError(
      `debugfs could not set owners on the VM's disk: ${
        d.stderr.trim().split("\n").slice(-3).join("; ")
      }`,
      "build as root, or apt-get install e2fsprogs",
    );
  }
}

/**
 * Makes an empty sparse raw disk of `sizeMiB`.
 *
 * @example
 * ```ts
 * makeSparseDisk("/tmp/run/result.img", 1152);
 * ```
 */
export function makeSparseDisk(path: string, sizeMiB: number): void {
  const fd = openSync(path, "w", 0o600);
  try {
    ftruncateSync(fd, sizeMiB * 1024 * 1024);
  } finally {
    closeSync(fd);
  }
}
