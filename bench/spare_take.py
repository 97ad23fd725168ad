"""Times a create that takes a spare against `git worktree add -b`, interleaved.

    python3 bench/spare_take.py REPO_SRC RUNS OUT.json

Run by bench/spare_take.sh (which says what is measured), as root: a new
loop-mounted ext4 image for the whole run, the repository copied onto it,
SHARDS_HOME and the host's block register on it too. Each round, three
commands take turns (rotated each round, one warm-up round not counted):

  git      `git worktree add -q -b gN WT/gN main`
  fresh    `shards --json create fN`, taking a spare as the fill left it
           (`shards spares fill`), claimed as soon as the base has moved
           by 10 files
  settled  the same, but the spare left 2 s and its index refreshed
           (`git update-index -q --refresh`) before the base moved

With a build that has the background filler (its `spares fill` takes
`--wait`), each take starts a filler that refills the spare at once: the
bench waits for it before the next timed command (bench/spare_wait.py),
and the next fill finds that spare made; so "fresh" is then a spare made
by the filler, claimed some seconds later, as an orchestrator's next
create would. The fill, the waits, the refresh and the base's commit are
outside the timed window; `sync` runs right before each timed command. A
take whose `--json` does not say `"from_spare": true` stops the bench.
Nothing is deleted between runs. Then PROFILE_RUNS (3) more fresh and
settled takes run with git's trace2 on (GIT_TRACE2_PERF): the time of each
git child (trace2's start to exit), of shards' own work between them, and
git's top-level regions; and one more of each under `strace -f` lists its
children, fsyncs and renames. Writes medians and p90s in hyperfine's JSON
shape, the profile beside them.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

from fsimage import Image, p90, quiet, sh
from spare_wait import fill_argv, wait_fillers

src, runs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BIN = os.environ["BIN"]
# Three 20,000-file worktrees a round: room and inodes for 25 rounds.
image = Image("ext4", "12G", 3000000)
MNT = image.mnt
MOVED = 10  # files changed on the base between the fill and the take
FILL = fill_argv(BIN)


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
    wait_fillers(BIN)
    quiet(FILL, repo)
    if settle:
        time.sleep(2)
        quiet(["git", "-C", spare_path(repo), "update-index", "-q", "--refresh"], repo)
    move_base(repo, n)


def take(argv, repo):
    res = subprocess.run(argv, cwd=repo, check=True, capture_output=True, text=True)
    doc = json.loads(res.stdout)
    if doc.get("from_spare") is not True:
        sys.exit(f"the create did not take the spare: {res.stdout.strip()} {res.stderr.strip()}")


def clock(stamp):
    """Seconds since local midnight of a trace2 time (HH:MM:SS.micro)."""
    h, m, sec = stamp.split()[0].split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def git_trace(folder, until):
    """The git processes of a trace2 folder that the take ran (not those of
    a background filler it started: detached, the filler is no child of
    this bench, and its gits' ancestry has no python), [(start, end,
    command)] in seconds since local midnight, and {(command, region): ms}:
    their top-level regions and refresh counts."""
    procs, found = [], {}
    for name in sorted(os.listdir(folder)):
        cmd, start, end, mine, ours = None, None, None, {}, False
        for line in open(os.path.join(folder, name)):
            # time file:line | d0 | main | event | repo | abs | rel | category | message
            f = [x.strip() for x in line.split("|", 8)]
            if len(f) < 9:
                continue
            event, rel, msg = f[3], f[6], f[8]
            if event == "start":
                cmd, start = " ".join(msg.split()[:3]), clock(f[0]) - float(f[5])
            elif event == "atexit":
                end = clock(f[0])
            elif event == "cmd_ancestry":
                ours = "python" in msg
            elif event == "region_leave" and rel and not msg.startswith(".."):
                # Top-level regions only; the label without its path.
                key = (cmd, msg.split()[0].removeprefix("label:"))
                mine[key] = mine.get(key, 0) + float(rel) * 1000
            elif event == "data" and "refresh/sum_" in msg:
                k, _, v = msg.lstrip(".").partition(":")
                mine[(cmd, k)] = float(v)
        if start is None or start > until or not ours:
            continue
        if f[1] == "d0":
            procs.append((start, end or start, cmd))
        for k, v in mine.items():
            found[k] = found.get(k, 0) + v
    return sorted(procs), found


def profile(argv, repo, folder):
    """Runs argv with git's trace2 on; returns shards' timeline [(step,
    ms)]: each git child (from its trace2 start to exit) and shards' own
    work between them, and git's regions."""
    os.makedirs(folder)
    os.environ["GIT_TRACE2_PERF"] = folder
    try:
        wait_fillers(BIN)
        os.sync()
        t = time.time()
        lt = time.localtime(t)
        t0 = lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (t % 1)
        start = time.perf_counter()
        take(argv, repo)
        t_end = t0 + time.perf_counter() - start
        wait_fillers(BIN)
    finally:
        del os.environ["GIT_TRACE2_PERF"]
    procs, regions = git_trace(folder, t_end)
    rows, at = [], t0
    for begin, end, what in procs:
        rows.append(("shards itself", (begin - at) * 1000))
        rows.append((what, (end - begin) * 1000))
        at = end
    rows.append(("shards itself, after", (t_end - at) * 1000))
    rows.append(("total", (t_end - t0) * 1000))
    return rows, regions


