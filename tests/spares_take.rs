//! Issue 19, claiming a spare: what `shards create` makes from a spare is
//! what a cold create of the same name and base makes in a twin world
//! (upstream under each `branch.autoSetupMerge`, a `--base` that names
//! HEAD, sparse patterns, links, modes and deletions, the included files,
//! the shard's age), and git's own differences (the HEAD reflog, the
//! `post-checkout` runs) as they are. Claims stopped by a signal are in
//! `spares_signals`.

use std::fs;
use std::path::Path;

use git2::Repository;
use serde_json::Value;

use crate::common::spares::{agree, path_of, post_checkout, prune_idle, spares, tree, world};
use crate::common::{TestEnv, ports, shard_path};

const ZERO: &str = "0000000000000000000000000000000000000000";

// ---------------------------------------------------------------- fidelity

/// Returns the branch's upstream as git names it, or `None`.
fn upstream(env: &TestEnv, dir: &Path, branch: &str) -> Option<String> {
    let spec = format!("{branch}@{{upstream}}");
    env.try_git(dir, &["rev-parse", "--abbrev-ref", &spec])
        .map(|s| s.trim().to_string())
}

/// Returns the env file of the shard of `report` with each port given as
/// its offset in the shard's block.
fn env_text(report: &Value) -> Vec<String> {
    let start = ports(&report["shard"]).0;
    fs::read_to_string(shard_path(report).join(".env"))
        .unwrap()
        .lines()
        .map(|l| match l.split_once('=') {
            Some((k, v))
                if v.parse::<u64>()
                    .is_ok_and(|n| n >= start && n < start + 100) =>
            {
                format!("{k}=+{}", v.parse::<u64>().unwrap() - start)
            }
            _ => l.to_string(),
        })
        .collect()
}

/// Asserts that the shard of `warm` (made from a spare in `we`) is what
/// the cold create `cold` (in the twin world `ce`) made: files, index,
/// commit, branch and upstream, sparse patterns, status, env file. Returns
/// the upstream.
#[track_caller]
fn same_shard(we: &TestEnv, warm: &Value, ce: &TestEnv, cold: &Value) -> Option<String> {
    assert_eq!(warm["from_spare"], true, "{warm}");
    assert_eq!(cold["from_spare"], false, "{cold}");
    let name = warm["shard"]["name"].as_str().unwrap();
    assert_eq!(cold["shard"]["name"], name);
    let (w, c) = (shard_path(warm), shard_path(cold));
    assert_eq!(tree(&w), tree(&c));
    for args in [
        &["ls-files", "-s"][..],
        &["rev-parse", "HEAD"],
        &["symbolic-ref", "HEAD"],
        &["status", "--porcelain", "--ignored=no"],
    ] {
        assert_eq!(we.git(&w, args), ce.git(&c, args), "git {args:?}");
    }
    assert_eq!(we.git(&w, &["status", "--porcelain"]), "");
    let config = |e: &TestEnv, d: &Path| {
        e.try_git(d, &["config", "--get-regexp", "^branch\\.", "--null"])
            .unwrap_or_default()
            .split('\0')
            .filter(|l| l.starts_with(&format!("branch.{name}.")))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(config(we, &w), config(ce, &c));
    assert_eq!(sparse_of(we, &w), sparse_of(ce, &c));
    assert_eq!(env_text(warm), env_text(cold));
    let (uw, uc) = (upstream(we, &w, name), upstream(ce, &c, name));
    assert_eq!(uw, uc, "upstream");
    uw
}

/// Returns the worktree's sparse-checkout patterns file and config, or
/// `None` for each it lacks.
fn sparse_of(env: &TestEnv, dir: &Path) -> (Option<String>, String) {
    let file = env.git(
        dir,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "info/sparse-checkout",
        ],
    );
    let patterns = fs::read_to_string(file.trim()).ok();
    let config = env.try_git(
        dir,
        &["config", "--worktree", "--get-regexp", "^core\\.sparse"],
    );
    (patterns, config.unwrap_or_default())
}

/// Two identical worlds (commits have fixed dates, so the same ids), each
/// prepared by `before` and filled with one spare, then moved on by
/// `after`. The first will claim, the second create cold.
fn twins(before: &dyn Fn(&TestEnv), after: &dyn Fn(&TestEnv)) -> (TestEnv, TestEnv) {
    let make = || {
        let env = world(1);
        before(&env);
        env.shards(&["spares", "fill"]).ok();
        after(&env);
        env
    };
    (make(), make())
}

/// Creates `name` with `extra` arguments from a spare in `warm` and cold in
/// `cold`, and returns both reports.
fn claim_and_cold(warm: &TestEnv, cold: &TestEnv, name: &str, extra: &[&str]) -> (Value, Value) {
    let mut args = vec!["create", name, "--json"];
    args.extend(extra);
    let w = warm.shards(&args).ok().json();
    args.push("--no-spare");
    let c = cold.shards(&args).ok().json();
    (w, c)
}

