//! Described services (issue 21): `[ports.services]` tables and `shards
//! port --describe/--protocol/--health`, kept in the ledger and shown by
//! `port`, `port who`, `status` and `--json`; health asked of real python3
//! servers (200, 500, nothing listening); UDP services counted as running
//! when a UDP socket is bound.

use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::common::procs::{answers, hold, wait_for};
use crate::common::{TestEnv, ports};

/// A python3 server on `port` that answers every GET with `code`.
struct Answering(Child);

impl Drop for Answering {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn answering(port: u16, code: u16) -> Answering {
    let script = format!(
        r#"
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response({code} if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()
HTTPServer(("127.0.0.1", {port}), H).serve_forever()
"#
    );
    let child = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 must be on PATH");
    let server = Answering(child);
    wait_for("the health server to listen", || answers(port));
    server
}

/// The services of the first shard in `status --json`, by name.
fn audited(env: &TestEnv) -> Vec<Value> {
    let status = env.shards(&["--json", "status"]).ok().json();
    status["shards"][0]["services"].as_array().unwrap().clone()
}

fn find<'a>(services: &'a [Value], name: &str) -> &'a Value {
    services
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("no {name} in {services:?}"))
}

const CONFIG: &str = r#"[ports.services]
ok = { offset = 1, describe = "Frontend dev server", health = "/healthz" }
bad = { offset = 2, health = "/healthz" }
down = { offset = 3, describe = "API", health = "/healthz" }
dns = { offset = 4, protocol = "udp", describe = "Local resolver" }
plain = 5
"#;

#[test]
fn status_asks_health_paths_and_reports_healthy_unhealthy_and_not_listening() {
    let env = TestEnv::new();
    env.write_config(CONFIG);
    let a = env.create("a");
    let start = ports(&a["shard"]).0 as u16;
    let _ok = answering(start + 1, 200);
    let _bad = answering(start + 2, 500);
    let services = audited(&env);
    let ok = find(&services, "ok");
    assert_eq!(ok["state"], "healthy", "{ok}");
    assert_eq!(ok["code"], 200);
    assert_eq!(ok["describe"], "Frontend dev server");
    assert_eq!(ok["health"], "/healthz");
    let bad = find(&services, "bad");
    assert_eq!(
        (bad["state"].as_str(), bad["code"].as_u64()),
        (Some("unhealthy"), Some(500)),
        "{bad}"
    );
    let down = find(&services, "down");
    assert_eq!(down["state"], "not_listening", "{down}");
    assert_eq!(down["listening"], false);
    // Without a health path, a listening check as before.
    assert_eq!(find(&services, "plain")["state"], "not_listening");
    assert_eq!(find(&services, "plain")["protocol"], "tcp");

    let shown = env.shards(&["status"]).ok().stdout;
    for line in [
        format!(
            "ok       {}  tcp    healthy (200)  Frontend dev server",
            start + 1
        ),
        format!("bad      {}  tcp    unhealthy 500  -", start + 2),
        format!("down     {}  tcp    not listening  API", start + 3),
    ] {
        assert!(
            shown.lines().any(|l| l.trim_start() == line),
            "{line:?} in\n{shown}"
        );
    }
    // A plain named port keeps the line it always had.
    assert!(
        shown.contains(&format!("named ports not listening: plain {}", start + 5)),
        "{shown}"
    );
}

#[test]
fn a_udp_service_runs_when_a_udp_socket_is_bound_and_not_when_tcp_listens() {
    let env = TestEnv::new();
    env.write_config(CONFIG);
    let a = env.create("a");
    let dns = ports(&a["shard"]).0 as u16 + 4;
    {
        // A TCP listener is not the UDP service running.
        let _tcp = hold(&env.root, "tcp", "127.0.0.1", dns);
        let services = audited(&env);
        let s = find(&services, "dns");
        assert_eq!(
            (s["protocol"].as_str(), s["state"].as_str()),
            (Some("udp"), Some("not_listening")),
            "{s}"
        );
    }
    let _udp = hold(&env.root, "udp", "127.0.0.1", dns);
    let services = audited(&env);
    let s = find(&services, "dns");
    assert_eq!(s["state"], "listening", "{s}");
    assert_eq!(s["listening"], true);
    // `list --full` counts it the same way.
    let list = env.shards(&["--json", "list", "--full"]).ok().json();
    let live = list["shards"][0]["services"].as_array().unwrap().clone();
    assert_eq!(find(&live, "dns")["listening"], true, "{live:?}");
}

