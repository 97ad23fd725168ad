//! Snapshots of what people and scripts read: the `--help` of every command,
//! every `--json` report, and the human error messages with their hints and
//! exit codes. They live in `tests/snapshots/`; after an intended change,
//! rewrite them with `INSTA_UPDATE=always cargo test -- snapshots` and review
//! the diff. Each test's pool starts at its first port, which snapshots show
//! as 10000 (see `common::ports`), so the ports in them are the same on
//! every run.

use clap::CommandFactory;

use crate::common::{TestEnv, hold, shard_path};

#[test]
fn help_of_every_command() {
    let env = TestEnv::new();
    let cli = shards::Cli::command();
    let mut commands = vec![vec![]];
    for sub in cli.get_subcommands() {
        commands.push(vec![sub.get_name()]);
        for subsub in sub.get_subcommands() {
            commands.push(vec![sub.get_name(), subsub.get_name()]);
        }
    }
    assert!(commands.contains(&vec!["port", "who"]));
    for command in commands {
        let mut args = command.clone();
        args.push("--help");
        let out = env.shards(&args).ok();
        let name = std::iter::once("shards").chain(command).collect::<Vec<_>>();
        env.snapshot(&format!("help-{}", name.join("-")), &out);
    }
}

#[test]
fn json_reports_of_a_shards_life() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let create = env.shards(&["create", "a", "--json"]).ok();
    env.snapshot("json-create", &create);
    let wt = shard_path(&create.json());
    env.snapshot(
        "json-port",
        &env.shards_in(&wt, &["port", "web", "api", "--json"]).ok(),
    );
    env.snapshot(
        "json-port-list",
        &env.shards(&["port", "--shard", "a", "--json"]).ok(),
    );
    env.snapshot("json-path", &env.shards(&["path", "a", "--json"]).ok());
    env.snapshot(
        "json-env",
        &env.shards(&["env", "a", "--format", "json"]).ok(),
    );
    env.snapshot("json-list", &env.shards(&["list", "--json"]).ok());
    let other = env.new_repo("other");
    env.shards_in(&other, &["create", "b"]).ok();
    env.snapshot(
        "json-list-all",
        &env.shards(&["list", "--all", "--json"]).ok(),
    );
    env.snapshot(
        "json-destroy",
        &env.shards(&["destroy", "a", "--json"]).ok(),
    );
    env.snapshot(
        "json-error",
        &env.shards(&["destroy", "a", "--json"]).code(1),
    );
}

#[test]
fn json_reports_of_prune() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    env.create("kept");
    let gone = shard_path(&env.create("gone"));
    std::fs::remove_dir_all(&gone).unwrap();
    env.snapshot(
        "json-prune-dry-run",
        &env.shards(&["prune", "--dry-run", "--json"]).ok(),
    );
    env.snapshot("json-prune", &env.shards(&["prune", "--json"]).ok());
    env.snapshot("json-prune-nothing", &env.shards(&["prune", "--json"]).ok());
}

#[test]
fn json_reports_of_the_audit() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let wt = shard_path(&env.create("a"));
    env.shards_in(&wt, &["port", "web"]).ok();
    let _listener = hold(&wt, "tcp", "127.0.0.1", env.port(0));
    env.snapshot("json-status", &env.shards(&["status", "--json"]).ok());
    env.snapshot(
        "json-port-who",
        &env.shards(&["port", "who", &env.port(0).to_string(), "--json"])
            .ok(),
    );
}

#[test]
fn json_report_of_adopt() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let path = env.root.join("old-worktree");
    env.git(
        &env.repo,
        &["worktree", "add", "-b", "old", path.to_str().unwrap()],
    );
    env.snapshot(
        "json-adopt",
        &env.shards(&["adopt", path.to_str().unwrap(), "--json"])
            .ok(),
    );
}

#[test]
fn human_errors_say_what_and_what_next() {
    let mut env = TestEnv::new();
    env.small_pool(10, 2);
    let a = shard_path(&env.create("a"));
    std::fs::write(a.join("wip.txt"), "work\n").unwrap();
    for (name, args) in [
        ("invalid-name", &["create", "../escape"][..]),
        ("ref-not-found", &["create", "b", "--base", "no-such-ref"]),
        ("shard-not-found", &["destroy", "nope"]),
        ("name-taken", &["create", "a"]),
        ("dirty-destroy", &["destroy", "a"]),
        ("not-in-shard", &["port", "web"]),
    ] {
        env.snapshot(&format!("error-{name}"), &env.shards(args));
    }
    env.create("b");
    env.snapshot("error-exhausted", &env.shards(&["create", "c"]));
    let not_a_repo = env.root.join("plain");
    std::fs::create_dir_all(&not_a_repo).unwrap();
    env.snapshot(
        "error-not-a-repo",
        &env.shards_in(&not_a_repo, &["create", "x"]),
    );
}

#[test]
fn human_errors_of_unusable_ledgers() {
    for (name, fixture) in [
        ("error-corrupt-ledger", "corrupt.sqlite"),
        ("error-newer-ledger", "future.sqlite"),
    ] {
        let env = TestEnv::new();
        env.use_ledger_fixture(fixture);
        env.snapshot(name, &env.shards(&["list"]));
    }
}
