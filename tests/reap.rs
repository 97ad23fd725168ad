//! Reaping (issue 12): `destroy` refuses while processes run from the
//! shard's worktree and `--reap` stops them, with real python3 servers,
//! real signals and a real shell, sparing foreign listeners and the shell
//! `shards` is run from. The harder cases are in `reap_hard`.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::procs::answers;
use crate::common::{TestEnv, shard_path};

/// How long a test waits for a process to listen or to end: generous, for
/// a loaded machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// A real process the test started, killed and collected when dropped, so
/// a failing test leaves nothing running.
pub(crate) struct Running {
    child: Child,
    pub(crate) pid: u32,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Starts `program args` in `cwd`, with stdout piped (see [`ready`]).
    pub(crate) fn start(cwd: &Path, program: &str, args: &[&str]) -> Running {
        let child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let pid = child.id();
        Running { child, pid }
    }

    /// Waits for the first line the process prints (it says it is ready).
    pub(crate) fn ready(mut self) -> Running {
        let mut line = String::new();
        BufReader::new(self.child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            !line.is_empty(),
            "pid {} ended before it was ready",
            self.pid
        );
        self
    }

    /// Returns how it ended, waiting up to [`PATIENCE`]; `None` if it still runs.
    pub(crate) fn ended(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Returns true while it runs (without waiting).
    pub(crate) fn runs(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// Starts `python3 -m http.server PORT` in `cwd`, and returns once it answers.
pub(crate) fn http_server(cwd: &Path, port: u16) -> Running {
    let port_text = port.to_string();
    let args = ["-m", "http.server", &port_text, "--bind", "127.0.0.1"];
    let mut server = Running::start(cwd, "python3", &args);
    let deadline = Instant::now() + PATIENCE;
    while !answers(port) {
        assert!(server.runs(), "python3 -m http.server {port} ended early");
        assert!(
            Instant::now() < deadline,
            "no server on {port} after {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// A python3 process in `cwd` that ignores SIGTERM and listens on `port`.
pub(crate) fn stubborn(cwd: &Path, port: u16) -> Running {
    const CODE: &str = r#"
import signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
time.sleep(600)
"#;
    Running::start(cwd, "python3", &["-c", CODE, &port.to_string()]).ready()
}

/// Creates shard `name` in a pool of 10 blocks of 10; returns its worktree
/// and the first port of its block.
pub(crate) fn shard(env: &mut TestEnv, name: &str) -> (PathBuf, u16) {
    env.small_pool(10, 10);
    let report = env.create(name);
    let start = report["shard"]["ports"]["start"].as_u64().unwrap() as u16;
    (shard_path(&report), start)
}

/// The processes a `destroy --json` says it stopped: (pid, signal, ports).
pub(crate) fn reaped(out: &Value) -> Vec<(u64, String, Value)> {
    out["destroyed"][0]["reaped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let signal = p["signal"].as_str().unwrap().to_string();
            (p["pid"].as_u64().unwrap(), signal, p["ports"].clone())
        })
        .collect()
}

#[test]
fn destroy_refuses_while_a_server_runs_and_reap_stops_it() {
    let mut env = TestEnv::new();
    let (wt, port) = shard(&mut env, "a");
    let mut server = http_server(&wt, port);
    let pid = server.pid.to_string();
    let before = env.shard_rows();
    for args in [&["destroy", "a"][..], &["destroy", "--force", "a"]] {
        env.shards(args)
            .code(1)
            .says(&[&format!("pid {pid} `"), "http.server", "--reap"]);
        assert_eq!(
            env.shard_rows(),
            before,
            "a refused destroy changed the ledger"
        );
        assert!(
            wt.join(".git").exists(),
            "a refused destroy removed the worktree"
        );
        assert!(
            server.runs() && answers(port),
            "a refused destroy stopped the server"
        );
    }
    let json = env.shards(&["destroy", "--json", "a"]).code(1).json();
    assert_eq!(json["error"]["kind"], "processes_running", "{json}");
    let out = env.shards(&["destroy", "--reap", "--json", "a"]).ok();
    assert_eq!(
        reaped(&out.json()),
        vec![(server.pid as u64, "SIGTERM".into(), json!([port]))]
    );
    let human = format!("stopped pid {pid} `");
    let out = out.says(&["Destroyed shard `a`", &human, "(SIGTERM, listening on"]);
    let status = server.ended().expect("the server still runs after --reap");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{out}");
    assert!(!answers(port));
    assert!(!wt.exists());
    assert!(env.list().is_empty());
}

#[test]
fn a_process_that_ignores_sigterm_is_killed_after_the_grace() {
    let mut env = TestEnv::new();
    let (wt, port) = shard(&mut env, "a");
    let mut stubborn = stubborn(&wt, port);
    let started = Instant::now();
    let out = env
        .shards(&["destroy", "--reap", "--grace", "1", "--json", "a"])
        .ok();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "no grace given"
    );
    let got = reaped(&out.json());
    assert_eq!(
        got,
        vec![(stubborn.pid as u64, "SIGKILL".into(), json!([port]))]
    );
    let status = stubborn
        .ended()
        .expect("the process still runs after SIGKILL");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(!wt.exists());
    // --grace means nothing without --reap.
    env.shards(&["destroy", "--grace", "1", "b"])
        .code(2)
        .says(&["--reap"]);
}

#[test]
fn a_foreign_listener_in_the_block_is_spared() {
    let mut env = TestEnv::new();
    let (wt, port) = shard(&mut env, "a");
    let elsewhere = env.root.clone();
    let mut foreign = http_server(&elsewhere, port + 1);
    // Only a foreign listener: nothing of the shard's runs, so no refusal.
    let (wt_b, port_b) = {
        let b = env.create("b");
        let start = b["shard"]["ports"]["start"].as_u64().unwrap() as u16;
        (shard_path(&b), start)
    };
    let mut foreign_b = http_server(&elsewhere, port_b + 2);
    env.shards(&["destroy", "b"]).ok().says(&[&format!(
        "port {} stays with pid {}",
        port_b + 2,
        foreign_b.pid
    )]);
    assert!(!wt_b.exists());
    assert!(
        foreign_b.runs() && answers(port_b + 2),
        "destroy stopped a foreign listener"
    );
    // With the shard's own server too, --reap stops only that one.
    let mut own = http_server(&wt, port);
    let out = env.shards(&["destroy", "--reap", "--json", "a"]).ok();
    let got: Vec<u64> = reaped(&out.json()).into_iter().map(|r| r.0).collect();
    assert_eq!(got, vec![own.pid as u64]);
    assert!(own.ended().is_some(), "the shard's own server still runs");
    assert!(
        foreign.runs(),
        "--reap stopped a listener that runs from elsewhere"
    );
    assert!(answers(port + 1), "the foreign listener no longer answers");
    let notes = out.json()["destroyed"][0]["notes"].to_string();
    assert!(
        notes.contains(&format!("port {} stays with pid {}", port + 1, foreign.pid)),
        "{notes}"
    );
}

#[test]
fn the_shell_destroy_runs_from_is_spared() {
    let mut env = TestEnv::new();
    let (wt, _) = shard(&mut env, "a");
    let mut sleeper = Running::start(&wt, "sleep", &["600"]);
    // The shell's working directory is the worktree and it does not exec
    // shards (a command follows), so shards' parent sits in the worktree.
    let base = env.command_in(&env.root, &[]);
    let mut sh = Command::new("sh");
    sh.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    let script = r#"cd "$1" && "$2" destroy --reap --json a; echo "exit=$?""#;
    let bin = env!("CARGO_BIN_EXE_shards");
    let out = sh
        .args(["-c", script, "sh", wt.to_str().unwrap(), bin])
        .current_dir(&env.root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the shell was stopped: {:?}\n{stderr}",
        out.status
    );
    assert!(stdout.trim_end().ends_with("exit=0"), "{stdout}\n{stderr}");
    let json: Value = serde_json::from_str(stdout.trim_end().trim_end_matches("exit=0")).unwrap();
    let got: Vec<u64> = reaped(&json).into_iter().map(|r| r.0).collect();
    assert_eq!(got, vec![sleeper.pid as u64], "{stderr}");
    assert!(sleeper.ended().is_some());
    assert!(!wt.exists());
}

#[test]
fn a_process_whose_executable_is_in_the_worktree_is_found() {
    let mut env = TestEnv::new();
    let (wt, _) = shard(&mut env, "a");
    let exe = wt.join("my-sleep");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    // Started from elsewhere: only its executable ties it to the shard.
    let elsewhere = env.root.clone();
    let mut copy = Running::start(&elsewhere, exe.to_str().unwrap(), &["600"]);
    // The copied file is untracked work: --force is needed for that, and
    // does not stop the process.
    let pid = copy.pid.to_string();
    env.shards(&["destroy", "--force", "a"])
        .code(1)
        .says(&[&format!("pid {pid} `"), "my-sleep 600"]);
    assert!(copy.runs());
    let out = env
        .shards(&["destroy", "--force", "--reap", "--json", "a"])
        .ok();
    assert_eq!(
        reaped(&out.json()),
        vec![(copy.pid as u64, "SIGTERM".into(), json!([]))]
    );
    assert_eq!(copy.ended().unwrap().signal(), Some(libc::SIGTERM));
    assert!(!wt.exists());
}