/// The world's repository becomes a clone of another (`main`, the same
/// commits, and a branch `x` one commit ahead): `origin/main` and
/// `origin/x`, `main` tracking `origin/main`; `branch.autoSetupMerge` is
/// `mode` (git's default when `None`).
fn with_origin(env: &TestEnv, mode: Option<&str>) {
    let up = env.new_repo("up");
    let upstream = Repository::open(&up).unwrap();
    crate::common::commit(&upstream, &[("lock.json", "v1")], "lock file");
    env.git(&up, &["switch", "-q", "-c", "x"]);
    crate::common::commit(&upstream, &[("x.txt", "on x\n")], "x");
    env.git(&up, &["switch", "-q", "main"]);
    let main = env.git(&env.repo, &["rev-parse", "main"]);
    fs::remove_dir_all(&env.repo).unwrap();
    let (from, to) = (up.to_str().unwrap(), env.repo.to_str().unwrap());
    env.git(&env.root, &["clone", "-q", from, to]);
    assert_eq!(env.git(&env.repo, &["rev-parse", "main"]), main);
    fs::write(env.repo.join(".git/info/exclude"), ".setup-ran\n").unwrap();
    if let Some(mode) = mode {
        env.git(&env.repo, &["config", "branch.autoSetupMerge", mode]);
    }
}

/// The upstream a branch made by hand with `git worktree add -b` from
/// `base` (HEAD when `None`) gets in `env`.
fn by_hand(env: &TestEnv, base: Option<&str>) -> Option<String> {
    let wt = env.root.join("by-hand");
    let mut args = vec![
        "worktree",
        "add",
        "-q",
        "-b",
        "by-hand",
        wt.to_str().unwrap(),
    ];
    args.extend(base);
    env.git(&env.repo, &args);
    let got = upstream(env, &env.repo, "by-hand");
    env.git(&env.repo, &["worktree", "remove", wt.to_str().unwrap()]);
    env.git(&env.repo, &["branch", "-q", "-D", "by-hand"]);
    got
}

/// Under git's default `branch.autoSetupMerge` and under `always` and
/// `inherit`, with and without `--base origin/x`, the claimed shard's
/// branch has the upstream (or none) that a cold create and a `git
/// worktree add -b` by hand give it, and is the same shard.
#[test]
fn a_claim_sets_the_upstream_a_cold_create_sets_under_each_auto_setup_merge() {
    for mode in [None, Some("always"), Some("inherit")] {
        for base in [None, Some("origin/x")] {
            let (we, ce) = twins(&|e| with_origin(e, mode), &|_| {});
            let extra: Vec<&str> = base.iter().flat_map(|b| ["--base", b]).collect();
            let (w, c) = claim_and_cold(&we, &ce, "feat", &extra);
            let what = format!("autoSetupMerge {mode:?}, base {base:?}");
            let got = same_shard(&we, &w, &ce, &c);
            assert_eq!(got, by_hand(&ce, base), "{what}");
            let want = match (mode, base) {
                (None, None) => None,
                (Some("always"), None) => Some("main"),
                (Some("inherit"), None) => Some("origin/main"),
                (Some("inherit"), Some(_)) => None,
                (_, Some(_)) => Some("origin/x"),
                _ => unreachable!(),
            };
            assert_eq!(got.as_deref(), want, "{what}");
            agree(&we);
        }
    }
}

/// The spare is made at the default branch; a `--base` that names HEAD
/// (`HEAD~1`) means the user's HEAD, as in a cold create, not the spare's.
#[test]
fn a_claim_with_a_base_relative_to_head_starts_where_a_cold_create_does() {
    let (we, ce) = twins(&|_| {}, &|e| {
        e.commit(&[("a.txt", "1")], "one");
        e.commit(&[("a.txt", "2")], "two");
    });
    let (w, c) = claim_and_cold(&we, &ce, "feat", &["--base", "HEAD~1"]);
    same_shard(&we, &w, &ce, &c);
    let want = we.git(&we.repo, &["rev-parse", "HEAD~1"]);
    assert_eq!(we.git(&shard_path(&w), &["rev-parse", "HEAD"]), want);
}

