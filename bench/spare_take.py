"""Times a create that takes a spare against `git worktree add -b`, interleaved.

    python3 bench/spare_take.py REPO_SRC RUNS OUT.json

Run by bench/spare_take.sh (which says what is measured), as root: a new
loop-mounted ext4 image for the whole run, the repository copied onto it,
SHARDS_HOME and the host's block register on it too. Each round, three
commands take turns (rotated each round, one warm-up round not counted):

  git      `git worktree add -q -b gN WT/gN main`
  fresh    `shards --json create fN`, taking a spare filled just before
           (`shards spares fill`), then the base moved by 10 files
  settled  the same, but the spare left 2 s and its index refreshed
           (`git update-index -q --refresh`) before the base moved

The fill, the wait, the refresh and the base's commit are outside the
timed window; `sync` runs right before each timed command. A take whose
`--json` does not say `"from_spare": true` stops the bench. Nothing is
deleted between runs. Then one more fresh and one settled take run under
`strace -f -ttt` (process calls, fsyncs, renames), and the time of each
git child and of shards' own work between them is written out as the
profile. Writes medians and p90s in hyperfine's JSON shape.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

src, runs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BIN = os.environ["BIN"]
MNT = f"/tmp/shards-bench-mnt-{os.getpid()}"
IMG = f"/tmp/shards-bench-{os.getpid()}.img"
MOVED = 10  # files changed on the base between the fill and the take


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def mount():
    os.makedirs(MNT, exist_ok=True)
    # Three 20,000-file worktrees a round: room and inodes for 25 rounds.
    sh("truncate", "-s", "12G", IMG)
    sh("mkfs.ext4", "-q", "-F", "-N", "3000000", IMG)
    sh("mount", "-o", "loop", IMG, MNT)


def unmount():
    subprocess.run(["umount", MNT])
    shutil.rmtree(MNT, ignore_errors=True)
    if os.path.exists(IMG):
        os.remove(IMG)


def p90(t):
    s = sorted(t)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


def quiet(argv, cwd):
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def spare_path(repo):
    doc = json.loads(sh(BIN, "--json", "spares", cwd=repo, capture_output=True).stdout)
    ready = [s for s in doc["spares"] if s["state"] == "ready"]
    if len(ready) != 1:
        sys.exit(f"expected one ready spare, got {doc['spares']}")
    return ready[0]["path"]


def move_base(repo, n):
    """Changes MOVED files on `main` (checked out in the main worktree) and commits."""
    for k in range(MOVED):
        i = (n * MOVED + k) * 37 % 20000
        p = os.path.join(repo, f"pkg{i % 20:02d}", f"mod{(i // 20) % 10}", f"file{i:05d}.txt")
        if not os.path.exists(p):  # a smaller repository: its first files
            p = os.path.join(repo, f"pkg{k % 20:02d}", "mod0", f"file{k:05d}.txt")
        with open(p, "a") as f:
            f.write(f"moved {n}\n")
    quiet(["git", "-c", "gc.auto=0", "commit", "-q", "-a", "-m", f"move {n}"], repo)


def prepare(repo, n, settle):
    """Fills one spare, settles it when asked, then moves the base."""
    quiet([BIN, "-q", "spares", "fill"], repo)
    if settle:
        time.sleep(2)
        quiet(["git", "-C", spare_path(repo), "update-index", "-q", "--refresh"], repo)
    move_base(repo, n)


def take(argv, repo):
    res = subprocess.run(argv, cwd=repo, check=True, capture_output=True, text=True)
    doc = json.loads(res.stdout)
    if doc.get("from_spare") is not True:
        sys.exit(f"the create did not take the spare: {res.stdout.strip()} {res.stderr.strip()}")


def git_regions(folder):
    """{(git command, region): ms} of the trace2 files git wrote in folder."""
    found = {}
    for name in sorted(os.listdir(folder)):
        cmd = None
        for line in open(os.path.join(folder, name)):
            # time file:line | d0 | main | event | repo | abs | rel | category | message
            f = [x.strip() for x in line.split("|", 8)]
            if len(f) < 9:
                continue
            event, rel, msg = f[3], f[6], f[8]
            if event == "start":
                cmd = " ".join(msg.split()[:3])
            elif event == "region_leave" and rel and not msg.startswith(".."):
                # Top-level regions only; the label without its path.
                key = (cmd, msg.split()[0].removeprefix("label:"))
                found[key] = found.get(key, 0) + float(rel) * 1000
            elif event == "data" and "refresh/sum_" in msg:
                k, _, v = msg.lstrip(".").partition(":")
                found[(cmd, k)] = float(v)
    return found


def profile(argv, repo, trace):
    """Runs argv under strace and git's trace2; returns the main process's
    timeline [(what, ms)], its fsyncs and renames, and git's regions."""
    os.sync()
    t2 = trace + ".trace2"
    os.makedirs(t2)
    os.environ["GIT_TRACE2_PERF"] = t2
    try:
        take(["strace", "-f", "--seccomp-bpf", "-ttt", "-q", "-y", "-o", trace, "-e", "trace=process,fsync,fdatasync,rename,renameat,renameat2",
           "-s", "200"] + argv, repo)
    finally:
        del os.environ["GIT_TRACE2_PERF"]
    lines = open(trace).read().splitlines()
    execs, exits, parent = {}, {}, {}
    main_pid, t0, t_end = None, None, None
    events = []  # (t, pid, text) of fsyncs and renames
    for line in lines:
        m = re.match(r"(\d+)\s+(\d+\.\d+) (.*)", line)
        if not m:
            continue
        pid, t, rest = int(m[1]), float(m[2]), m[3]
        if main_pid is None:
            main_pid, t0 = pid, t
        if rest.startswith("execve(") and pid not in execs:
            a = re.search(r"\[(.*?)\]", rest)
            if a:
                execs[pid] = (t, " ".join(re.findall(r'"((?:[^"\\]|\\.)*)"', a[1])[:4]))
        if rest.startswith("+++ exited"):
            exits[pid] = t
        m2 = re.match(r"(?:<\.\.\. )?(?:clone3?|vfork|fork)\b.*= (\d+)$", rest)
        if m2:
            parent[int(m2[1])] = pid
        if re.match(r"(fsync|fdatasync|rename|renameat|renameat2)\(", rest):
            events.append((t, pid, rest[:90]))
    t_end = exits.get(main_pid, max(exits.values()))
    # shards' own process and threads: no exec of their own.
    ours, grew = {main_pid}, True
    while grew:
        more = {p for p, q in parent.items() if q in ours and p not in execs} - ours
        ours |= more
        grew = bool(more)
    # Children of shards that ran a program: git and hooks.
    kids = sorted((execs[p][0], exits.get(p, t_end), execs[p][1], p) for p in execs
                  if p != main_pid and parent.get(p) in ours)
    rows, at = [], t0
    for start, end, what, p in kids:
        own = [e for e in events if e[1] in ours and at <= e[0] < start]
        rows.append((f"shards itself ({len(own)} fsync/rename)", (start - at) * 1000))
        rows.append((what, (end - start) * 1000))
        at = end
    own = [e for e in events if e[1] in ours and at <= e[0] <= t_end]
    rows.append((f"shards itself, after ({len(own)} fsync/rename)", (t_end - at) * 1000))
    rows.append(("total under strace", (t_end - t0) * 1000))
    return rows, [(round((t - t0) * 1000, 1), "shards" if p in ours else p, e) for t, p, e in events], git_regions(t2)


