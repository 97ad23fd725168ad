//! Progress on stderr for long work (checkouts), through an indicatif bar.
//!
//! Shown only when stderr is a terminal and neither `--json` nor `--quiet`
//! is given; otherwise every call is a no-op. Command layer only.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Checkouts smaller than this finish before a bar is worth drawing.
const MIN_FILES: usize = 200;

/// A progress bar that may be hidden.
pub struct Progress {
    bar: Option<ProgressBar>,
    enabled: bool,
    message: &'static str,
}

impl Progress {
    /// Prepares a bar labelled `message`; `enabled` is false under
    /// `--json` or `--quiet`.
    pub fn new(enabled: bool, message: &'static str) -> Progress {
        Progress {
            bar: None,
            enabled: enabled && std::io::stderr().is_terminal(),
            message,
        }
    }

    /// Reports `done` of `total` items.
    pub fn update(&mut self, done: usize, total: usize) {
        if !self.enabled || total < MIN_FILES {
            return;
        }
        let message = self.message;
        let bar = self.bar.get_or_insert_with(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files ({elapsed})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(message);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        bar.set_position(done as u64);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
