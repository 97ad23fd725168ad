//! Benchmark helper for `bench/run.sh`: allocates and frees blocks through
//! the real ledger, as many `shards create` processes would, minus git.
//!
//! Usage: `ledger_alloc LEDGER_PATH WORKER_ID COUNT`. Prints the number of
//! allocations that failed (0 expected) on stdout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shards::alloc::Pool;
use shards::ledger::{Ledger, NewShard};
use shards::template::WorktreePlace;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, worker, count) = match &args[..] {
        [_, p, w, c] => (
            PathBuf::from(p),
            w.clone(),
            c.parse::<usize>().unwrap_or(100),
        ),
        _ => {
            eprintln!("usage: ledger_alloc LEDGER_PATH WORKER_ID COUNT");
            std::process::exit(2);
        }
    };
    let mut ledger = match Ledger::open(&path, Duration::from_secs(30)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ledger_alloc: {e}");
            std::process::exit(3);
        }
    };
    let pool = Pool::new(3000, 32767, 100).unwrap_or_else(|e| panic!("{e}"));
    let listening = shards::host::listening_tcp_ports().unwrap_or_default();
    let pid = shards::host::current_process();
    let mut failed = 0;
    for i in 0..count {
        let name = format!("w{worker}-{i}");
        let place = WorktreePlace::Fixed(PathBuf::from(format!("/nonexistent/bench/{name}")));
        let new = NewShard {
            git_dir: Path::new("/nonexistent/bench/.git"),
            root: Path::new("/nonexistent/bench"),
            dir_name: "bench",
            name: &name,
            branch: &name,
            place: &place,
            wt_name: &name,
            made_branch: false,
            owner_uid: 1000,
            pid,
            now: 0,
            services: shards::ledger::services::Configured::none(),
            spare: None,
        };
        match ledger.reserve(&new, &pool, |b| {
            listening.range(b.start()..=b.end()).next().is_some()
        }) {
            Ok(row) => {
                if ledger.remove(row.id).is_err() {
                    failed += 1;
                }
            }
            Err(e) => {
                eprintln!("ledger_alloc: {e}");
                failed += 1;
            }
        }
    }
    println!("{failed}");
}
