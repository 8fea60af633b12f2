#!/usr/bin/env bash
# Runs deno or bun as npm installed them (node_modules/.bin), else from PATH.
# The deno.json tasks go through this: `deno task` would run
# node_modules/.bin/deno, a native binary, as if it were a JavaScript bin script.
set -euo pipefail
tool="${1:?usage: scripts/run.sh deno|bun ARGS...}"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$root/node_modules/.bin/$tool" ]; then exec "$root/node_modules/.bin/$tool" "$@"; fi
exec "$tool" "$@"
