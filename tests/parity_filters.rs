//! Issue 11, continued (the comparison helpers are in `parity`): git's
//! filters in a shard as in git's own worktree, a required filter that is
//! missing refusing and leaving nothing, `working-tree-encoding`, and a
//! sparse main worktree giving a sparse shard.

use std::path::Path;

use crate::common::{TestEnv, read};
use crate::parity::{assert_same, commit_all, create, git_wt, write};

/// A long-running process filter in git's protocol (as git-lfs speaks
/// it) whose smudge prefixes every file with `SMUDGED `.
const PROCESS_FILTER: &str = r#"
import sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
def read_pkt():
    n = inp.read(4)
    if not n: sys.exit(0)
    n = int(n, 16)
    return None if n == 0 else inp.read(n - 4)
def read_list():
    items = []
    while True:
        p = read_pkt()
        if p is None: return items
        items.append(p)
def write_pkt(data):
    out.write(b"%04x" % (len(data) + 4) + data)
def flush():
    out.write(b"0000"); out.flush()
read_list()
write_pkt(b"git-filter-server\n"); write_pkt(b"version=2\n"); flush()
read_list()
write_pkt(b"capability=clean\n"); write_pkt(b"capability=smudge\n"); flush()
while True:
    headers = read_list()
    content = b"".join(read_list())
    if headers[0].startswith(b"command=smudge"):
        content = b"SMUDGED " + content
    elif content.startswith(b"SMUDGED "):
        content = content[8:]
    write_pkt(b"status=success\n"); flush()
    for i in range(0, len(content), 65516):
        write_pkt(content[i:i + 65516])
    flush(); flush()
"#;

/// Before: neither a smudge filter nor a process filter was applied: the
/// files differed from git's. Now both are, as in git's worktree.
#[test]
fn issue_11_smudge_and_process_filters_apply_as_in_git() {
    let env = TestEnv::new();
    let script = env.root.join("filter.py");
    write(&script, PROCESS_FILTER);
    write(
        &env.repo.join(".gitattributes"),
        "*.up filter=upper\n*.big filter=lfsish\n",
    );
    write(&env.repo.join("a.up"), "shout\n");
    write(&env.repo.join("b.big"), "large content\n");
    env.git(&env.repo, &["config", "filter.upper.smudge", "tr a-z A-Z"]);
    env.git(&env.repo, &["config", "filter.upper.clean", "tr A-Z a-z"]);
    let process = format!("python3 {}", script.display());
    env.git(&env.repo, &["config", "filter.lfsish.process", &process]);
    env.git(&env.repo, &["config", "filter.lfsish.required", "true"]);
    commit_all(&env, "filtered files");
    let shard = create(&env, &["x"]);
    let theirs = git_wt(&env, "g");
    assert_same(&env, &shard, &theirs);
    assert_eq!(read(&shard.join("a.up")), "SHOUT\n");
    assert_eq!(read(&shard.join("b.big")), "SMUDGED large content\n");
}

/// Before: with `filter.lfs.required=true` and the filter missing, create
/// exited 0 and left a shard whose `git status` fails. Now it refuses as
/// git does, with git's words and shards' hint, and leaves nothing: no row,
/// no branch, no folder, no worktree record.
#[test]
fn issue_11_a_required_filter_that_is_missing_refuses_and_leaves_nothing() {
    let env = TestEnv::new();
    write(
        &env.repo.join(".gitattributes"),
        "*.bin filter=lfs diff=lfs merge=lfs -text\n",
    );
    write(
        &env.repo.join("model.bin"),
        "version https://git-lfs.github.com/spec/v1\n",
    );
    commit_all(&env, "lfs pointer");
    env.git(
        &env.repo,
        &[
            "config",
            "filter.lfs.process",
            "git-lfs-not-installed filter-process",
        ],
    );
    env.git(&env.repo, &["config", "filter.lfs.required", "true"]);
    let git_says = std::process::Command::new("git")
        .args(["worktree", "add", "-q", "-b", "g"])
        .arg(env.root.join("git-g"))
        .current_dir(&env.repo)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(!git_says.status.success(), "git itself accepted it");
    env.git(&env.repo, &["branch", "-D", "g"]);
    let before = (
        env.branches(&env.repo),
        env.git(&env.repo, &["worktree", "list", "--porcelain"]),
    );
    let out = env
        .shards(&["create", "x"])
        .code(1)
        .says(&["git", "worktree add", "lfs", "hint:"]);
    assert!(out.stderr.contains("hint:"), "{out}");
    assert!(env.list().is_empty());
    assert!(
        env.worktree_folders().is_empty(),
        "{:?}",
        env.worktree_folders()
    );
    let after = (
        env.branches(&env.repo),
        env.git(&env.repo, &["worktree", "list", "--porcelain"]),
    );
    assert_eq!(before, after);
    assert!(!env.repo.join(".git/worktrees/x").exists());
}

/// Before: a `working-tree-encoding=UTF-16LE` file was written as UTF-8
/// and `git status` failed. Now it is encoded as in git's worktree.
#[test]
fn issue_11_working_tree_encoding_is_applied() {
    let env = TestEnv::new();
    write(
        &env.repo.join(".gitattributes"),
        "*.txt text working-tree-encoding=UTF-16LE\n",
    );
    let utf16: Vec<u8> = "hello\nwörld\n"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    std::fs::write(env.repo.join("w.txt"), &utf16).unwrap();
    commit_all(&env, "utf-16");
    let shard = create(&env, &["x"]);
    let theirs = git_wt(&env, "g");
    assert_same(&env, &shard, &theirs);
    assert_eq!(std::fs::read(shard.join("w.txt")).unwrap(), utf16);
}

/// Before: a full checkout ("this worktree is not sparse"). Now, as git, the
/// new worktree inherits the main worktree's sparse cone.
#[test]
fn issue_11_a_sparse_main_worktree_gives_a_sparse_shard() {
    let env = TestEnv::new();
    write(&env.repo.join("keep/a.txt"), "a\n");
    write(&env.repo.join("drop/b.txt"), "b\n");
    commit_all(&env, "two folders");
    env.git(&env.repo, &["sparse-checkout", "set", "--cone", "keep"]);
    let shard = create(&env, &["x"]);
    let theirs = git_wt(&env, "g");
    assert_same(&env, &shard, &theirs);
    assert!(shard.join("keep/a.txt").is_file());
    assert!(!shard.join("drop").exists());
    let list = |p: &Path| env.git(p, &["sparse-checkout", "list"]);
    assert_eq!(list(&shard), "keep\n");
    assert_eq!(list(&shard), list(&theirs));
}
