#!/usr/bin/env bash
# Benchmarks `shards list --full` on 100 shards of a small repository:
#
#   bash bench/list_full.sh            # 100 shards, 30 runs each
#   SHARDS=200 RUNS=50 bash bench/list_full.sh
#
# The repository has 200 small files in 20 folders. Each shard is a real
# `shards create`; a third get a commit of their own, a third an untracked
# and a modified file, and every fifth a named port (`web`) with a listener
# on every other one of those. As root, everything lives on a new
# loop-mounted ext4 image (else in a temporary folder, and it says so).
# The four commands take turns each round (the order rotated, so a slow
# phase of the machine hits all of them), `sync` before each timed run,
# after one warm-up round:
#
#   1. `shards list --full` (reads every worktree in parallel, plus the
#      listen table once);
#   2. `git worktree list` (git's own list: reads no worktree's status);
#   3. a loop of `git -C WT status --porcelain` over the worktrees (what a
#      script would do to learn which ones are dirty);
#   4. `shards list` (the plain list: the ledger and folder existence).
#
# Prints each median and the ratios; the target is `list --full` <= 150 ms
# for 100 shards. Needs git and python3 (and mkfs.ext4 for the image).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${SHARDS:-100}
RUNS=${RUNS:-30}

echo "building (release)..." >&2
cargo build --release --quiet
BIN=$ROOT/target/release/shards

BASE=$(mktemp -d /tmp/shards-list-bench.XXXXXX)
WORK=$BASE/mnt
mkdir -p "$WORK"
FS="a folder in $(df --output=fstype "$BASE" | tail -1) (not root: no new file system)"
if [ "$(id -u)" = 0 ]; then
    truncate -s 2G "$BASE/fs.img"
    mkfs.ext4 -q -F "$BASE/fs.img"
    mount -o loop "$BASE/fs.img" "$WORK"
    FS="a new loop-mounted ext4 image"
fi
LISTENERS=()
cleanup() {
    for pid in "${LISTENERS[@]}"; do kill "$pid" 2>/dev/null || true; done
    cd /
    umount "$WORK" 2>/dev/null || true
    rm -rf "$BASE"
}
trap cleanup EXIT
source bench/isolate.sh
isolate "$WORK"
export SHARDS_HOME=$WORK/shards
# A pool wide enough for the shards, clear of ports in use on this host.
export SHARDS_PORTS_BASE=${SHARDS_PORTS_BASE:-20000} SHARDS_PORTS_MAX=${SHARDS_PORTS_MAX:-32000} SHARDS_PORTS_BLOCK_SIZE=${SHARDS_PORTS_BLOCK_SIZE:-10}

REPO=$WORK/repo
git init -q -b main "$REPO"
for d in $(seq 1 20); do
    mkdir -p "$REPO/src/m$d"
    for f in $(seq 1 10); do
        printf 'module %s file %s\n' "$d" "$f" >"$REPO/src/m$d/f$f.txt"
    done
done
git -C "$REPO" add -A
git -C "$REPO" commit -q -m init

echo "creating $N shards..." >&2
WTS=()
for i in $(seq 1 "$N"); do
    wt=$(cd "$REPO" && "$BIN" create "s$i" 2>/dev/null)
    WTS+=("$wt")
    case $((i % 3)) in
        0) echo "change $i" >"$wt/src/m1/f1.txt"; git -C "$wt" commit -q -am "s$i" ;;
        1) echo "new" >"$wt/new.txt"; echo "edit" >>"$wt/src/m2/f2.txt" ;;
    esac
    if [ $((i % 5)) = 0 ]; then
        port=$(cd "$REPO" && "$BIN" port web --shard "s$i" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["services"][0]["port"])' 2>/dev/null || true)
        if [ -n "$port" ] && [ $((i % 10)) = 0 ]; then
            python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $port)); s.listen(); time.sleep(3600)" &
            LISTENERS+=($!)
        fi
    fi
done
printf '%s\n' "${WTS[@]}" >"$WORK/worktrees.txt"
cat >"$WORK/status-loop.sh" <<EOF
while read -r wt; do git -C "\$wt" status --porcelain >/dev/null; done <"$WORK/worktrees.txt"
EOF
(cd "$REPO" && "$BIN" list --full | sed -n "1p;9,12p") >&2 || true

cd "$REPO"
sync
python3 - "$N" "$RUNS" "$FS" "$BIN" "$WORK/status-loop.sh" <<'EOF'
import os, statistics, subprocess, sys, time

n, runs, fs, binary, loop = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
cases = {
    "shards list --full": [binary, "list", "--full"],
    "git worktree list": ["git", "worktree", "list"],
    "git status loop": ["bash", loop],
    "shards list": [binary, "list"],
}
names = list(cases)
times = {name: [] for name in names}
for i in range(runs + 1):  # round 0 is the warm-up
    for name in names[i % len(names):] + names[: i % len(names)]:
        os.sync()
        start = time.perf_counter()
        subprocess.run(cases[name], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i > 0:
            times[name].append(time.perf_counter() - start)
med = {name: statistics.median(t) * 1000 for name, t in times.items()}
full = med["shards list --full"]
print(f"list --full, {n} shards of a small repository, on {fs}: medians of {runs} interleaved rounds, sync before each run:")
for name, ms in med.items():
    print(f"  {name:<22} {ms:8.1f} ms")
print(f"  list --full / git worktree list: {full / med['git worktree list']:.1f}x")
print(f"  list --full / git status loop:   {full / med['git status loop']:.2f}x")
verdict = "meets" if full <= 150 else "misses"
print(f"  target <= 150 ms: {verdict} ({full:.1f} ms)")
EOF
