#!/usr/bin/env bash
# Times a cold `shards create` against `git worktree add -b` (issue 19's
# "cold create too"), interleaved on a fresh loop-mounted ext4 image.
#
#   sudo bash bench/cold_create.sh                  # 20 files, 60 rounds
#   BEFORE=/path/to/old/shards sudo bash bench/cold_create.sh   # also an older build, same rounds
#   LARGE=1 RUNS_LARGE=9 sudo bash bench/cold_create.sh         # and 20,000 files
#   SKIP_BUILD=1 ...                                # use target/release/shards as it is
#
# bench/interleave.py does the timing: a new ext4 image per case, the
# commands taking turns in rotated order each round, `sync` before each
# timed run, one warm-up round, nothing deleted between runs (each run makes
# a new worktree next to the others; the image is thrown away after the
# case). Prints each command's median and p90 and, for each shards build,
# the difference from and ratio to plain `git worktree add -b`. Needs root,
# git, python3, mkfs.ext4.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-60}
RUNS_LARGE=${RUNS_LARGE:-9}
[ "$(id -u)" = 0 ] || { echo "bench/cold_create.sh mounts an ext4 image: run it as root" >&2; exit 1; }

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "building (release)..." >&2
  cargo build --release --quiet
fi
export BIN=$ROOT/target/release/shards
EXTRA_BINS=
[ -n "${BEFORE:-}" ] && EXTRA_BINS="before=$BEFORE"
export EXTRA_BINS

WORK=$(mktemp -d /tmp/shards-bench-cold.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
source bench/isolate.sh
source bench/repo.sh
isolate "$WORK"

echo "generating repositories..." >&2
make_repo "$WORK/small" 20
cases="create-small:small:$RUNS"
if [ -n "${LARGE:-}" ]; then
  make_repo "$WORK/large" 20000
  cases="$cases create-large:large:$RUNS_LARGE"
fi

for case in $cases; do
  IFS=: read -r kind size runs <<<"$case"
  echo "case: $kind on a fresh ext4 image ($runs rounds)" >&2
  python3 bench/interleave.py "$kind" ext4 "$WORK/$size" "$runs" "$WORK/$kind.json"
  python3 - "$WORK/$kind.json" "$kind" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
git = next(r for r in res if r["command"] == "git worktree add -b")
print(f"\n{sys.argv[2]}, fresh ext4, {len(git['times'])} interleaved rounds")
print(f"| command | median | p90 | vs `git worktree add -b` |\n|---|---|---|---|")
for r in res:
    m, p = r["median"] * 1000, r["p90"] * 1000
    d = "-" if r is git else f"{m / (git['median'] * 1000):.2f}x ({m - git['median'] * 1000:+.1f} ms)"
    print(f"| {r['command']} | {m:.1f} ms | {p:.1f} ms | {d} |")
PY
done
