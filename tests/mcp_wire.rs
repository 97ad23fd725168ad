//! `shards mcp` on the wire (issue 10, case 8): raw JSON-RPC lines into the
//! real binary's stdin, exact replies out of its stdout. A bad value is
//! quoted back as a short prefix, a line that is not JSON gets -32700, a
//! batch is answered as the negotiated protocol version says (an array under
//! 2025-03-26, an error for every id from 2025-06-18 on), and the server
//! keeps serving after each. Every test checks the ledger's shards, the
//! repository's branches and the worktree folders before and after.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::TestEnv;

/// Ten megabytes: the size of the bad values the tests send.
const BIG: usize = 10 * 1024 * 1024;

/// The most a reply about a bad value may take.
const REPLY_BOUND: usize = 2048;

/// A running `shards mcp` with a line reader on its stdout.
pub(crate) struct Wire {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Wire {
    /// Starts the server and completes the handshake at `version`.
    pub(crate) fn start(env: &TestEnv, version: &str) -> Wire {
        let mut child = env.mcp_server(Stdio::null());
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut wire = Wire {
            stdin: child.stdin.take(),
            child,
            lines,
        };
        wire.send(
            &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion": version, "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}})
            .to_string(),
        );
        let init = wire.recv();
        assert_eq!(init["id"], 0, "{init}");
        assert_eq!(init["result"]["protocolVersion"], version, "{init}");
        wire.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        wire
    }

    fn send(&mut self, line: &str) {
        self.send_bytes(line.as_bytes());
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line on stdout, as it came.
    fn recv_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the server sent no reply")
    }

    /// The next line on stdout, parsed.
    fn recv(&self) -> Value {
        let line = self.recv_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Pings with `id` and checks that the very next line is the answer:
    /// nothing else was sent before it, and the server still serves.
    pub(crate) fn ping(&mut self, id: u64) {
        self.send(&json!({"jsonrpc":"2.0","id":id,"method":"ping"}).to_string());
        assert_eq!(self.recv(), json!({"jsonrpc":"2.0","id":id,"result":{}}));
    }

    /// Calls a tool and returns the raw reply line.
    pub(crate) fn call(&mut self, id: u64, tool: &str, arguments: Value) -> String {
        self.send(
            &json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
                "params":{"name":tool,"arguments":arguments}})
            .to_string(),
        );
        self.recv_line()
    }

    /// Closes stdin and checks the server ends cleanly with nothing more said.
    pub(crate) fn finish(mut self) {
        drop(self.stdin.take());
        assert!(self.child.wait().unwrap().success());
        assert!(self.lines.recv_timeout(Duration::from_secs(5)).is_err());
    }
}

/// The shards the ledger holds, the repository's branches and the worktree
/// folders.
pub(crate) fn world(env: &TestEnv) -> (Vec<String>, Vec<String>, Vec<PathBuf>) {
    let names = env
        .list()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    (names, env.branches(&env.repo), env.worktree_folders())
}

/// Asserts that the world ([`world`]) holds shard `name` and nothing else:
/// one shard in the ledger, its branch beside `main`, one worktree folder.
#[track_caller]
fn assert_only_shard(env: &TestEnv, name: &str) {
    let (names, branches, folders) = world(env);
    assert_eq!(names, [name]);
    assert_eq!(branches, [name, "main"]);
    assert_eq!(folders.len(), 1);
}

/// Checks an error reply: exactly `jsonrpc`, `id` and `error`, with `code`.
#[track_caller]
fn assert_error(reply: &Value, id: Value, code: i64) {
    let keys: Vec<&str> = reply
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {reply}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["error", "id", "jsonrpc"], "{reply}");
    assert_eq!(reply["jsonrpc"], "2.0", "{reply}");
    assert_eq!(reply["id"], id, "{reply}");
    assert_eq!(reply["error"]["code"], code, "{reply}");
    assert!(reply["error"]["message"].is_string(), "{reply}");
}

