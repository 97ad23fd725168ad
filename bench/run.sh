#!/usr/bin/env bash
# Benchmarks shards against git itself, in one run, and writes BENCHMARKS.md.
#
#   bash bench/run.sh            # everything (about 10 minutes on 2 cores; ends with bench/copy.sh, bench/hooks.sh and bench/list_full.sh)
#   RUNS=5 RUNS_LARGE=3 bash bench/run.sh     # fewer runs per case
#
# create and destroy run as root (they mount a new ext4 image and a tmpfs
# per case).
#
# Builds in release mode, generates its own repositories (20 files, and
# 20,000 files in nested folders), runs every case against an isolated
# SHARDS_HOME and HOME, and prints a table of medians and ratios. Needs
# hyperfine (installed from Debian's packages when missing), git, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-15}
RUNS_LARGE=${RUNS_LARGE:-5} # a 20,000-file checkout takes seconds here

SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
for tool in hyperfine:hyperfine /usr/bin/time:time; do
  command -v "${tool%%:*}" >/dev/null || { $SUDO apt-get update && $SUDO apt-get install -y "${tool##*:}"; }
done

echo "building (release)..." >&2
cargo build --release --quiet
cargo build --release --quiet --example ledger_alloc
BIN=$ROOT/target/release/shards
ALLOC=$ROOT/target/release/examples/ledger_alloc

WORK=$(mktemp -d /tmp/shards-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
source bench/isolate.sh
source bench/repo.sh
isolate "$WORK"
export SHARDS_HOME=$WORK/shards
RESULTS=$WORK/results
mkdir -p "$RESULTS"

echo "generating repositories..." >&2
make_repo "$WORK/small" 20
make_repo "$WORK/large" 20000

hf() { # hf NAME ARGS... : hyperfine with JSON export
  local name=$1; shift
  local runs=$RUNS
  case $name in *large*) runs=$RUNS_LARGE ;; esac
  hyperfine --runs "$runs" --warmup 1 --style basic --export-json "$RESULTS/$name.json" "$@" >&2
}

# create and destroy: bench/interleave.py, on a new file system per case
# (a loop-mounted ext4 image, then tmpfs for the CPU-only view), shards
# and both git baselines taking turns, `sync` before each timed run, every
# cleanup outside the timed window (see its docstring).
export BIN
for fs in ext4 tmpfs; do
  for case in create-small:small:$RUNS create-large:large:$RUNS_LARGE destroy:small:$RUNS; do
    IFS=: read -r kind size runs <<<"$case"
    echo "case: $kind on $fs ($runs runs)" >&2
    python3 bench/interleave.py "$kind" "$fs" "$WORK/$size" "$runs" "$RESULTS/$kind-$fs.json"
  done
done
repo=$WORK/small

echo "setting up 300 shards..." >&2
# A private pool below the ephemeral range: 319 blocks of 40 (the default
# pool, 3000-32767, holds 297 blocks of 100).
export SHARDS_PORTS_BASE=20000 SHARDS_PORTS_MAX=32767 SHARDS_PORTS_BLOCK_SIZE=40
for i in $(seq 1 300); do $BIN -C "$repo" create -q "s$i" >/dev/null; done
echo "case: list with 300 shards" >&2
hf list "cd $repo && $BIN list" "cd $repo && git worktree list"

echo "case: status with 300 shards and 300 listening sockets" >&2
# One listener in each shard's block, at the block shards actually handed out.
$BIN -C "$repo" list --json >"$WORK/shards.json"
python3 - "$WORK/shards.json" "$WORK/holder.ready" <<'EOF' &
import json, socket, sys, time
socks = []
for s in json.load(open(sys.argv[1]))["shards"]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", s["ports"]["start"] + 1))
    sock.listen()
    socks.append(sock)
open(sys.argv[2], "w").close()
time.sleep(600)
EOF
HOLDER=$!
trap 'kill $HOLDER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 300); do
  [ -e "$WORK/holder.ready" ] && break
  kill -0 $HOLDER 2>/dev/null || { echo "the socket holder died (a port in use?)" >&2; exit 1; }
  sleep 0.1
done
[ -e "$WORK/holder.ready" ] || { echo "the socket holder did not start in 30 s" >&2; exit 1; }
hf status "cd $repo && $BIN status"
$BIN -C "$repo" status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); n=sum(len(s["listening"]) for s in d["shards"]); print(f"status saw {n} listeners in 300 shards", file=sys.stderr)'

echo "case: peak memory" >&2
/usr/bin/time -f %M -o "$RESULTS/mem-list" "$BIN" -C "$repo" list >/dev/null
/usr/bin/time -f %M -o "$RESULTS/mem-status" "$BIN" -C "$repo" status >/dev/null
kill $HOLDER 2>/dev/null || true

