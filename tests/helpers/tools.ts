/**
 * Test harness for the real validators and runtimes installed from apt:
 * skopeo, umoci, oci-image-tool, podman (with runc), runc, GNU tar and
 * Python's `tarfile`.
 *
 * Only `node:` built-ins are used so that the same file runs under
 * `deno test -A` and `bun test` (no `Deno.*`, no `Bun.*`).
 *
 * Tests that need an external tool call {@link requireTools} first: outside CI
 * a missing tool skips the test with the apt-get command that installs it; in
 * CI (`CI` set) it throws, so a validator-backed test can never be skipped
 * silently there.
 *
 * @example
 * ```ts
 * import { it } from "node:test";
 * import { requireTools, skopeoInspect } from "./helpers/tools.ts";
 *
 * it("the archive is readable by skopeo", async (t) => {
 *   if (!requireTools(t, ["skopeo"])) return;
 *   const info = await skopeoInspect("docker-archive:/tmp/x.tar");
 *   console.log(info);
 * });
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import process from "node:process";

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/** Options for {@link run} and {@link runOk}. */
export interface RunOptions {
  /** Working directory of the child. */
  cwd?: string;
  /** Environment of the child; replaces `process.env` entirely when given. */
  env?: Record<string, string | undefined>;
  /** Bytes or text written to the child's stdin (stdin is closed otherwise). */
  input?: Uint8Array | string;
  /** Kill the child (SIGKILL) and reject after this many milliseconds. */
  timeoutMs?: number;
}

/** What {@link run} returns. */
export interface RunResult {
  /** Exit code; 128 + signal number when the child was killed by a signal. */
  code: number;
  /** stdout decoded as UTF-8. */
  stdout: string;
  /** stderr decoded as UTF-8. */
  stderr: string;
  /** stdout as raw bytes, for binary output (e.g. `tar -cf -`). */
  stdoutBytes: Uint8Array;
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/** Quote one argument for display in an error message (not for a shell). */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * `cmd arg1 arg2` as a copy-pasteable line, for error messages.
 *
 * @example
 * ```ts
 * commandLine("sh", ["-c", "echo hi"]); // "sh -c 'echo hi'"
 * ```
 */
export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(shellQuote).join(" ");
}

/**
 * Run a command to completion and capture its output. Never throws for a
 * non-zero exit (see {@link runOk}); rejects only when the command cannot be
 * started or exceeds `timeoutMs`.
 *
 * @example
 * ```ts
 * const { code, stdout } = await run("sh", ["-c", "cat; exit 3"], { input: "hi" });
 * // code === 3, stdout === "hi"
 * ```
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      fn();
    };
    child.stdout!.on("data", (chunk: Uint8Array) => out.push(chunk));
    child.stderr!.on("data", (chunk: Uint8Array) => err.push(chunk));
    child.on(
      "error",
      (e: Error) =>
        finish(() => reject(new Error(`cannot run ${commandLine(cmd, args)}: ${e.message}`))),
    );
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, opts.timeoutMs);
    }
    if (opts.input !== undefined && child.stdin) {
      // A child that exits without reading all of stdin raises EPIPE on the
      // pipe; without a handler that would crash the test process.
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input);
    }
    child.on("close", (code: number | null, signal: string | null) => {
      const stdoutBytes = Buffer.concat(out);
      const result: RunResult = {
        code: code ?? 128 + (SIGNAL_NUMBERS[signal ?? ""] ?? 0),
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        stdoutBytes: new Uint8Array(stdoutBytes.buffer, stdoutBytes.byteOffset, stdoutBytes.length),
      };
      if (timedOut) {
        finish(() =>
          reject(
            new Error(
              `timed out after ${opts.timeoutMs} ms: ${commandLine(cmd, args)}\n` +
                `stderr:\n${result.stderr}`,
            ),
          )
        );
      } else {
        finish(() => resolvePromise(result));
      }
    });
  });
}

/**
 * Like {@link run} but throws an Error naming the command line, the exit code
 * and stderr when the exit code is not 0.
 *
 * @example
 * ```ts
 * const { stdout } = await runOk("umoci", ["--version"]);
 * ```
 */
