//! `shards hook claude-code`: Claude Code's WorktreeCreate and
//! WorktreeRemove hook input on stdin, in each shape seen in the wild;
//! stdout is exactly the new worktree's path, everything else stderr.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::{Out, TestEnv};

const HOOK: &[&str] = &["hook", "claude-code"];

/// Runs the hook in `dir` with `payload` on stdin.
fn hook(env: &TestEnv, dir: &Path, payload: &str) -> Out {
    env.shards_stdin(dir, HOOK, payload)
}

/// A WorktreeCreate payload as Claude Code sends it (`name`, `cwd`).
fn create_payload(env: &TestEnv, name: &str) -> String {
    json!({
        "session_id": "abc123",
        "transcript_path": env.home.join("t.jsonl"),
        "cwd": env.repo,
        "hook_event_name": "WorktreeCreate",
        "name": name,
    })
    .to_string()
}

fn remove_payload(env: &TestEnv, path: &Path) -> String {
    json!({
        "session_id": "abc123",
        "cwd": env.repo,
        "hook_event_name": "WorktreeRemove",
        "worktree_path": path,
    })
    .to_string()
}

/// Asserts stdout is one absolute path and a newline, and returns it.
#[track_caller]
fn only_path(out: &Out) -> PathBuf {
    let path = out
        .stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{out}"));
    assert!(!path.contains('\n') && path.starts_with('/'), "{out}");
    PathBuf::from(path)
}

/// Asserts the shard `name` is active at `path` with its block in the env file.
#[track_caller]
fn assert_shard(env: &TestEnv, name: &str, path: &Path) {
    let shards = env.list();
    let s = shards
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no shard {name}: {shards:?}"));
    assert_eq!(s["status"], "active");
    assert_eq!(Path::new(s["path"].as_str().unwrap()), path);
    let start = s["ports"]["start"].as_u64().unwrap();
    let text = std::fs::read_to_string(path.join(".env")).unwrap();
    assert!(
        text.contains(&format!("PORT_RANGE_START={start}\n")),
        "{text}"
    );
}

#[test]
fn create_with_name_and_cwd_prints_only_the_path() {
    let env = TestEnv::new();
    // Run from outside the repository: the payload's cwd names it.
    let out = hook(&env, &env.root, &create_payload(&env, "feature-auth")).ok();
    let path = only_path(&out);
    assert_shard(&env, "feature-auth", &path);
    assert!(out.stderr.contains("Created shard `feature-auth`"), "{out}");
}

#[test]
fn create_with_json_reports_the_shard() {
    let env = TestEnv::new();
    let out = env.shards_stdin(
        &env.root,
        &["hook", "claude-code", "--json"],
        &create_payload(&env, "a"),
    );
    let json = out.ok().json();
    assert_eq!(json["event"], "WorktreeCreate");
    assert_eq!(json["created"]["shard"]["name"], "a");
    assert_eq!(json["path"], json["created"]["shard"]["path"]);
}

#[test]
fn create_with_worktree_name_and_source_ref_starts_there() {
    let env = TestEnv::new();
    env.git(&env.repo, &["branch", "dev"]);
    env.commit(&[("later.txt", "x\n")], "later on main");
    let payload = json!({
        "session_id": "abc123",
        "cwd": env.repo,
        "hook_event_name": "WorktreeCreate",
        "worktree_name": "feat-auth",
        "source_ref": "dev",
        "base_path": env.repo.join(".worktrees"),
    });
    let path = only_path(&hook(&env, &env.root, &payload.to_string()).ok());
    assert_shard(&env, "feat-auth", &path);
    let dev = env.git(&env.repo, &["rev-parse", "dev"]);
    assert_eq!(env.git(&path, &["rev-parse", "HEAD"]), dev);
    assert!(!path.join("later.txt").exists());
}