/// With a cone sparse checkout in the main worktree, the spare is made
/// with its patterns, and the claimed shard has the patterns, config and
/// files of a cold create.
#[test]
fn a_claim_keeps_the_sparse_patterns_of_a_cold_create() {
    let sparse = |e: &TestEnv| {
        e.commit(&[("keep/a.txt", "a"), ("skip/b.txt", "b")], "dirs");
        e.git(&e.repo, &["sparse-checkout", "set", "--cone", "keep"]);
    };
    let (we, ce) = twins(&sparse, &|e| {
        e.commit(&[("keep/c.txt", "c"), ("skip/d.txt", "d")], "more");
    });
    let (w, c) = claim_and_cold(&we, &ce, "feat", &[]);
    same_shard(&we, &w, &ce, &c);
    let (patterns, config) = sparse_of(&we, &shard_path(&w));
    assert!(patterns.is_some_and(|p| p.contains("/keep/")), "{config}");
    assert!(shard_path(&w).join("keep/c.txt").is_file());
    assert!(!shard_path(&w).join("skip").exists());
}

/// A shard claimed from a spare made a day ago is as young as a cold one:
/// its age (`list`, `prune --merged --min-age`) starts at the claim.
#[test]
fn a_claimed_shard_is_as_young_as_a_cold_one() {
    let env = world(1);
    env.shards(&["spares", "fill"]).ok();
    let db = rusqlite::Connection::open(env.ledger()).unwrap();
    db.execute("UPDATE shards SET created_at = created_at - 86400", [])
        .unwrap();
    let warm = env.shards(&["create", "warm", "--json"]).ok().json();
    assert_eq!(warm["from_spare"], true);
    env.shards(&["create", "cold", "--json", "--no-spare"]).ok();
    let born = |name: &str| -> i64 {
        db.query_row(
            "SELECT created_at FROM shards WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(
        (born("warm") - born("cold")).abs() < 60,
        "{} {}",
        born("warm"),
        born("cold")
    );
}

// -------------------------------------------------------- git's differences

/// Returns `git reflog HEAD`'s messages in `dir`, newest first.
fn reflog(env: &TestEnv, dir: &Path) -> Vec<String> {
    env.git(dir, &["reflog", "show", "--format=%gs", "HEAD"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// git's own differences in a claimed shard: its HEAD reflog keeps the
/// spare's own entry (its `git worktree add --detach`) below the switch to
/// the branch, where a cold create's has its `git worktree add -b`; and
/// git's record of the worktree keeps the spare's name (`git worktree
/// move` does not rename it), where a cold create's is named after its
/// folder.
#[test]
fn a_claimed_shard_keeps_the_spares_reflog_entry_and_worktree_record_name() {
    let (we, ce) = twins(&|_| {}, &|e| {
        e.commit(&[("a.txt", "1")], "moved on");
    });
    let spare = spares(&we)[0].clone();
    let base = spare["base"].as_str().unwrap().to_string();
    let (w, c) = claim_and_cold(&we, &ce, "feat", &[]);
    same_shard(&we, &w, &ce, &c);
    // git worktree add writes HEAD with an empty message; with -b it then
    // resets to it (`reset: moving to HEAD`); detached it does not. The
    // claimed shard keeps the spare's entry below its switch.
    assert_eq!(reflog(&ce, &shard_path(&c)), ["reset: moving to HEAD", ""]);
    assert_eq!(
        reflog(&we, &shard_path(&w)),
        [
            format!("checkout: moving from {base} to feat"),
            String::new()
        ]
    );
    let record = |e: &TestEnv, d: &Path| {
        let dir = e.git(d, &["rev-parse", "--absolute-git-dir"]);
        Path::new(dir.trim())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(record(&ce, &shard_path(&c)), "feat");
    assert_eq!(
        record(&we, &shard_path(&w)),
        spare["name"].as_str().unwrap()
    );
}

/// A repository `post-checkout` hook runs once when the spare is made (git
/// worktree add: null, base, 1), once when it is claimed (git switch: the
/// spare's base, the shard's commit, 1), and once in a cold create.
#[test]
fn post_checkout_runs_at_fill_and_at_claim_with_gits_arguments() {
    let env = world(1);
    let log = env.root.join("post-checkout.log");
    post_checkout(&env, &format!("echo \"$PWD $*\" >> '{}'", log.display()));
    env.shards(&["spares", "fill"]).ok();
    let spare = spares(&env)[0].clone();
    let base = spare["base"].as_str().unwrap().to_string();
    let runs = || {
        fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        runs(),
        [format!("{} {ZERO} {base} 1", path_of(&spare).display())]
    );
    let now = env.commit(&[("a.txt", "1")], "moved on").to_string();
    let warm = env.shards(&["create", "warm", "--json"]).ok().json();
    assert_eq!(warm["from_spare"], true);
    let cold = env
        .shards(&["create", "cold", "--json", "--no-spare"])
        .ok()
        .json();
    assert_eq!(
        runs()[1..],
        [
            format!("{} {base} {now} 1", shard_path(&warm).display()),
            format!("{} {ZERO} {now} 1", shard_path(&cold).display()),
        ]
    );
}

/// A `post-checkout` hook that fails at the claim (git has switched by
/// then, and exits with the hook's status): the spare is handed back
/// detached at its base (the hook runs again for that switch back), with
/// no branch of the shard's name, and the cold create makes the shard.
#[test]
fn a_post_checkout_hook_failing_at_the_claim_hands_the_spare_back_detached() {
    let env = world(1);
    let (log, flag) = (env.root.join("runs.log"), env.root.join("fail-once"));
    post_checkout(
        &env,
        &format!(
            "echo \"$*\" >> '{}'\nif [ -e '{1}' ]; then rm '{1}'; exit 3; fi",
            log.display(),
            flag.display()
        ),
    );
    env.shards(&["spares", "fill"]).ok();
    let before = spares(&env);
    let base = before[0]["base"].as_str().unwrap().to_string();
    let now = env.commit(&[("a.txt", "1")], "moved on").to_string();
    fs::write(&flag, "").unwrap();
    let out = env.shards(&["create", "x", "--json"]).ok();
    assert_eq!(out.json()["from_spare"], false, "{out}");
    assert!(
        out.json()["cold"].as_str().unwrap().contains("handed back"),
        "{out}"
    );
    agree(&env);
    let after = spares(&env);
    assert_eq!(after.len(), 1);
    for k in ["name", "path", "base", "ports", "created_at"] {
        assert_eq!(after[0][k], before[0][k], "{k}");
    }
    assert_eq!(
        fs::read_to_string(&log)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        [
            format!("{ZERO} {base} 1"),
            format!("{base} {now} 1"),
            format!("{now} {base} 1"),
            format!("{ZERO} {now} 1"),
        ]
    );
    prune_idle(&env);
}

// ------------------------------------------------- included files, links

/// A file `.worktreeinclude` brings in, changed in the main worktree after
/// the fill: a cold create copies it as it is now, a claim keeps the copy
/// of its fill. That is a known gap, said in the README ("Not built"): the
/// fit does not hash the included files. When it is built, this test's
/// second assertion is the one to turn around.
#[test]
fn a_claim_keeps_the_included_files_of_its_fill_as_the_readme_says() {
    let (we, ce) = twins(
        &|e| {
            fs::write(e.repo.join(".git/info/exclude"), ".setup-ran\n.env.local\n").unwrap();
            fs::write(e.repo.join(".worktreeinclude"), ".env.local\n").unwrap();
            fs::write(e.repo.join(".env.local"), "SECRET=old\n").unwrap();
        },
        &|e| fs::write(e.repo.join(".env.local"), "SECRET=new\n").unwrap(),
    );
    let (w, c) = claim_and_cold(&we, &ce, "feat", &[]);
    assert_eq!(w["from_spare"], true, "{w}");
    assert_eq!(
        fs::read_to_string(shard_path(&c).join(".env.local")).unwrap(),
        "SECRET=new\n"
    );
    assert_eq!(
        fs::read_to_string(shard_path(&w).join(".env.local")).unwrap(),
        "SECRET=old\n"
    );
}

/// Commits on the test repository's HEAD what its work tree holds at
/// `paths` (links as links, modes as they are) and drops `gone`, with
/// fixed author and date, so twin worlds get the same commit.
fn commit_as_is(env: &TestEnv, paths: &[&str], gone: &[&str], message: &str) {
    let repo = Repository::open(&env.repo).unwrap();
    let mut index = repo.index().unwrap();
    for p in paths {
        index.add_path(Path::new(p)).unwrap();
    }
    for p in gone {
        fs::remove_file(env.repo.join(p)).unwrap();
        index.remove_path(Path::new(p)).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::new(
        "Test",
        "test@example.com",
        &git2::Time::new(1_700_000_000, 0),
    )
    .unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])
        .unwrap();
}

/// The base moved since the fill by a symbolic link, an executable file
/// and a deletion: the claimed shard is the cold create's.
#[test]
fn a_claim_writes_links_modes_and_deletions_as_a_cold_create() {
    let (we, ce) = twins(&|_| {}, &|e| {
        std::os::unix::fs::symlink("src/lib.rs", e.repo.join("link")).unwrap();
        fs::write(e.repo.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(
            e.repo.join("run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        commit_as_is(e, &["link", "run.sh"], &["README.md"], "links and modes");
    });
    let (w, c) = claim_and_cold(&we, &ce, "feat", &[]);
    same_shard(&we, &w, &ce, &c);
    let wt = shard_path(&w);
    assert_eq!(
        fs::read_link(wt.join("link")).unwrap(),
        Path::new("src/lib.rs")
    );
    assert!(!wt.join("README.md").exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(wt.join("run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o111,
        0o111
    );
}
