//! Running programs in a test's world: `shards` (the one sanctioned way to
//! launch it), shells and direnv, with the scrubbed environment.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Out, Peer, TestEnv};

impl TestEnv {
    /// Returns `program` to run in `dir` with nothing of the caller's
    /// environment but `PATH`: `HOME` is the test's and git reads no
    /// global or system config.
    pub(super) fn scrubbed(&self, program: &str, dir: &Path) -> Command {
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

    /// Runs `direnv` with `args` in `dir`, with nothing of the caller's
    /// environment but `PATH`, and the test's home and XDG folders.
    pub fn direnv(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        Command::new("direnv")
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .output()
            .expect("direnv must be on PATH (.ci/run installs it)")
    }

    /// Sets the variables every `shards` run of this test gets.
    fn shards_vars(&self, cmd: &mut Command) {
        cmd.env("SHARDS_HOME", &self.shards_home)
            // The host's block register of this test's world: never the
            // real /var/tmp one.
            .env("SHARDS_REGISTER", self.root.join("register"))
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

    /// Runs `shards` in the repository with `SHARDS_TEST_CRASH_AT=step` for
    /// this run only, and asserts that it died there (by SIGKILL).
    #[track_caller]
    pub fn crash_at(&self, step: &str, args: &[&str]) -> Out {
        let mut cmd = self.command_in(&self.repo, args);
        cmd.env("SHARDS_TEST_CRASH_AT", step);
        let out = Out::from(args, cmd.output().unwrap());
        assert_eq!(out.code, -1, "{step}: not killed by SIGKILL: {out}");
        out
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
}
