//! Real clients through `shards proxy`: a headless Chromium, which keeps
//! cookies per host name and not per port, so two shards' apps get their
//! own cookies behind the proxy where two plain ports share them; and curl,
//! which tells two shards' servers apart by host name. Both resolve
//! `*.localhost` to loopback by themselves (no resolver, no /etc/hosts
//! line, no `--host-resolver-rules`), as a developer's would.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::common::proxy::host;
use crate::common::{TestEnv, ports, procs::wait_for};

/// How long Chromium may take to start, or a page to load, on a loaded
/// two-core machine.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
#[ignore = "needs chromium (.ci/run installs it)"]
fn a_browser_keeps_shards_cookies_apart_through_the_proxy_and_shares_them_across_plain_ports() {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    let a = env.create("a");
    let b = env.create("b");
    let (port_a, port_b) = (ports(&a["shard"]).0 as u16, ports(&b["shard"]).0 as u16);
    let _apps = [env.backend("a", port_a), env.backend("b", port_b)];
    let _proxy = env.start_proxy(port);

    // Through the proxy each shard is its own host, so a cookie that shard
    // a sets is not sent to shard b.
    let mut browser = Chromium::launch(&env, "proxy");
    let url = |shard: &str, path: &str| format!("http://{}{path}", host(shard, port));
    assert_eq!(browser.text_of(&url("a", "/cookie")), "set");
    assert_eq!(browser.text_of(&url("b", "/seen")), "cookie:");
    assert_eq!(browser.text_of(&url("a", "/seen")), "cookie: session=a");
    browser.close();

    // On plain ports both apps are `localhost`, and a cookie is the host's
    // whatever the port: shard b gets shard a's session. This is what the
    // proxy is for.
    let mut browser = Chromium::launch(&env, "ports");
    let url = |port: u16, path: &str| format!("http://localhost:{port}{path}");
    assert_eq!(browser.text_of(&url(port_a, "/cookie")), "set");
    assert_eq!(browser.text_of(&url(port_b, "/seen")), "cookie: session=a");
    browser.close();

    env.shards(&["proxy", "stop"]).ok();
}

#[test]
#[ignore = "needs curl (.ci/run installs it)"]
fn curl_tells_two_shards_servers_apart_by_host_name() {
    let mut env = TestEnv::new();
    let port = env.proxy_port();
    let a = env.create("a");
    let b = env.create("feature/b");
    let _apps = [
        env.backend("a", ports(&a["shard"]).0 as u16),
        env.backend("b", ports(&b["shard"]).0 as u16),
    ];
    let _proxy = env.start_proxy(port);
    for (label, name) in [("a", "a"), ("feature-b", "b")] {
        let host = host(label, port);
        let (body, ip) = curl(&env, &format!("http://{host}/"));
        assert!(body.starts_with(&format!("shard {name}\n")), "{body}");
        assert!(body.lines().any(|l| l == format!("host: {host}")), "{body}");
        // curl found the proxy on loopback by itself.
        assert!(ip == "127.0.0.1" || ip == "::1", "curl connected to {ip}");
    }
    env.shards(&["proxy", "stop"]).ok();
}

/// Runs `curl` on `url` with nothing of the caller's environment (no
/// proxy variables, no `.curlrc`); returns the body and the address curl
/// connected to.
fn curl(env: &TestEnv, url: &str) -> (String, String) {
    let out = Command::new("curl")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &env.home)
        .args(["-q", "-sS", "--fail", "--noproxy", "*", "--max-time", "60"])
        .args(["-w", "\n%{remote_ip}", url])
        .output()
        .expect("curl must be on PATH (.ci/run installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl {url}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, ip) = stdout.rsplit_once('\n').unwrap();
    (body.to_string(), ip.to_string())
}

/// A headless Chromium with its own profile and home in the test's folder,
/// driven over the DevTools protocol through one page.
struct Chromium {
    socket: WebSocket<TcpStream>,
    /// The DevTools session of the page.
    session: Option<String>,
    next_id: u64,
    // Dropped after the socket: the processes, killed.
    group: Group,
}

