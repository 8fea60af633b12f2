#!/usr/bin/env bash
# The whole test suite (`npm test`): type-check everything with Deno, then run
# tests/ under `deno test -A` and `bun test`; both must pass.
#
#   bash scripts/test.sh                          # everything
#   bash scripts/test.sh tests/harness.test.ts    # only these test files
#
# With CI set (CI=true), any skipped/ignored/todo test in either runtime is a
# failure: the validator-backed tests must really run in CI.
# Output is printed and also logged to $TEST_LOG_DIR (default: a temp dir,
# removed when everything passed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

for tool in deno bun; do
  if ! command -v "$tool" >/dev/null; then
    echo "test.sh: $tool not found in node_modules/.bin: run 'npm install' first" >&2
    exit 1
  fi
done

ci=false
case "${CI:-}" in "" | 0 | false | FALSE | False) ;; *) ci=true ;; esac

log_dir="${TEST_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/dockwright-test-logs.XXXXXX")}"
mkdir -p "$log_dir"

# Remove ANSI colour codes so the summary lines can be parsed.
strip_ansi() { sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1"; }

# ---------------------------------------------------------------------------
# 1. Type check (Bun does not type-check; Deno's check covers both).
# ---------------------------------------------------------------------------
shopt -s nullglob globstar
check_files=()
for f in mod.ts cli.ts; do
  [[ -f $f ]] && check_files+=("$f")
done
for d in lib tests bench examples; do
  [[ -d $d ]] || continue
  for f in "$d"/**/*.ts; do
    [[ $f == */node_modules/* ]] || check_files+=("$f")
  done
done
shopt -u nullglob globstar

check_rc=0
if ((${#check_files[@]} > 0)); then
  echo "== deno check (${#check_files[@]} files)"
  deno check "${check_files[@]}" || check_rc=$?
  if ((check_rc != 0)); then
    echo "test.sh: deno check failed (exit $check_rc)" >&2
  fi
fi

# Hygiene: formatting, lint, every JSDoc example type-checked, the public API
# documented. Each failure counts like a failed type check.
hygiene() { # hygiene NAME COMMAND...
  local name=$1
  shift
  echo "== $name"
  if ! "$@"; then
    echo "test.sh: $name failed" >&2
    check_rc=1
  fi
}
hygiene "deno fmt --check" deno fmt --check
hygiene "deno lint" deno lint
hygiene "deno check --doc-only (JSDoc examples)" deno check --doc-only mod.ts cli.ts lib/
hygiene "deno doc --lint mod.ts" deno doc --lint mod.ts

# ---------------------------------------------------------------------------
# 2. Tests under both runtimes. Keep going after a failure so one run shows
#    the state of both.
# ---------------------------------------------------------------------------
if (($# > 0)); then
  deno_targets=("$@")
  bun_targets=()
  # Bun treats a bare argument as a name filter; ./ makes it a path.
  for t in "$@"; do
    case "$t" in /* | ./*) bun_targets+=("$t") ;; *) bun_targets+=("./$t") ;; esac
  done
else
  deno_targets=(tests/)
  bun_targets=(./tests/)
fi

echo "== deno test -A ${deno_targets[*]}"
deno_rc=0
deno test -A "${deno_targets[@]}" 2>&1 | tee "$log_dir/deno.log" || deno_rc=$?

echo "== bun test ${bun_targets[*]}"
bun_rc=0
bun test --timeout 120000 "${bun_targets[@]}" 2>&1 | tee "$log_dir/bun.log" || bun_rc=$?

# ---------------------------------------------------------------------------
# 3. Summaries.
# Deno: "ok | 4 passed (17 steps) | 0 failed | 1 ignored (3 steps) (2s)".
# Bun:  " 17 pass" / " 1 skip" / " 1 todo" / " 0 fail".
# ---------------------------------------------------------------------------
deno_summary="$(strip_ansi "$log_dir/deno.log" | grep -E '^(ok|FAILED) \| ' | tail -n 1 || true)"

# count WORD [steps]: N from "N WORD" (or the "(N steps)" after it).
deno_count() {
  local word=$1 steps=${2:-} n
  if [[ -n $steps ]]; then
    n="$(sed -nE "s/.*\| ([0-9]+) $word \(([0-9]+) steps?\).*/\2/p" <<<"$deno_summary")"
  else
    n="$(sed -nE "s/.*\| ([0-9]+) $word.*/\1/p" <<<"$deno_summary")"
  fi
  echo "${n:-0}"
}
d_pass=$(($(deno_count passed) + $(deno_count passed steps)))
d_fail=$(($(deno_count failed) + $(deno_count failed steps)))
d_skip=$(($(deno_count ignored) + $(deno_count ignored steps)))

bun_count() {
  local n
  n="$(strip_ansi "$log_dir/bun.log" | sed -nE "s/^ *([0-9]+) $1\$/\1/p" | tail -n 1)"
  echo "${n:-0}"
}
b_pass=$(bun_count pass)
b_fail=$(bun_count fail)
b_skip=$(($(bun_count skip) + $(bun_count todo)))

status=0
if ((check_rc != 0)); then status=1; fi

if [[ -z $deno_summary ]]; then
  echo "test.sh: deno printed no summary line (crashed, or no test files?)" >&2
  status=1
fi
if ((deno_rc != 0 || d_fail > 0)); then
  echo "test.sh: deno test failed (exit $deno_rc)" >&2
  status=1
fi
if ! grep -qE '^Ran [0-9]+ tests? across' <(strip_ansi "$log_dir/bun.log"); then
  echo "test.sh: bun printed no summary line (crashed, or no test files?)" >&2
  status=1
fi
if ((bun_rc != 0 || b_fail > 0)); then
  echo "test.sh: bun test failed (exit $bun_rc)" >&2
  status=1
fi

if $ci && ((d_skip + b_skip > 0)); then
  echo "test.sh: CI is set and tests were skipped (deno: $d_skip ignored, bun: $b_skip skip/todo):" >&2
  strip_ansi "$log_dir/deno.log" | grep -E ' \.\.\. ignored' | sed 's/^/  deno: /' >&2 || true
  strip_ansi "$log_dir/bun.log" | grep -E '^\((skip|todo)\)' | sed 's/^/  bun: /' >&2 || true
  status=1
fi

if ((status != 0)); then
  echo "test.sh: FAILED" >&2
fi
echo
if ((status == 0)) && [[ -z ${TEST_LOG_DIR:-} ]]; then
  rm -rf "$log_dir" # keep logs only when something failed (or when asked to)
else
  echo "logs: $log_dir"
fi
echo "deno check, fmt, lint, doc: $( ((check_rc == 0)) && echo ok || echo "FAILED (exit $check_rc)")"
# "N passed, N failed, N skipped" lines: deno counts top-level tests plus steps.
echo "deno: ${d_pass} passed, ${d_fail} failed, ${d_skip} skipped"
echo "bun: ${b_pass} passed, ${b_fail} failed, ${b_skip} skipped"
echo "total: $((d_pass + b_pass)) passed, $((d_fail + b_fail)) failed, $((d_skip + b_skip)) skipped"
exit "$status"