/// The text a tool error or a protocol error carries.
pub(crate) fn error_text(reply: &Value) -> String {
    if let Some(message) = reply["error"]["message"].as_str() {
        return message.to_string();
    }
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn issue_10_mcp_a_10_mb_bad_value_is_quoted_back_as_a_short_prefix() {
    let env = TestEnv::new();
    let before = world(&env);
    let mut wire = Wire::start(&env, "2025-06-18");
    let big = |c: &str| c.repeat(BIG);

    // Our own error: an invalid shard name, quoted as 80 characters and its size.
    let line = wire.call(1, "create_shard", json!({"name": big("a")}));
    assert!(line.len() < REPLY_BOUND, "a reply of {} bytes", line.len());
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["id"], 1);
    let text = error_text(&reply);
    assert!(
        text.contains(&format!(
            "invalid shard name `{}… ({BIG} bytes)`",
            "a".repeat(80)
        )),
        "{text}"
    );
    assert!(text.contains("hint: "), "{text}");

    // A value of the wrong type, in serde's words (quoted by serde).
    let line = wire.call(2, "get_port", json!({"services": big("s"), "shard": "x"}));
    assert!(line.len() < REPLY_BOUND, "a reply of {} bytes", line.len());
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["id"], 2);
    let text = error_text(&reply);
    assert!(text.contains("invalid type: string"), "{text}");
    assert!(text.contains(&format!("({BIG} bytes)")), "{text}");
    assert!(text.contains("expected a sequence"), "{text}");

    // A ref that git cannot find, a repository path no file system takes,
    // a tool and a method of 10 MB: every reply stays short.
    for (id, params) in [
        (
            3,
            json!({"name":"create_shard","arguments":{"name":"fine","base":big("b")}}),
        ),
        (
            4,
            json!({"name":"list_shards","arguments":{"repo":format!("/{}", big("r"))}}),
        ),
        (5, json!({"name":big("t"),"arguments":{}})),
    ] {
        wire.send(
            &json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":params}).to_string(),
        );
        let line = wire.recv_line();
        assert!(
            line.len() < REPLY_BOUND,
            "{id}: a reply of {} bytes",
            line.len()
        );
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["id"], id, "{reply}");
        error_text(&reply);
    }
    wire.send(&json!({"jsonrpc":"2.0","id":6,"method":big("m")}).to_string());
    let line = wire.recv_line();
    assert!(line.len() < REPLY_BOUND, "a reply of {} bytes", line.len());
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["id"], 6, "{reply}");
    assert!(reply["error"]["code"].is_i64(), "{reply}");

    wire.ping(7);
    wire.finish();
    assert_eq!(world(&env), before, "a refused call changed the world");
    assert_eq!(before.0, Vec::<String>::new());
}

#[test]
fn issue_10_mcp_a_line_that_is_not_json_gets_a_parse_error_and_serving_goes_on() {
    let env = TestEnv::new();
    let before = world(&env);
    let mut wire = Wire::start(&env, "2025-06-18");

    wire.send("this is not JSON at all");
    assert_error(&wire.recv(), Value::Null, -32700);
    wire.send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list""#);
    assert_error(&wire.recv(), Value::Null, -32700);
    wire.send_bytes(b"\xff\xfe{}");
    assert_error(&wire.recv(), Value::Null, -32700);
    wire.send(&"x".repeat(BIG));
    let line = wire.recv_line();
    assert!(line.len() < REPLY_BOUND, "a reply of {} bytes", line.len());
    assert_error(&serde_json::from_str(&line).unwrap(), Value::Null, -32700);
    // JSON, but no JSON-RPC message: refused under its own id.
    wire.send(r#"{"jsonrpc":"2.0","id":7,"method":7}"#);
    assert_error(&wire.recv(), json!(7), -32600);
    wire.ping(8);
    assert_eq!(world(&env), before, "garbage changed the world");

    // The server still does real work after the garbage.
    let line = wire.call(9, "create_shard", json!({"name": "after-garbage"}));
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["id"], 9);
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    wire.finish();
    assert_only_shard(&env, "after-garbage");
}

