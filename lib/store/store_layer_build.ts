/**
 * Building the store layers of a layered image at once, on every core.
 *
 * Each store layer is independent of the others: walking its store paths,
 * fingerprinting the entries, and on a miss making, hashing, encoding and
 * writing its tar (`cache/layer_cache.ts`). So the layers are jobs, biggest
 * first, taken from one shared counter by worker threads
 * (`store_layer_worker.ts`, one per core), each job whole in one thread. Only
 * the results (diffId, built or found) come back; the bytes go from the
 * source files to the store.
 *
 * Without workers (`DOCKWRIGHT_THREADS=0`, little data, or a runtime that
 * cannot start one, such as a single executable built without the worker
 * file) this thread takes every job: the same layers, one after another.
 * Jobs of a worker that dies are done here.
 *
 * @module
 */

import { availableParallelism } from "node:os";
import process from "node:process";
import { Worker } from "node:worker_threads";
import type { BlobStore } from "../cache/blob_store.ts";
import {
  buildLayerInThread,
  type LayerBuildOptions,
  type LayerBuildResult,
} from "../cache/layer_cache.ts";
import type { Compressor } from "../codec/compress.ts";
import { discardTemp, releaseTemp } from "../host/temp_files.ts";
import { storeLayerEntries, type StoreLayerSettings } from "./store_layer.ts";

/**
 * What a store-layer worker is given to do: the store layers of one image.
 *
 * @example
 * ```ts
 * const work: StoreLayerWork = {
 *   id: 1,
 *   cacheRoot: "/home/me/.cache/dockwright",
 *   groups: [["/nix/store/abc-hello-2.12"]],
 *   settings: { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 },
 *   encoding: "none",
 *   zstdThreads: 1,
 *   temps: ["/home/me/.cache/dockwright/tmp/.blob.dockwright-1-abcdef-01234567"],
 *   order: [0],
 *   counter: new SharedArrayBuffer(4),
 * };
 * ```
 */
export interface StoreLayerWork {
  /**
   * Names this work in every message about it: a worker is reused for the
   * next image, and a late message of one work must not count for another.
   */
  id: number;
  /** The blob store's folder. */
  cacheRoot: string;
  /** The store paths of each layer, in layer order. */
  groups: string[][];
  settings: StoreLayerSettings;
  encoding: Compressor;
  /** libzstd's worker threads per layer being built (the threads building layers share the cores). */
  zstdThreads: number;
  /** One temp file name per layer, made (and tracked for Ctrl-C) by the main thread. */
  temps: string[];
  /** The jobs (layer indexes) in the order they are taken: biggest first. */
  order: number[];
  /** An Int32Array's buffer: the position in `order` of the next job to take. */
  counter: SharedArrayBuffer;
}

/**
 * Messages from a store-layer worker, each naming its work.
 *
 * @example
 * ```ts
 * const started: StoreLayerMessage = { id: 1, start: 0 };
 * const done: StoreLayerMessage = { id: 1, exit: true };
 * ```
 */
export type StoreLayerMessage =
  & { id: number }
  & (
    | { start: number }
    | { done: number; result: LayerBuildResult }
    | { failed: number; name: string; message: string }
    | { progress: number }
    /** The worker took its last job of this work, and waits for more. */
    | { exit: true }
  );

let nextWorkId = 0;

/**
 * Builds (or finds) one store layer in this thread.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 *
 * const settings = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 };
 * const { diffId, built } = await storeLayerJob(BlobStore.open(), ["/nix/store/abc-hello-2.12"], settings, "none");
 * ```
 */
export function storeLayerJob(
  store: BlobStore,
  paths: readonly string[],
  settings: StoreLayerSettings,
  encoding: Compressor,
  options: Pick<LayerBuildOptions, "tempFile" | "onBytes" | "zstdThreads"> = {},
): Promise<LayerBuildResult> {
  return buildLayerInThread(store, storeLayerEntries(paths, settings), { encoding, ...options });
}

/**
 * Options of {@link buildStoreLayers}.
 *
 * @example
 * ```ts
 * const options: StoreLayersOptions = { encoding: "none", sizes: [64 << 20, 1 << 20], threads: 2 };
 * ```
 */
export interface StoreLayersOptions {
  /** How new layer blobs are first stored. */
  encoding: Compressor;
  /** Called with uncompressed byte counts as layers are built. */
  onBytes?: (bytes: number) => void;
  /**
   * About how many bytes each layer holds (its store paths' NAR sizes): the
   * biggest layers are taken first, so no big one is left to run alone at
   * the end; below 32 MiB in all, starting workers costs more than it saves.
   * Default: unknown (layers in order, workers started).
   */
  sizes?: readonly number[];
  /**
   * Worker threads that build the layers (this thread then only waits); 0:
   * this thread builds them. Default: `$DOCKWRIGHT_THREADS`, else one per
   * core (at most 8).
   */
  threads?: number;
}

