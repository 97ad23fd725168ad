//! The test environment: a temporary home, shards home and git repository,
//! and the one sanctioned way to run the `shards` binary in it, with a
//! scrubbed environment so no test can touch the real home, git config or
//! ledger.
//!
//! Ports: every `TestEnv` holds a region of the host's ports that it checked
//! free and that no other running test holds (see [`ports`]), and its runs
//! get `SHARDS_PORTS_BASE` / `SHARDS_PORTS_MAX` for it, so a test passes
//! whatever listens on the host. Tests assert the blocks they were given
//! (`env.block(0)`, `env.port(1)`), never a literal port; a test of the
//! config file drops the variables (`without_port_vars`) and writes the
//! region's ports in the file. Snapshots show the region's ports from
//! `10000` ([`TestEnv::redact`]).

#![allow(dead_code)]

mod files;
mod git;
pub mod mount;
mod out;
mod peer;
pub mod ports;
pub mod procs;
pub mod proxy;
mod run;
pub mod spares;

pub use files::*;
pub use git::{commit, init_repo, real_git};
pub use out::Out;
pub use peer::{Peer, peer};
pub use procs::hold;

use std::path::PathBuf;

use serde_json::Value;
use tempfile::TempDir;

/// A temporary world for one test.
pub struct TestEnv {
    pub tmp: TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub shards_home: PathBuf,
    pub repo: PathBuf,
    /// The test's ports (see [`ports`]): every run gets `SHARDS_PORTS_BASE`
    /// and `SHARDS_PORTS_MAX` for them unless [`TestEnv::without_port_vars`].
    pub ports: ports::Region,
    /// The block size its runs use (shards' default, or [`TestEnv::small_pool`]'s).
    block_size: u16,
    vars: Vec<(String, String)>,
}

impl TestEnv {
    /// A fresh world with a repository `repo` holding one commit, and a
    /// region of [`ports::SLOT`] ports (10 blocks of 100) for its shards.
    pub fn new() -> TestEnv {
        TestEnv::with_ports(ports::SLOT)
    }

