//! In-process costs of what `create`, `list` and `status` add on top of
//! git: the allocator, the env-file editor, the ledger, the listen table.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use shards::alloc::{self, Pool};
use shards::envfile;
use shards::ledger::{Ledger, NewShard};
use shards::model::PortBlock;
use shards::template::WorktreePlace;

fn allocator(c: &mut Criterion) {
    let pool = Pool::new(3000, 32767, 100).unwrap();
    let taken: Vec<PortBlock> = (0..300)
        .map(|k| PortBlock::new(3000 + 100 * k, 100).unwrap())
        .collect();
    c.bench_function("alloc::pick with 300 blocks held", |b| {
        b.iter(|| alloc::pick(black_box(&pool), black_box(&taken), |_| false))
    });
}

fn env_file(c: &mut Criterion) {
    let user = "SECRET=abc\n".repeat(100);
    let vars: Vec<(String, String)> = (0..10)
        .map(|i| (format!("K{i}_PORT"), (3000 + i).to_string()))
        .collect();
    let once = envfile::apply(user.as_bytes(), &vars).unwrap().bytes;
    c.bench_function("envfile::apply on a 1 KiB file", |b| {
        b.iter(|| envfile::apply(black_box(&once), black_box(&vars)))
    });
}

/// Reserves a shard named `name` (no repository behind it) in the ledger.
fn reserve(ledger: &mut Ledger, pool: &Pool, name: &str) -> shards::ledger::ShardRow {
    let place = WorktreePlace::Fixed(PathBuf::from(format!("/nonexistent/{name}")));
    let new = NewShard {
        git_dir: Path::new("/nonexistent/.git"),
        root: Path::new("/nonexistent"),
        dir_name: "bench",
        name,
        branch: name,
        place: &place,
        wt_name: name,
        made_branch: false,
        owner_uid: 1000,
        pid: (1, 1),
        now: 0,
        services: shards::ledger::services::Configured::none(),
        spare: None,
    };
    ledger.reserve(&new, pool, |_| false).unwrap()
}

fn ledger(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(
        &dir.path().join("shards.db"),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    // Blocks of 50: the default pool (3000-32767) holds 297 blocks of 100.
    let pool = Pool::new(3000, 32767, 50).unwrap();
    for i in 0..300 {
        reserve(&mut ledger, &pool, &format!("s{i}"));
    }
    c.bench_function("ledger list of 300 shards", |b| {
        b.iter(|| ledger.list(None).unwrap())
    });
    let mut i = 0;
    c.bench_function("ledger reserve + remove with 300 held", |b| {
        b.iter(|| {
            i += 1;
            let row = reserve(&mut ledger, &pool, &format!("x{i}"));
            ledger.remove(row.id).unwrap();
        })
    });
}

fn host(c: &mut Criterion) {
    c.bench_function("host::listening_tcp_ports", |b| {
        b.iter(shards::host::listening_tcp_ports)
    });
}

criterion_group!(benches, allocator, env_file, ledger, host);
criterion_main!(benches);
