//! Hostile input, continued (the table and its runner are in `hostile`):
//! config files and values, and env files that `port` rewrites.

use crate::common::TestEnv;
use crate::hostile::{Case, case, in_wt, with};

/// The config and env-file cases of the table.
pub(crate) fn cases() -> Vec<Case> {
    vec![
        // Config files and values.
        with(
            case("config wrong type", &["create", "x"], 2, "config.toml:2"),
            |e, _| {
                e.without_port_vars();
                e.write_config("[ports]\nbase = \"3000\"\n");
            },
        ),
        with(
            case(
                "config unknown key",
                &["create", "x"],
                2,
                "unknown field `colour`",
            ),
            |e, _| e.write_config("colour = 1\n"),
        ),
        with(
            case(
                "config block_size 0",
                &["create", "x"],
                2,
                "`ports.block_size`: must be at least 1",
            ),
            |e, _| e.write_config("[ports]\nblock_size = 0\n"),
        ),
        with(
            case(
                "config pool smaller than a block",
                &["create", "x"],
                2,
                "fewer than one block",
            ),
            |e, _| {
                // The file is what is tested: no SHARDS_PORTS_* over it.
                e.without_port_vars();
                e.write_config("[ports]\nbase = 4000\nmax = 4009\nblock_size = 20\n");
            },
        ),
        with(
            case("config port above 65535", &["create", "x"], 2, "`max`"),
            |e, _| {
                e.without_port_vars();
                e.write_config("[ports]\nmax = 70000\n");
            },
        ),
        with(
            case(
                "config base above max",
                &["create", "x"],
                2,
                "is below ports.base",
            ),
            |e, _| {
                e.without_port_vars();
                e.write_config("[ports]\nbase = 9000\nmax = 8000\n");
            },
        ),
        with(
            case("config not TOML", &["create", "x"], 2, "config.toml:1"),
            |e, _| e.write_config("[ports\n"),
        ),
        with(
            case("config not UTF-8", &["create", "x"], 2, "not valid UTF-8"),
            |e, _| {
                let dir = e.home.join(".config/shards");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("config.toml"), [0xff, 0xfe, 0x00]).unwrap();
            },
        ),
        with(
            case("config env.file escapes", &["create", "x"], 2, "`env.file`"),
            |e, _| e.write_config("[env]\nfile = \"../../outside.env\"\n"),
        ),
        with(
            case(
                "config env.file absolute",
                &["create", "x"],
                2,
                "`env.file`",
            ),
            |e, _| e.write_config("[env]\nfile = \"/etc/passwd\"\n"),
        ),
        with(
            case(
                "config service outside block",
                &["create", "x"],
                2,
                "outside a block",
            ),
            |e, _| e.write_config("[ports.services]\nweb = 500\n"),
        ),
        with(
            case(
                "config service name",
                &["create", "x"],
                2,
                "a service name is a lowercase letter",
            ),
            |e, _| e.write_config("[ports.services]\n\"we b\" = 1\n"),
        ),
        with(
            case(
                "project config wrong type",
                &["create", "x"],
                2,
                ".shards.toml:1",
            ),
            |e, _| {
                std::fs::write(e.repo.join(".shards.toml"), "ports = 3\n").unwrap();
            },
        ),
        with(
            case(
                "variable not a number",
                &["create", "x"],
                2,
                "SHARDS_PORTS_BASE",
            ),
            |e, _| {
                e.set("SHARDS_PORTS_BASE", "lots");
            },
        ),
        with(
            case(
                "variable not a bool",
                &["create", "x"],
                2,
                "SHARDS_ENV_DIRENV",
            ),
            |e, _| {
                e.set("SHARDS_ENV_DIRENV", "maybe");
            },
        ),
        with(
            case(
                "SHARDS_CONFIG missing",
                &["create", "x"],
                2,
                "does not exist",
            ),
            |e, _| {
                e.set("SHARDS_CONFIG", "/nonexistent/shards.toml");
            },
        ),
        // Env files (rewritten by `port`).
        with(
            in_wt(case(
                "env file symlink outside",
                &["port", "web"],
                1,
                "symbolic link",
            )),
            |e, wt| {
                std::fs::write(e.root.join("outside.env"), "SECRET=1\n").unwrap();
                std::fs::remove_file(wt.join(".env")).unwrap();
                std::os::unix::fs::symlink(e.root.join("outside.env"), wt.join(".env")).unwrap();
            },
        ),
        with(
            in_wt(case(
                "env file symlink inside",
                &["port", "web"],
                1,
                "symbolic link",
            )),
            |_, wt| {
                std::fs::rename(wt.join(".env"), wt.join("real.env")).unwrap();
                std::os::unix::fs::symlink("real.env", wt.join(".env")).unwrap();
            },
        ),
        with(
            in_wt(case(
                "env file is a directory",
                &["port", "web"],
                1,
                "not a regular file",
            )),
            |_, wt| {
                std::fs::remove_file(wt.join(".env")).unwrap();
                std::fs::create_dir(wt.join(".env")).unwrap();
            },
        ),
        with(
            in_wt(case(
                "env file markers damaged",
                &["port", "web"],
                1,
                "no `# <<< shards <<<` line",
            )),
            |_, wt| {
                std::fs::write(wt.join(".env"), "A=1\n# >>> shards >>>\nPORT=1\n").unwrap();
            },
        ),
        with(
            in_wt(case(
                "env folder is a link out",
                &["port", "web"],
                1,
                "leads outside the worktree",
            )),
            |e, wt| {
                std::fs::create_dir_all(e.root.join("elsewhere")).unwrap();
                std::os::unix::fs::symlink(e.root.join("elsewhere"), wt.join("conf")).unwrap();
                e.set("SHARDS_ENV_FILE", "conf/.env");
            },
        ),
    ]
}

#[test]
fn hostile_env_file_content_survives_byte_for_byte() {
    for (what, content) in [
        ("binary", vec![0u8, 159, 146, 150, 255, b'\n', 7]),
        ("crlf", b"A=1\r\nB=2\r\n".to_vec()),
        ("unterminated", b"A=1\nB=2".to_vec()),
        ("large", "K=v\n".repeat(500_000).into_bytes()),
    ] {
        let env = TestEnv::new();
        let r = env.create("x");
        let wt = crate::common::shard_path(&r);
        let file = wt.join(".env");
        let section = std::fs::read(&file).unwrap();
        let mut user = content.clone();
        user.extend_from_slice(b"\n");
        user.extend_from_slice(&section);
        user.extend_from_slice(&content);
        std::fs::write(&file, &user).unwrap();
        env.shards_in(&wt, &["port", "web"]).ok();
        let after = std::fs::read(&file).unwrap();
        assert!(
            after.starts_with(&[&content[..], b"\n"].concat()),
            "{what}: the lines before the section changed"
        );
        assert!(
            after.ends_with(&content),
            "{what}: the lines after the section changed"
        );
        assert!(
            String::from_utf8_lossy(&after).contains(&format!("WEB_PORT={}", env.base())),
            "{what}"
        );
    }
}
