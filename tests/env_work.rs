//! `list --full` and `destroy` agree on work in the env file (issue 18): a
//! line the user adds outside shards' section is work to both, in the same
//! words; a shard whose env file holds only shards' section is clean to both.

use crate::common::{TestEnv, shard_path};

#[test]
fn issue_18_a_user_line_in_the_env_file_is_work_to_list_full_and_destroy() {
    let env = TestEnv::new();
    let wt = shard_path(&env.create("a"));
    env.create("b");
    let file = wt.join(".env");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}MY_TOKEN=secret\n")).unwrap();

    let doc = env.shards(&["list", "--full", "--json"]).ok().json();
    let shards = doc["shards"].as_array().unwrap();
    let by = |name: &str| shards.iter().find(|s| s["name"] == name).unwrap().clone();
    let (a, b) = (by("a"), by("b"));
    assert_eq!(
        a["env_work"], "1 line in .env that shards did not write",
        "{a:#}"
    );
    assert_eq!(b["env_work"], serde_json::Value::Null, "{b:#}");

    let out = env.shards(&["list", "--full"]).ok();
    let row = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(!row("a ").contains("clean"), "{out}");
    assert!(row("a ").contains("env"), "{out}");
    assert!(row("b ").contains("clean"), "{out}");
    assert!(
        out.stderr
            .contains("a: 1 line in .env that shards did not write"),
        "{out}"
    );

    let refused = env.shards(&["destroy", "a"]).code(1);
    assert!(
        refused
            .stderr
            .contains("1 line in .env that shards did not write"),
        "{refused}"
    );
    env.shards(&["destroy", "b"]).ok();
}