export async function runOk(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const result = await run(cmd, args, opts);
  if (result.code !== 0) {
    throw new Error(
      `command failed (exit ${result.code}): ${commandLine(cmd, args)}\n` +
        `stderr:\n${result.stderr.trimEnd()}` +
        (result.stdout.trim() ? `\nstdout:\n${result.stdout.trimEnd().slice(-4000)}` : ""),
    );
  }
  return result;
}

// ---------------------------------------------------------------------------
// Tool discovery
// ---------------------------------------------------------------------------

/**
 * Which Debian package provides each command the test suite uses, for the
 * install hint printed when one is missing. A command not listed is assumed
 * to be in a package of the same name.
 *
 * @example
 * ```ts
 * APT_PACKAGES["newuidmap"]; // "uidmap"
 * ```
 */
export const APT_PACKAGES: Readonly<Record<string, string>> = {
  busybox: "busybox-static",
  newuidmap: "uidmap",
  newgidmap: "uidmap",
  xz: "xz-utils",
  unxz: "xz-utils",
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-img": "qemu-utils",
  "mkfs.ext4": "e2fsprogs",
  mke2fs: "e2fsprogs",
  debugfs: "e2fsprogs",
  htpasswd: "apache2-utils",
  modinfo: "kmod",
  depmod: "kmod",
  insmod: "kmod",
  nix: "nix-bin",
  "nix-store": "nix-bin",
  "nix-hash": "nix-bin",
  "nix-instantiate": "nix-bin",
  "nix-build": "nix-bin",
  bwrap: "bubblewrap",
  unshare: "util-linux",
  setpriv: "util-linux",
  python3: "python3",
  tar: "tar",
};

const toolCache = new Map<string, boolean>();

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * True when `name` is an executable on `PATH` (or, if it contains a `/`, an
 * executable at that path). Results are cached per process.
 *
 * @example
 * ```ts
 * if (hasTool("zstd")) console.log("can test zstd layers");
 * ```
 */
export function hasTool(name: string): boolean {
  const cached = toolCache.get(name);
  if (cached !== undefined) return cached;
  let found = false;
  if (name.includes("/")) {
    found = isExecutable(name);
  } else {
    // Only PATH counts: spawn() looks commands up the same way.
    for (const dir of (process.env.PATH ?? "").split(delimiter)) {
      if (dir && isExecutable(join(dir, name))) {
        found = true;
        break;
      }
    }
  }
  toolCache.set(name, found);
  return found;
}

/**
 * The tools among `names` that are not on `PATH`.
 *
 * @example
 * ```ts
 * missingTools(["skopeo", "no-such-tool"]); // ["no-such-tool"]
 * ```
 */
export function missingTools(names: readonly string[]): string[] {
  return names.filter((n) => !hasTool(n));
}

/**
 * The `apt-get install` command that provides `names`.
 *
 * @example
 * ```ts
 * aptInstallHint(["busybox", "skopeo"]); // "apt-get install -y busybox-static skopeo"
 * ```
 */
export function aptInstallHint(names: readonly string[]): string {
  const pkgs = [...new Set(names.map((n) => APT_PACKAGES[n] ?? n))];
  return `apt-get install -y ${pkgs.join(" ")}`;
}

/**
 * True when running in CI (`CI` set to anything but "", "0" or "false").
 *
 * @example
 * ```ts
 * const limit = inCI() ? 1 : 3;
 * ```
 */
export function inCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
}

/**
 * Anything with node:test's `t.skip(message)`; `skip` is optional so a
 * context without it still works (the message is printed either way).
 *
 * @example
 * ```ts
 * it("x", (t) => { const ctx: SkipContext = t; });
 * ```
 */
export interface SkipContext {
  skip?: (message?: string) => void;
  name?: string;
}