#[test]
fn create_with_only_a_worktree_path_and_base_commit_takes_its_last_part() {
    let env = TestEnv::new();
    let base = env.git(&env.repo, &["rev-parse", "HEAD"]);
    // main moves on: the base is no longer HEAD.
    env.commit(&[("later.txt", "later\n")], "later");
    assert_ne!(env.git(&env.repo, &["rev-parse", "HEAD"]), base);
    let payload = json!({
        "hook_event_name": "WorktreeCreate",
        "cwd": env.repo,
        "worktree_path": env.repo.join(".claude/worktrees/agent-7f3a"),
        "base_commit": base.trim(),
    });
    let path = only_path(&hook(&env, &env.root, &payload.to_string()).ok());
    assert_shard(&env, "agent-7f3a", &path);
    // The worktree starts at the base commit, not at main's HEAD.
    assert_eq!(env.git(&path, &["rev-parse", "HEAD"]), base);
    assert!(!path.join("later.txt").exists());
}

#[test]
fn create_without_cwd_uses_the_working_directory_and_sanitises_the_name() {
    let env = TestEnv::new();
    let payload = json!({"hook_event_name": "WorktreeCreate", "name": "Fix the bug! (#12)"});
    let path = only_path(&hook(&env, &env.repo, &payload.to_string()).ok());
    assert_shard(&env, "Fix-the-bug-12", &path);
}

#[test]
fn create_keeps_hook_output_off_stdout() {
    let env = TestEnv::new();
    env.write_config("[hooks]\nsetup = \"echo setup-says-hello\"\n");
    let out = hook(&env, &env.root, &create_payload(&env, "a")).ok();
    let path = only_path(&out);
    assert!(out.stderr.contains("setup-says-hello"), "{out}");
    assert_shard(&env, "a", &path);
}

#[test]
fn create_twice_reuses_the_shard() {
    let env = TestEnv::new();
    let first = only_path(&hook(&env, &env.root, &create_payload(&env, "a")).ok());
    let out = hook(&env, &env.root, &create_payload(&env, "a")).ok();
    assert_eq!(only_path(&out), first);
    assert!(out.stderr.contains("Reusing the shard"), "{out}");
    assert_eq!(env.list().len(), 1);
}

#[test]
fn remove_destroys_the_shard_of_that_worktree() {
    let env = TestEnv::new();
    let path = only_path(&hook(&env, &env.root, &create_payload(&env, "a")).ok());
    let out = hook(&env, &env.root, &remove_payload(&env, &path)).ok();
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("Destroyed shard `a`"), "{out}");
    assert!(!path.exists());
    assert!(env.list().is_empty());
}

#[test]
fn remove_refuses_uncommitted_work_and_keeps_everything() {
    let env = TestEnv::new();
    let path = only_path(&hook(&env, &env.root, &create_payload(&env, "a")).ok());
    std::fs::write(path.join("notes.txt"), "mine\n").unwrap();
    let out = hook(&env, &env.root, &remove_payload(&env, &path))
        .code(1)
        .says(&["uncommitted or untracked changes", "notes.txt"]);
    assert_eq!(out.stdout, "");
    assert_eq!(
        std::fs::read_to_string(path.join("notes.txt")).unwrap(),
        "mine\n"
    );
    assert_shard(&env, "a", &path);
}

#[test]
fn remove_refuses_running_processes_and_stops_none() {
    let env = TestEnv::new();
    let path = only_path(&hook(&env, &env.root, &create_payload(&env, "a")).ok());
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .current_dir(&path)
        .spawn()
        .unwrap();
    let out = hook(&env, &env.root, &remove_payload(&env, &path));
    let alive = sleeper.try_wait().unwrap().is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    out.code(1)
        .says(&["processes still run from the worktree", "sleep"]);
    assert!(alive, "the hook must not stop the user's processes");
    assert_shard(&env, "a", &path);
}

#[test]
fn remove_of_a_folder_that_is_no_shard_fails() {
    let env = TestEnv::new();
    env.create("a");
    let wt = env.git_worktree("by-hand", "by-hand");
    let out = hook(&env, &env.root, &remove_payload(&env, &wt))
        .code(1)
        .says(&["is not the worktree of a shard"]);
    assert_eq!(out.stdout, "");
    assert!(wt.is_dir());
    assert_eq!(env.list().len(), 1);
}

