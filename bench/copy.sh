#!/usr/bin/env bash
# Benchmarks the copy of gitignored files (`.worktreeinclude`) by a real
# `shards create`, as root (it mounts file system images):
#
#   bash bench/copy.sh             # both cases
#   RUNS=3 bash bench/copy.sh      # fewer runs per case
#
# 1. ext4 (a new loop-mounted image): a node_modules-like tree of 100,000
#    small files (1,000 packages of 100 files, 60-1,500 bytes, and a `.bin`
#    link each). Three commands take turns: `shards create` with
#    `.worktreeinclude` naming `node_modules/`, the same create without it,
#    and `cp -a` of the tree. Before each: `sync` and dropped caches (cold
#    reads, as after a reboot or a big build); after each, outside the timed
#    window, what it made is removed (`shards destroy`, `rm -rf`) and synced.
#    The copy step's time is shown two ways: the create with the include
#    minus the median create without it (the checkout, ledger and env file
#    it also does), and the create's own timing of the step
#    (`copied.elapsed_ms` of `create --json`: finding what git ignores,
#    copying, the env file's keys). The target is copy step <= 0.8x cp -a.
# 2. XFS with reflink (a new loop-mounted image): one 1 GiB file, the
#    create with and without the include naming it, `cp --reflink=always`
#    for reference; target: copy step <= 50 ms, judged on the create's own
#    timing (the difference of two creates is below this machine's noise).
#
# Prints the medians and ratios. Needs git, python3, mkfs.ext4, mkfs.xfs
# (xfsprogs, installed from Debian's packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/copy.sh mounts images: run it as root" >&2; exit 1; }
command -v mkfs.xfs >/dev/null || { apt-get update && apt-get install -y xfsprogs; }

echo "building (release)..." >&2
cargo build --release --quiet
export BIN=$ROOT/target/release/shards

