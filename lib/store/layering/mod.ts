/**
 * Nix's ways of splitting a closure into image layers: auto-layer (the
 * default), the popularity contest (the legacy default) and the
 * `layeringPipeline` language, plus the layer budget both defaults share.
 *
 * @module
 */

export { autoLayer, type AutoLayerOptions } from "./auto_layer.ts";
export { limitLayers, packageName, popularityContest, popularityScores } from "./popularity.ts";
export {
  LAYERING_STEPS,
  LayeringPipelineError,
  type LayeringStep,
  type LayeringStepName,
  runPipeline,
  type RunPipelineOptions,
  type SplitSpec,
  validatePipeline,
} from "./pipeline.ts";
export {
  ClosureGraphError,
  closureOf,
  compareCodePoints,
  compareStorePaths,
  type GraphNode,
  indexGraph,
  parseClosureGraph,
  storePathName,
} from "../closure_graph.ts";

/**
 * The pipeline Nix uses for the legacy popularity layering
 * (`popularity-contest-layering-pipeline.nix`).
 *
 * @example
 * ```ts
 * popularityContestPipeline(99); // [["popularity_contest"], ["limit_layers", 99]]
 * ```
 */
export function popularityContestPipeline(
  n: number,
): [["popularity_contest"], ["limit_layers", number]] {
  return [["popularity_contest"], ["limit_layers", n]];
}

/**
 * Not enough layers left for the store paths: `maxLayers` is used up by the
 * customisation layer and the base image's layers.
 *
 * @example
 * ```ts
 * try { layerBudget(2, 1); } catch (e) { e instanceof LayerBudgetError; }
 * ```
 */
export class LayerBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LayerBudgetError";
  }
}

/**
 * How many layers the store paths may use (§4.1): `maxLayers` minus one
 * customisation layer minus the base image's layers. Fails, as Nix does,
 * unless at least one is left.
 *
 * @example
 * ```ts
 * layerBudget(100, 0); // 99
 * layerBudget(4, 2);   // 1: with the 2 base layers and the customisation layer, 4 in all
 * layerBudget(3, 2);   // throws LayerBudgetError: At least 1 layer is required to store contents ...
 * ```
 */
export function layerBudget(maxLayers: number, baseLayerCount: number): number {
  if (!Number.isSafeInteger(maxLayers) || maxLayers < 1) {
    throw new RangeError(`maxLayers must be a positive integer, got ${maxLayers}`);
  }
  if (!Number.isSafeInteger(baseLayerCount) || baseLayerCount < 0) {
    throw new RangeError(
      `the base image's layer count must be a non-negative integer, got ${baseLayerCount}`,
    );
  }
  const usedLayers = 1 + baseLayerCount;
  if (!(usedLayers < maxLayers)) {
    throw new LayerBudgetError(
      `At least 1 layer is required to store contents: maxLayers = ${maxLayers}, but the customisation layer ` +
        `and ${baseLayerCount} base image layer${
          baseLayerCount === 1 ? "" : "s"
        } already use ${usedLayers}`,
    );
  }
  return maxLayers - usedLayers;
}