/**
 * Check that every tool in `names` is on `PATH`.
 *
 * - All present: returns `true`.
 * - Some missing and `CI` set: throws an Error naming them and the apt-get
 *   command that installs them (a validator-backed test must not be skipped
 *   in CI).
 * - Some missing outside CI: prints `SKIP ...` to stderr, calls
 *   `t.skip(reason)` and returns `false`; the caller must `return`, because
 *   `t.skip` does not stop the test in either runtime. (Bun reports such a test
 *   as skipped; Deno's node:test reports it as "ok", hence the stderr line.)
 *
 * @example
 * ```ts
 * it("podman runs the image", async (t) => {
 *   if (!requireTools(t, ["podman", "runc"])) return;
 *   // ...
 * });
 * ```
 */
export function requireTools(t: SkipContext | undefined, names: readonly string[]): boolean {
  const missing = missingTools(names);
  if (missing.length === 0) return true;
  const reason = `missing: ${missing.join(", ")} (${aptInstallHint(missing)})`;
  if (inCI()) {
    throw new Error(
      `required tools are not installed in CI: ${missing.join(", ")}; ` +
        `install them with: ${aptInstallHint(missing)} (add them to .ci/run)`,
    );
  }
  const where = t?.name ? ` ${t.name}` : "";
  process.stderr.write(`SKIP${where}: ${reason}\n`);
  if (typeof t?.skip === "function") t.skip(reason);
  return false;
}

/**
 * For test options: `it(name, { skip: skipUnlessTools([...]) }, fn)`. Returns
 * `false` when every tool exists, else the skip reason; throws in CI like
 * {@link requireTools}. Prefer it on `it`/`test`: Bun 1.4 drops a skipped
 * `describe` without counting its tests as skipped (Deno counts it ignored).
 *
 * @example
 * ```ts
 * it("pushes", { skip: skipUnlessTools(["docker-registry"]) }, async () => {});
 * ```
 */
export function skipUnlessTools(names: readonly string[]): string | false {
  let reason: string | false = false;
  requireTools({ skip: (m) => (reason = m ?? "missing tools") }, names);
  return reason;
}

/**
 * Path of a statically linked busybox (from `busybox-static`), suitable for
 * copying into an image that has no libc; `null` when there is none.
 *
 * @example
 * ```ts
 * const bb = staticBusybox(); // "/bin/busybox"
 * ```
 */
export function staticBusybox(): string | null {
  const candidates = ["/bin/busybox", "/usr/bin/busybox", "/usr/lib/busybox/busybox"];
  for (const p of candidates) {
    if (isExecutable(p) && isStaticElf(p)) return p;
  }
  return null;
}

/** True for a 64-bit little-endian ELF without a PT_INTERP (dynamic loader). */
function isStaticElf(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return false;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

const liveTempDirs = new Set<string>();
let exitHookInstalled = false;

/** Set DOCKWRIGHT_KEEP_TMP=1 to keep temp dirs for debugging. */
function keepTemp(): boolean {
  return !!process.env.DOCKWRIGHT_KEEP_TMP;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for tests that forget (or fail before) their cleanup.
  process.on("exit", () => {
    for (const sandbox of liveSandboxes) sandbox.closeSync();
    if (keepTemp()) return;
    for (const dir of liveTempDirs) {
      try {
        rmrf(dir);
      } catch {
        // Best effort while exiting.
      }
    }
  });
}

/**
 * A fresh, empty directory under the system temp dir (`$TMPDIR` or /tmp).
 * It is removed at process exit if still there (unless DOCKWRIGHT_KEEP_TMP=1).
 *
 * @example
 * ```ts
 * const dir = tempDir("layout-");
 * try { ... } finally { rmrf(dir); }
 * ```
 */
export function tempDir(prefix = "dockwright-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  liveTempDirs.add(dir);
  installExitHook();
  return dir;
}

/**
 * Mount points at or below `dir` (deepest first), from /proc/self/mountinfo.
 *
 * @example
 * ```ts
 * assert.deepEqual(mountsUnder(podman.dir), []); // after podman.close()
 * ```
 */
export function mountsUnder(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const root = resolve(dir);
  const found: string[] = [];
  for (const line of info.split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    // mountinfo escapes space, tab, newline and backslash as octal.
    const mp = field.replace(
      /\\([0-7]{3})/g,
      (_, o: string) => String.fromCharCode(parseInt(o, 8)),
    );
    if (mp === root || mp.startsWith(root + "/")) found.push(mp);
  }
  return found.sort((a, b) => b.length - a.length);
}

/**
 * `rm -rf`: removes a file or directory tree, first lazily unmounting
 * anything mounted below it (a killed podman can leave overlay mounts) and
 * restoring write permission if needed. Missing paths are fine.
 *
 * @example
 * ```ts
 * rmrf("/tmp/dockwright-test-abc123");
 * ```
 */
export function rmrf(path: string): void {
  liveTempDirs.delete(path);
  if (!existsSync(path)) {
    // existsSync is false for a dangling symlink; rmSync(force) copes.
    rmSync(path, { force: true, recursive: true });
    return;
  }
  for (const mp of mountsUnder(path)) {
    spawnSync("umount", ["-l", mp], { stdio: "ignore" });
  }
  try {
    rmSync(path, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // Read-only directories (e.g. an unpacked rootfs when not root) block
    // removal of their entries.
    makeWritable(path);
    rmSync(path, { recursive: true, force: true, maxRetries: 3 });
  }
}

function makeWritable(path: string): void {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st || !st.isDirectory()) return;
    chmodSync(path, st.mode | 0o700);
    for (const name of readdirSync(path)) makeWritable(join(path, name));
  } catch {
    // Keep going; rmSync reports what is left.
  }
}

