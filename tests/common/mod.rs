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

pub mod ports;
pub mod procs;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use git2::{Repository, Signature, Time};
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

/// Makes a commit on HEAD with fixed author and date.
pub fn commit(repo: &Repository, files: &[(&str, &str)], message: &str) -> git2::Oid {
    let workdir = repo.workdir().unwrap().to_path_buf();
    let mut index = repo.index().unwrap();
    for (path, content) in files {
        let full = workdir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, content).unwrap();
        index.add_path(Path::new(path)).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::new("Test", "test@example.com", &Time::new(1_700_000_000, 0)).unwrap();
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

/// Creates a repository at `path` with one commit on `main`.
pub fn init_repo(path: &Path) -> Repository {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = Repository::init_opts(path, &opts).unwrap();
    commit(
        &repo,
        &[("README.md", "hello\n"), ("src/lib.rs", "// code\n")],
        "init",
    );
    repo
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
            .set("SHARDS_PORTS_MAX", &max.to_string());
        env
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

    /// Returns `program` to run in `dir` with nothing of the caller's
    /// environment but `PATH`: `HOME` is the test's and git reads no
    /// global or system config.
    fn scrubbed(&self, program: &str, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        cmd
    }

    /// Returns a `shards` command in `dir` with the scrubbed environment.
    pub fn command_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = self.scrubbed(env!("CARGO_BIN_EXE_shards"), dir);
        cmd.args(args);
        self.shards_vars(&mut cmd);
        cmd
    }

    /// Runs `shell` (bash, zsh, fish) with `args` in `dir`, with the
    /// environment `shards` gets and the built `shards` first on `PATH`.
    pub fn shell_in(&self, shell: &str, dir: &Path, args: &[&str]) -> Out {
        let bin = Path::new(env!("CARGO_BIN_EXE_shards")).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = self.scrubbed(shell, dir);
        cmd.args(args).env("PATH", path);
        self.shards_vars(&mut cmd);
        Out::from(args, cmd.output().unwrap())
    }

    /// Sets the variables every `shards` run of this test gets.
    fn shards_vars(&self, cmd: &mut Command) {
        cmd.env("SHARDS_HOME", &self.shards_home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("GIT_CONFIG_SYSTEM", "/dev/null")
            .env("COLUMNS", "100")
            .env("NO_COLOR", "1");
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
    }

    /// Runs `shards` in `dir` with `input` on its stdin.
    pub fn shards_stdin(&self, dir: &Path, args: &[&str], input: &str) -> Out {
        use std::io::Write;
        let mut child = self
            .command_in(dir, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A closed pipe (shards refused before reading) is no test failure.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        Out::from(args, child.wait_with_output().unwrap())
    }

    /// Starts `shards mcp` in the repository with stdin and stdout piped
    /// and stderr going to `stderr`.
    pub fn mcp_server(&self, stderr: Stdio) -> std::process::Child {
        self.command_in(&self.repo, &["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap()
    }

    /// Runs `shards` in the repository.
    pub fn shards(&self, args: &[&str]) -> Out {
        self.shards_in(&self.repo, args)
    }

    /// Runs `shards` in `dir`.
    pub fn shards_in(&self, dir: &Path, args: &[&str]) -> Out {
        Out::from(args, self.command_in(dir, args).output().unwrap())
    }

    /// Starts one `shards` process in the repository for each argument list,
    /// all at once, waits for every one and returns their outcomes in order.
    pub fn shards_at_once(&self, jobs: &[Vec<String>]) -> Vec<Out> {
        let children: Vec<_> = jobs
            .iter()
            .map(|args| {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                self.command_in(&self.repo, &refs)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        jobs.iter()
            .zip(children)
            .map(|(args, child)| Out::from(args, child.wait_with_output().unwrap()))
            .collect()
    }

    /// Runs `shards` in `dir` as the second Unix user `peer` (see [`peer`]),
    /// with the same scrubbed environment.
    pub fn shards_as(&self, peer: &Peer, dir: &Path, args: &[&str]) -> Out {
        use std::os::unix::process::CommandExt;
        let mut cmd = self.command_in(dir, args);
        // std drops root's supplementary groups when it sets the uid.
        cmd.uid(peer.uid).gid(peer.gid);
        Out::from(args, cmd.output().unwrap())
    }

    /// Runs the real `git` in `dir` with the scrubbed environment.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        run_ok(
            self.scrubbed("git", dir)
                .args(args)
                .env("GIT_AUTHOR_NAME", "T")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "T")
                .env("GIT_COMMITTER_EMAIL", "t@example.com"),
        )
    }

    /// Returns git's refs (name and object) and `worktree list --porcelain`
    /// of the repository, as one text to compare before and after.
    pub fn git_records(&self) -> String {
        format!(
            "{}{}",
            self.git(
                &self.repo,
                &["for-each-ref", "--format=%(refname) %(objectname)"]
            ),
            self.git(&self.repo, &["worktree", "list", "--porcelain"])
        )
    }

    /// Creates another repository next to the first.
    pub fn new_repo(&self, name: &str) -> PathBuf {
        let path = self.root.join(name);
        init_repo(&path);
        path
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

    /// Creates shard `name` (`--json`) whose config has a `start` hook;
    /// returns the report, the hook's pid, and a guard that kills the hook's
    /// session when the test ends.
    pub fn create_started(&self, name: &str) -> (Value, i64, procs::KillSession) {
        let report = self.shards(&["create", name, "--json"]).ok().json();
        let pid = report["start"]["pid"].as_i64().unwrap();
        (report, pid, procs::KillSession(pid))
    }

    /// Creates a shard and returns its worktree folder.
    #[track_caller]
    pub fn create_worktree(&self, name: &str) -> PathBuf {
        shard_path(&self.create(name))
    }

    /// Adds the repository at `url` as a submodule at `at` with git itself
    /// (a local clone, which git allows only when told to).
    pub fn add_submodule(&self, url: &Path, at: &str) {
        let url = url.to_str().unwrap();
        let args = [
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            url,
            at,
        ];
        self.git(&self.repo, &args);
    }

    /// Makes a linked worktree `root/<folder>` on a new branch with git
    /// itself (not a shard), and returns its folder.
    pub fn git_worktree(&self, folder: &str, branch: &str) -> PathBuf {
        let wt = self.root.join(folder);
        self.git(
            &self.repo,
            &["worktree", "add", "-q", "-b", branch, wt.to_str().unwrap()],
        );
        wt
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

    /// Returns the local branch names of `repo`.
    pub fn branches(&self, repo: &Path) -> Vec<String> {
        let r = Repository::open(repo).unwrap();
        let mut names: Vec<String> = r
            .branches(Some(git2::BranchType::Local))
            .unwrap()
            .map(|b| b.unwrap().0.name().unwrap().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// Returns every entry under the shards home's worktree folder.
    pub fn worktree_folders(&self) -> Vec<PathBuf> {
        let base = self.shards_home.join("worktrees");
        let mut out = Vec::new();
        if let Ok(repos) = std::fs::read_dir(&base) {
            for r in repos.flatten() {
                for w in std::fs::read_dir(r.path()).unwrap().flatten() {
                    out.push(w.path());
                }
            }
        }
        out.sort();
        out
    }
}

/// Returns the ports block of a shard JSON object as (start, end).
pub fn ports(shard: &Value) -> (u64, u64) {
    (
        shard["ports"]["start"].as_u64().unwrap(),
        shard["ports"]["end"].as_u64().unwrap(),
    )
}

/// Returns the shards' port blocks sorted, asserting that no two overlap.
#[track_caller]
pub fn disjoint_blocks(shards: &[Value]) -> Vec<(u64, u64)> {
    let mut blocks: Vec<(u64, u64)> = shards.iter().map(ports).collect();
    blocks.sort();
    for pair in blocks.windows(2) {
        assert!(pair[0].1 < pair[1].0, "overlapping blocks {pair:?}");
    }
    blocks
}

/// Returns a `services` list as (service, value) pairs, where `value` picks
/// the field wanted from each entry (it must be there and of its type).
#[track_caller]
pub fn services<T>(list: &Value, value: impl Fn(&Value) -> Option<T>) -> Vec<(String, T)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let name = s["service"].as_str().unwrap().to_string();
            let v = value(s).unwrap_or_else(|| panic!("service {name}: field missing in {s}"));
            (name, v)
        })
        .collect()
}

/// Runs a real command (not `shards`: see [`TestEnv::shards`]), asserts
/// that it exited 0, showing its stderr if not, and returns its stdout.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()));
    let args: Vec<_> = cmd.get_args().collect();
    assert!(
        out.status.success(),
        "{:?} {args:?} failed: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads a text file.
#[track_caller]
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads a worktree's env file into key/value pairs.
pub fn read_env(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Returns the value of `key` in a worktree's env file.
pub fn env_value(path: &Path, key: &str) -> Option<String> {
    read_env(path)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// A real process holding a socket, killed when dropped.
pub struct Holder {
    child: std::process::Child,
    /// The port it bound.
    pub port: u16,
    /// Its pid.
    pub pid: u32,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HOLDER: &str = r#"
import socket, sys, time
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(family, kind)
if family == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((host, port))
if proto == "tcp":
    s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(600)
"#;

/// Starts a python3 process in `cwd` that binds `proto` (`tcp` or `udp`)
/// on `host:port` and waits; returns once the socket is bound.
pub fn hold(cwd: &Path, proto: &str, host: &str, port: u16) -> Holder {
    use std::io::BufRead;
    let mut child = Command::new("python3")
        .args(["-c", HOLDER, proto, host, &port.to_string()])
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("python3 is needed by the audit tests");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let bound: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("python3 did not bind {proto} {host}:{port}"));
    let pid = child.id();
    Holder {
        child,
        port: bound,
        pid,
    }
}

/// Returns the worktree folder of a `create --json` (or `adopt --json`) report.
pub fn shard_path(report: &Value) -> PathBuf {
    PathBuf::from(report["shard"]["path"].as_str().unwrap())
}

/// Returns the path of `rel` under the project's `fixtures/` (read it or
/// copy it; never change it).
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
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

/// A second Unix user, member of its own group, for tests of a shards home
/// shared between users.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
}

/// The second user's name; `peer` makes it when missing.
pub const PEER_USER: &str = "shards-peer";
/// The group the second user belongs to (the group of a shared home).
pub const PEER_GROUP: &str = "shards-devs";

/// Returns the second Unix user, adding it and its group with `groupadd`
/// and `useradd` when missing (no home folder, no login shell).
///
/// Needs root and `useradd`: the tests that call it are `#[ignore]`d for a
/// plain `cargo test` and run by `.ci/run`, where they fail, not skip,
/// when either is missing.
pub fn peer() -> Peer {
    static PEER: std::sync::OnceLock<Peer> = std::sync::OnceLock::new();
    *PEER.get_or_init(|| {
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "this test runs shards as a second Unix user and must run as root (.ci/run does)"
        );
        let run = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{program} is needed (.ci/run installs passwd): {e}"))
        };
        if !run("getent", &["group", PEER_GROUP]).status.success() {
            // Another test process may add it at the same time: check again after.
            run("groupadd", &[PEER_GROUP]);
        }
        if !run("id", &["-u", PEER_USER]).status.success() {
            run(
                "useradd",
                &[
                    "-M",
                    "-N",
                    "-g",
                    PEER_GROUP,
                    "-s",
                    "/usr/sbin/nologin",
                    PEER_USER,
                ],
            );
        }
        let number = |program: &str, args: &[&str], field: usize| -> u32 {
            let out = run(program, args);
            assert!(out.status.success(), "{program} {args:?} failed: {out:?}");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .split(':')
                .nth(field)
                .and_then(|f| f.parse().ok())
                .unwrap_or_else(|| panic!("{program} {args:?}: unexpected output {out:?}"))
        };
        Peer {
            uid: number("id", &["-u", PEER_USER], 0),
            gid: number("getent", &["group", PEER_GROUP], 2),
        }
    })
}
