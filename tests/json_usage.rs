//! Usage errors under `--json` (issue 18): clap refuses the command line
//! before shards knows the format, yet a script still gets the error
//! document on stdout and exit 2, with clap's own text on stderr. `--help`
//! and `--version` are answers, not errors, and a `--json` after `--`
//! belongs to the child command.

use crate::common::TestEnv;

/// Runs `args`, asserts exit 2 with a `usage` error document on stdout and
/// clap's text on stderr, and returns the document's `error`.
#[track_caller]
fn usage_error(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let out = env.shards(args).code(2);
    let doc = out.json();
    assert_eq!(doc["version"], 1, "{out}");
    let error = &doc["error"];
    assert_eq!(error["kind"], "usage", "{out}");
    assert_eq!(error["exit_code"], 2, "{out}");
    assert!(error["hint"].is_string(), "no hint: {out}");
    let message = error["message"].as_str().unwrap();
    assert!(!message.is_empty() && !message.contains('\n'), "{out}");
    assert!(out.stderr.starts_with("error: "), "{out}");
    assert!(
        out.stderr.contains(message.split(' ').next().unwrap()),
        "{out}"
    );
    error.clone()
}

#[test]
fn issue_18_usage_errors_under_json_print_the_error_document() {
    let env = TestEnv::new();
    let missing = usage_error(&env, &["--json", "destroy"]);
    insta::assert_snapshot!(env.shown(&env.shards(&["--json", "destroy"])), @r#"
    {
      "version": 1,
      "error": {
        "kind": "usage",
        "message": "the following required arguments were not provided: <NAME>...",
        "hint": "usage: shards destroy <NAME>...; see `shards destroy --help`",
        "exit_code": 2
      }
    }
    --- stderr ---
    error: the following required arguments were not provided:
      <NAME>...

    Usage: shards destroy <NAME>...

    For more information, try '--help'.
    [exit status: 2]
    "#);
    // A global flag: anywhere before `--`.
    assert_eq!(
        usage_error(&env, &["destroy", "--json"])["message"],
        missing["message"]
    );
    let bad_port = usage_error(&env, &["--json", "port", "who", "abc"]);
    assert_eq!(
        bad_port["message"],
        "invalid value 'abc' for '<PORT>': invalid digit found in string"
    );
    assert_eq!(bad_port["hint"], "see `shards port who --help`");
    let bad_age = usage_error(
        &env,
        &["--json", "prune", "--merged", "--min-age", "banana"],
    );
    assert!(
        bad_age["message"].as_str().unwrap().contains("'banana'"),
        "{bad_age}"
    );
    let unknown = usage_error(&env, &["--json", "frobnicate"]);
    assert_eq!(unknown["message"], "unrecognized subcommand 'frobnicate'");
    let near = usage_error(&env, &["--json", "lst"]);
    assert!(
        near["hint"]
            .as_str()
            .unwrap()
            .starts_with("a similar subcommand exists: 'list'"),
        "{near}"
    );
    usage_error(&env, &["--json"]);
}

#[test]
fn issue_18_usage_errors_without_json_print_nothing_on_stdout() {
    let env = TestEnv::new();
    let out = env.shards(&["destroy"]).code(2);
    assert_eq!(out.stdout, "", "{out}");
    // After `--` a `--json` is the child command's, not ours.
    let out = env.shards(&["run", "--", "true", "--json"]).code(2);
    assert_eq!(out.stdout, "", "{out}");
    let out = env.shards(&["create", "--", "cmd", "--json"]).code(2);
    assert_eq!(out.stdout, "", "{out}");
}

#[test]
fn issue_18_help_and_version_under_json_are_not_errors() {
    let env = TestEnv::new();
    let help = env.shards(&["--json", "destroy", "--help"]).ok();
    assert!(help.stdout.starts_with("Destroy"), "{help}");
    assert!(!help.stdout.contains("\"error\""), "{help}");
    let version = env.shards(&["--json", "--version"]).ok();
    assert!(version.stdout.starts_with("shards "), "{version}");
}
