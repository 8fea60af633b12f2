/**
 * Choosing one image of a multi-platform index (OCI image index or Docker
 * manifest list) by `os`, `architecture` and `variant`, as containerd and
 * skopeo do: a missing variant means the default one (`arm64` -> `v8`,
 * `arm` -> `v7`, `amd64` -> `v1`).
 *
 * @module
 */

import process from "node:process";

/** A platform as an index describes it. */
export interface Platform {
  /** GOOS, e.g. `linux`. */
  os: string;
  /** GOARCH, e.g. `amd64`, `arm64`, `arm`. */
  architecture: string;
  /** CPU variant, e.g. `v7` for `arm`, `v8` for `arm64`. */
  variant?: string;
}

/** An index entry. */
export interface PlatformDescriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: Partial<Platform> & Record<string, unknown>;
}

const DEFAULT_VARIANT: Record<string, string> = { arm64: "v8", arm: "v7", amd64: "v1" };

function variantOf(architecture: string, variant: string | undefined): string {
  return variant || DEFAULT_VARIANT[architecture] || "";
}

/**
 * True when `got` is the platform `want` asks for: same os and architecture,
 * and the same variant when `want` names one (`arm64` is `arm64/v8`).
 *
 * @example
 * ```ts
 * platformMatches({ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm64", variant: "v8" }); // true
 * ```
 */
export function platformMatches(got: Platform, want: Platform): boolean {
  return got.os === want.os && got.architecture === want.architecture &&
    (want.variant === undefined ||
      variantOf(got.architecture, got.variant) === variantOf(want.architecture, want.variant));
}

/**
 * `os/architecture[/variant]`.
 *
 * @example
 * ```ts
 * platformName({ os: "linux", architecture: "arm", variant: "v7" }); // "linux/arm/v7"
 * ```
 */
export function platformName(p: Partial<Platform>): string {
  return [p.os ?? "?", p.architecture ?? "?", ...(p.variant ? [p.variant] : [])].join("/");
}

/**
 * The entry of `manifests` for `want`; throws, listing what is there, when none fits.
 * Without a wanted variant, the default variant is preferred, then the first match.
 *
 * @example
 * ```ts
 * const manifests: PlatformDescriptor[] = [
 *   { digest: "sha256:aaa", size: 1, platform: { os: "linux", architecture: "amd64" } },
 *   { digest: "sha256:bbb", size: 1, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
 * ];
 * choosePlatform(manifests, { os: "linux", architecture: "arm64" }).digest; // "sha256:bbb"
 * ```
 */
export function choosePlatform(
  manifests: readonly PlatformDescriptor[],
  want: Platform,
): PlatformDescriptor {
  const matching = manifests.filter((m) =>
    m.platform?.os === want.os && m.platform?.architecture === want.architecture
  );
  const wantVariant = variantOf(want.architecture, want.variant);
  const exact = matching.filter((m) =>
    variantOf(want.architecture, m.platform?.variant) === wantVariant
  );
  const pick = exact[0] ?? (want.variant ? undefined : matching[0]);
  if (pick) return pick;
  const available = manifests.map((m) => platformName(m.platform ?? {})).filter((n) =>
    n !== "unknown/unknown"
  );
  throw new Error(
    `the index has no image for ${platformName(want)} (it has: ${
      available.join(", ") || "none"
    }); ` +
      "set os, arch (and variant) to one of those",
  );
}

/**
 * The host's GOARCH, Nix's `defaultArchitecture`.
 *
 * @example
 * ```ts
 * hostArchitecture(); // "amd64" on x86-64
 * ```
 */
export function hostArchitecture(): string {
  const map: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    ia32: "386",
    arm: "arm",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
    loong64: "loong64",
    mips: "mips",
    mipsel: "mipsle",
  };
  return map[process.arch] ?? process.arch;
}
