//! `shards proxy`: real python3 servers as the shards' apps, the proxy as
//! `shards proxy start` runs it, and requests over raw sockets (real
//! clients, Chromium and curl, in `proxy_browser.rs`),
//! so each test sees what a browser or a client would.

use std::io::{Read, Write};

use crate::common::proxy::{Backend, Open, Proxy, exchange, get, host, open};
use crate::common::{TestEnv, env_value, ports, shard_path};

/// A world with shard `a`, its app, and the proxy; returns it and the
/// proxy's port.
fn one_shard() -> (TestEnv, u16, Backend, Proxy) {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    let a = env.create("a");
    let app = env.backend("a", ports(&a["shard"]).0 as u16);
    let proxy = env.start_proxy(port);
    (env, port, app, proxy)
}

#[test]
fn two_shards_servers_are_told_apart_by_host_and_routes_follow_the_ledger() {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    let a = env.create("a");
    let b = env.create("feature/b");
    let _apps = [
        env.backend("a", ports(&a["shard"]).0 as u16),
        env.backend("b", ports(&b["shard"]).0 as u16),
    ];
    let proxy = env.start_proxy(port);

    let answer = get(proxy.port, &host("a", port), "/");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.starts_with("shard a\n"), "{}", answer.body);
    // The Host is kept, and the forwarding headers say where it came from.
    for line in [
        format!("host: a.repo.localhost:{port}"),
        format!("x-forwarded-host: a.repo.localhost:{port}"),
        "x-forwarded-for: 127.0.0.1".to_string(),
        "x-forwarded-proto: http".to_string(),
    ] {
        assert!(
            answer.body.lines().any(|l| l == line),
            "{line} in {}",
            answer.body
        );
    }
    // `feature/b` is the label `feature-b`, in any case.
    let answer = get(proxy.port, &host("Feature-B", port), "/");
    assert!(answer.body.starts_with("shard b\n"), "{}", answer.body);

    // A shard created while the proxy runs is routed at the next request;
    // nothing listens on its port yet, and the page says so.
    let c = env.create("c");
    let answer = get(proxy.port, &host("c", port), "/");
    assert_eq!(answer.status, 502, "{answer:?}");
    let first = ports(&c["shard"]).0;
    assert!(
        answer
            .body
            .contains(&format!("nothing listens on port {first}"))
            && answer.body.contains("shard `c` of repository repo"),
        "{}",
        answer.body
    );

    // A shard destroyed while it runs: its host is 404, and the page lists
    // the shards that are left with their URLs.
    env.shards(&["destroy", "feature/b"]).ok();
    let answer = get(proxy.port, &host("feature-b", port), "/");
    assert_eq!(answer.status, 404, "{answer:?}");
    assert!(
        answer
            .body
            .contains(&format!("http://a.repo.localhost:{port}"))
            && answer
                .body
                .contains(&format!("http://c.repo.localhost:{port}"))
            && !answer.body.contains("http://feature-b."),
        "{}",
        answer.body
    );
    env.shards(&["proxy", "stop"]).ok();
}

#[test]
fn a_named_service_has_its_own_host_and_a_bare_host_goes_to_web() {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    env.write_config("[ports.services]\nweb = 3\napi = 4\n");
    let a = env.create("a");
    let start = ports(&a["shard"]).0 as u16;
    let _apps = [env.backend("web", start + 3), env.backend("api", start + 4)];
    let _proxy = env.start_proxy(port);
    let bare = get(port, &host("a", port), "/");
    assert!(bare.body.starts_with("shard web\n"), "{bare:?}");
    let api = get(port, &format!("api.a.repo.localhost:{port}"), "/");
    assert!(api.body.starts_with("shard api\n"), "{api:?}");
    let none = get(port, &format!("db.a.repo.localhost:{port}"), "/");
    assert_eq!(none.status, 404);
    assert!(none.body.contains("has no service `db`"), "{}", none.body);
    env.shards(&["proxy", "stop"]).ok();
}

