//! A copied `.env` (brought over by `.worktreeinclude`) never overrides the
//! shard's own keys, and what it holds is not counted as the agent's work;
//! checked with the real python-dotenv, direnv and docker-compose. The
//! copying itself is in `copy`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TestEnv, read, shard_path};
use crate::copy::{include, project};

/// Creates a shard from a main worktree whose `.env` sets the shard's own
/// keys, before and after an old shards section (a file once copied out of
/// a shard), and returns its worktree.
///
/// python-dotenv, direnv and docker-compose all keep the last of two
/// duplicated keys (measured), so the section shards appends wins over the
/// lines before it by itself; the lines after the old section, which the
/// new section replaces in place, win only if shards disowns them.
fn shard_with_copied_env(env: &TestEnv, extra_config: &str) -> PathBuf {
    std::fs::write(
        env.repo.join(".env"),
        "PORT=3000\nSECRET=s3cret\n# >>> shards >>>\nPORT=9999\n# <<< shards <<<\nPORT_RANGE_START=1\nCOMPOSE_PROJECT_NAME=main\n",
    )
    .unwrap();
    include(env, ".env\n");
    env.write_config(extra_config);
    let report = env.shards(&["create", "a", "--json"]).ok().json();
    shard_path(&report)
}

/// Appends the line `MINE=1` to the env file at `path`, as the agent (in
/// a shard) or the user (in the main worktree) would.
fn add_mine(path: &Path) {
    let text = read(path);
    std::fs::write(path, format!("{text}MINE=1\n")).unwrap();
}

/// Asserts that `destroy name` refuses, counting one line of `.env` as work.
#[track_caller]
fn destroy_counts_one_line(env: &TestEnv, name: &str) {
    env.shards(&["destroy", name])
        .code(1)
        .says(&["1 line in .env that shards did not write"]);
}

#[test]
fn a_copied_env_keeps_the_users_keys_and_a_destroy_does_not_count_them() {
    let env = project();
    let wt = shard_with_copied_env(&env, "");
    let text = read(&wt.join(".env"));
    assert!(
        text.starts_with("# shards: overridden by the shards section: PORT=3000\nSECRET=s3cret\n"),
        "{text}"
    );
    // The copied lines are the main worktree's, not the agent's work.
    env.shards(&["destroy", "a"]).ok();
    // A line the agent adds is work.
    let wt = shard_path(&env.shards(&["create", "b", "--json"]).ok().json());
    add_mine(&wt.join(".env"));
    destroy_counts_one_line(&env, "b");
}

#[test]
fn the_user_editing_the_main_env_later_does_not_stop_a_destroy() {
    let env = project();
    let wt = shard_with_copied_env(&env, "");
    // After the shard was made: a secret rotated and a line added.
    let main = read(&env.repo.join(".env")).replace("SECRET=s3cret", "SECRET=rotated");
    let main = format!("{main}ADDED=1\n");
    std::fs::write(env.repo.join(".env"), &main).unwrap();
    // The shard's copy is the file as it was: it now differs from the main one.
    let copy = read(&wt.join(".env"));
    assert!(
        copy.contains("SECRET=s3cret\n") && !copy.contains("ADDED"),
        "{copy}"
    );
    let out = env
        .shards(&["destroy", "a"])
        .ok()
        .says(&["Destroyed shard `a`"]);
    assert!(!out.stderr.contains("did not write"), "{out}");
    assert!(!wt.exists(), "{out}");
    assert!(env.list().is_empty());
    // The main worktree's file is the user's, as they left it.
    assert_eq!(read(&env.repo.join(".env")), main);
}

#[test]
fn a_line_the_agent_adds_stays_work_when_the_main_env_gets_it_too() {
    let env = project();
    let wt = shard_with_copied_env(&env, "");
    add_mine(&wt.join(".env"));
    destroy_counts_one_line(&env, "a");
    // The user adds the same line to the main worktree's env file.
    add_mine(&env.repo.join(".env"));
    destroy_counts_one_line(&env, "a");
    assert!(read(&wt.join(".env")).contains("MINE=1\n"));
}

#[test]
fn a_shard_without_a_record_of_its_copy_is_judged_against_the_main_env() {
    // As a shard made before the ledger recorded copies: its record is empty.
    let env = project();
    let wt = shard_with_copied_env(&env, "");
    let conn = rusqlite::Connection::open(env.ledger()).unwrap();
    conn.execute("UPDATE shards SET env_copied = NULL", [])
        .unwrap();
    drop(conn);
    add_mine(&wt.join(".env"));
    destroy_counts_one_line(&env, "a");
    // The main worktree's file holds that line too: it is not counted.
    add_mine(&env.repo.join(".env"));
    env.shards(&["destroy", "a"]).ok();
}

#[test]
#[ignore = "needs python3-dotenv (.ci/run installs it)"]
fn python_dotenv_reads_the_shards_ports_from_a_copied_env() {
    let env = project();
    let wt = shard_with_copied_env(&env, "");
    let script = "import dotenv, sys; v = dotenv.dotenv_values('.env'); \
                  print(v['PORT'], v['PORT_RANGE_START'], v['COMPOSE_PROJECT_NAME'], v['SECRET'])";
    let out = Command::new("python3")
        .args(["-c", script])
        .current_dir(&wt)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python-dotenv missing? {stderr}");
    let port = env.base();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{port} {port} repo-a s3cret\n")
    );
}

#[test]
#[ignore = "needs direnv (.ci/run installs it)"]
fn direnv_reads_the_shards_ports_from_a_copied_env() {
    let env = project();
    let wt = shard_with_copied_env(&env, "[env]\ndirenv = true\n");
    let direnv = |args: &[&str]| env.direnv(&wt, args);
    let dir = wt.to_str().unwrap();
    assert!(direnv(&["allow", dir]).status.success());
    let out = direnv(&[
        "exec",
        dir,
        "sh",
        "-c",
        "echo $PORT $PORT_RANGE_START $COMPOSE_PROJECT_NAME $SECRET",
    ]);
    let port = env.base();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{port} {port} repo-a s3cret\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs docker-compose (.ci/run installs it)"]
fn compose_reads_the_shards_ports_from_a_copied_env() {
    let env = project();
    let wt = shard_with_copied_env(&env, "");
    std::fs::write(
        wt.join("docker-compose.yml"),
        "services:\n  web:\n    image: busybox\n    ports: [\"${PORT}:80\"]\n    environment:\n      SECRET: \"${SECRET}\"\n      PROJECT: \"${COMPOSE_PROJECT_NAME}\"\n",
    )
    .unwrap();
    // `config` reads the `.env` beside the compose file; no daemon needed.
    let out = Command::new("docker-compose")
        .args(["config"])
        .current_dir(&wt)
        .env_remove("PORT")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .expect("docker-compose must be on PATH (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        text.contains(&format!("published: {}", env.base()))
            || text.contains(&format!("{}:80", env.base())),
        "{text}"
    );
    assert!(text.contains("SECRET: s3cret"), "{text}");
    // The main worktree's own PORT=3000 is not what compose got (a region
    // at 13000 holds "3000" as a substring, so whole values are compared).
    assert!(
        !text
            .lines()
            .any(|l| l.trim() == "published: 3000" || l.contains("\"3000:80\"")),
        "{text}"
    );
    assert!(text.contains("PROJECT: repo-a"), "{text}");
}
