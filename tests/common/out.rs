//! The outcome of one `shards` run: exit code, stdout and stderr, shown as
//! snapshots show it, with assertions that return it for chaining.

use std::fmt;
use std::process::Output;

use serde_json::Value;

/// The outcome of one `shards` run.
pub struct Out {
    /// The arguments it ran with.
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}--- stderr ---\n{}[exit status: {}]",
            self.stdout, self.stderr, self.code
        )
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Out {
    /// The outcome of a run with `args` that ended with `o`.
    pub fn from<S: AsRef<str>>(args: &[S], o: Output) -> Out {
        Out {
            args: args.iter().map(|a| a.as_ref().to_string()).collect(),
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }

    /// Asserts the exit code and returns self.
    #[track_caller]
    pub fn code(self, code: i32) -> Out {
        assert_eq!(self.code, code, "expected exit {code}:\n{self}");
        self
    }

    /// Asserts that stderr contains each of `texts` and returns self.
    #[track_caller]
    pub fn says(self, texts: &[&str]) -> Out {
        for text in texts {
            assert!(
                self.stderr.contains(text),
                "`shards {}`: stderr lacks {text:?}:\n{self}",
                self.args.join(" ")
            );
        }
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}
