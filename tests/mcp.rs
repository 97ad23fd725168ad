//! `shards mcp` driven by a real MCP client from outside the project: the
//! official Python SDK (`mcp` from PyPI), in a virtual environment under
//! `target/` that this test creates when it is missing (`.ci/run` makes it
//! first). That needs the network and python3's venv (Debian's
//! `python3-venv`), so the SDK test is ignored by a plain `cargo test` and
//! run by `.ci/run` (`--include-ignored`), where a failed install fails it.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

use crate::common::TestEnv;

/// The pinned SDK version the test was written against.
const MCP_SDK: &str = "mcp==2.3.0";

fn venv_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mcp-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".mcp-sdk-ready");
    if !ready.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", MCP_SDK])
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            ok,
            "could not install the MCP Python SDK ({MCP_SDK}) into {}",
            venv.display()
        );
        std::fs::write(&ready, MCP_SDK).unwrap();
    }
    python
}

#[test]
#[ignore = "needs the MCP Python SDK from PyPI: network and python3-venv (.ci/run installs it)"]
fn an_agent_drives_shards_through_the_official_python_sdk() {
    let env = TestEnv::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let mut cmd = Command::new(venv_python());
    cmd.arg(&script)
        .arg(env!("CARGO_BIN_EXE_shards"))
        .arg(&env.repo);
    // The same scrubbed environment the binary gets in every other test.
    let shards = env.command_in(&env.repo, &[]);
    cmd.env_clear();
    for (k, v) in shards.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));

    assert_eq!(doc["server"], "shards");
    let tools: Vec<&str> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "create_shard",
            "destroy_shard",
            "get_port",
            "list_shards",
            "port_status",
            "port_summary",
            "release_port",
            "shard_env",
            "update_port"
        ]
    );
    assert_eq!(doc["schemas"]["create_shard"]["required"][0], "name");

    let created = &doc["create"]["structured"]["shard"];
    assert_eq!(doc["create"]["is_error"], false);
    assert_eq!(
        (
            created["ports"]["start"].as_u64(),
            created["ports"]["end"].as_u64()
        ),
        (Some(env.block(0).0), Some(env.block(0).1))
    );
    let ports = &doc["get_port"]["structured"]["services"];
    assert_eq!(
        (ports[0]["service"].as_str(), ports[0]["port"].as_u64()),
        (Some("web"), Some(env.block(0).0))
    );
    assert_eq!(
        (ports[1]["service"].as_str(), ports[1]["port"].as_u64()),
        (Some("api"), Some(env.block(0).0 + 1))
    );
    assert_eq!(
        doc["get_port_again"]["structured"]["services"][0]["port"],
        env.block(0).0,
        "inferred from the worktree"
    );
    assert_eq!(
        doc["env"]["structured"]["vars"]["WEB_PORT"],
        env.block(0).0.to_string()
    );
    assert_eq!(doc["list"]["structured"]["shards"][0]["name"], "agent-1");
    let audit = &doc["status"]["structured"];
    assert_eq!(audit["shards"][0]["services"].as_array().unwrap().len(), 2);
    assert!(audit["pool"]["blocks_total"].as_u64().unwrap() > 0);

    // Described services: get_port's description, update_port, port_summary.
    let db = &doc["get_port_described"]["structured"]["services"][0];
    assert_eq!(
        (db["service"].as_str(), db["describe"].as_str()),
        (Some("db"), Some("Postgres")),
        "{db}"
    );
    let web = &doc["update_port"]["structured"]["services"][0];
    assert_eq!(web["describe"], "Frontend dev server", "{web}");
    assert_eq!(web["health"], "/healthz");
    assert_eq!(web["port"], env.block(0).0, "the port stays");
    let db = &doc["update_udp"]["structured"]["services"][0];
    assert_eq!(
        (db["protocol"].as_str(), db["describe"].as_str()),
        (Some("udp"), Some("Postgres")),
        "{db}"
    );
    for refused in ["update_missing", "update_bad_protocol"] {
        assert_eq!(doc[refused]["is_error"], true, "{}", doc[refused]);
        assert!(
            doc[refused]["text"].as_str().unwrap().contains("hint:"),
            "{}",
            doc[refused]
        );
    }
    assert!(
        doc["update_missing"]["text"]
            .as_str()
            .unwrap()
            .contains("no named port `nope`")
    );
    let summary = &doc["summary"]["structured"];
    assert_eq!(summary["ports"]["start"], env.block(0).0, "{summary}");
    assert_eq!(summary["ports"]["end"], env.block(0).1);
    let named: Vec<&str> = summary["named"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["service"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["web", "api", "db"]);
    let free = summary["free_offsets"].as_array().unwrap();
    let count = env.block(0).1 - env.block(0).0 + 1;
    assert_eq!(free.len() as u64, count - 3);
    assert!(
        !free.contains(&0.into()) && free.contains(&3.into()),
        "{free:?}"
    );
    assert!(summary["utilization"].as_f64().unwrap() > 0.0);
    assert!(summary["pool"]["blocks_held"].as_u64().unwrap() >= 1);
    let services = doc["status_health"]["structured"]["shards"][0]["services"]
        .as_array()
        .unwrap()
        .clone();
    let web = services.iter().find(|s| s["service"] == "web").unwrap();
    assert_eq!(
        (web["state"].as_str(), web["code"].as_u64()),
        (Some("healthy"), Some(200)),
        "{web}"
    );

    // A malformed call is refused and the server goes on serving.
    let malformed = &doc["malformed"];
    assert!(
        malformed.get("protocol_error").is_some() || malformed["is_error"] == true,
        "{malformed}"
    );
    assert!(
        doc["unknown_tool"].get("protocol_error").is_some()
            || doc["unknown_tool"]["is_error"] == true
    );
    // Errors are tool errors with the CLI's messages.
    assert_eq!(doc["bad_name"]["is_error"], true);
    assert!(
        doc["bad_name"]["text"]
            .as_str()
            .unwrap()
            .contains("invalid shard name `../escape`"),
        "{}",
        doc["bad_name"]
    );
    assert!(doc["bad_name"]["text"].as_str().unwrap().contains("hint:"));
    let huge = doc["huge_name"]["text"].as_str().unwrap();
    assert_eq!(doc["huge_name"]["is_error"], true);
    assert!(huge.len() < 1000, "{} bytes", huge.len());
    assert!(huge.contains("… (1000000 bytes)`"), "{huge}");
    assert_eq!(doc["destroy_dirty"]["is_error"], true);
    assert!(
        doc["destroy_dirty"]["text"]
            .as_str()
            .unwrap()
            .contains("wip.txt")
    );
    assert_eq!(doc["destroy_forced"]["is_error"], false);
    assert_eq!(
        doc["list_after"]["structured"]["shards"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // One truth: the CLI sees what the agent did.
    assert!(env.list().is_empty());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
}

/// A `shards mcp` server spoken to line by line, as a client would.
struct Server {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Server {
    /// Starts `shards mcp` in the repository; its stderr goes to `stderr`.
    fn start(env: &TestEnv, stderr: Stdio) -> Server {
        let mut child = env.mcp_server(stderr);
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Server {
            child,
            stdin,
            lines,
        }
    }

    /// Sends one message line.
    fn send(&mut self, msg: &str) {
        writeln!(self.stdin, "{msg}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Reads the next message line as JSON.
    fn recv(&mut self) -> Value {
        serde_json::from_str(&self.lines.next().unwrap().unwrap()).unwrap()
    }

    /// Closes stdin and returns whether the server then ended cleanly, and
    /// whatever it still wrote to stdout.
    fn close(self) -> (bool, Vec<String>) {
        let Server {
            mut child,
            stdin,
            lines,
        } = self;
        drop(stdin);
        let ok = child.wait().unwrap().success();
        (ok, lines.map(Result::unwrap).collect())
    }
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

#[test]
fn garbage_on_the_wire_gets_a_protocol_error_and_stdout_stays_protocol_only() {
    let env = TestEnv::new();
    let mut server = Server::start(&env, Stdio::piped());
    server.send(INITIALIZE);
    assert_eq!(server.recv()["id"], 1);
    server.send(INITIALIZED);
    server.send("this is not JSON at all");
    let garbage = server.recv();
    assert_eq!(garbage["id"], Value::Null, "{garbage}");
    assert_eq!(garbage["error"]["code"], -32700, "{garbage}");
    server.send(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_shard","arguments":{"name":7}}}"#,
    );
    let bad = server.recv();
    assert_eq!(bad["id"], 2);
    assert!(
        bad.get("error").is_some() || bad["result"]["isError"] == true,
        "{bad}"
    );
    server.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#);
    let listed = server.recv();
    assert_eq!(listed["id"], 3);
    assert_eq!(listed["result"]["tools"].as_array().unwrap().len(), 9);
    let (ended_cleanly, rest) = server.close();
    assert!(
        ended_cleanly,
        "the server did not end cleanly when stdin closed"
    );
    assert!(
        rest.is_empty(),
        "stdout carried more than protocol messages: {rest:?}"
    );
}

#[test]
fn the_server_keeps_answering_while_a_call_waits_for_the_ledger() {
    let mut env = TestEnv::new();
    env.create("base");
    let lock = env.lock_ledger(2000);
    let mut server = Server::start(&env, Stdio::null());
    for msg in [
        INITIALIZE,
        INITIALIZED,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_shard","arguments":{"name":"waits"}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
    ] {
        server.send(msg);
    }
    assert_eq!(server.recv()["id"], 1);
    let second = server.recv();
    assert_eq!(
        second["id"], 3,
        "ping waited behind the blocked call: {second}"
    );
    let third = server.recv();
    assert_eq!(third["id"], 2);
    assert_eq!(third["result"]["isError"], true);
    assert!(
        third["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("stayed locked"),
        "{third}"
    );
    lock.execute_batch("ROLLBACK").unwrap();
    assert!(server.close().0);
}

#[test]
fn create_shard_takes_a_ready_spare() {
    let env = TestEnv::new();
    env.write_config("[spares]\ncount = 1\n");
    env.shards(&["spares", "fill"]).ok();
    let spare = env.shards(&["spares", "--json"]).ok().json()["spares"][0].clone();
    let mut server = Server::start(&env, Stdio::null());
    server.send(INITIALIZE);
    assert_eq!(server.recv()["id"], 1);
    server.send(INITIALIZED);
    server.send(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_shard","arguments":{"name":"agent"}}}"#,
    );
    let made = server.recv();
    assert_eq!(made["result"]["isError"], false, "{made}");
    let report: Value =
        serde_json::from_str(made["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(report["from_spare"], true, "{report}");
    assert_eq!(report["shard"]["ports"], spare["ports"]);
    server.close();
    let left = env.shards(&["spares", "--json"]).ok().json();
    assert_eq!(left["spares"], serde_json::json!([]));
}