#[test]
fn port_describes_a_service_and_port_who_and_json_show_it() {
    let env = TestEnv::new();
    let a = env.create("a");
    let start = ports(&a["shard"]).0 as u16;
    let describe_web = || {
        env.shards(&[
            "port",
            "web",
            "--describe",
            "Frontend dev server",
            "--shard",
            "a",
        ])
        .ok()
    };
    let out = describe_web();
    assert_eq!(out.stdout, format!("web {start}  Frontend dev server\n"));
    // Another flag later keeps what was said before; the port stays.
    let out = env
        .shards(&[
            "--json", "port", "web", "--health", "/healthz", "--shard", "a",
        ])
        .ok()
        .json();
    let web = &out["services"][0];
    assert_eq!(web["port"], start);
    assert_eq!(web["describe"], "Frontend dev server");
    assert_eq!(web["health"], "/healthz");
    assert_eq!(web["protocol"], "tcp");
    let who = env.shards(&["port", "who", &start.to_string()]).ok().stdout;
    assert!(
        who.starts_with(&format!(
            "port {start}: owned by shard a (service web: Frontend dev server)"
        )),
        "{who}"
    );
    let who = env
        .shards(&["--json", "port", "who", &start.to_string()])
        .ok()
        .json();
    assert_eq!(who["owner"]["describe"], "Frontend dev server");
    assert_eq!(who["owner"]["health"], "/healthz");
    // An empty value clears its field.
    let cleared = env
        .shards(&["--json", "port", "web", "--describe", "", "--shard", "a"])
        .ok()
        .json();
    assert!(cleared["services"][0]["describe"].is_null(), "{cleared}");
    describe_web();
    // A listing shows every service with what describes it.
    env.shards(&["port", "dns", "--protocol", "udp", "--shard", "a"])
        .ok();
    let listed = env.shards(&["port", "--shard", "a"]).ok().stdout;
    assert_eq!(
        listed,
        format!(
            "web {start}  health /healthz  Frontend dev server\ndns {}  udp\n",
            start + 1
        )
    );
}

#[test]
fn what_describes_a_service_is_checked_before_anything_changes() {
    let env = TestEnv::new();
    env.create("a");
    for (args, says) in [
        (vec!["--protocol", "sctp"], "`sctp` is not a protocol"),
        (vec!["--health", "healthz"], "a health path starts with `/`"),
        (vec!["--health", "/a b"], "no spaces"),
        (vec!["--describe", "two\nlines"], "one line"),
    ] {
        let mut argv = vec!["port", "web", "--shard", "a"];
        argv.extend(args);
        env.shards(&argv).code(2).says(&[says]);
    }
    env.shards(&["port", "web", "api", "--describe", "both", "--shard", "a"])
        .code(2)
        .says(&["say what one service is", "name one service"]);
    // Nothing was allocated by the refusals.
    let listed = env.shards(&["--json", "port", "--shard", "a"]).ok().json();
    assert_eq!(listed["services"], serde_json::json!([]));
}

#[test]
fn a_service_configured_later_fills_what_nobody_set() {
    let env = TestEnv::new();
    let a = env.create("a");
    let start = ports(&a["shard"]).0 as u16;
    env.shards(&["port", "web", "--describe", "mine", "--shard", "a"])
        .ok();
    env.write_config(
        "[ports.services]\nweb = { offset = 0, describe = \"theirs\", health = \"/up\" }\n",
    );
    let out = env
        .shards(&["--json", "port", "web", "--shard", "a"])
        .ok()
        .json();
    let web = &out["services"][0];
    assert_eq!(web["port"], start);
    assert_eq!(web["describe"], "mine", "what the user said stays");
    assert_eq!(
        web["health"], "/up",
        "what nobody said comes from the config"
    );
}

#[test]
fn a_failed_env_write_after_describing_a_service_keeps_its_port_and_info() {
    // Found in review: the undo took a described service for a new one
    // and released it.
    let env = TestEnv::new();
    let wt = env.create_worktree("a");
    env.shards_in(&wt, &["port", "web", "--describe", "Old"])
        .ok();
    let before = env.shards_in(&wt, &["--json", "port"]).ok().json();
    // The env file's write fails: direnv on, and `.envrc` a folder.
    std::fs::create_dir(wt.join(".envrc")).unwrap();
    env.write_config("[env]\ndirenv = true\n");
    env.shards_in(&wt, &["port", "web", "--describe", "New"])
        .code(1);
    std::fs::remove_dir(wt.join(".envrc")).unwrap();
    env.write_config("");
    let after = env.shards_in(&wt, &["--json", "port"]).ok().json();
    assert_eq!(after["services"], before["services"], "{after}");
    assert_eq!(after["services"][0]["describe"], "Old");
}