// ---------------------------------------------------------------------------
// podman sandbox
// ---------------------------------------------------------------------------

/** Options for {@link Podman.run}. */
export interface PodmanRunOptions {
  /** `--user`, e.g. "1000:1000" or "nobody". */
  user?: string;
  /** `--entrypoint`: a string, or an array passed as JSON. "" clears it. */
  entrypoint?: string | string[];
  /** Extra `--env` values. */
  env?: Record<string, string>;
  /** `--workdir`. */
  workdir?: string;
  /** Anything else to put before the image name. */
  extraArgs?: string[];
}

/** The fields of `podman image inspect` that tests look at (others kept). */
export interface PodmanImage {
  Id: string;
  Digest?: string;
  RepoTags?: string[];
  Created?: string;
  Author?: string;
  Architecture?: string;
  Os?: string;
  Config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, unknown>;
    Volumes?: Record<string, unknown>;
    StopSignal?: string;
    [key: string]: unknown;
  };
  RootFS?: { Type: string; Layers?: string[] };
  [key: string]: unknown;
}

/** A podman with its own store, config and state, all in one temp dir. */
export interface Podman {
  /** The sandbox directory (configs, graphroot, runroot, tmp). */
  readonly dir: string;
  /** Environment passed to every podman call. */
  readonly env: Record<string, string>;
  /** Global flags passed before every subcommand (`--root`, ...). */
  readonly globalArgs: readonly string[];
  /** Run `podman <args>` in the sandbox, without checking the exit code. */
  podman(
    args: string[],
    opts?: { input?: Uint8Array | string; timeoutMs?: number },
  ): Promise<RunResult>;
  /** `podman load -i archive`; returns the loaded names (or `sha256:` ids). */
  load(archivePath: string): Promise<string[]>;
  /** stdout of `podman run --rm image args...`; throws with stderr on failure. */
  run(image: string, args?: string[], opts?: PodmanRunOptions): Promise<string>;
  /** Parsed `podman image inspect image` (the first element). */
  inspect(image: string): Promise<PodmanImage>;
  /** Remove everything: store, mounts, state. Safe to call twice. */
  close(): Promise<void>;
}

interface SandboxCleanup {
  closeSync(): void;
}
const liveSandboxes = new Set<SandboxCleanup>();

/** A TOML basic string. */
function tomlString(s: string): string {
  return JSON.stringify(s);
}

/**
 * A podman sandbox started on first use and shared by the tests of one file:
 * `get()` in a test, `close()` in `after`.
 *
 * @example
 * ```ts
 * const podman = lazyPodman();
 * after(() => podman.close());
 * it("runs", async () => { const pm = await podman.get(); await pm.load(out); });
 * ```
 */