/** Young-generation size of each worker's heap, in MiB. */
const YOUNG_GENERATION_MB = 8;

/** Below this many bytes in all, the layers are built in this thread alone. */
const WORKER_THRESHOLD = 32 << 20;

/** How many workers: as asked (option, then `$DOCKWRIGHT_THREADS`), else one per core for enough data. */
function workerCount(options: StoreLayersOptions, jobs: number): number {
  const env = process.env.DOCKWRIGHT_THREADS;
  let wanted = options.threads ??
    (env !== undefined && /^\d+$/.test(env) ? Number(env) : undefined);
  if (wanted === undefined) {
    const total = options.sizes?.reduce((a, b) => a + b, 0) ?? Infinity;
    wanted = total < WORKER_THRESHOLD ? 0 : Math.min(8, availableParallelism());
  }
  return Math.max(0, Math.min(wanted, jobs));
}

/**
 * The store-layer workers of this process, shared by every image it builds
 * (`-j`) and kept between builds: at most one per core (or
 * `$DOCKWRIGHT_THREADS`), each a runtime heap (peak RSS). An idle worker is
 * unreferenced, so it never keeps the process alive; a build that finds all
 * of them busy waits for one.
 */
const pool = {
  idle: [] as Worker[],
  count: 0,
  waiting: [] as Array<() => void>,
};

function poolLimit(): number {
  const env = process.env.DOCKWRIGHT_THREADS;
  const asked = env !== undefined && /^\d+$/.test(env) ? Number(env) : 0;
  return Math.max(asked, Math.min(8, availableParallelism()));
}

