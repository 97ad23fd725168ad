//! Unit tests of the ledger, on in-memory databases.

use super::*;

static NO_SERVICES: BTreeMap<String, u16> = BTreeMap::new();

fn new<'a>(git_dir: &'a Path, name: &'a str) -> NewShard<'a> {
    NewShard {
        git_dir,
        root: Path::new("/src/app"),
        dir_name: "app",
        name,
        branch: name,
        path_template: "/wt/{repo}/x",
        wt_name: name,
        made_branch: true,
        pid: (1, 1),
        now: 0,
        services: &NO_SERVICES,
    }
}

#[test]
fn reserve_list_release() {
    let mut l = Ledger::open_in_memory().unwrap();
    let pool = Pool::new(3000, 3299, 100).unwrap();
    let g = Path::new("/src/app/.git");
    let mut a = new(g, "a");
    let p1 = "/wt/{repo}/a".to_string();
    a.path_template = &p1;
    let a = l.reserve(&a, &pool, |_| false).unwrap();
    assert_eq!(a.block, PortBlock::new(3000, 100).unwrap());
    let p2 = "/wt/{repo}/b".to_string();
    let mut b = new(g, "b");
    b.path_template = &p2;
    let b = l.reserve(&b, &pool, |_| false).unwrap();
    assert_eq!(b.block.start(), 3100);
    let again = l.reserve(&new(g, "a"), &pool, |_| false).unwrap_err();
    assert!(matches!(again, Error::NameTaken { .. }));
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
    let one = l
        .reserve(&new(Path::new("/a/app/.git"), "x"), &pool, |_| false)
        .unwrap();
    let two = l
        .reserve(&new(Path::new("/b/app/.git"), "x"), &pool, |_| false)
        .unwrap();
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
    let p = "/wt/b".to_string();
    let mut b = new(g, "b");
    b.path_template = &p;
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