export function lazyPodman(): { get(): Promise<Podman>; close(): Promise<void> } {
  let started: Promise<Podman> | undefined;
  return {
    get: () => (started ??= createPodman()),
    close: async () => {
      const podman = await started?.catch(() => undefined);
      await podman?.close();
    },
  };
}

/**
 * A fresh podman sandbox: its own containers.conf (runc, cgroupfs, file
 * events, no network, explicit ulimits: the only setup that works on these
 * machines), its own storage.conf (overlay, graphroot/runroot in the sandbox)
 * and its own libpod tmp dir, lock files, image-copy tmp dir and
 * XDG_RUNTIME_DIR. `--root/--runroot/--tmpdir` are also passed on every call,
 * so a lost environment variable cannot reach the machine's default store.
 * Every `load` goes into an empty store, so layers are always verified.
 *
 * @example
 * ```ts
 * const podman = await createPodman();
 * try {
 *   const [name] = await podman.load("/tmp/hello.tar");
 *   assert.equal(await podman.run(name, ["echo", "hi"]), "hi\n");
 * } finally {
 *   await podman.close();
 * }
 * ```
 */
export function createPodman(): Promise<Podman> {
  // Async by contract (a future version may probe podman); failures reject.
  try {
    return Promise.resolve(makePodman());
  } catch (e) {
    return Promise.reject(e);
  }
}

