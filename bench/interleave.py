"""Times `shards create`/`destroy` against git, interleaved, on a fresh file system.

    python3 bench/interleave.py KIND FS REPO_SRC RUNS OUT.json

KIND is `create-small`, `create-large` or `destroy`; FS is `ext4` (a new
loop-mounted image, as root) or `tmpfs` (memory only: the CPU-only view).
Every case gets a new file system, made before and thrown away after the
timed runs. Each timed run makes a new worktree next to the earlier ones:
nothing is deleted between runs (a mass delete slows the next writes on
ext4 and would be measured as if it were the command's). `sync` runs before
each timed command, outside its time; the commands take turns (shards, git,
git with parallel checkout, rotated each round), so a slow phase of the
machine hits all of them. Writes medians (and p90s) in hyperfine's JSON
shape.

Optional, for `bench/cold_create.sh`: `EXTRA_BINS="LABEL=PATH ..."` adds
more shards binaries to the create cases (another build, such as the one
before a change, timed in the same rounds), after the default commands, so
`bench/run.sh`'s indices stay. `GIT_ONLY_W0=0` leaves out the
`checkout.workers=0` baseline.
"""

import json
import os
import statistics
import sys
import time

from fsimage import Image, p90, sh
from fsimage import quiet as run

kind, fs, src, runs, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
BIN = os.environ["BIN"]
image = Image(fs, "4G" if fs == "ext4" else "3G", 1500000)
MNT = image.mnt


image.mount()
try:
    repo = f"{MNT}/repo"
    sh("cp", "-a", src, repo)
    env = os.environ
    env["SHARDS_HOME"] = f"{MNT}/shards"
    # The host's block register on the image too: a run leaves nothing in
    # /var/tmp, and its entries' writes are timed on the same disk.
    env["SHARDS_REGISTER"] = f"{MNT}/register"
    wt = f"{MNT}/wt"
    os.makedirs(wt)
    git_add = lambda i: ["git", "worktree", "add", "-q", "-b", f"g{i}", f"{wt}/g{i}"]
    git_add_w0 = lambda i: ["git", "-c", "checkout.workers=0", "worktree", "add", "-q", "-b", f"p{i}", f"{wt}/p{i}"]
    if kind.startswith("create"):
        names = ["shards create", "git worktree add -b", "git -c checkout.workers=0 worktree add -b"]
        commands = [
            lambda i: [[BIN, "create", "-q", f"s{i}"]],
            lambda i: [git_add(i)],
            lambda i: [git_add_w0(i)],
        ]
        if os.environ.get("GIT_ONLY_W0") == "0":
            names.pop()
            commands.pop()
        for k, extra in enumerate(os.environ.get("EXTRA_BINS", "").split()):
            label, path = extra.split("=", 1)
            names.append(f"shards create ({label})")
            # Its own home: builds that differ in how they leave the
            # ledger's files (a WAL kept or not) must not pay for each other.
            home = f"{MNT}/shards-{label}"
            commands.append(lambda i, path=path, k=k, home=home: [["env", f"SHARDS_HOME={home}", path, "create", "-q", f"x{k}-{i}"]])
    else:
        names = ["shards destroy", "git worktree remove + git branch -d"]
        commands = [
            lambda i: [[BIN, "destroy", "-q", f"s{i}"]],
            lambda i: [["git", "worktree", "remove", f"{wt}/g{i}"], ["git", "branch", "-q", "-d", f"g{i}"]],
        ]
        # What each destroy removes is made first, outside the timed runs.
        for i in range(runs + 1):
            run([BIN, "create", "-q", f"s{i}"], repo)
            run(git_add(i), repo)
    times = [[] for _ in commands]
    # Round 0 is the warm-up, not counted.
    for i in range(runs + 1):
        order = list(range(len(commands)))
        order = order[i % len(order):] + order[: i % len(order)]
        for c in order:
            os.sync()
            start = time.perf_counter()
            for argv in commands[c](i):
                run(argv, repo)
            took = time.perf_counter() - start
            if i > 0:
                times[c].append(took)
    doc = {
        "results": [
            {"command": n, "median": statistics.median(t), "p90": p90(t), "times": t}
            for n, t in zip(names, times)
        ]
    }
    json.dump(doc, open(out, "w"))
    for n, t in zip(names, times):
        print(f"  {fs} {kind}: {n}: median {statistics.median(t) * 1000:.1f} ms, p90 {p90(t) * 1000:.1f} ms", file=sys.stderr)
finally:
    os.chdir("/")
    image.unmount()
