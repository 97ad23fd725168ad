#!/usr/bin/env bash
# Times a cold `shards create --no-spare` with nothing else running against
# the same create with a spare filler running beside it (issue 19's third
# target: at most 1.3x), on a 20-file and a 20,000-file repository.
#
#   sudo bash bench/filler_beside.sh                    # 20 rounds small, 5 large
#   RUNS=10 RUNS_LARGE=3 sudo bash bench/filler_beside.sh
#   FILLER=auto sudo bash bench/filler_beside.sh        # the filler that create spawns
#   SKIP_BUILD=1 ...                                    # use target/release/shards as it is
#   BIN=/path/to/shards ...                             # another build (implies SKIP_BUILD)
#
# One fresh loop-mounted ext4 image holds everything: the timed repository,
# a second repository of 20,000 files that the filler fills, SHARDS_HOME and
# the host's block register. Each round (rotated order, one warm-up round):
#   alone   sync, DELAY s, then the timed create
#   beside  sync, the filler started, DELAY s (0.1: past its start-up, into
#           its checkout), then the timed create; the filler is then waited
#           for, outside the time
# FILLER=manual (the default) starts `nice -n 19 ionice -c 3 shards spares
# fill` on the second repository with SHARDS_SPARES_COUNT one more each
# round, so each fill makes one new 20,000-file spare and nothing is
# deleted. FILLER=auto lets shards start its own background filler: a
# `shards create` in the second repository (SHARDS_SPARES_COUNT=1, untimed,
# taking the spare the last filler made) spawns it, then the timed create
# runs beside it; the bench then waits until that filler's process is gone
# (bench/spare_wait.py). Needs root, git, python3, mkfs.ext4.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-20}
RUNS_LARGE=${RUNS_LARGE:-5}
FILLER=${FILLER:-manual}
DELAY=${DELAY:-0.1}
[ "$(id -u)" = 0 ] || { echo "bench/filler_beside.sh mounts an ext4 image: run it as root" >&2; exit 1; }
case $FILLER in manual | auto) ;; *) echo "FILLER is manual or auto" >&2; exit 2 ;; esac

if [ -z "${SKIP_BUILD:-}" ] && [ -z "${BIN:-}" ]; then
  echo "building (release)..." >&2
  cargo build --release --quiet
fi
BIN=${BIN:-$ROOT/target/release/shards}

WORK=$(mktemp -d /tmp/shards-bench-filler.XXXXXX)
IMG=$WORK.img
MNT=$WORK/mnt
cleanup() { cd /; umount "$MNT" 2>/dev/null || true; rm -rf "$WORK" "$IMG"; }
trap cleanup EXIT
source bench/isolate.sh
source bench/repo.sh
isolate "$WORK"

echo "generating repositories..." >&2
make_repo "$WORK/small" 20
make_repo "$WORK/large" 20000
mkdir -p "$MNT"
truncate -s 16G "$IMG"
mkfs.ext4 -q -F -N 4000000 "$IMG"
mount -o loop "$IMG" "$MNT"
cp -a "$WORK/small" "$WORK/large" "$MNT/"
cp -a "$WORK/large" "$MNT/filled"
export SHARDS_HOME=$MNT/shards SHARDS_REGISTER=$MNT/register
DEV=$(basename "$(df --output=source "$WORK" | tail -1)")
PARENT=$(lsblk -no pkname "/dev/$DEV" 2>/dev/null | head -1 || true)
# ionice's idle class is honoured by bfq only, and a loop device's writes
# reach the disk from the kernel's own threads, not the filler's.
echo "I/O scheduler of the disk under the image (${PARENT:-$DEV}): $(cat "/sys/block/${PARENT:-$DEV}/queue/scheduler" 2>/dev/null || echo unknown)" >&2

BIN=$BIN MNT=$MNT RUNS=$RUNS RUNS_LARGE=$RUNS_LARGE FILLER=$FILLER DELAY=$DELAY python3 - <<'PY'
import json, os, statistics, subprocess, sys, time
sys.path.insert(0, "bench")
from spare_wait import fillers, wait_fillers

