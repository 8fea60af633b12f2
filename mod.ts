/**
 * dockwright: nixpkgs `dockerTools` as a typed TypeScript DSL for Deno and Bun.
 *
 * @example
 * ```ts
 * // image.ts (in a project, import from "dockwright")
 * import { buildImage, main, writeTextDir } from "./mod.ts";
 *
 * export default buildImage({
 *   name: "hello",
 *   tag: "latest",
 *   copyToRoot: ["./rootfs", writeTextDir("etc/motd", "hi\n")],
 *   config: { Cmd: ["/bin/hello"] },
 * });
 * main(import.meta);
 * ```
 *
 * @module
 */

// First: an image file run directly reports errors as the command line does (see the module).
import "./lib/cli/direct_run.ts";

export { buildImage, buildImageWithNixDb } from "./lib/dsl/build_image.ts";
export { exportImage } from "./lib/dsl/export_image.ts";
export type { ExportImageArgs } from "./lib/dsl/export_image.ts";
export { mergeImages } from "./lib/dsl/merge_images.ts";
export type { MergeImagesOptions, MergeInput } from "./lib/dsl/merge_images.ts";
export { Artifact, buildArtifact, isArtifact } from "./lib/dsl/artifact.ts";
export type { ArtifactOptions, ArtifactResult } from "./lib/dsl/artifact.ts";
export { RUN_AS_ROOT_MODES } from "./lib/build/run/run_as_root.ts";
export type { RunAsRootMode } from "./lib/build/run/run_as_root.ts";
export { VmSetupError } from "./lib/build/run/vm/errors.ts";
export type { BuildImageArgs } from "./lib/dsl/build_image.ts";
export type { ImageConfig } from "./lib/model/image_config.ts";
export {
  buildLayeredImage,
  buildLayeredImageWithNixDb,
  streamLayeredImage,
} from "./lib/dsl/layered_image.ts";
export type { BuildLayeredImageArgs, StreamLayeredImageArgs } from "./lib/dsl/layered_image.ts";
export {
  binSh,
  buildEnv,
  caCertificates,
  fakeNss,
  shadowSetup,
  SourceGroup,
  symlinkJoin,
  usrBinEnv,
  writeShellScriptBin,
} from "./lib/dsl/env_helpers.ts";
export type { FakeNss } from "./lib/dsl/env_helpers.ts";
export type { GraphNode } from "./lib/store/closure_graph.ts";
export {
  build,
  buildIntoCache,
  defaultOutputPath,
  FORMATS,
  parseRepoTag,
  streamImage,
  writeStreamScript,
} from "./lib/dsl/build.ts";
export type { BuildOptions, BuildResult, LayerSummary, OutputFormat } from "./lib/dsl/build.ts";
export { ImageDefinition, isImageDefinition } from "./lib/dsl/image_definition.ts";
export { openImage } from "./lib/dsl/open_image.ts";
export type { OpenImageOptions } from "./lib/dsl/open_image.ts";
export { BuildSession } from "./lib/build/session.ts";
export type { Resolvable, SessionOptions } from "./lib/build/session.ts";
export { configFileOf, platformOf, repoTag } from "./lib/model/image.ts";
export type { ArchiveLayout, ConfigBlob, EncodedImage, Image } from "./lib/model/image.ts";
export type { EncodedLayer, Encoding, Layer, LayerBlob } from "./lib/model/layer.ts";
export type { HistoryEntry, ImageConfigFile } from "./lib/model/image_config.ts";
export type { ImageIndex } from "./lib/model/image_index.ts";
export type { Descriptor } from "./lib/model/descriptor.ts";
export type { Platform } from "./lib/model/platform.ts";
export { ImageFormatError } from "./lib/model/errors.ts";
export { OptionError } from "./lib/dsl/errors.ts";
export { AttributeError } from "./lib/dsl/errors.ts";
export type { Source, SourceList } from "./lib/dsl/sources.ts";
export {
  writeScript,
  writeScriptBin,
  writeText,
  writeTextDir,
  writeTextFile,
} from "./lib/dsl/writers.ts";
export type { WriteTextFileArgs } from "./lib/dsl/writers.ts";
export { GeneratedTree } from "./lib/tree/generated_tree.ts";
export { COMPRESSORS } from "./lib/codec/compress.ts";
export type { Compressor } from "./lib/codec/compress.ts";
export { ZstdError } from "./lib/codec/libzstd.ts";
export { greeterExecutable } from "./lib/elf/greeter.ts";
export type { GreeterArch } from "./lib/elf/greeter.ts";
export { main } from "./lib/cli/main.ts";
export type { ModuleMeta } from "./lib/cli/main.ts";
export { runCli } from "./lib/cli/run_cli.ts";
export { pullImage } from "./lib/dsl/pull_image.ts";
export type { PullImageArgs } from "./lib/dsl/pull_image.ts";
export { push, pushIndex } from "./lib/dsl/push.ts";
export type { PushCallOptions } from "./lib/dsl/push.ts";
export { MANIFEST_FORMATS } from "./lib/transport/registry/push.ts";
export type {
  ManifestFormat,
  PushedLayer,
  PushIndexResult,
  PushOptions,
  PushResult,
} from "./lib/transport/registry/push.ts";
export type { RegistryOptions } from "./lib/transport/registry/client.ts";
export {
  RegistryAuthError,
  RegistryError,
  RegistryNotFoundError,
} from "./lib/transport/registry/errors.ts";
export { Definition, isDefinition } from "./lib/dsl/definition.ts";
export { imageIndex, IndexDefinition, isIndexDefinition } from "./lib/dsl/image_index.ts";
export type { ImageIndexArgs } from "./lib/dsl/image_index.ts";
export type { IndexBuildResult } from "./lib/dsl/build.ts";
export { ENGINES, load } from "./lib/dsl/load.ts";
export type { Engine, LoadOptions } from "./lib/dsl/load.ts";
export { EngineError } from "./lib/transport/engine/load.ts";
export { diffImages, inspectImage } from "./lib/dsl/inspect.ts";
export type { DiffOptions, InspectOptions } from "./lib/dsl/inspect.ts";
export { formatBytes, formatDiff, formatReport, formatTree } from "./lib/inspect/format.ts";
export type { TreeOptions } from "./lib/inspect/format.ts";
export { inspectHtml } from "./lib/inspect/html.ts";
export type { FileSize, ImageReport, LayerReport, StorePathSize } from "./lib/inspect/inspect.ts";
export type {
  ConfigChange,
  DiffLayer,
  DiffSide,
  ImageDiff,
  PathChange,
  PathField,
  PathState,
} from "./lib/inspect/diff.ts";
export type { WasteItem, WasteReport } from "./lib/inspect/stack.ts";
export type { SizeNode } from "./lib/inspect/size_map.ts";
// Types the public signatures above refer to (documentation only; no runtime exports).
export type { Digest } from "./lib/codec/sha256.ts";
export type { FromImage } from "./lib/dsl/from_image.ts";
export type { BuildContext } from "./lib/dsl/image_definition.ts";
export type { Credentials, CredsOption } from "./lib/transport/registry/credentials.ts";
export type { BlobRef, BlobStore } from "./lib/cache/blob_store.ts";
export type { Progress } from "./lib/host/progress.ts";
export type { EntryType } from "./lib/tar/entry.ts";
export { InputError, inputLimits, LIMITS } from "./lib/host/input_limits.ts";
export type { InputLimits, LimitSpec } from "./lib/host/input_limits.ts";
export type { PathRecord } from "./lib/inspect/scan.ts";