WORK=$(mktemp -d /tmp/shards-copy-bench.XXXXXX)
MNT=$WORK/mnt
cleanup() { umount "$MNT" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
source bench/isolate.sh
isolate "$WORK"
mkdir -p "$MNT"

python3 - "$WORK" "$MNT" "$RUNS" <<'EOF'
import json, os, random, shutil, statistics, subprocess, sys, time

work, mnt, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
BIN = os.environ["BIN"]
img = f"{work}/fs.img"


def sh(*args, **kw):
    subprocess.run(args, check=True, **kw)


def quiet(argv, cwd):
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def mount(kind):
    sh("truncate", "-s", "4G", img)
    if kind == "ext4":
        sh("mkfs.ext4", "-q", "-F", "-N", "600000", img)
    else:
        sh("mkfs.xfs", "-q", "-f", "-m", "reflink=1", img)
    sh("mount", "-o", "loop", img, mnt)


def unmount():
    subprocess.run(["umount", mnt])
    os.remove(img)


def make_repo():
    repo = f"{mnt}/repo"
    os.makedirs(repo)
    for i in range(20):
        with open(f"{repo}/file{i:02}.txt", "w") as f:
            f.write(f"line {i}\n" * 8)
    with open(f"{repo}/.gitignore", "w") as f:
        f.write("node_modules/\n*.bin\n.worktreeinclude\n")
    sh("git", "-C", repo, "init", "-q", "-b", "main")
    sh("git", "-C", repo, "add", "-A")
    sh("git", "-C", repo, "-c", "gc.auto=0", "commit", "-q", "-m", "init")
    return repo


def node_modules(repo):
    rng = random.Random(12)
    nm = f"{repo}/node_modules"
    os.makedirs(f"{nm}/.bin")
    for p in range(1000):
        pkg = f"{nm}/pkg{p:04}"
        for d in range(4):
            os.makedirs(f"{pkg}/lib{d}")
        for i in range(100):
            path = f"{pkg}/lib{i % 4}/f{i:03}.js" if i else f"{pkg}/package.json"
            with open(path, "w") as f:
                f.write("x" * rng.randint(60, 1500))
        os.symlink(f"../pkg{p:04}/package.json", f"{nm}/.bin/pkg{p:04}")


def timed(argv, cwd):
    drop_caches()
    start = time.perf_counter()
    out = subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - start
    # A create with --json says how long its own copy step took.
    inner = None
    if b'"copied"' in out.stdout:
        inner = json.loads(out.stdout)["copied"]["elapsed_ms"] / 1000
    return took, inner


def include(repo, text):
    path = f"{repo}/.worktreeinclude"
    if text is None:
        if os.path.exists(path):
            os.remove(path)
    else:
        with open(path, "w") as f:
            f.write(text)


def creates(repo, pattern):
    """The two shards sides of a case: a create whose .worktreeinclude names
    `pattern`, and one without the file."""
    return {
        "shards create (with .worktreeinclude)": (
            lambda: include(repo, pattern),
            lambda i: [BIN, "create", "-q", "--json", f"c{i}"],
            lambda i: [[BIN, "destroy", "-q", "--force", f"c{i}"]],
        ),
        "shards create (no .worktreeinclude)": (
            lambda: include(repo, None),
            lambda i: [BIN, "create", "-q", f"n{i}"],
            lambda i: [[BIN, "destroy", "-q", "--force", f"n{i}"]],
        ),
    }


def interleave(repo, cases, runs):
    """cases: name -> (prepare, argv_of(i), cleanup_of(i)); returns medians."""
    times = {name: [] for name in cases}
    inner = []
    names = list(cases)
    for i in range(runs + 1):  # round 0 is the warm-up
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            prepare, argv_of, cleanup_of = cases[name]
            prepare()
            took, step = timed(argv_of(i), repo)
            for argv in cleanup_of(i):
                quiet(argv, repo)
            os.sync()
            if i > 0:
                times[name].append(took)
                if step is not None:
                    inner.append(step)
    return {n: statistics.median(t) for n, t in times.items()}, times, statistics.median(inner)


def run_case(repo, cases, title, digits):
    """Runs the three `cases` of a case interleaved and prints each one's
    median and runs in ms with `digits` decimals; returns their medians
    (create with the include, create without it, the reference copy) and
    the median copy step as the create timed it."""
    print(f"case: {title}, {runs} runs, interleaved, caches dropped", file=sys.stderr)
    med, times, inner = interleave(repo, cases, runs)
    for name, m in med.items():
        print(f"  {name}: median {m * 1000:.{digits}f} ms  (runs: {', '.join(f'{t * 1000:.{digits}f}' for t in times[name])})")
    with_inc, without, cp = med.values()
    return with_inc, without, cp, inner


os.environ["SHARDS_HOME"] = f"{mnt}/shards"
os.environ["SHARDS_WORKTREE_ROOT"] = f"{mnt}/wt/{{name}}"

# Case 1: 100,000 small files on ext4.
mount("ext4")
try:
    repo = make_repo()
    print("generating node_modules (100,000 files)...", file=sys.stderr)
    node_modules(repo)
    nfiles = sum(len(f) for _, _, f in os.walk(f"{repo}/node_modules"))
    os.makedirs(f"{mnt}/cp")
    cases = {
        **creates(repo, "node_modules/\n"),
        "cp -a node_modules": (
            lambda: None,
            lambda i: ["cp", "-a", f"{repo}/node_modules", f"{mnt}/cp/{i}"],
            lambda i: [["rm", "-rf", f"{mnt}/cp/{i}"]],
        ),
    }
    with_inc, without, cp, inner = run_case(repo, cases, f"ext4, {nfiles} files", 0)
    step = with_inc - without
    print(f"  copy step (with minus without): {step * 1000:.0f} ms; as the create times it (copied.elapsed_ms): {inner * 1000:.0f} ms")
    print(f"  ratio copy step / cp -a: {step / cp:.2f}x (target <= 0.8x: {'met' if step / cp <= 0.8 else 'NOT met'}); timed inside: {inner / cp:.2f}x")
    print(f"  ratio whole create / cp -a: {with_inc / cp:.2f}x")
finally:
    os.chdir("/")
    unmount()

# Case 2: a 1 GiB file on XFS with reflink.
mount("xfs")
try:
    repo = make_repo()
    print("writing a 1 GiB file...", file=sys.stderr)
    with open(f"{repo}/big.bin", "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(1024):
            f.write(block)
    os.sync()
    cases = {
        **creates(repo, "big.bin\n"),
        "cp --reflink=always": (
            lambda: None,
            lambda i: ["cp", "--reflink=always", f"{repo}/big.bin", f"{mnt}/big{i}.bin"],
            lambda i: [["rm", "-f", f"{mnt}/big{i}.bin"]],
        ),
    }
    with_inc, without, cp, inner = run_case(repo, cases, "XFS reflink, 1 GiB file", 1)
    step = with_inc - without
    print(f"  copy step (with minus without): {step * 1000:.1f} ms; as the create times it (copied.elapsed_ms): {inner * 1000:.1f} ms (target <= 50 ms: {'met' if inner <= 0.05 else 'NOT met'})")
finally:
    os.chdir("/")
    unmount()
EOF
