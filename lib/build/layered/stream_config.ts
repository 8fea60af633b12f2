/**
 * The image config of layered images, byte for byte as Nix's streamer
 * writes it (`json.dumps(image_json, indent=4)`, keys in its order).
 *
 * @module
 */

import { mergeEnv } from "../../model/config_json.ts";
import { pythonJsonDumps, pythonListRepr } from "../../model/python_json.ts";

/** What goes into the config besides the layers. */
export interface StreamConfigInput {
  /** The config's `created` (RFC 3339); also each history entry's. */
  created: string;
  /** GOARCH of the image. */
  architecture: string;
  /** The Docker image config (`Cmd`, `Env`, ...). */
  config: Record<string, unknown>;
  /** `Env` of the base image (`[]` when it has none); undefined without a base image. */
  baseEnv?: string[];
  /** The layers' diffIds, bottom first. */
  diffIds: string[];
  /** Per layer, the paths its history comment names. */
  historyPaths: string[][];
}

/**
 * `datetime.isoformat()` of a timestamp as the streamer prints it
 * (`1970-01-01T00:00:01+00:00`).
 *
 * @example
 * ```ts
 * pythonIsoformat("1970-01-01T00:00:01Z"); // "1970-01-01T00:00:01+00:00"
 * ```
 */
export function pythonIsoformat(value: string): string {
  const ms = Date.parse(value);
  const d = new Date(ms);
  const base = d.toISOString().slice(0, 19);
  const micros = ms % 1000 === 0 ? "" : `.${String((ms % 1000) * 1000).padStart(6, "0")}`;
  return `${base}${micros}+00:00`;
}

/**
 * The config JSON bytes.
 *
 * @example
 * ```ts
 * const bytes = streamConfigBytes({
 *   created: "1970-01-01T00:00:01Z",
 *   architecture: "amd64",
 *   config: { Cmd: ["/bin/hello"] },
 *   diffIds: [`sha256:${"a".repeat(64)}`],
 *   historyPaths: [["/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12"]],
 * });
 * JSON.parse(new TextDecoder().decode(bytes)).history[0].comment;
 * // "store paths: ['/nix/store/0c0ix2vq6xkqcrnk8qbl3xq61ql5nhqn-hello-2.12']"
 * ```
 */
export function streamConfigBytes(input: StreamConfigInput): Uint8Array {
  const config = { ...input.config };
  if (input.baseEnv !== undefined) {
    // overlay_base_config: with a base image, Env = base + own, de-duplicated
    // (last value wins, first position kept); an empty result adds nothing.
    const env = mergeEnv(input.baseEnv, (config.Env as string[] | undefined) ?? []);
    if (env.length > 0) config.Env = env;
  }
  const created = pythonIsoformat(input.created);
  const json = {
    created,
    architecture: input.architecture,
    os: "linux",
    config,
    rootfs: { diff_ids: input.diffIds, type: "layers" },
    history: input.historyPaths.map((paths) => ({
      created,
      comment: `store paths: ${pythonListRepr(paths)}`,
    })),
  };
  return new TextEncoder().encode(pythonJsonDumps(json, 4));
}