/** A new worker, waiting for work; undefined when none can be started. */
function spawnWorker(): Worker | undefined {
  let worker: Worker;
  try {
    worker = new Worker(new URL("./store_layer_worker.ts", import.meta.url), {
      // A small young generation: per-file garbage is short-lived, and each
      // worker's heap otherwise grows to tens of MiB (peak RSS).
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
  } catch {
    return undefined; // e.g. a single executable built without the worker file
  }
  pool.count++;
  worker.unref();
  worker.on("error", () => {}); // a build that uses it hears of it too
  worker.once("exit", () => {
    pool.count--;
    const at = pool.idle.indexOf(worker);
    if (at >= 0) pool.idle.splice(at, 1);
    for (const wake of pool.waiting.splice(0)) wake();
  });
  return worker;
}

/**
 * Starts the store-layer workers now, so that they have loaded their code
 * by the time the layers are known (a layered image does this while it
 * builds its customisation layer and reads its closure).
 *
 * @example
 * ```ts
 * prestartStoreLayerWorkers(); // one per core; idle, they do not keep the process alive
 * ```
 */
export function prestartStoreLayerWorkers(): void {
  if (process.env.DOCKWRIGHT_THREADS === "0") return;
  while (pool.count < poolLimit()) {
    const worker = spawnWorker();
    if (!worker) return;
    pool.idle.push(worker);
  }
}

/** Up to `wanted` workers (idle ones first); waits while all of them are busy. */
async function takeWorkers(wanted: number): Promise<Worker[]> {
  if (wanted <= 0) return [];
  for (;;) {
    const taken = pool.idle.splice(0, wanted);
    while (taken.length < wanted && pool.count < poolLimit()) {
      const worker = spawnWorker();
      if (!worker) break;
      taken.push(worker);
    }
    if (taken.length > 0 || pool.count === 0) return taken;
    await new Promise<void>((r) => pool.waiting.push(r));
  }
}

/** Gives workers back to the pool, idle. */
function returnWorkers(workers: Worker[]): void {
  for (const worker of workers) {
    worker.unref();
    pool.idle.push(worker);
  }
  for (const wake of pool.waiting.splice(0)) wake();
}

/** An error from a worker, with its name (so `MissingStorePathError` stays recognisable). */
function workerError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/**
 * The store layers holding `groups` (store paths per layer, in layer order),
 * found in the cache or built, several at once. Results keep the order of
 * `groups`; the first failure rejects.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 *
 * const settings = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 };
 * const layers = await buildStoreLayers(BlobStore.open(), [["/nix/store/abc-glibc-2.39"], ["/nix/store/def-hello-2.12"]], settings, { encoding: "zstd" });
 * layers.map((l) => l.built); // [true, true] the first time, [false, false] after
 * ```
 */
export async function buildStoreLayers(
  store: BlobStore,
  groups: readonly string[][],
  settings: StoreLayerSettings,
  options: StoreLayersOptions,
): Promise<LayerBuildResult[]> {
  const jobs = groups.length;
  const results = new Array<LayerBuildResult | undefined>(jobs);
  if (jobs === 0) return [];
  const temps = groups.map(() => store.tempFile());
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const sizes = options.sizes;
  const order = groups.map((_, i) => i);
  if (sizes) order.sort((a, b) => (sizes[b] ?? 0) - (sizes[a] ?? 0) || a - b);
  let finished = 0;
  let failure: Error | undefined;
  // Jobs to do here: those a worker took and then died with (or may have).
  const retry: number[] = [];
  const runningHere = new Set<number>();
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const complete = (i: number, result: LayerBuildResult) => {
    if (results[i]) return;
    results[i] = result;
    finished++;
    poke();
  };
  const fail = (error: Error) => {
    failure ??= error;
    Atomics.store(counter, 0, jobs); // nobody takes another job
    poke();
  };
  const workers = await takeWorkers(workerCount(options, jobs));
  // The threads building layers share the cores with libzstd's.
  const zstdThreads = Math.max(
    1,
    Math.floor(Math.min(8, availableParallelism()) / (workers.length || 1)),
  );
  const runHere = async (i: number) => {
    runningHere.add(i);
    try {
      complete(
        i,
        await storeLayerJob(store, groups[i], settings, options.encoding, {
          tempFile: temps[i],
          onBytes: options.onBytes,
          zstdThreads,
        }),
      );
    } catch (error) {
      fail(error as Error);
    } finally {
      runningHere.delete(i);
    }
  };
  const detach: Array<() => void> = [];
  let broken = false;
  try {
    const work: StoreLayerWork = {
      id: ++nextWorkId,
      cacheRoot: store.root,
      groups: groups.map((g) => [...g]),
      settings,
      encoding: options.encoding,
      zstdThreads,
      temps,
      order,
      counter: counter.buffer as SharedArrayBuffer,
    };
    let alive = workers.length;
    for (const worker of workers) {
      const started = new Set<number>();
      let gone = false;
      const lost = (dead: boolean) => {
        if (gone) return;
        gone = true;
        if (dead) broken = true;
        for (const i of started) if (!results[i]) retry.push(i);
        if (--alive === 0 && !failure) {
          // The last worker is done, or gone: whatever is not done is done here
          // (a job a dead worker took but never announced included).
          Atomics.store(counter, 0, jobs);
          for (let i = 0; i < jobs; i++) {
            if (!results[i] && !runningHere.has(i) && !retry.includes(i)) retry.push(i);
          }
        }
        poke();
      };
      const onMessage = (m: StoreLayerMessage) => {
        if (m.id !== work.id) return; // the end of an earlier image's work
        if ("start" in m) started.add(m.start);
        else if ("done" in m) {
          started.delete(m.done);
          complete(m.done, m.result);
        } else if ("failed" in m) fail(workerError(m.name, m.message));
        else if ("progress" in m) options.onBytes?.(m.progress);
        else if ("exit" in m) lost(false);
      };
      const onGone = () => lost(true);
      worker.on("message", onMessage);
      worker.on("error", onGone);
      worker.on("exit", onGone);
      detach.push(() => {
        worker.off("message", onMessage);
        worker.off("error", onGone);
        worker.off("exit", onGone);
      });
      worker.ref(); // busy: the build waits for it
      worker.postMessage({ work });
    }
    // Without workers this thread takes the jobs. With them it only waits: taking
    // jobs too would not be faster, and would grow this thread's heap (peak RSS).
    for (; workers.length === 0;) {
      const next = Atomics.add(counter, 0, 1);
      if (next >= jobs || failure) break;
      await runHere(order[next]);
    }
    while (!failure && finished < jobs) {
      const i = retry.shift();
      if (i !== undefined) {
        if (!results[i] && !runningHere.has(i)) await runHere(i);
        continue;
      }
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    for (const off of detach) off();
    if (failure || broken) {
      // A worker may still be in a job (or be gone): none goes back to the pool.
      await Promise.all(workers.map((w) => w.terminate().catch(() => {})));
    } else returnWorkers(workers);
    // Built layers' temp files were renamed into the store; after a failure, a
    // stopped worker may have left one half written.
    for (const t of temps) failure ? discardTemp(t) : releaseTemp(t);
  }
  if (failure) throw failure;
  const missing = results.findIndex((r) => r === undefined);
  if (missing >= 0) throw new Error(`internal: store layer ${missing + 1} was not built`);
  return results as LayerBuildResult[];
}