#[test]
fn issue_10_mcp_a_batch_under_2025_06_18_gets_an_error_for_each_of_its_ids() {
    let env = TestEnv::new();
    let before = world(&env);
    let mut wire = Wire::start(&env, "2025-06-18");

    wire.send(
        &json!([
            {"jsonrpc":"2.0","id":"a","method":"ping"},
            {"jsonrpc":"2.0","method":"notifications/initialized"},
            {"jsonrpc":"2.0","id":"b","method":"tools/call",
             "params":{"name":"create_shard","arguments":{"name":"batched"}}},
        ])
        .to_string(),
    );
    for id in ["a", "b"] {
        let reply = wire.recv();
        assert_error(&reply, json!(id), -32600);
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains("2025-06-18"), "{message}");
    }
    // No id to answer: one error without an id.
    wire.send("[]");
    assert_error(&wire.recv(), Value::Null, -32600);
    wire.send(r#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#);
    assert_error(&wire.recv(), Value::Null, -32600);
    wire.ping(1);
    wire.finish();
    assert_eq!(world(&env), before, "a refused batch was carried out");
}

#[test]
fn issue_10_mcp_a_batch_under_2025_03_26_is_answered_with_an_array() {
    let env = TestEnv::new();
    let (names, branches, folders) = world(&env);
    assert!(names.is_empty() && folders.is_empty());
    assert_eq!(branches, ["main"]);
    let mut wire = Wire::start(&env, "2025-03-26");

    wire.send(
        &json!([
            {"jsonrpc":"2.0","id":1,"method":"ping"},
            {"jsonrpc":"2.0","id":"two","method":"tools/call",
             "params":{"name":"create_shard","arguments":{"name":"batched"}}},
            {"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}},
            42,
            {"jsonrpc":"2.0","id":5,"method":"initialize","params":{
                "protocolVersion":"2025-03-26","capabilities":{},
                "clientInfo":{"name":"raw","version":"1"}}},
            {"jsonrpc":"2.0","id":6,"method":7},
        ])
        .to_string(),
    );
    let reply = wire.recv();
    let replies = reply
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {reply}"));
    assert_eq!(replies.len(), 5, "{reply}");
    let by_id = |id: Value| {
        replies
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no reply for {id}: {reply}"))
    };
    assert_eq!(
        by_id(json!(1)),
        &json!({"jsonrpc":"2.0","id":1,"result":{}})
    );
    let created = by_id(json!("two"));
    assert_eq!(created["result"]["isError"], false, "{created}");
    assert_eq!(
        created["result"]["structuredContent"]["shard"]["name"],
        "batched"
    );
    assert_error(by_id(Value::Null), Value::Null, -32600);
    assert_error(by_id(json!(5)), json!(5), -32600);
    assert_error(by_id(json!(6)), json!(6), -32600);

    // Notifications alone: nothing to answer, so nothing is sent.
    wire.send(
        r#"[{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":998}}]"#,
    );
    wire.ping(7);
    // An empty batch is one invalid request, answered by one error.
    wire.send("[]");
    assert_error(&wire.recv(), Value::Null, -32600);
    wire.ping(8);
    wire.finish();

    assert_only_shard(&env, "batched");
}

#[test]
fn issue_13_mcp_list_shards_with_full_reads_each_worktree() {
    let env = TestEnv::new();
    let a = crate::common::shard_path(&env.create("a"));
    std::fs::write(a.join("wip.txt"), "x").unwrap();
    env.git(&a, &["commit", "-q", "--allow-empty", "-m", "a1"]);
    env.shards(&["port", "web", "--shard", "a"]).ok();
    let mut wire = Wire::start(&env, "2025-06-18");
    let plain: Value = serde_json::from_str(&wire.call(1, "list_shards", json!({}))).unwrap();
    let shard = &plain["result"]["structuredContent"]["shards"][0];
    assert_eq!(shard["name"], "a", "{plain}");
    assert!(shard.get("untracked").is_none(), "{plain}");
    let full: Value =
        serde_json::from_str(&wire.call(2, "list_shards", json!({"full": true}))).unwrap();
    let shard = &full["result"]["structuredContent"]["shards"][0];
    assert_eq!(shard["untracked"], 1, "{full}");
    assert_eq!(shard["modified"], 0, "{full}");
    assert_eq!((&shard["ahead"], &shard["behind"]), (&json!(1), &json!(0)));
    assert_eq!(shard["base"], "main");
    assert_eq!(shard["services"][0]["service"], "web", "{full}");
    assert_eq!(shard["services"][0]["listening"], false, "{full}");
    wire.finish();
}