function makePodman(): Podman {
  const dir = tempDir("dockwright-podman-");
  const p = (...parts: string[]) => join(dir, ...parts);
  for (const d of ["root", "runroot", "libpod", "tmp", "xdg", "netconf"]) {
    mkdirSync(p(d), { recursive: true, mode: 0o700 });
  }
  writeFileSync(
    p("containers.conf"),
    [
      "[containers]",
      // Without explicit limits runc fails to apply podman's defaults here.
      `default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]`,
      `netns = "none"`,
      "",
      "[network]",
      `network_config_dir = ${tomlString(p("netconf"))}`,
      "",
      "[engine]",
      // crun fails on this kernel's cgroup setup.
      `runtime = "runc"`,
      `cgroup_manager = "cgroupfs"`,
      `events_logger = "file"`,
      `events_logfile_path = ${tomlString(p("events.log"))}`,
      `tmp_dir = ${tomlString(p("libpod"))}`,
      `image_copy_tmp_dir = ${tomlString(p("tmp"))}`,
      // File locks live in tmp_dir; the default SHM segment is machine-wide.
      `lock_type = "file"`,
      // Must match what --root implies, or podman refuses the database.
      `static_dir = ${tomlString(p("root", "libpod"))}`,
      `volume_path = ${tomlString(p("root", "volumes"))}`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    p("storage.conf"),
    [
      "[storage]",
      `driver = "overlay"`,
      `graphroot = ${tomlString(p("root"))}`,
      `runroot = ${tomlString(p("runroot"))}`,
      "",
    ].join("\n"),
  );
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("CONTAINERS_") && k !== "REGISTRY_AUTH_FILE") env[k] = v;
  }
  Object.assign(env, {
    CONTAINERS_CONF: p("containers.conf"),
    CONTAINERS_STORAGE_CONF: p("storage.conf"),
    XDG_RUNTIME_DIR: p("xdg"),
    TMPDIR: p("tmp"),
  });
  const globalArgs = [
    "--root",
    p("root"),
    "--runroot",
    p("runroot"),
    "--tmpdir",
    p("libpod"),
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
  ];
  let closed = false;

  const podman = (
    args: string[],
    opts: { input?: Uint8Array | string; timeoutMs?: number } = {},
  ) => {
    if (closed) throw new Error(`podman sandbox ${dir} is closed`);
    return run("podman", [...globalArgs, ...args], {
      env,
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? 120_000,
    });
  };

  const checked = async (args: string[]): Promise<RunResult> => {
    const r = await podman(args);
    if (r.code !== 0) {
      throw new Error(
        `podman failed (exit ${r.code}): ${commandLine("podman", args)}\n` +
          `stderr:\n${r.stderr.trimEnd()}` +
          (r.stdout.trim() ? `\nstdout:\n${r.stdout.trimEnd()}` : ""),
      );
    }
    return r;
  };

  // Conmon and `podman container cleanup` are started by podman; any still
  // alive mention this unique dir on their command line.
  const killLeftovers = () => {
    let pids: string[] = [];
    try {
      pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
    } catch {
      return;
    }
    for (const pid of pids) {
      if (Number(pid) === process.pid) continue;
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (cmdline.includes(dir)) process.kill(Number(pid), "SIGKILL");
      } catch {
        // Gone already, or not ours to read.
      }
    }
  };

  const cleanup: SandboxCleanup = {
    closeSync() {
      if (closed) return;
      closed = true;
      liveSandboxes.delete(cleanup);
      killLeftovers();
      if (keepTemp()) return;
      rmrf(dir);
    },
  };
  liveSandboxes.add(cleanup);

  return {
    dir,
    env,
    globalArgs,
    podman,
    async load(archivePath: string): Promise<string[]> {
      const r = await checked(["load", "-q", "-i", archivePath]);
      const names: string[] = [];
      for (const line of (r.stdout + "\n" + r.stderr).split("\n")) {
        const m = /^Loaded image\(?s?\)?: (.+)$/.exec(line.trim());
        if (m) names.push(...m[1].split(",").map((s) => s.trim()).filter(Boolean));
      }
      if (names.length === 0) {
        throw new Error(`podman load printed no image name:\n${r.stdout}\n${r.stderr}`);
      }
      return names;
    },
    async run(image: string, args: string[] = [], opts: PodmanRunOptions = {}): Promise<string> {
      const flags = ["run", "--rm", "--pull=never", "--network=none"];
      if (opts.user !== undefined) flags.push("--user", opts.user);
      if (opts.entrypoint !== undefined) {
        flags.push(
          "--entrypoint",
          typeof opts.entrypoint === "string" ? opts.entrypoint : JSON.stringify(opts.entrypoint),
        );
      }
      if (opts.workdir !== undefined) flags.push("--workdir", opts.workdir);
      for (const [k, v] of Object.entries(opts.env ?? {})) flags.push("--env", `${k}=${v}`);
      flags.push(...(opts.extraArgs ?? []));
      const r = await checked([...flags, image, ...args]);
      return r.stdout;
    },
    async inspect(image: string): Promise<PodmanImage> {
      const r = await checked(["image", "inspect", image]);
      const parsed = JSON.parse(r.stdout) as PodmanImage[];
      if (!Array.isArray(parsed) || parsed.length === 0) {
        throw new Error(`podman image inspect ${image}: empty result`);
      }
      return parsed[0];
    },
    async close(): Promise<void> {
      if (closed) return;
      // Removes containers, images and the graphroot/runroot (unmounting
      // overlay layers); the explicit --root/--runroot keep it in the sandbox.
      await run("podman", [...globalArgs, "system", "reset", "-f"], {
        env,
        timeoutMs: 60_000,
      }).catch(() => undefined);
      cleanup.closeSync();
    },
  };
}

// ---------------------------------------------------------------------------
// Validators
// ---------------------------------------------------------------------------

/**
 * `skopeo copy` between two transports (verifies layer digests and diff_ids
 * on the way). `--insecure-policy` is always passed, so no
 * /etc/containers/policy.json is needed.
 *
 * @example
 * ```ts
 * await skopeoCopy("docker-archive:/tmp/x.tar", "oci:/tmp/layout:latest");
 * ```
 */
export async function skopeoCopy(
  src: string,
  dst: string,
  extraArgs: string[] = [],
): Promise<RunResult> {
  return await runOk("skopeo", ["--insecure-policy", "copy", "--quiet", ...extraArgs, src, dst], {
    timeoutMs: 300_000,
  });
}

