//! Unit tests of the ledger, on in-memory databases.

use super::*;
use crate::alloc::Pool;
use crate::model::ShardState;
use crate::template::WorktreePlace;

/// The fixed worktree folder `path`, for a test's `NewShard`.
fn fixed(path: &str) -> &'static WorktreePlace {
    Box::leak(Box::new(WorktreePlace::Fixed(PathBuf::from(path))))
}

/// The template `template` for shard folder `x` of the repository at `root`.
fn template(template: &str, root: &Path) -> WorktreePlace {
    WorktreePlace::Template {
        template: template.to_string(),
        name_folder: "x".to_string(),
        user_home: None,
        repo_root: root.to_path_buf(),
    }
}

fn new<'a>(git_dir: &'a Path, name: &'a str) -> NewShard<'a> {
    NewShard {
        git_dir,
        root: Path::new("/src/app"),
        dir_name: "app",
        name,
        branch: name,
        place: fixed("/wt/app/x"),
        wt_name: name,
        made_branch: true,
        owner_uid: 1000,
        pid: (1, 1),
        now: 0,
        services: services::Configured::none(),
        spare: None,
    }
}

/// A shard of the repository at `git_dir` (its root is the parent folder,
/// named after it) whose worktree goes to `path`.
pub(super) fn shard_at(
    git_dir: &'static str,
    name: &'static str,
    path: &'static str,
) -> NewShard<'static> {
    let git_dir = Path::new(git_dir);
    let root = git_dir.parent().unwrap();
    let mut n = new(git_dir, name);
    n.root = root;
    n.dir_name = root.file_name().unwrap().to_str().unwrap();
    n.place = fixed(path);
    n
}

#[test]
fn reserve_list_release() {
    let mut l = Ledger::open_in_memory().unwrap();
    let pool = Pool::new(3000, 3299, 100).unwrap();
    let g = Path::new("/src/app/.git");
    let mut a = new(g, "a");
    a.place = fixed("/wt/app/a");
    let a = l.reserve(&a, &pool, |_| false).unwrap();
    assert_eq!(a.block, PortBlock::new(3000, 100).unwrap());
    let mut b = new(g, "b");
    b.place = fixed("/wt/app/b");
    let b = l.reserve(&b, &pool, |_| false).unwrap();
    assert_eq!(b.block.start(), 3100);
    let again = l.reserve(&new(g, "a"), &pool, |_| false).unwrap_err();
    assert!(matches!(
        again,
        Error::NameTaken {
            state: ShardState::Creating,
            ..
        }
    ));
    l.remove(a.id).unwrap();
    assert_eq!(l.list(Some(g)).unwrap().len(), 1);
    l.set_state(b.id, ShardState::Active, None).unwrap();
    let b2 = l.find(g, "b").unwrap().unwrap();
    assert_eq!((b2.state, b2.pid), (ShardState::Active, None));
}

#[test]
fn same_folder_names_get_distinct_dir_names() {
    let mut l = Ledger::open_in_memory().unwrap();
    let pool = Pool::new(3000, 3299, 100).unwrap();
    let (ga, gb) = (Path::new("/a/app/.git"), Path::new("/b/app/.git"));
    let (ra, rb) = (Path::new("/a/app"), Path::new("/b/app"));
    let (render_a, render_b) = (template("/wt/{repo}", ra), template("/wt/{repo}", rb));
    let mut na = new(ga, "x");
    na.root = ra;
    na.place = &render_a;
    let mut nb = new(gb, "x");
    nb.root = rb;
    nb.place = &render_b;
    // Before its first shard, a repository's name is only a forecast.
    assert_eq!(l.repo_dir_name(ga, ra, "app").unwrap(), "app");
    let one = l.reserve(&na, &pool, |_| false).unwrap();
    assert_eq!(l.repo_dir_name(gb, rb, "app").unwrap(), "app-2");
    let two = l.reserve(&nb, &pool, |_| false).unwrap();
    assert_eq!(l.repo_dir_name(ga, ra, "other").unwrap(), "app");
    assert_eq!(one.repo.dir_name, "app");
    assert_eq!(two.repo.dir_name, "app-2");
    assert_ne!(one.path, two.path);
}

