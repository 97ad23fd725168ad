//! No write loses a line (issue 18): while `shards port` allocates and
//! releases ports, rewriting the env file each time, writers appending to
//! the same file (one opening it anew for every line, as `echo >> .env`
//! does, from a thread or a shell loop, or one keeping an `O_APPEND`
//! descriptor open) lose nothing, and the managed section is right at the
//! end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::common::{TestEnv, shard_path};

/// How an appender reaches the file.
#[derive(Clone, Copy)]
enum Appender {
    /// Opens the file for every line (`echo "line $i" >> .env`).
    Reopening,
    /// Keeps one `O_APPEND` descriptor open for all its lines.
    Holding,
    /// A shell loop of `echo "... line $i" >> .env`: another process.
    Shell,
}

/// How many lines each writer appends, one every [`PACE`].
const LINES: usize = 400;
const PACE: std::time::Duration = std::time::Duration::from_millis(2);

/// Appends `<tag> line <i>` to `path` [`LINES`] times, then returns how
/// many it wrote.
fn append(path: PathBuf, tag: &'static str, how: Appender) -> JoinHandle<usize> {
    std::thread::spawn(move || {
        if let Appender::Shell = how {
            let script = format!(
                r#"i=0; while [ $i -lt {LINES} ]; do echo "{tag} line $i" >> "$1"; sleep 0.002; i=$((i+1)); done"#
            );
            let status = std::process::Command::new("sh")
                .args(["-c", &script, "sh"])
                .arg(&path)
                .status()
                .unwrap();
            assert!(status.success());
            return LINES;
        }
        let open = || {
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap()
        };
        let mut held = matches!(how, Appender::Holding).then(open);
        for i in 0..LINES {
            let line = format!("{tag} line {i}\n");
            match held.as_mut() {
                Some(file) => file.write_all(line.as_bytes()).unwrap(),
                None => open().write_all(line.as_bytes()).unwrap(),
            }
            std::thread::sleep(PACE);
        }
        LINES
    })
}

/// Runs `port web` / `port --release web` (and, from a second thread, the
/// same for `api`: two shards processes on one file) until two writers,
/// one appending as `how` says, are done; returns the env file and the
/// lines written by tag.
fn race(how: Appender) -> (TestEnv, PathBuf, Vec<(&'static str, usize)>) {
    let env = TestEnv::new();
    let wt = shard_path(&env.create("a"));
    let file = wt.join(".env");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}USER=1\n")).unwrap();
    let writers = [
        ("agent", append(file.clone(), "agent", how)),
        ("user", append(file.clone(), "user", Appender::Reopening)),
    ];
    let done = AtomicBool::new(false);
    let rounds = std::thread::scope(|s| {
        let (env, done) = (&env, &done);
        let api = s.spawn(move || {
            let mut rounds = 0;
            while !done.load(Ordering::Relaxed) {
                env.shards(&["port", "api", "--shard", "a"]).ok();
                env.shards(&["port", "--release", "api", "--shard", "a"])
                    .ok();
                rounds += 1;
            }
            rounds
        });
        let mut rounds = 0;
        while !writers.iter().all(|(_, w)| w.is_finished()) || rounds < 3 {
            env.shards(&["port", "web", "--shard", "a"]).ok();
            env.shards(&["port", "--release", "web", "--shard", "a"])
                .ok();
            rounds += 1;
        }
        done.store(true, Ordering::Relaxed);
        rounds + api.join().unwrap()
    });
    env.shards(&["port", "web", "--shard", "a"]).ok();
    eprintln!("env_lossless: {rounds} rounds of allocate + release");
    let written = writers.map(|(tag, w)| (tag, w.join().unwrap()));
    (env, file, written.to_vec())
}

/// Checks every appended line is in `file` exactly once, the user's line
/// and the section as they should be; prints the figures.
fn check(env: &TestEnv, file: &Path, written: &[(&str, usize)], label: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (mut total, mut kept) = (0, 0);
    let mut wrong = Vec::new();
    for (tag, n) in written {
        for i in 0..*n {
            let line = format!("{tag} line {i}");
            let count = lines.iter().filter(|l| **l == line).count();
            total += 1;
            if count == 1 {
                kept += 1;
            } else {
                wrong.push(format!("{line}: {count} times"));
            }
        }
    }
    eprintln!("env_lossless {label}: lines kept {kept} / lines written {total}");
    assert!(total > 100, "the writers wrote only {total} lines");
    assert!(
        wrong.is_empty(),
        "{} lines wrong: {:?}\n{text}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert_eq!(
        lines.iter().filter(|l| **l == "USER=1").count(),
        1,
        "{text}"
    );
    // One section, with web and without api.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("# >>> shards >>>"))
            .count(),
        1,
        "{text}"
    );
    assert_eq!(
        lines.iter().filter(|l| **l == "# <<< shards <<<").count(),
        1,
        "{text}"
    );
    let web = format!("WEB_PORT={}", env.port(0));
    assert_eq!(lines.iter().filter(|l| **l == web).count(), 1, "{text}");
    assert!(!text.contains("API_PORT="), "{text}");
    // Nothing else in the file: every line is the user's, an appender's or
    // the section's.
    let start = lines
        .iter()
        .position(|l| l.starts_with("# >>> shards"))
        .unwrap();
    let end = lines.iter().position(|l| *l == "# <<< shards <<<").unwrap();
    let stray: Vec<&&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| !(start..=end).contains(i) && !l.contains(" line ") && **l != "USER=1")
        .map(|(_, l)| l)
        .collect();
    assert!(stray.is_empty(), "stray lines {stray:?}\n{text}");
}

#[test]
fn issue_18_lines_appended_by_reopening_writers_all_survive_port_changes() {
    let (env, file, written) = race(Appender::Reopening);
    check(&env, &file, &written, "reopening writers");
}

#[test]
fn issue_18_lines_appended_by_a_shell_loop_all_survive_port_changes() {
    let (env, file, written) = race(Appender::Shell);
    check(&env, &file, &written, "a shell loop of echo >> .env");
}

#[test]
fn issue_18_lines_appended_through_a_held_descriptor_all_survive_port_changes() {
    let (env, file, written) = race(Appender::Holding);
    check(&env, &file, &written, "a writer holding its descriptor");
}