echo "case: block allocations, 32 processes" >&2
ALLOC_DB=$WORK/alloc/shards.db
mkdir -p "$WORK/alloc"
start=$(date +%s%N)
for w in $(seq 1 32); do "$ALLOC" "$ALLOC_DB" "$w" 100 >"$RESULTS/alloc-$w" 2>"$RESULTS/alloc-$w.err" & done
wait
end=$(date +%s%N)
echo "$start $end" >"$RESULTS/alloc-time"

python3 - "$RESULTS" "$ROOT/BENCHMARKS.md" <<'EOF'
import glob, json, os, platform, subprocess, sys, datetime
res, out = sys.argv[1], sys.argv[2]
def med(name, i):
    d = json.load(open(f"{res}/{name}.json"))["results"][i]
    return d["median"] * 1000
rows = []
def ratio_row(case, name, target, max_ratio, max_added=None, against=1):
    s, g = med(name, 0), med(name, against)
    r = s / g
    ok = r <= max_ratio and (max_added is None or s - g <= max_added)
    rows.append((case, f"{s:.1f} ms", f"{g:.1f} ms", f"{r:.2f}x (+{s - g:.1f} ms)", target, "yes" if ok else "NO"))
for fs in ["ext4", "tmpfs"]:
    ratio_row(f"`shards create`, 20,000 files, {fs}: vs `git worktree add -b`", f"create-large-{fs}", "<= 0.80x", 0.80)
    ratio_row(f"`shards create`, 20,000 files, {fs}: vs git with `checkout.workers=0`", f"create-large-{fs}", "<= 1.05x", 1.05, against=2)
    ratio_row(f"`shards create`, 20 files, {fs}", f"create-small-{fs}", "<= git + 3 ms", 100, 3)
    ratio_row(f"`shards destroy` of a clean shard, 20 files, {fs}", f"destroy-{fs}", "<= 1.1x", 1.1)
ratio_row("`shards list`, 300 shards", "list", "<= 2x and <= 20 ms", 2.0)
if med("list", 0) > 20: rows[-1] = rows[-1][:5] + ("NO",)
st = med("status", 0)
rows.append(("`shards status`, 300 shards, 300 sockets", f"{st:.1f} ms", "-", "-", "<= 60 ms", "yes" if st <= 60 else "NO"))
start, end = map(int, open(f"{res}/alloc-time").read().split())
secs = (end - start) / 1e9
errors = sum(int(open(f).read().strip() or 1) for f in glob.glob(f"{res}/alloc-[0-9]*") if not f.endswith(".err"))
rate = 3200 / secs
rows.append(("block allocations, 32 processes x 100", f"{rate:,.0f}/s", "-", f"{errors} errors", ">= 1,000/s, 0 errors", "yes" if rate >= 1000 and errors == 0 else "NO"))
for cmd in ["list", "status"]:
    kib = int(open(f"{res}/mem-{cmd}").read().strip().splitlines()[-1])
    rows.append((f"peak memory of `{cmd}`, 300 shards", f"{kib / 1024:.1f} MiB", "-", "-", "<= 20 MiB", "yes" if kib <= 20 * 1024 else "NO"))
header = ("case", "shards (median)", "git (median)", "ratio", "target", "met")
def table(rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
machine = f"{os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB, Linux {platform.release()}, {git}"
text = open(out).read() if os.path.exists(out) else ""
marker = "<!-- results -->"
notes = text.split(marker, 2)[2] if text.count(marker) >= 2 else "\n"
doc = f"""# Benchmarks

Regenerate with `bash bench/run.sh` (it rewrites the table below; the notes
after it are kept). `create` and `destroy`: medians of {os.environ.get('RUNS', '15')} runs ({os.environ.get('RUNS_LARGE', '5')} for the
20,000-file repository) after a warm-up round, on a new file system per case
(a loop-mounted ext4 image, and tmpfs as the CPU-only view), shards and git
taking turns, `sync` before each timed run and no deletion between runs
(`bench/interleave.py`). The rest (`list`, `status`, allocations, memory):
medians of hyperfine runs on the work folder's file system with a warm
cache, each side in a block of runs, not interleaved and not on a fresh
file system: they read and write no worktree files, so they are CPU
figures, and `list` against `git worktree list` is a ratio of two blocks
taken one after the other. In-process costs: `cargo bench --bench inprocess`.

{marker}
Measured {datetime.date.today()} on {machine}.

{table(rows)}
{marker}{notes}"""
open(out, "w").write(doc)
print(table(rows))
EOF

# Issues 12 and 13's cases, each its own script (they print their own tables; the
# figures are copied into BENCHMARKS.md's notes by hand with the date).
echo "case: copying gitignored files (bench/copy.sh)" >&2
bash bench/copy.sh
echo "case: a setup hook's own cost (bench/hooks.sh)" >&2
bash bench/hooks.sh
echo "case: list --full with 100 shards (bench/list_full.sh)" >&2
bash bench/list_full.sh
