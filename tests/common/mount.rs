//! A file system image loop-mounted for a test (needs root and a loop
//! device), unmounted when the test ends.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A loop-mounted image, unmounted when dropped.
pub struct LoopMount {
    /// Where it is mounted.
    pub mnt: PathBuf,
}

impl LoopMount {
    /// Makes an image of `size` (as `truncate -s` takes it) at
    /// `dir/<name>.img`, formats it with `mkfs` (the program and its
    /// options; the image is the last argument), and mounts it at
    /// `dir/<name>`.
    pub fn mount(dir: &Path, name: &str, size: &str, mkfs: &[&str]) -> LoopMount {
        let img = dir.join(format!("{name}.img"));
        let mnt = dir.join(name);
        std::fs::create_dir_all(&mnt).unwrap();
        let run = |program: &str, args: &[&str]| {
            let out = Command::new(program)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{program}: {e} (.ci/run installs the mkfs tools)"));
            assert!(
                out.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let (img_s, mnt_s) = (img.to_str().unwrap(), mnt.to_str().unwrap());
        run("truncate", &["-s", size, img_s]);
        run(mkfs[0], &[&mkfs[1..], &[img_s]].concat());
        run("mount", &["-o", "loop", img_s, mnt_s]);
        LoopMount { mnt }
    }
}

impl Drop for LoopMount {
    /// Unmounts it, lazily (`umount -l`) when it is still busy.
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
    }
}
