//! Settling a spare's index: git trusts a file's cached stat data only when
//! the file is older than the index itself, to the second on file systems
//! and builds that compare whole seconds ("racy git"). A checkout writes
//! files and index in the same second, so every file is racy: the first
//! `git switch` in a fresh worktree rereads the files' content, which on a
//! large tree costs more than the rest of a claim. Once the clock has passed
//! the index's second, `git update-index --refresh` writes an index that
//! is newer than every file, and the claim's switch trusts the stat data.
//!
//! Adapter: runs git; knows nothing of ports or the ledger.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Repo;
use crate::error::Result;

impl Repo {
    /// Waits until the clock is past the second of the index of the
    /// worktree at `path` (git's record `wt_name`), then refreshes that
    /// index, so that the worktree's next checkout trusts its stat data.
    /// `keep_going` is asked while it waits. A refresh git refuses changes
    /// nothing that matters: the next checkout is slower, not wrong.
    pub fn settle_index(
        &self,
        path: &Path,
        wt_name: &str,
        keep_going: &dyn Fn() -> Result<()>,
    ) -> Result<()> {
        let index = self.git_dir.join("worktrees").join(wt_name).join("index");
        let Ok(written) = std::fs::metadata(&index).and_then(|m| m.modified()) else {
            return Ok(());
        };
        let second = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        while second(SystemTime::now()) <= second(written) {
            keep_going()?;
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut cmd = super::add::git_command();
        cmd.args(["update-index", "-q", "--refresh"])
            .current_dir(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
        Ok(())
    }
}