/**
 * `skopeo inspect` parsed from JSON; with `raw` the manifest (or index) as
 * stored, else skopeo's summary (Name, Digest, Labels, Architecture, Os,
 * Layers, Env, ...). Note: skopeo never reads layers here.
 *
 * @example
 * ```ts
 * const manifest = await skopeoInspect("oci:/tmp/layout:latest", true);
 * ```
 */
export async function skopeoInspect(
  ref: string,
  raw = false,
): Promise<Record<string, unknown>> {
  const args = ["--insecure-policy", "inspect", ...(raw ? ["--raw"] : []), ref];
  const r = await runOk("skopeo", args, { timeoutMs: 120_000 });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * `skopeo inspect --config`: the image config blob, parsed.
 *
 * @example
 * ```ts
 * const cfg = await skopeoInspectConfig("docker-archive:/tmp/x.tar");
 * ```
 */
export async function skopeoInspectConfig(ref: string): Promise<Record<string, unknown>> {
  const r = await runOk("skopeo", ["--insecure-policy", "inspect", "--config", ref], {
    timeoutMs: 120_000,
  });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * `umoci unpack --rootless --image LAYOUT:TAG BUNDLE`: the strictest check of
 * an OCI layout (manifest, config and blob digests, diff_ids). `bundleDir`
 * must not exist yet. Debian's umoci 0.4.7 rejects zstd layers.
 *
 * @example
 * ```ts
 * await umociUnpack("/tmp/layout", "latest", "/tmp/bundle");
 * ```
 */
export async function umociUnpack(
  layoutDir: string,
  tag: string,
  bundleDir: string,
  opts: { rootless?: boolean } = {},
): Promise<RunResult> {
  const args = ["unpack"];
  if (opts.rootless ?? true) args.push("--rootless");
  args.push("--image", `${layoutDir}:${tag}`, bundleDir);
  return await runOk("umoci", args, { timeoutMs: 300_000 });
}

/**
 * `oci-image-tool validate --type image --ref name=TAG LAYOUT`: schema, sizes
 * and digests (not diff_ids). Throws with the tool's output on failure.
 *
 * @example
 * ```ts
 * await ociImageToolValidate("/tmp/layout", "latest");
 * ```
 */
export async function ociImageToolValidate(layoutDir: string, tag: string): Promise<RunResult> {
  const r = await runOk(
    "oci-image-tool",
    ["validate", "--type", "image", "--ref", `name=${tag}`, layoutDir],
    { timeoutMs: 300_000 },
  );
  // Belt and braces: a success is always announced.
  if (!r.stdout.includes("Validation succeeded")) {
    throw new Error(`oci-image-tool validate did not report success:\n${r.stdout}${r.stderr}`);
  }
  return r;
}

/**
 * Run an unpacked bundle with `runc run` (as root), with `.process.terminal`
 * set to false and optionally other `process.args`; returns stdout and throws
 * (with stderr) on a non-zero exit. The container and runc's state dir are
 * removed afterwards.
 *
 * @example
 * ```ts
 * await umociUnpack(layout, "latest", bundle);
 * const out = await runcRun(bundle, { args: ["/bin/echo", "hi"] }); // "hi\n"
 * ```
 */
export async function runcRun(
  bundleDir: string,
  opts: { args?: string[]; env?: string[]; cwd?: string; user?: { uid: number; gid: number } } = {},
): Promise<string> {
  const configPath = join(bundleDir, "config.json");
  // deno-lint-ignore no-explicit-any
  const config = JSON.parse(readFileSync(configPath, "utf8")) as any;
  config.process.terminal = false;
  if (opts.args) config.process.args = opts.args;
  if (opts.env) config.process.env = opts.env;
  if (opts.cwd) config.process.cwd = opts.cwd;
  if (opts.user) config.process.user = { ...config.process.user, ...opts.user };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  // A private runc state root: nothing lands in /run/runc.
  const stateRoot = tempDir("dockwright-runc-");
  const id = `dockwright-${randomBytes(6).toString("hex")}`;
  try {
    const r = await run("runc", ["--root", stateRoot, "run", "-b", bundleDir, id], {
      timeoutMs: 120_000,
    });
    if (r.code !== 0) {
      throw new Error(
        `runc run failed (exit ${r.code}) in ${bundleDir}\nstderr:\n${r.stderr.trimEnd()}` +
          (r.stdout ? `\nstdout:\n${r.stdout.trimEnd()}` : ""),
      );
    }
    return r.stdout;
  } finally {
    await run("runc", ["--root", stateRoot, "delete", "-f", id]).catch(() => undefined);
    rmrf(stateRoot);
  }
}

/**
 * GNU `tar -tvf` output lines (compression auto-detected), e.g.
 * `-rw-r--r-- 0/0 5 2023-11-14 22:13 ./hello`. Pass `["--numeric-owner"]` or
 * `["--full-time"]` in `extraArgs` as needed.
 *
 * @example
 * ```ts
 * const lines = await gnuTarList("/tmp/layer.tar", ["--numeric-owner"]);
 * ```
 */
export async function gnuTarList(archivePath: string, extraArgs: string[] = []): Promise<string[]> {
  const r = await runOk("tar", ["-tvf", archivePath, ...extraArgs], { timeoutMs: 120_000 });
  return r.stdout.split("\n").filter((l) => l.length > 0);
}

/** One tar member as Python's `tarfile` reads it. */
export interface TarHeader {
  name: string;
  /** Raw typeflag: "0" file, "1" hardlink, "2" symlink, "3" char, "4" block, "5" dir, "6" fifo. */
  type: string;
  /** Readable kind derived from `type`. */
  kind: "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo" | "other";
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  pax_headers: Record<string, string>;
}

const PY_TAR_HEADERS = String.raw`
import json, sys, tarfile
kinds = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file",
         tarfile.LNKTYPE: "hardlink", tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char",
         tarfile.BLKTYPE: "block", tarfile.DIRTYPE: "dir", tarfile.FIFOTYPE: "fifo"}
path = sys.argv[1]
tf = tarfile.open(fileobj=sys.stdin.buffer, mode="r|") if path == "-" else tarfile.open(path, "r:*")
out = []
for m in tf:
    out.append({"name": m.name, "type": m.type.decode("latin-1"), "kind": kinds.get(m.type, "other"),
                "mode": m.mode, "uid": m.uid, "gid": m.gid, "uname": m.uname, "gname": m.gname,
                "size": m.size, "mtime": m.mtime, "linkname": m.linkname,
                "devmajor": m.devmajor, "devminor": m.devminor, "pax_headers": dict(m.pax_headers)})
json.dump(out, sys.stdout)
`;

/**
 * Every member's header as Python's `tarfile` parses it (name, type, mode,
 * uid, gid, uname, gname, size, mtime, linkname, devmajor, devminor,
 * pax_headers). gzip/bzip2/xz are handled by Python; zstd by piping through
 * `zstd -dc`.
 *
 * @example
 * ```ts
 * const [first] = await pythonTarHeaders("/tmp/layer.tar");
 * assert.equal(first.uid, 0);
 * ```
 */
export async function pythonTarHeaders(archivePath: string): Promise<TarHeader[]> {
  const magic = Buffer.alloc(4);
  const fd = openSync(archivePath, "r");
  try {
    readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const r = magic.readUInt32LE(0) === 0xfd2fb528
    ? await runOk(
      "sh",
      ["-c", 'zstd -dc -- "$1" | python3 -c "$2" -', "sh", archivePath, PY_TAR_HEADERS],
      { timeoutMs: 120_000 },
    )
    : await runOk("python3", ["-c", PY_TAR_HEADERS, archivePath], { timeoutMs: 120_000 });
  return JSON.parse(r.stdout) as TarHeader[];
}

/**
 * Adds a folder holding `files` (relative path -> text) to the local Nix
 * store with `nix-store --add`; returns the store path.
 *
 * @example
 * ```ts
 * const path = await nixStoreAdd(join(dir, "item"), { "hello.txt": "hello\n" });
 * ```
 */
export async function nixStoreAdd(folder: string, files: Record<string, string>): Promise<string> {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), text);
  }
  return (await runOk("nix-store", ["--add", folder])).stdout.trim();
}
