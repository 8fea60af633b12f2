#!/usr/bin/env bash
# Release binaries (`npm run release`, `deno task release`): the single
# executable for every target, with a SHA256SUMS file, in dist/release/:
#
#   dockwright-linux-x64  dockwright-linux-arm64  dockwright-darwin-x64
#   dockwright-darwin-arm64  SHA256SUMS
#
# Bun cross-compiles by downloading each target's runtime once
# (@oven/bun-<os>-<arch> from the npm registry, kept in Bun's install cache),
# so the first run needs the npm registry; later runs work offline.
#
# Then every binary this machine can run is run: `--version`, and a build of
# the image `dockwright init` writes. linux-x64 runs natively on x86-64;
# linux-arm64 runs natively on arm64, or on x86-64 through qemu-user
# (apt-get install qemu-user libc6-arm64-cross); darwin binaries are only built.
#
#   bash scripts/release.sh                 # all targets
#   bash scripts/release.sh linux-x64       # some targets
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$root/node_modules/.bin:$PATH"
command -v bun >/dev/null || {
  echo "release.sh: error: bun not found: run npm install first" >&2
  exit 1
}

all=(linux-x64 linux-arm64 darwin-x64 darwin-arm64)
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || {
    echo "release.sh: error: unknown target $t: use ${all[*]}" >&2
    exit 2
  }
done

out=dist/release
rm -rf "$out"
mkdir -p "$out"
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)"

for t in "${targets[@]}"; do
  echo "== build $t"
  # As the compile task. (--bytecode --format=esm would start in ~15 ms instead of ~60,
  # for 3 MB more; plain --bytecode is CommonJS, where import.meta.url becomes the
  # build machine's source path and the executable cannot find its layer worker.)
  bun build --compile --minify --target="bun-$t" \
    lib/cli/compiled/main.ts lib/cli/compiled/layer_worker.ts lib/cli/compiled/store_layer_worker.ts \
    --outfile "$out/dockwright-$t"
done
(cd "$out" && sha256sum dockwright-* >SHA256SUMS)

# The argv prefix that runs a binary for target $1 here, or nothing.
runner() {
  local machine
  machine="$(uname -s)-$(uname -m)"
  case "$1:$machine" in
    linux-x64:Linux-x86_64 | linux-arm64:Linux-aarch64 | darwin-x64:Darwin-x86_64) echo native ;;
    darwin-arm64:Darwin-arm64) echo native ;;
    linux-arm64:Linux-x86_64)
      if command -v qemu-aarch64 >/dev/null && [[ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]]; then
        echo "qemu-aarch64 -L /usr/aarch64-linux-gnu"
      fi
      ;;
  esac
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary=()
for t in "${targets[@]}"; do
  bin="$root/$out/dockwright-$t"
  size="$(du -m "$bin" | cut -f1) MiB"
  how="$(runner "$t")"
  if [[ -z $how ]]; then
    summary+=("$t: $size, built only (this machine cannot run it)")
    continue
  fi
  prefix=()
  [[ $how == native ]] || read -r -a prefix <<<"$how"
  echo "== run $t${prefix[*]:+ (${prefix[*]})}"
  got="$("${prefix[@]}" "$bin" --version)"
  [[ $got == "dockwright $version" ]] || {
    echo "release.sh: error: $t --version printed '$got', expected 'dockwright $version'" >&2
    exit 1
  }
  (cd "$work" && "${prefix[@]}" "$bin" init "$t" >/dev/null 2>&1)
  (cd "$work/$t" && "${prefix[@]}" "$bin" build image.ts --quiet --cache-dir "$work/cache-$t")
  [[ -s $work/$t/$t.tar ]] || {
    echo "release.sh: error: $t built no $t.tar" >&2
    exit 1
  }
  summary+=("$t: $size, ran --version and built $t.tar${prefix[*]:+ under ${prefix[0]}}")
done

echo
printf '%s\n' "${summary[@]}"
echo
cat "$out/SHA256SUMS"
