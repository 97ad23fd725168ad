use super::*;

fn shard(id: i64, order: i64, repo: (i64, &str), name: &str, start: u16) -> Routed {
    Routed {
        id,
        order,
        repo_id: repo.0,
        repo: repo.1.to_string(),
        name: name.to_string(),
        block: PortBlock::new(start, 100).unwrap(),
        services: vec![],
    }
}

fn port_of(table: &Table, host: &str) -> Option<u16> {
    match table.lookup(host) {
        Lookup::Found { port, .. } => Some(port),
        _ => None,
    }
}

#[test]
fn labels_are_lower_case_dns_labels() {
    assert_eq!(label("feature/Auth"), "feature-auth");
    assert_eq!(label("v1.2_fix"), "v1-2-fix");
    assert_eq!(label("-x-"), "x");
    assert_eq!(label("ü"), "x");
    assert_eq!(label(&"a".repeat(80)).len(), MAX_LABEL);
    assert_eq!(label(&format!("{}/b", "a".repeat(62))), "a".repeat(62));
}

#[test]
fn aliases_fit_in_a_label_and_differ_by_name() {
    let long = "a".repeat(70);
    let a = alias(&label(&long), &long);
    assert!(a.len() <= MAX_LABEL, "{a}");
    assert_ne!(alias("x", "x/1"), alias("x", "x-1"));
    assert_eq!(alias("x", "x/1"), alias("x", "x/1"));
}

#[test]
fn a_bare_host_goes_to_web_else_the_blocks_first_port() {
    let mut a = shard(1, 10, (1, "app"), "a", 3100);
    a.services = vec![("api".into(), 3101), ("web".into(), 3105)];
    let b = shard(2, 11, (1, "app"), "b", 3200);
    let t = Table::new(vec![a, b]);
    assert_eq!(port_of(&t, "a.app.localhost:1355"), Some(3105));
    assert_eq!(port_of(&t, "api.a.app.localhost"), Some(3101));
    assert_eq!(port_of(&t, "b.app.localhost."), Some(3200));
    assert_eq!(port_of(&t, "B.App.LOCALHOST:80"), Some(3200));
    assert!(matches!(
        t.lookup("db.a.app.localhost"),
        Lookup::NoService { service, .. } if service == "db"
    ));
}

#[test]
fn unknown_hosts_say_what_they_missed() {
    let t = Table::new(vec![shard(1, 10, (1, "app"), "a", 3100)]);
    assert!(
        matches!(t.lookup("nope.app.localhost"), Lookup::NoShard { routes, .. } if routes.len() == 1)
    );
    assert_eq!(t.lookup("a.other.localhost"), Lookup::NoRepo);
    assert_eq!(t.lookup("localhost:1355"), Lookup::Foreign);
    assert_eq!(t.lookup("example.com"), Lookup::Foreign);
    assert_eq!(t.lookup("a.app.localhost.example.com"), Lookup::Foreign);
    assert_eq!(t.lookup("x.y.a.app.localhost"), Lookup::NoRepo);
}

#[test]
fn the_older_of_two_colliding_shards_keeps_the_label_and_both_aliases_route() {
    // `alice/fix` and `alice-fix` are one label; the older keeps it,
    // whatever order the rows come in.
    let old = shard(7, 100, (1, "app"), "alice-fix", 3100);
    let new = shard(3, 200, (1, "app"), "alice/fix", 3200);
    for rows in [
        vec![old.clone(), new.clone()],
        vec![new.clone(), old.clone()],
    ] {
        let t = Table::new(rows);
        assert_eq!(port_of(&t, "alice-fix.app.localhost"), Some(3100));
        let loser = t.of(3).unwrap();
        assert_eq!(loser.lost_to.as_deref(), Some("alice-fix"));
        assert_eq!(port_of(&t, &loser.host(None)), Some(3200));
        let winner = t.of(7).unwrap();
        assert_eq!(winner.lost_to, None);
        assert_eq!(
            port_of(&t, &format!("{}.app.localhost", winner.alias)),
            Some(3100)
        );
    }
    // Once the older is gone the newer has the plain label, and its alias
    // (which its env file names) still routes.
    let t = Table::new(vec![new]);
    let only = t.of(3).unwrap();
    assert_eq!(only.label, "alice-fix");
    assert_eq!(
        port_of(&t, &format!("{}.app.localhost", only.alias)),
        Some(3200)
    );
}

#[test]
fn two_repositories_of_one_label_are_told_apart() {
    let a = shard(1, 10, (1, "App"), "x", 3100);
    let b = shard(2, 11, (2, "app"), "x", 3200);
    let t = Table::new(vec![b, a]);
    assert_eq!(port_of(&t, "x.app.localhost"), Some(3100));
    let second = t.of(2).unwrap();
    assert_ne!(second.repo_label, "app");
    assert_eq!(port_of(&t, &second.host(None)), Some(3200));
    assert_eq!(
        second.url(Some("web"), 1355),
        format!("http://web.x.{}.localhost:1355", second.repo_label)
    );
}