#[test]
fn overlapping_blocks_are_refused_by_the_schema() {
    let l = Ledger::open_in_memory().unwrap();
    l.conn
        .execute(
            "INSERT INTO repos (git_dir, root, dir_name) VALUES ('g', 'r', 'd')",
            [],
        )
        .unwrap();
    let ins = |name: &str, start: u16, end: u16| {
        l.conn.execute(
            "INSERT INTO shards (repo_id, name, branch, path, wt_name, made_branch, state, created_at, port_start, port_end) VALUES (1, ?1, ?1, ?1, ?1, 0, 'active', 0, ?2, ?3)",
            params![name, start, end],
        )
    };
    ins("a", 3000, 3099).unwrap();
    assert!(ins("b", 3050, 3149).is_err());
    assert!(ins("c", 2990, 3000).is_err());
    ins("d", 3100, 3199).unwrap();
}

#[test]
fn exhaustion_is_an_error_with_figures() {
    let mut l = Ledger::open_in_memory().unwrap();
    let pool = Pool::new(3000, 3099, 100).unwrap();
    let g = Path::new("/g");
    l.reserve(&new(g, "a"), &pool, |_| false).unwrap();
    let mut b = new(g, "b");
    b.place = fixed("/wt/b");
    let e = l.reserve(&b, &pool, |_| false).unwrap_err();
    assert!(
        matches!(
            e,
            Error::PortsExhausted {
                total: 1,
                held: 1,
                busy: 0,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_repository_keeps_its_row_and_folder_name() {
    let mut l = Ledger::open_in_memory().unwrap();
    let g = Path::new("/src/app/.git");
    let pool = Pool::new(3000, 3199, 100).unwrap();
    let first = l.reserve(&new(g, "a"), &pool, |_| false).unwrap().repo;
    // A later reserve finds the same row, whatever name it proposes.
    let mut n = new(g, "b");
    n.dir_name = "other";
    let place = WorktreePlace::Template {
        template: "/wt/{repo}".into(),
        name_folder: "b".into(),
        user_home: None,
        repo_root: "/src/app".into(),
    };
    n.place = &place;
    let row = l.reserve(&n, &pool, |_| false).unwrap();
    assert_eq!(row.path, PathBuf::from("/wt/app/b"));
    assert_eq!(row.repo, first);
    let count: i64 = l
        .conn
        .query_row("SELECT count(*) FROM repos", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 1);
}

#[test]
fn a_removed_shard_is_reported_gone() {
    let mut l = Ledger::open_in_memory().unwrap();
    let pool = Pool::new(3000, 3099, 100).unwrap();
    let row = l
        .reserve(&new(Path::new("/g"), "a"), &pool, |_| false)
        .unwrap();
    l.remove(row.id).unwrap();
    let e = l.set_state(row.id, ShardState::Active, None).unwrap_err();
    assert!(
        matches!(e, Error::ShardGone { id } if id == row.id),
        "{e:?}"
    );
    let e = l
        .allocate_services(
            row.id,
            &["web".to_string()],
            services::Configured::none(),
            &crate::model::ServiceInfo::default(),
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::ShardGone { id } if id == row.id),
        "{e:?}"
    );
}

#[test]
fn a_claim_takes_only_the_row_as_it_was_seen() {
    let mut l = Ledger::open_in_memory().unwrap();
    let pool = Pool::new(3000, 3299, 100).unwrap();
    let g = Path::new("/src/app/.git");
    let seen = l.reserve(&new(g, "a"), &pool, |_| false).unwrap();
    // Another process moved it on since it was read: judge it again.
    l.set_state(seen.id, ShardState::Active, None).unwrap();
    let Claim::Changed(now) = l.claim(&seen, (7, 7), true).unwrap() else {
        panic!("a changed row was claimed");
    };
    assert_eq!(now.state, ShardState::Active);
    let Claim::Claimed(before) = l.claim(&now, (7, 7), true).unwrap() else {
        panic!("the row as seen was not claimed");
    };
    assert_eq!(before, now);
    let after = l.shard(seen.id).unwrap().unwrap();
    assert_eq!(
        (after.state, after.pid),
        (ShardState::Destroying, Some((7, 7)))
    );
    assert!(after.found_clean);
    // A second claimer that saw it before the first claim gets nothing.
    assert!(matches!(
        l.claim(&now, (8, 8), false).unwrap(),
        Claim::Changed(_)
    ));
    l.remove(seen.id).unwrap();
    assert!(matches!(l.claim(&now, (8, 8), false).unwrap(), Claim::Gone));
}

#[test]
fn moved_paths_change_only_active_rows_still_at_their_recorded_folder() {
    let mut l = Ledger::open_in_memory().unwrap();
    let pool = Pool::new(3000, 3399, 100).unwrap();
    let g = Path::new("/src/app/.git");
    let at = |p: &str| PathBuf::from(p);
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let mut n = new(g, name);
        n.place = fixed(Box::leak(format!("/wt/app/{name}").into_boxed_str()));
        ids.push(l.reserve(&n, &pool, |_| false).unwrap().id);
    }
    for &id in &ids[..3] {
        l.set_state(id, ShardState::Active, None).unwrap();
    }
    // b was moved by another process since it was read; d is `creating`.
    l.set_path(ids[1], Path::new("/else/b")).unwrap();
    let moves = [
        (ids[0], at("/wt/app/a"), at("/moved/a")),
        (ids[1], at("/wt/app/b"), at("/moved/b")),
        // A folder another row holds is left, without failing the others.
        (ids[2], at("/wt/app/c"), at("/else/b")),
        (ids[3], at("/wt/app/d"), at("/moved/d")),
    ];
    assert_eq!(l.set_moved_paths(&moves).unwrap(), 1);
    let paths: Vec<PathBuf> = l
        .list(Some(g))
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        paths,
        [
            at("/moved/a"),
            at("/else/b"),
            at("/wt/app/c"),
            at("/wt/app/d")
        ]
    );
}

#[test]
fn the_wal_grows_by_whole_mebibytes_of_zeros_and_every_commit_is_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shards.db");
    let pool = Pool::new(3000, 9999, 10).unwrap();
    let g = Path::new("/src/app/.git");
    let wal = dir.path().join("shards.db-wal");
    let mut sizes = Vec::new();
    // Enough commits to cross a mebibyte: each writes a few 4 KiB frames.
    for round in 0..3 {
        let mut l = Ledger::open(&path, BUSY_TIMEOUT).unwrap();
        for i in 0..40 {
            let name = format!("s{round}-{i}");
            let place = fixed(Box::leak(format!("/wt/app/{name}").into_boxed_str()));
            let mut shard = new(g, Box::leak(name.into_boxed_str()));
            shard.place = place;
            let row = l.reserve(&shard, &pool, |_| false).unwrap();
            l.set_state(row.id, ShardState::Active, None).unwrap();
        }
        drop(l);
        sizes.push(std::fs::metadata(&wal).unwrap().len());
    }
    // Read back by a fresh connection (the WAL index is rebuilt from the
    // file, zeros after the last frame included).
    let l = Ledger::open(&path, BUSY_TIMEOUT).unwrap();
    let rows = l.list(Some(g)).unwrap();
    assert_eq!(rows.len(), 120);
    assert!(rows.iter().all(|r| r.state == ShardState::Active));
    assert!(sizes.iter().all(|s| s % (1 << 20) == 0), "{sizes:?}");
    assert!(sizes[2] > sizes[0], "{sizes:?}");
}