mount()
try:
    repo = f"{MNT}/repo"
    sh("cp", "-a", src, repo)
    os.environ["SHARDS_HOME"] = f"{MNT}/shards"
    os.environ["SHARDS_REGISTER"] = f"{MNT}/register"
    os.environ["SHARDS_SPARES_COUNT"] = "1"
    wt = f"{MNT}/wt"
    os.makedirs(wt)
    names = ["git worktree add -b", "shards create (fresh spare)", "shards create (settled spare)"]
    commands = [
        lambda i: ["git", "worktree", "add", "-q", "-b", f"g{i}", f"{wt}/g{i}", "main"],
        lambda i: [BIN, "--json", "create", f"f{i}"],
        lambda i: [BIN, "--json", "create", f"s{i}"],
    ]
    times = [[] for _ in commands]
    n = 0
    for i in range(runs + 1):  # round 0 warms up
        order = list(range(len(commands)))
        order = order[i % len(order):] + order[: i % len(order)]
        for c in order:
            if c > 0:
                n += 1
                prepare(repo, n, settle=(c == 2))
            os.sync()
            start = time.perf_counter()
            if c == 0:
                quiet(commands[c](i), repo)
            else:
                take(commands[c](i), repo)
            took = time.perf_counter() - start
            if i > 0:
                times[c].append(took)
        print(f"  round {i}/{runs}: " + ", ".join(f"{('git', 'fresh', 'settled')[c]} {times[c][-1] * 1000:.0f} ms"
                                                  for c in range(len(commands)) if i > 0), file=sys.stderr)
    prof = {}
    for label, settle in (("fresh", False), ("settled", True)):
        runs_rows, regions = [], []
        for k in range(int(os.environ.get("PROFILE_RUNS", "3"))):
            n += 1
            prepare(repo, n, settle)
            rows, events, reg = profile([BIN, "--json", "create", f"prof-{label}{k}"], repo, f"{MNT}/strace-{label}{k}.txt")
            runs_rows.append(rows)
            regions.append(reg)
        # Median of each step over the runs (the same steps each run).
        steps = [(what, statistics.median(r[j][1] for r in runs_rows if len(r) == len(rows)))
                 for j, (what, _) in enumerate(runs_rows[0])]
        keys = sorted({k for r in regions for k in r}, key=lambda k: (k[0] or "", k[1]))
        git = [(f"{c}: {r}", statistics.median(x.get((c, r), 0) for x in regions)) for c, r in keys]
        prof[label] = {"rows": steps, "events": events, "git": git, "runs": len(runs_rows)}
    doc = {
        "results": [
            {"command": nm, "median": statistics.median(t), "p90": p90(t), "times": t}
            for nm, t in zip(names, times)
        ],
        "profile": prof,
    }
    json.dump(doc, open(out, "w"))
finally:
    os.chdir("/")
    unmount()
