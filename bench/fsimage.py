"""The file system a bench times on, and the small helpers every bench shares.

    from fsimage import Image, p90, quiet, sh

`Image(kind, size, inodes)` is a fresh file system for one case: `ext4`
(a new loop-mounted image, as root) or `tmpfs` (memory only). `mount()`
makes it, `unmount()` throws it away; its `mnt` is where the case works.
"""

import os
import shutil
import subprocess


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def quiet(argv, cwd):
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def p90(t):
    s = sorted(t)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


class Image:
    def __init__(self, kind="ext4", size="4G", inodes=1500000):
        self.kind, self.size, self.inodes = kind, size, inodes
        self.mnt = f"/tmp/shards-bench-mnt-{os.getpid()}"
        self.img = f"/tmp/shards-bench-{os.getpid()}.img"

    def mount(self):
        os.makedirs(self.mnt, exist_ok=True)
        if self.kind == "ext4":
            sh("truncate", "-s", self.size, self.img)
            sh("mkfs.ext4", "-q", "-F", "-N", str(self.inodes), self.img)
            sh("mount", "-o", "loop", self.img, self.mnt)
        else:
            sh("mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", self.mnt)

    def unmount(self):
        subprocess.run(["umount", self.mnt])
        shutil.rmtree(self.mnt, ignore_errors=True)
        if os.path.exists(self.img):
            os.remove(self.img)
