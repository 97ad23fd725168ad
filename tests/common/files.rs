//! Reading what a test checks: reports' ports and paths, env files, text
//! files, fixtures, and a real command's output.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Returns the ports block of a shard JSON object as (start, end).
pub fn ports(shard: &Value) -> (u64, u64) {
    (
        shard["ports"]["start"].as_u64().unwrap(),
        shard["ports"]["end"].as_u64().unwrap(),
    )
}

/// Returns the entry of shard `name` in a report's `shards` list (`list`,
/// `status` or `prune --json`), failing the test with the report where
/// there is none.
#[track_caller]
pub fn shard_named<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["shards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {doc:#}"))
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