    /// A fresh world as [`TestEnv::new`] with at least `len` ports.
    pub fn with_ports(len: u16) -> TestEnv {
        let ports = ports::Region::take(len);
        let tmp = tempfile::Builder::new()
            .prefix("shards-test-")
            .tempdir()
            .unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("home");
        let shards_home = root.join("shards_home");
        std::fs::create_dir_all(&home).unwrap();
        // The host's block register lives where every user may make it
        // (/var/tmp): here, made for them, as sticky as shards makes it.
        let register = root.join("register");
        std::fs::create_dir(&register).unwrap();
        std::fs::set_permissions(
            &register,
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        let repo = root.join("repo");
        init_repo(&repo);
        let mut env = TestEnv {
            tmp,
            root,
            home,
            shards_home,
            repo,
            ports,
            block_size: shards::config::DEFAULT_BLOCK_SIZE,
            vars: Vec::new(),
        };
        let (base, max) = (env.ports.base, env.ports.base + env.ports.len - 1);
        env.set("SHARDS_PORTS_BASE", &base.to_string())
            .set("SHARDS_PORTS_MAX", &max.to_string())
            // A create with spares on starts a background filler, which
            // would outlive the test; the tests of the filler let it.
            .set("SHARDS_TEST_NO_FILLER", "1");
        env
    }

    /// Lets `create` start its background spare filler. A test that does
    /// waits for it (`shards spares fill --wait`) before it ends.
    pub fn with_filler(&mut self) -> &mut TestEnv {
        self.vars.retain(|(k, _)| k != "SHARDS_TEST_NO_FILLER");
        self
    }

    /// Returns the test's first port: where its pool starts.
    pub fn base(&self) -> u16 {
        self.ports.base
    }

    /// Returns port `base + offset` of the test's region.
    #[track_caller]
    pub fn port(&self, offset: u16) -> u16 {
        assert!(offset < self.ports.len, "port {offset} is past the region");
        self.ports.base + offset
    }

    /// Returns the `i`-th block of the test's pool (from 0) as (start, end),
    /// as [`ports`] reads it from a report.
    pub fn block(&self, i: u16) -> (u64, u64) {
        let start = u64::from(self.ports.base) + u64::from(i) * u64::from(self.block_size);
        (start, start + u64::from(self.block_size) - 1)
    }

    /// Leaves the ports to the config file: later runs get no
    /// `SHARDS_PORTS_BASE` or `SHARDS_PORTS_MAX`, which would override it.
    /// The file should use the region's ports ([`TestEnv::base`]).
    pub fn without_port_vars(&mut self) -> &mut TestEnv {
        self.vars
            .retain(|(k, _)| k != "SHARDS_PORTS_BASE" && k != "SHARDS_PORTS_MAX");
        self
    }

    /// Sets an extra environment variable for every later run.
    pub fn set(&mut self, key: &str, value: &str) -> &mut TestEnv {
        self.vars.push((key.to_string(), value.to_string()));
        self
    }

    /// Uses a small pool: `blocks` blocks of `size` ports from the test's
    /// first port.
    #[track_caller]
    pub fn small_pool(&mut self, size: u16, blocks: u16) -> &mut TestEnv {
        assert!(
            size * blocks <= self.ports.len,
            "the pool is past the region"
        );
        self.block_size = size;
        let base = self.ports.base;
        let max = base + size * blocks - 1;
        self.set("SHARDS_PORTS_BASE", &base.to_string())
            .set("SHARDS_PORTS_MAX", &max.to_string())
            .set("SHARDS_PORTS_BLOCK_SIZE", &size.to_string())
    }

    /// Writes the user configuration file.
    pub fn write_config(&self, text: &str) {
        let dir = self.home.join(".config/shards");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }

    /// Returns the ledger's path.
    pub fn ledger(&self) -> PathBuf {
        self.shards_home.join("shards.db")
    }

    /// Makes later runs wait at most `busy_timeout_ms` for the ledger, then
    /// holds its write lock (`BEGIN EXCLUSIVE`) until the returned connection
    /// rolls back or is dropped.
    pub fn lock_ledger(&mut self, busy_timeout_ms: u32) -> rusqlite::Connection {
        self.set("SHARDS_TEST_BUSY_TIMEOUT_MS", &busy_timeout_ms.to_string());
        let lock = rusqlite::Connection::open(self.ledger()).unwrap();
        lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
        lock
    }

    /// Puts a copy of `fixtures/db/<name>` where the ledger goes (dropping
    /// any WAL files of an earlier ledger) and returns the copy's bytes.
    pub fn use_ledger_fixture(&self, name: &str) -> Vec<u8> {
        std::fs::create_dir_all(&self.shards_home).unwrap();
        for f in ["shards.db-wal", "shards.db-shm"] {
            let _ = std::fs::remove_file(self.shards_home.join(f));
        }
        std::fs::copy(fixture(&format!("db/{name}")), self.ledger()).unwrap();
        std::fs::read(self.ledger()).unwrap()
    }

    /// Copies `fixtures/<rel>` to `<tmp>/<rel>` and points `SHARDS_CONFIG` at
    /// the copy; returns the copy's path.
    pub fn use_config_fixture(&mut self, rel: &str) -> PathBuf {
        let copy = self.root.join(rel);
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(fixture(rel), &copy).unwrap();
        self.set("SHARDS_CONFIG", copy.to_str().unwrap());
        copy
    }

    /// Returns `text` as snapshots show it: the temp root as `[TMP]`, and
    /// each port `p` of the test's region as `p - base + 10000` (so the
    /// first port reads `10000` whatever region the test got; see [`ports`]).
    /// Only for display: tests that check numbers check the real ones.
    pub fn redact(&self, text: &str) -> String {
        self.ports
            .redact(&text.replace(self.root.to_str().unwrap(), "[TMP]"))
    }

    /// Returns `out` as an inline snapshot shows it (stdout, `--- stderr ---`,
    /// stderr, `[exit status: N]`), redacted as [`TestEnv::redact`] does.
    pub fn shown(&self, out: &Out) -> String {
        self.redact(&out.to_string())
    }

    /// Compares `out` (command line, stdout, stderr, exit status) with the
    /// file snapshot `tests/snapshots/<name>.snap`, with what differs between
    /// runs hidden: the temp root becomes `[TMP]`, the region's ports read
    /// from `10000` ([`TestEnv::redact`]), RFC 3339 times `[TIME]`, pids
    /// `[PID]`, a python3 listener's command (`python3.11`…) `[PYTHON]`.
    #[track_caller]
    pub fn snapshot(&self, name: &str, out: &Out) {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.add_filter(&regex_escape(self.root.to_str().unwrap()), "[TMP]");
        settings.add_filter(
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[TIME]",
        );
        settings.add_filter(r#""pid": \d+"#, r#""pid": [PID]"#);
        settings.add_filter(r#""command": "python3[0-9.]*""#, r#""command": "[PYTHON]""#);
        let shown = self.redact(&format!("$ shards {}\n{out}", out.args.join(" ")));
        settings.bind(|| insta::assert_snapshot!(name, shown));
    }

    /// Creates a shard and returns its JSON report.
    #[track_caller]
    pub fn create(&self, name: &str) -> Value {
        self.shards(&["create", name, "--json"]).ok().json()
    }

    /// A world of five 10-port blocks whose user config's `start` hook is
    /// `start`, and shard `name` created in it (`--json`); returns the
    /// world, the report, the hook's pid, and a guard that kills the hook's
    /// session when the test ends.
    pub fn started(start: &str, name: &str) -> (TestEnv, Value, i64, procs::KillSession) {
        let mut env = TestEnv::new();
        env.small_pool(10, 5);
        env.write_config(&format!("[hooks]\nstart = \"{start}\"\n"));
        let report = env.shards(&["create", name, "--json"]).ok().json();
        let pid = report["start"]["pid"].as_i64().unwrap();
        (env, report, pid, procs::KillSession(pid))
    }

    /// Creates a shard and returns its worktree folder.
    #[track_caller]
    pub fn create_worktree(&self, name: &str) -> PathBuf {
        shard_path(&self.create(name))
    }

    /// Returns `list --json` shards of the repository.
    #[track_caller]
    pub fn list(&self) -> Vec<Value> {
        self.shards(&["list", "--json"]).ok().json()["shards"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Returns the repository's shards from `list --json`, one
    /// `"name" "status" {ports}` line each, to compare before and after.
    #[track_caller]
    pub fn shard_rows(&self) -> Vec<String> {
        self.list()
            .iter()
            .map(|s| format!("{} {} {}", s["name"], s["status"], s["ports"]))
            .collect()
    }

    /// Asserts that a shard created while `busy` (something holding a port
    /// of the first block) lives gets the second block, and that once
    /// `busy` is dropped the next shard gets the first.
    #[track_caller]
    pub fn assert_first_block_skipped_while<T>(&self, busy: T) {
        assert_eq!(ports(&self.create("a")["shard"]), self.block(1));
        drop(busy);
        assert_eq!(ports(&self.create("b")["shard"]), self.block(0));
    }

    /// Runs `prune --merged --min-age 0s --json` (merged shards, however
    /// young) and returns its report.
    #[track_caller]
    pub fn prune_merged_now(&self) -> Value {
        self.shards(&["prune", "--merged", "--min-age", "0s", "--json"])
            .ok()
            .json()
    }

    /// Runs `prune --json` and asserts that it kept the first shard it names,
    /// for a reason that contains `reason`.
    #[track_caller]
    pub fn assert_prune_keeps(&self, reason: &str) {
        let out = self.shards(&["prune", "--json"]).ok().json();
        let first = &out["shards"][0];
        assert_eq!(first["reclaimed"], false, "{out}");
        let given = first["reason"].as_str().unwrap();
        assert!(given.contains(reason), "reason {given:?} lacks {reason:?}");
    }
}

/// Escapes a literal for an insta filter (a regex).
fn regex_escape(literal: &str) -> String {
    let mut out = String::new();
    for c in literal.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Returns `text` with each whole word (between spaces or at a line's
/// ends) that `f` maps replaced by what it maps to.
pub fn map_words(text: &str, f: impl Fn(&str) -> Option<String>) -> String {
    text.split('\n')
        .map(|line| {
            line.split(' ')
                .map(|w| f(w).unwrap_or_else(|| w.to_string()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lays out again, as shards' tables are laid out (cells left-aligned,
/// two spaces between columns), each run of lines with the same indent
/// whose cells are apart by two spaces or more: after a redaction changed
/// a cell's width (a temp path shown as `[TMP]`, a pid as `[PID]`), the
/// columns read as a user sees them with those values. Other lines stay.
pub fn realign(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line, pad) = (lines[i], indent(lines[i]));
        let mut j = i;
        while j < lines.len()
            && !lines[j].trim().is_empty()
            && indent(lines[j]) == pad
            && cells(lines[j]).len() >= 2
        {
            j += 1;
        }
        if j == i {
            out.push(line.to_string());
            i += 1;
            continue;
        }
        let rows: Vec<Vec<String>> = lines[i..j].iter().map(|l| cells(l)).collect();
        let mut widths = Vec::new();
        for row in &rows {
            for (k, c) in row.iter().enumerate() {
                if widths.len() <= k {
                    widths.push(0);
                }
                widths[k] = widths[k].max(c.chars().count());
            }
        }
        for row in &rows {
            let mut l = " ".repeat(pad);
            for (k, c) in row.iter().enumerate() {
                if k + 1 == row.len() {
                    l.push_str(c);
                } else {
                    l.push_str(&format!("{c:<w$}  ", w = widths[k]));
                }
            }
            out.push(l);
        }
        i = j;
    }
    out.join("\n")
}

/// Returns `text` with each age of a table (`0s`, `5m`, `3h`, `1113d`: a
/// word of digits and a unit), which changes from run to run, as `N` and
/// its unit (`Ns`, `Nd`), the columns laid out again ([`realign`]).
pub fn ages(text: &str) -> String {
    realign(&map_words(text, |w| {
        let (at, unit) = w.char_indices().last()?;
        let digits = &w[..at];
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && "smhd".contains(unit))
            .then(|| format!("N{unit}"))
    }))
}
