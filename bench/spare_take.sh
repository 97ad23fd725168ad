#!/usr/bin/env bash
# Times `shards create` taking a spare against `git worktree add -b` of the
# same base, on 20,000 files, with the base moved by 10 files since the
# fill (issue 19's first target: the take <= 0.10x git worktree add).
#
#   sudo bash bench/spare_take.sh               # 15 interleaved rounds
#   RUNS=5 FILES=2000 sudo bash bench/spare_take.sh
#   SKIP_BUILD=1 ...                            # use target/release/shards as it is
#   BIN=/path/to/shards sudo bash bench/spare_take.sh   # another build (implies SKIP_BUILD)
#
# bench/spare_take.py does the timing on one fresh loop-mounted ext4 image,
# with `[spares] count = 1` (SHARDS_SPARES_COUNT=1). Each round, before each
# take and outside its time: `shards spares fill` makes one spare, then 10
# files are changed and committed on `main`, so the take brings the spare
# forward through git. Two kinds of take: on a spare taken right after its
# fill ("fresh": what a create gets from whatever the fill leaves), and on
# one left 2 s with its index refreshed ("settled": past git's racy-timestamp
# window, what a fill that settles its spares should match; a build whose
# create starts a background filler is waited for, outside the time, and
# its refill is then the "fresh" spare: see bench/spare_take.py). A take whose
# `--json` lacks `"from_spare": true` stops the bench. `sync` before each
# timed run, the three commands rotated each round, one warm-up round.
# Prints medians, p90s and the ratios to git, then one fresh and one
# settled take (PROFILE_RUNS=3 each) with git's trace2 on: the time of each
# git child, of shards' own work (ledger, env file, register) between them,
# and of git's regions (index read, preload, refresh, unpack_trees); then
# one of each under strace -f for its fsyncs and renames.
# Needs root, git, python3, strace, mkfs.ext4.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-15}
FILES=${FILES:-20000}
[ "$(id -u)" = 0 ] || { echo "bench/spare_take.sh mounts an ext4 image: run it as root" >&2; exit 1; }
command -v strace >/dev/null || { apt-get update && apt-get install -y strace; }

if [ -z "${SKIP_BUILD:-}" ] && [ -z "${BIN:-}" ]; then
  echo "building (release)..." >&2
  cargo build --release --quiet
fi
export BIN=${BIN:-$ROOT/target/release/shards}

WORK=$(mktemp -d /tmp/shards-bench-spare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
source bench/isolate.sh
source bench/repo.sh
isolate "$WORK"

echo "generating a repository of $FILES files..." >&2
make_repo "$WORK/repo" "$FILES"
echo "timing on a fresh ext4 image ($RUNS rounds)..." >&2
python3 bench/spare_take.py "$WORK/repo" "$RUNS" "$WORK/take.json"
python3 - "$WORK/take.json" "$FILES" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
res = doc["results"]
git = res[0]
print(f"\ntake of a spare, {int(sys.argv[2]):,} files, base moved by 10 files, fresh ext4, {len(git['times'])} interleaved rounds")
print("| command | median | p90 | vs `git worktree add -b` |\n|---|---|---|---|")
for r in res:
    m, p = r["median"] * 1000, r["p90"] * 1000
    d = "-" if r is git else f"{m / (git['median'] * 1000):.3f}x"
    print(f"| {r['command']} | {m:.1f} ms | {p:.1f} ms | {d} |")
settled = res[2]["median"] / git["median"]
print(f"\ntarget: a take <= 0.10x git worktree add: fresh {res[1]['median'] / git['median']:.3f}x, settled {settled:.3f}x")
for label, prof in doc["profile"].items():
    print(f"\nwhere a {label} take's time goes (median of {prof['runs']} runs, git's steps from its trace2):")
    print("| step | ms |\n|---|---|")
    for what, ms in prof["rows"]:
        print(f"| {what} | {ms:.1f} |")
    print("inside git (trace2 regions, ms; refresh/sum_*: counts):")
    for what, ms in prof["git"]:
        if ms >= 0.5:
            print(f"  {what}: {ms:.1f}")
    print("children, fsyncs (their time) and renames of one more take, under strace -f (slower; ms from start, process; paths on the image):")
    for t, p, e in prof["events"]:
        print(f"  {t:8.1f}  {p}  {e}")
PY