/// Chromium's processes, in a process group of their own: all killed
/// (SIGKILL) when dropped, so none outlives the test, even one that fails.
struct Group {
    child: Child,
    /// The folder of the profile, home and log.
    dir: PathBuf,
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: only signals the group of the test's own Chromium, whose
        // leader it has not waited for yet, so the id is still its.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Chromium {
    /// Starts Chromium with a new profile in `<root>/chromium-<name>` and
    /// opens a blank page.
    fn launch(env: &TestEnv, name: &str) -> Chromium {
        let dir = env.root.join(format!("chromium-{name}"));
        let (profile, home) = (dir.join("profile"), dir.join("home"));
        std::fs::create_dir_all(&profile).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let mut cmd = Command::new("chromium");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .args([
                "--headless",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--no-proxy-server",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Chromium refuses to run as root with its sandbox.
            cmd.arg("--no-sandbox");
        }
        cmd.arg("about:blank");
        let child = cmd
            .spawn()
            .expect("chromium must be on PATH (.ci/run installs it)");
        let mut group = Group { child, dir };
        let (port, path) = group.devtools_address(&profile);

        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let (socket, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream)
            .unwrap_or_else(|e| panic!("no DevTools connection: {e}\n{}", group.log()));
        let mut browser = Chromium {
            socket,
            session: None,
            next_id: 1,
            group,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().map(str::to_string);
        browser
    }

    /// Loads `url` in the page and returns its text once it has loaded.
    fn text_of(&mut self, url: &str) -> String {
        let nav = self.call("Page.navigate", json!({ "url": url }));
        assert!(
            nav.get("errorText").is_none(),
            "chromium could not load {url}: {nav}"
        );
        // The old document answers until the new one is there: wait for a
        // loaded document at this address.
        let expression = format!(
            "document.readyState == 'complete' && location.href == {} ? document.body.innerText : null",
            json!(url)
        );
        let start = Instant::now();
        loop {
            let params = json!({"expression": expression, "returnByValue": true});
            // While the documents change, an evaluation can fail (its
            // context is gone): ask again.
            if let Ok(r) = self.try_call("Runtime.evaluate", params)
                && let Some(text) = r["result"]["value"].as_str()
            {
                return text.trim().to_string();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{url} did not load in chromium\n{}",
                self.group.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the browser, and checks that none of its processes is left.
    fn close(mut self) {
        let dir = self.group.dir.clone();
        // The check below would pass for nothing if it could not see them.
        assert!(
            !processes_of(&dir).is_empty(),
            "chromium's processes unseen"
        );
        let _ = self.try_call("Browser.close", json!({}));
        drop(self);
        wait_for("chromium's processes to end", || {
            processes_of(&dir).is_empty()
        });
    }

    /// Sends `method` and returns its result, failing the test on an error.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params).unwrap_or_else(|e| {
            panic!("chromium: {method}: {e}\n{}", self.group.log());
        })
    }

    /// Sends `method` to the page (or, before there is one, the browser)
    /// and returns its result or its error.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session
            && !method.starts_with("Browser.")
        {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .map_err(|e| json!(e.to_string()))?;
        loop {
            let text = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(e) => return Err(json!(format!("no answer: {e}"))),
            };
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            // Anything else is an event.
            if answer["id"] == id {
                return match answer.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(answer["result"].clone()),
                };
            }
        }
    }
}

impl Group {
    /// Waits for Chromium to write the port and path of its DevTools
    /// endpoint into the profile.
    fn devtools_address(&mut self, profile: &Path) -> (u16, String) {
        let file = profile.join("DevToolsActivePort");
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            // Written whole only once it ends its second line.
            if let Some((port, path)) = text.split_once('\n')
                && path.starts_with("/devtools/")
                && let Ok(port) = port.parse()
            {
                return (port, path.trim().to_string());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromium ended ({status}) before it listened\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < PATIENCE,
                "chromium did not listen in {PATIENCE:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Returns the end of Chromium's log, to show with a failure.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("--- chromium's log ---\n{}", tail.join("\n"))
    }
}

/// Returns the processes whose command line or environment names `dir`:
/// Chromium's own name its profile, its crash handlers only have its
/// `HOME` (a zombie has neither, so an ended process waiting to be reaped
/// is not one).
fn processes_of(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let names = |pid: u32, file: &str| {
        std::fs::read(format!("/proc/{pid}/{file}"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| names(pid, "cmdline") || names(pid, "environ"))
        .collect()
}
