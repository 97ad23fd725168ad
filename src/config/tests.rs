//! Unit tests of parsing and layering.

use super::*;

fn one(text: &str) -> Result<Config> {
    resolve(32767, &[parse("c.toml", text)?], &Overrides::default())
}

#[test]
fn defaults() {
    let c = resolve(32767, &[], &Overrides::default()).unwrap();
    assert_eq!(
        (c.pool.base(), c.pool.max(), c.pool.block_size()),
        (3000, 32767, 100)
    );
    assert_eq!(c.env_file, ".env");
    assert!(c.compose && !c.direnv);
}

#[test]
fn later_layers_win() {
    let user = parse("user.toml", "[ports]\nbase = 4000\nblock_size = 10\n").unwrap();
    let project = parse("project.toml", "[ports]\nblock_size = 20\n").unwrap();
    let mut o = Overrides::default();
    o.values
        .push(("SHARDS_PORTS_MAX".into(), "ports.max", "5000".into()));
    let c = resolve(32767, &[user, project], &o).unwrap();
    assert_eq!(
        (c.pool.base(), c.pool.max(), c.pool.block_size()),
        (4000, 5000, 20)
    );
}

#[test]
fn errors_name_file_line_and_key() {
    let e = one("[ports]\n\nblock_size = \"big\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("c.toml:3: `block_size`"), "{e}");
    let e = one("[ports]\nbase = 1\nfoo = 2\n").unwrap_err().to_string();
    assert!(e.starts_with("c.toml:3") && e.contains("foo"), "{e}");
    let e = one("[ports]\nblock_size = 0\n").unwrap_err().to_string();
    assert!(e.starts_with("c.toml:2: `ports.block_size`"), "{e}");
    let e = one("[ports]\nmax = 70000\n").unwrap_err().to_string();
    assert!(e.starts_with("c.toml:2: `max`"), "{e}");
    let e = one("[ports]\nbase = 5000\nmax = 4000\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.toml:2 and c.toml:3"), "{e}");
    let e = one("[env]\nfile = \"../x\"\n").unwrap_err().to_string();
    assert!(e.starts_with("c.toml:2: `env.file`"), "{e}");
    let e = one("[ports.services]\nweb = 100\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("c.toml:2: `ports.services.web`"), "{e}");
}

#[test]
fn bad_override_names_the_variable() {
    let mut o = Overrides::default();
    o.values
        .push(("SHARDS_PORTS_BASE".into(), "ports.base", "x".into()));
    let e = resolve(32767, &[], &o).unwrap_err().to_string();
    assert!(e.starts_with("SHARDS_PORTS_BASE: `ports.base`"), "{e}");
}

#[test]
fn spares_are_read_checked_and_overridden() {
    let c = one("[spares]\ncount = 3\nkey = [\"package-lock.json\", \"web/pnpm-lock.yaml\"]\nbase = \"origin/main\"\n").unwrap();
    assert_eq!(c.spares.count, 3);
    assert_eq!(c.spares.key, ["package-lock.json", "web/pnpm-lock.yaml"]);
    assert_eq!(c.spares.base.as_deref(), Some("origin/main"));
    assert_eq!(one("").unwrap().spares, Spares::default());
    let e = one("[spares]\nkey = [\"../secret\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.toml:2") && e.contains("spares.key"), "{e}");
    let mut o = Overrides::default();
    o.values
        .push(("SHARDS_SPARES_COUNT".into(), "spares.count", "2".into()));
    assert_eq!(resolve(32767, &[], &o).unwrap().spares.count, 2);
    o.values
        .push(("SHARDS_SPARES_COUNT".into(), "spares.count", "many".into()));
    let e = resolve(32767, &[], &o).unwrap_err().to_string();
    assert!(e.contains("SHARDS_SPARES_COUNT"), "{e}");
}
