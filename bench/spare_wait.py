"""Shared by the spare benches: filling spares with builds before and after
the background filler.

A build with the background filler starts one after a create with spares
on (it refills what the create took), and its `shards spares fill` changes
nothing while a filler is at work unless `--wait`. A bench waits for every
filler outside its timed window, so that none runs beside a timed command.
"""

import os
import subprocess
import time


def has_wait(bin_path):
    """Whether this build's `spares fill` takes `--wait` (and has a background filler)."""
    res = subprocess.run([bin_path, "spares", "fill", "--help"], capture_output=True, text=True)
    return "--wait" in res.stdout


def fill_argv(bin_path):
    """`shards spares fill`, waiting for a background filler when the build has one."""
    return [bin_path, "-q", "spares", "fill"] + (["--wait"] if has_wait(bin_path) else [])


def fillers(bin_path):
    """Pids of this build's background fillers (`shards spares filler`) alive now."""
    exe = os.path.realpath(bin_path)
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            if os.path.realpath(f"/proc/{pid}/exe") == exe and argv[1:3] == [b"spares", b"filler"]:
                found.append(int(pid))
        except OSError:
            pass
    return found


def wait_fillers(bin_path, limit=300):
    """Waits until no background filler of this build is alive."""
    deadline = time.monotonic() + limit
    while fillers(bin_path):
        if time.monotonic() > deadline:
            raise SystemExit(f"a background filler still runs after {limit} s")
        time.sleep(0.05)