BIN, MNT, FILLER, DELAY = os.environ["BIN"], os.environ["MNT"], os.environ["FILLER"], float(os.environ["DELAY"])
FILLED = f"{MNT}/filled"
env = dict(os.environ, SHARDS_SPARES_COUNT="0")

def p90(t):
    s = sorted(t)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]

def quiet(argv, cwd, **kw):
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, **kw)

def spares():
    res = subprocess.run([BIN, "--json", "spares"], cwd=FILLED, check=True, capture_output=True, text=True)
    return json.loads(res.stdout)["spares"]

fills = 0
def start_filler(n):
    """Starts a filler on the second repository; returns what to wait on."""
    global fills
    fills += 1
    if FILLER == "manual":
        return subprocess.Popen(["nice", "-n", "19", "ionice", "-c", "3", BIN, "-q", "spares", "fill"], cwd=FILLED,
                                env=dict(env, SHARDS_SPARES_COUNT=str(fills)), stdout=subprocess.DEVNULL)
    # auto: a create that takes the ready spare; shards spawns the refill.
    res = subprocess.run([BIN, "--json", "create", f"trigger{fills}"], cwd=FILLED, check=True, capture_output=True,
                         text=True, env=dict(env, SHARDS_SPARES_COUNT="1"))
    if not json.loads(res.stdout).get("from_spare"):
        print(f"  note: trigger{fills} was cold: {res.stderr.strip()}", file=sys.stderr)
    if not fillers(BIN):
        sys.exit("FILLER=auto: the create started no background filler (a build without one?)")
    return None

def wait_filler(p):
    if p is not None:
        if p.wait() != 0:
            sys.exit("the filler failed")
        return
    wait_fillers(BIN)
    ready = [x for x in spares() if x["state"] == "ready"]
    if not ready:
        sys.exit("no ready spare once the fillers were gone: did create start one?")

if FILLER == "auto":  # the first trigger takes a spare, as every later one
    quiet([BIN, "-q", "spares", "fill"], FILLED, env=dict(env, SHARDS_SPARES_COUNT="1"))

results = {}
for size, runs in (("small", int(os.environ["RUNS"])), ("large", int(os.environ["RUNS_LARGE"]))):
    repo = f"{MNT}/{size}"
    t = {"alone": [], "beside": []}
    for i in range(runs + 1):  # round 0 warms up
        for kind in (("alone", "beside") if i % 2 == 0 else ("beside", "alone")):
            os.sync()
            filler = start_filler(i) if kind == "beside" else None
            time.sleep(DELAY)
            start = time.perf_counter()
            quiet([BIN, "-q", "create", "--no-spare", f"{kind}{i}"], repo, env=env)
            took = time.perf_counter() - start
            if kind == "beside":
                wait_filler(filler)
            if i > 0:
                t[kind].append(took)
        if i > 0:
            print(f"  {size} round {i}/{runs}: alone {t['alone'][-1] * 1000:.0f} ms, beside {t['beside'][-1] * 1000:.0f} ms", file=sys.stderr)
    results[size] = t

print(f"\ncold `shards create --no-spare`, alone vs with a filler beside (FILLER={FILLER}: "
      + ("`nice -n 19 ionice -c 3 shards spares fill` of another 20,000-file repository" if FILLER == "manual"
         else "the filler a `shards create` in another 20,000-file repository spawned") + "), fresh ext4")
print("| repository | rounds | alone median | alone p90 | beside median | beside p90 | beside / alone |\n|---|---|---|---|---|---|---|")
for size, t in results.items():
    a, b = statistics.median(t["alone"]), statistics.median(t["beside"])
    files = "20 files" if size == "small" else "20,000 files"
    print(f"| {files} | {len(t['alone'])} | {a * 1000:.1f} ms | {p90(t['alone']) * 1000:.1f} ms | {b * 1000:.1f} ms | {p90(t['beside']) * 1000:.1f} ms | {b / a:.2f}x |")
print("target: at most 1.3x")
PY