#[test]
fn a_websocket_echo_passes_through_both_ways() {
    let (env, port, _app, _proxy) = one_shard();

    let Open {
        socket: mut s,
        mut reader,
        head,
    } = open(
        port,
        &format!(
            "GET /ws HTTP/1.1\r\nHost: a.repo.localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455's own example key and accept.
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    for text in ["hello", "again"] {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        s.write_all(&frame).unwrap();
        let mut got = [0u8; 2];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(got[0], 0x81);
        let mut payload = vec![0u8; got[1] as usize];
        reader.read_exact(&mut payload).unwrap();
        assert_eq!(String::from_utf8(payload).unwrap(), format!("a: {text}"));
    }
    env.shards(&["proxy", "stop"]).ok();
}

#[test]
fn a_streamed_answer_arrives_chunk_by_chunk() {
    let (env, port, app, _proxy) = one_shard();

    let Open {
        mut reader, head, ..
    } = open(
        port,
        &format!(
            "GET /stream HTTP/1.1\r\nHost: a.repo.localhost:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The server holds its last chunk until the test lets it go: the first
    // must come through on its own.
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("data: first") {
        reader.read_exact(&mut byte).unwrap();
        seen.push(byte[0]);
    }
    assert!(!String::from_utf8_lossy(&seen).contains("data: last"));
    std::fs::write(&app.release, "").unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("data: last"), "{rest}");
    env.shards(&["proxy", "stop"]).ok();
}

#[test]
fn it_is_never_an_open_proxy() {
    let (env, port, _app, _proxy) = one_shard();

    // Absolute-form for another host: refused, whatever the Host says.
    let answer = exchange(
        port,
        &format!(
            "GET http://example.com/ HTTP/1.1\r\nHost: a.repo.localhost:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(answer.body.contains("not an open proxy"), "{}", answer.body);
    let answer = exchange(
        port,
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(answer.status, 405, "{answer:?}");
    // Absolute-form for a shard's own host is served.
    let answer = exchange(
        port,
        &format!(
            "GET http://a.repo.localhost:{port}/ HTTP/1.1\r\nHost: a.repo.localhost:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.body.starts_with("shard a\n"), "{answer:?}");
    // A head larger than the bound is refused, not buffered.
    let big = "x".repeat(100 * 1024);
    let answer = exchange(
        port,
        &format!(
            "GET / HTTP/1.1\r\nHost: a.repo.localhost:{port}\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(answer.status, 431, "{answer:?}");
    env.shards(&["proxy", "stop"]).ok();
}

#[test]
fn a_request_that_comes_back_to_the_proxy_stops_with_508() {
    // The proxy listens on the first port of shard `a`'s block, so `a`'s
    // bare host forwards to the proxy itself.
    let mut env = TestEnv::new();
    env.proxy_port();
    let a = env.create("a");
    let port = ports(&a["shard"]).0 as u16;
    env.set("SHARDS_PROXY_PORT", &port.to_string());
    let _proxy = env.start_proxy(port);
    let answer = get(port, &host("a", port), "/");
    assert_eq!(answer.status, 508, "{answer:?}");
    assert!(answer.body.contains("loop"), "{}", answer.body);
    // `status` names the listener in `a`'s block as shards' proxy, not as
    // a foreign process.
    let status = env.shards(&["--json", "status"]).ok().json();
    let listening = status["shards"][0]["listening"].as_array().unwrap();
    assert!(!listening.is_empty(), "{status}");
    assert!(
        listening.iter().all(|l| l["place"] == "proxy"),
        "{listening:?}"
    );
    env.shards(&["proxy", "stop"]).ok();
}

#[test]
fn status_names_the_proxy_as_shards_own_listener() {
    let (env, port, _app, _proxy) = one_shard();
    let status = env.shards(&["--json", "status"]).ok().json();
    let pid = std::fs::read_to_string(env.shards_home.join("proxy.pid")).unwrap();
    let pid: i64 = pid.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(status["proxy"]["pid"], pid, "{status}");
    assert_eq!(status["proxy"]["port"], port);
    let addresses = status["proxy"]["addresses"].as_array().unwrap();
    assert!(
        addresses.contains(&format!("127.0.0.1:{port}").into()),
        "{addresses:?}"
    );
    let shown = env.shards(&["status"]).ok();
    assert!(
        shown.stdout.contains(&format!(
            "proxy: shards' own, pid {pid} on 127.0.0.1:{port}"
        )),
        "{}",
        shown.stdout
    );
    env.shards(&["proxy", "stop"]).ok();
    let status = env.shards(&["--json", "status"]).ok().json();
    assert!(status["proxy"].is_null(), "{status}");
}

#[test]
fn start_status_and_stop_tell_what_runs() {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    env.create("a");
    let status = env.shards(&["--json", "proxy", "status"]).ok().json();
    assert_eq!(status["running"], false);
    assert_eq!(status["port"], port);
    assert_eq!(
        status["routes"][0]["url"],
        format!("http://a.repo.localhost:{port}")
    );
    let _proxy = env.start_proxy(port);
    let again = env.shards(&["--json", "proxy", "start"]).ok();
    assert_eq!(again.json()["was_running"], true);
    assert!(again.stderr.contains("already runs"), "{}", again.stderr);
    // A second proxy of the home is refused, before it binds anything.
    env.shards(&["proxy", "run"])
        .code(1)
        .says(&["a proxy of this home already runs", "shards proxy stop"]);
    let status = env.shards(&["--json", "proxy", "status"]).ok().json();
    assert_eq!(status["running"], true);
    let pid = status["pid"].as_i64().unwrap();
    assert!(crate::common::procs::alive(pid));
    let stopped = env.shards(&["--json", "proxy", "stop"]).ok();
    assert_eq!(stopped.json()["pid"], pid);
    assert!(!crate::common::procs::alive(pid));
    assert!(!env.shards_home.join("proxy.pid").exists());
    env.shards(&["proxy", "stop"])
        .ok()
        .says(&["was not running"]);
}

#[test]
fn a_taken_port_is_an_error_that_says_how_to_choose_another() {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    env.shards(&["proxy", "run"])
        .code(1)
        .says(&["cannot serve on 127.0.0.1", "SHARDS_PROXY_PORT"]);
    assert!(!env.shards_home.join("proxy.pid").exists());
}

#[test]
fn a_repository_file_cannot_choose_the_proxy() {
    let env = TestEnv::new();
    std::fs::write(env.repo.join(".shards.toml"), "[proxy]\nport = 8080\n").unwrap();
    env.shards(&["create", "a"]).code(2).says(&[
        ".shards.toml:2",
        "`proxy.port` can only be set in your user config",
    ]);
}

/// Returns the `Host` of a URL the env file gave (`http://HOST:PORT`).
fn host_of(url: &str) -> &str {
    url.strip_prefix("http://").expect("an http URL")
}

#[test]
fn with_the_proxy_enabled_env_files_carry_urls_that_reach_the_shard() {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    env.write_config("[proxy]\nenabled = true\n\n[ports.services]\nweb = 1\n");
    let a = env.create("a");
    let file = shard_path(&a).join(".env");
    assert_eq!(
        env_value(&file, "SHARD_URL").as_deref(),
        Some(format!("http://a.repo.localhost:{port}").as_str())
    );
    let web_url = env_value(&file, "WEB_URL").expect("WEB_URL in the env file");
    assert_eq!(web_url, format!("http://web.a.repo.localhost:{port}"));
    // `shards port` adds a service, and its URL follows.
    env.shards(&["port", "api", "--shard", "a"]).ok();
    assert_eq!(
        env_value(&file, "API_URL"),
        Some(format!("http://api.a.repo.localhost:{port}"))
    );
    // What describes a service carries its URL too.
    let listed = env.shards(&["--json", "port", "--shard", "a"]).ok().json();
    assert_eq!(listed["services"][1]["url"], web_url.as_str(), "{listed}");
    let status = env.shards(&["--json", "status"]).ok().json();
    let web = &status["shards"][0]["services"][1];
    assert_eq!(web["url"], web_url.as_str(), "{status}");
    // `shards env` says the same as the file.
    let shown = env.shards(&["env", "a"]).ok();
    assert!(
        shown
            .stdout
            .contains(&format!("export WEB_URL='{web_url}'")),
        "{}",
        shown.stdout
    );

    let start = ports(&a["shard"]).0 as u16;
    let _app = env.backend("a-web", start + 1);
    let _proxy = env.start_proxy(port);
    let answer = get(port, host_of(&web_url), "/");
    assert!(answer.body.starts_with("shard a-web\n"), "{answer:?}");
    let answer = get(port, host_of(&env_value(&file, "SHARD_URL").unwrap()), "/");
    assert!(answer.body.starts_with("shard a-web\n"), "{answer:?}");
    env.shards(&["proxy", "stop"]).ok();
}

#[test]
fn a_url_handed_out_keeps_reaching_its_shard_when_a_namesake_goes() {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    env.set("SHARDS_PROXY_ENABLED", "1");
    // `feat_x` and `feat-x` are both the label `feat-x`: the first keeps it.
    let first = env.create("feat_x");
    let second = env.create("feat-x");
    let first_url = env_value(&shard_path(&first).join(".env"), "SHARD_URL").unwrap();
    let second_url = env_value(&shard_path(&second).join(".env"), "SHARD_URL").unwrap();
    assert_eq!(first_url, format!("http://feat-x.repo.localhost:{port}"));
    assert_ne!(second_url, first_url);
    assert!(
        second_url.starts_with("http://feat-x-")
            && second_url.ends_with(&format!(".repo.localhost:{port}")),
        "{second_url}"
    );
    let _apps = [
        env.backend("first", ports(&first["shard"]).0 as u16),
        env.backend("second", ports(&second["shard"]).0 as u16),
    ];
    let _proxy = env.start_proxy(port);
    let answer = get(port, host_of(&first_url), "/");
    assert!(answer.body.starts_with("shard first\n"), "{answer:?}");
    let answer = get(port, host_of(&second_url), "/");
    assert!(answer.body.starts_with("shard second\n"), "{answer:?}");
    // The first goes; the second's URL, as its env file says it, still
    // reaches the second.
    env.shards(&["destroy", "feat_x"]).ok();
    let answer = get(port, host_of(&second_url), "/");
    assert!(answer.body.starts_with("shard second\n"), "{answer:?}");
    env.shards(&["proxy", "stop"]).ok();
}

#[test]
fn without_the_proxy_enabled_env_files_have_no_urls() {
    let env = TestEnv::new();
    let a = env.create("a");
    let vars = crate::common::read_env(&shard_path(&a).join(".env"));
    assert!(vars.iter().all(|(k, _)| !k.ends_with("_URL")), "{vars:?}");
}

#[test]
fn a_spare_has_no_url_until_a_create_claims_it() {
    use crate::common::spares::{path_of, spares, world};
    let mut env = world(1);
    env.set("SHARDS_PROXY_ENABLED", "true");
    env.shards(&["spares", "fill"]).ok();
    let spare = spares(&env).remove(0);
    let vars = crate::common::read_env(&path_of(&spare).join(".env"));
    assert!(vars.iter().all(|(k, _)| !k.ends_with("_URL")), "{vars:?}");
    let warm = env.shards(&["create", "warm", "--json"]).ok().json();
    assert_eq!(warm["from_spare"], true, "{warm}");
    assert_eq!(
        env_value(&shard_path(&warm).join(".env"), "SHARD_URL"),
        Some("http://warm.repo.localhost:1355".to_string())
    );
}

#[test]
fn a_spare_claimed_later_never_takes_the_label_an_older_shard_handed_out() {
    // Found in review: `Foo` made cold, then `foo` claiming a spare made
    // before both. The label `foo` went to the older row (the spare's)
    // when their times tied; it stays with the shard that took it first.
    let mut env = TestEnv::new();
    env.set("SHARDS_PROXY_ENABLED", "true");
    env.write_config("[spares]\ncount = 1\n");
    env.shards(&["spares", "fill", "--wait"]).ok();
    let cold = env
        .shards(&["create", "Foo", "--no-spare", "--json"])
        .ok()
        .json();
    // A row's time says nothing of the order (seconds, read before the
    // write, reset by a claim): make `Foo`'s the later one.
    rusqlite::Connection::open(env.ledger())
        .unwrap()
        .execute(
            "UPDATE shards SET created_at = created_at + 1000 WHERE name = 'Foo'",
            [],
        )
        .unwrap();
    let warm = env.shards(&["create", "foo", "--json"]).ok().json();
    assert_eq!(warm["from_spare"], true, "{warm}");
    let handed_out = env_value(&shard_path(&cold).join(".env"), "SHARD_URL").unwrap();
    assert_eq!(handed_out, "http://foo.repo.localhost:1355");
    let now = env.shards(&["env", "Foo", "--format", "json"]).ok().json();
    assert_eq!(now["vars"]["SHARD_URL"].as_str(), Some(handed_out.as_str()));
    let theirs = env_value(&shard_path(&warm).join(".env"), "SHARD_URL").unwrap();
    assert_ne!(theirs, handed_out);
}