def syscalls(argv, repo, trace):
    """Runs argv under strace; returns its children's starts and exits and
    its fsyncs (with their time) and renames [(ms from start, process,
    what)]."""
    wait_fillers(BIN)
    os.sync()
    take(["strace", "-f", "--seccomp-bpf", "-ttt", "-T", "-q", "-y", "-o", trace, "-s", "200",
          "-e", "trace=execve,fsync,fdatasync,rename,renameat,renameat2"] + argv, repo)
    events, t0, main, seen = [], None, None, set()
    for line in open(trace):
        m = re.match(r"(\d+)\s+(\d+\.\d+) (.*)", line.replace(MNT, ""))
        if not m:
            continue
        pid, t, rest = int(m[1]), float(m[2]), m[3]
        took = re.search(r"<(\d+\.\d+)>$", rest)
        took = f" ({float(took[1]) * 1000:.1f} ms)" if took else ""
        if t0 is None:
            t0, main = t, pid
        if rest.startswith("execve(") and pid != main and pid not in seen:
            seen.add(pid)  # the first of execvp's tries along PATH
            a = re.search(r"\[(.*?)\]", rest)
            events.append((t, pid, "exec " + " ".join(re.findall(r'"((?:[^"\\]|\\.)*)"', a[1] if a else "")[:4])))
        elif re.match(r"(fsync|fdatasync)\(", rest) and "unfinished" not in rest:
            events.append((t, pid, rest.split(")")[0] + ")" + took))
        elif re.match(r"<\.\.\. (fsync|fdatasync) resumed>", rest):
            events.append((t, pid, rest.split(">")[0] + ">, done" + took))
        elif re.match(r"(rename|renameat|renameat2)\(", rest):
            events.append((t, pid, rest[:100]))
        elif rest.startswith("+++ exited") and pid in seen:
            events.append((t, pid, "exit"))
        elif pid == main and rest.startswith("+++ exited"):
            events.append((t, pid, "exit"))
            break  # not a background filler's, which strace follows too
    return [(round((t - t0) * 1000, 1), "shards" if p == main else p, e) for t, p, e in events]


image.mount()
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
            wait_fillers(BIN)  # none beside a timed command
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
            rows, reg = profile([BIN, "--json", "create", f"prof-{label}{k}"], repo, f"{MNT}/trace2-{label}{k}")
            runs_rows.append(rows)
            regions.append(reg)
        # Median of each step over the runs that had the same steps.
        same = [r for r in runs_rows if [w for w, _ in r] == [w for w, _ in runs_rows[0]]]
        steps = [(what, statistics.median(r[j][1] for r in same)) for j, (what, _) in enumerate(same[0])]
        keys = sorted({k for r in regions for k in r}, key=lambda k: (k[0] or "", k[1]))
        git = [(f"{c}: {r}", statistics.median(x.get((c, r), 0) for x in regions)) for c, r in keys]
        n += 1
        prepare(repo, n, settle)
        events = syscalls([BIN, "--json", "create", f"strace-{label}"], repo, f"{MNT}/strace-{label}.txt")
        prof[label] = {"rows": steps, "events": events, "git": git, "runs": len(same)}
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
    image.unmount()