#[test]
fn bad_payloads_fail_with_a_clear_message_and_make_nothing() {
    let env = TestEnv::new();
    let before = env.git_records();
    let cases = [
        ("", "stdin is not JSON"),
        ("{not json", "stdin is not JSON"),
        ("[1, 2]", "not a JSON object"),
        (r#"{"name": "a"}"#, "no `hook_event_name`"),
        (
            r#"{"hook_event_name": "Stop"}"#,
            "unknown hook event `Stop`",
        ),
        (r#"{"hook_event_name": "WorktreeCreate"}"#, "without `name`"),
        (
            r#"{"hook_event_name": "WorktreeRemove"}"#,
            "without `worktree_path`",
        ),
        (
            r#"{"hook_event_name": "WorktreeCreate", "name": "..."}"#,
            "invalid shard name",
        ),
        // Issue 18: a field of the wrong type says so, not "without".
        (
            r#"{"hook_event_name": "WorktreeCreate", "name": 123}"#,
            "`name` is a number, expected a string",
        ),
        (
            r#"{"hook_event_name": true}"#,
            "`hook_event_name` is a boolean, expected a string",
        ),
        (
            r#"{"hook_event_name": "WorktreeRemove", "worktree_path": ["/x"]}"#,
            "`worktree_path` is an array, expected a string",
        ),
        (
            r#"{"hook_event_name": "WorktreeCreate", "name": "a", "cwd": {}}"#,
            "`cwd` is an object, expected a string",
        ),
    ];
    for (payload, says) in cases {
        let out = hook(&env, &env.repo, payload).code(1).says(&[says]);
        assert_eq!(out.stdout, "", "{payload}");
    }
    assert_eq!(env.git_records(), before);
    assert!(env.list().is_empty());
}

#[test]
fn remove_spares_the_agent_that_runs_the_hook_from_the_worktree() {
    let env = TestEnv::new();
    let path = only_path(&hook(&env, &env.root, &create_payload(&env, "a")).ok());
    let payload = env.root.join("payload.json");
    std::fs::write(&payload, remove_payload(&env, &path)).unwrap();
    // Claude Code runs the hook through a shell; both sit in the worktree.
    let script = format!(
        "shards hook claude-code < '{}'; echo \"rc=$?\"",
        payload.display()
    );
    let out = env.shell_in("bash", &path, &["-c", &script]).ok();
    assert_eq!(out.stdout, "rc=0\n", "{out}");
    assert!(!path.exists());
    assert!(env.list().is_empty());
}

/// A WorktreeCreate payload for `name` padded with a `transcript` field of
/// `pad` bytes, as a long session's payload can be.
fn padded_payload(env: &TestEnv, name: &str, pad: usize) -> String {
    let mut payload: serde_json::Value = serde_json::from_str(&create_payload(env, name)).unwrap();
    payload["transcript"] = "x".repeat(pad).into();
    payload.to_string()
}

#[test]
fn issue_18_a_payload_over_a_mebibyte_is_read_whole() {
    let env = TestEnv::new();
    let out = hook(&env, &env.root, &padded_payload(&env, "big", 3 << 20)).ok();
    assert_shard(&env, "big", &only_path(&out));
}

#[test]
fn issue_18_a_payload_over_the_bound_says_it_is_too_large() {
    let env = TestEnv::new();
    let out = hook(&env, &env.root, &padded_payload(&env, "huge", 64 << 20))
        .code(1)
        .says(&["payload larger than 64 MiB"]);
    assert!(!out.stderr.contains("not JSON"), "{out}");
    assert_eq!(out.stdout, "");
    assert!(env.list().is_empty());
}

#[test]
fn worktree_create_takes_a_ready_spare() {
    let env = TestEnv::new();
    env.write_config("[spares]\ncount = 1\n");
    env.shards(&["spares", "fill"]).ok();
    let spare = env.shards(&["spares", "--json"]).ok().json()["spares"][0].clone();
    let out = hook(&env, &env.repo, &create_payload(&env, "agent"));
    assert!(out.stderr.contains("from a spare"), "{out}");
    let path = PathBuf::from(out.ok().stdout.trim());
    let shard = &env.list()[0];
    assert_eq!(PathBuf::from(shard["path"].as_str().unwrap()), path);
    assert_eq!(shard["ports"], spare["ports"]);
    let left = env.shards(&["spares", "--json"]).ok().json();
    assert_eq!(left["spares"], serde_json::json!([]));
}
