//! Shard names: [`ShardName`] (validated as a git branch name and a safe
//! folder name, or mended from an agent's free text), and the docker
//! compose project name made from a repository's and a shard's.
//!
//! Part of the pure core: no I/O, no git, no SQLite.

use std::fmt;

use serde::Serialize;

/// The longest shard name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 100;

/// A validated shard name: also a valid git branch name and a safe folder name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ShardName(String);

impl ShardName {
    /// Validates `raw` as a shard name, returning the reason when it is refused.
    ///
    /// Accepted: ASCII letters, digits, `.`, `_`, `-` and `/`, at most
    /// [`MAX_NAME_LEN`] bytes, following git's branch-name rules (no `..`, no
    /// component starting with `.`, no `.lock` suffix, no `//`, no leading or
    /// trailing `/`), and not starting with `-`.
    pub fn parse(raw: &str) -> Result<ShardName, String> {
        if raw.is_empty() {
            return Err("the name is empty".into());
        }
        if raw.len() > MAX_NAME_LEN {
            return Err(format!(
                "the name is {} bytes long, the limit is {MAX_NAME_LEN}",
                raw.len()
            ));
        }
        if raw.starts_with('-') {
            return Err("a name must not start with `-`".into());
        }
        if let Some(c) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
        {
            return Err(format!("the character {c:?} is not allowed"));
        }
        if raw.contains("..") {
            return Err("`..` is not allowed".into());
        }
        if raw.starts_with('/') || raw.ends_with('/') || raw.contains("//") {
            return Err("`/` must separate non-empty parts".into());
        }
        for part in raw.split('/') {
            if part.starts_with('.') {
                return Err("a part must not start with `.`".into());
            }
            if part.ends_with(".lock") {
                return Err("a part must not end with `.lock`".into());
            }
        }
        if raw.ends_with('.') {
            return Err("a name must not end with `.`".into());
        }
        if raw == "HEAD" || raw == "@" {
            return Err("`HEAD` is reserved by git".into());
        }
        Ok(ShardName(raw.to_string()))
    }

    /// Turns a name from elsewhere (an agent's worktree name) into a shard
    /// name. A valid name is kept as it is. Otherwise characters other than
    /// ASCII letters, digits, `.`, `_`, `-` and `/` become `-`, runs of `-`
    /// and of `.` become one, each `/`-separated part loses leading and
    /// trailing `.` and `-` and a `.lock` ending, empty parts are dropped,
    /// and the name is cut to [`MAX_NAME_LEN`]. What is still no valid name
    /// (empty, `HEAD`) is left for `create` to refuse.
    pub fn sanitise(raw: &str) -> String {
        if ShardName::parse(raw).is_ok() {
            return raw.to_string();
        }
        let mapped: String = raw
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' | '/' => c,
                _ => '-',
            })
            .collect();
        let mut squeezed = String::with_capacity(mapped.len());
        for c in mapped.chars() {
            let repeat = matches!(c, '-' | '.') && squeezed.ends_with(c);
            if !repeat {
                squeezed.push(c);
            }
        }
        let tidy = |part: &str| -> String {
            let mut p = part.trim_start_matches(['.', '-']).to_string();
            loop {
                let before = p.len();
                p = p.trim_end_matches(['.', '-']).to_string();
                if let Some(s) = p.strip_suffix(".lock") {
                    p = s.to_string();
                }
                if p.len() == before {
                    return p;
                }
            }
        };
        let mut name: String = squeezed
            .split('/')
            .map(tidy)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        if name.len() > MAX_NAME_LEN {
            name.truncate(MAX_NAME_LEN);
            name = name
                .split('/')
                .map(tidy)
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("/");
        }
        name
    }

    /// Returns the name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the name as one folder component: `/` becomes `-`.
    pub fn folder(&self) -> String {
        self.0.replace('/', "-")
    }
}

impl fmt::Display for ShardName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Makes a docker compose project name from a repository and a shard name.
///
/// Compose accepts lowercase letters, digits, `-` and `_`, starting with a
/// letter or digit; everything else becomes `-`.
pub fn compose_project_name(repo: &str, shard: &str) -> String {
    let raw = format!("{repo}-{shard}").to_ascii_lowercase();
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = out.trim_start_matches(['-', '_']).len();
    out.drain(..out.len() - trimmed);
    if out.is_empty() {
        out.push_str("shard");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitise_keeps_valid_names_and_mends_others() {
        let s = ShardName::sanitise;
        assert_eq!(s("feature-auth"), "feature-auth");
        assert_eq!(s("agent-a1b2c3"), "agent-a1b2c3");
        assert_eq!(s("feat/login"), "feat/login");
        assert_eq!(s("a--b"), "a--b");
        assert_eq!(s("Fix the bug!"), "Fix-the-bug");
        assert_eq!(s("--x"), "x");
        assert_eq!(s("a..b"), "a.b");
        assert_eq!(s("/a//.b/"), "a/b");
        assert_eq!(s("x.lock"), "x");
        assert_eq!(s("naïve café"), "na-ve-caf");
        assert_eq!(s("..."), "");
        assert_eq!(s(&"a".repeat(300)).len(), MAX_NAME_LEN);
        for raw in [
            "Fix the bug! (#12)",
            "a/../b",
            "-.x.lock/",
            "é-x",
            "x.lock.lock",
        ] {
            assert!(ShardName::parse(&s(raw)).is_ok(), "{raw} -> {}", s(raw));
        }
    }

    proptest::proptest! {
        #[test]
        fn sanitise_gives_a_valid_name_or_nothing(raw in "\\PC{0,130}|[-./a-z@ ]{0,130}") {
            let name = ShardName::sanitise(&raw);
            proptest::prop_assert!(
                name.is_empty() || name == "HEAD" || ShardName::parse(&name).is_ok(),
                "{:?} -> {:?}", raw, name
            );
        }
    }

    #[test]
    fn accepts_branch_like_names() {
        for ok in ["feature-auth", "fix/login", "a", "v1.2", "x_y", "A/B/c-d"] {
            assert!(ShardName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_hostile_names() {
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "",
            "..",
            "../x",
            "a/../b",
            "-rf",
            "--help",
            "a b",
            "a\nb",
            "a\0b",
            "é",
            "/abs",
            "a/",
            "a//b",
            ".hidden",
            "a/.b",
            "x.lock",
            "HEAD",
            "a:b",
            "a~1",
            "a^",
            "a*",
            "a?",
            "a[",
            "a\\b",
            "trailing.",
            "@",
            &long,
        ] {
            assert!(ShardName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn folder_flattens_slashes() {
        assert_eq!(ShardName::parse("fix/login").unwrap().folder(), "fix-login");
    }

    #[test]
    fn compose_names_are_valid() {
        assert_eq!(
            compose_project_name("MyApp", "fix/login"),
            "myapp-fix-login"
        );
        assert_eq!(compose_project_name(".app", "x"), "app-x");
    }
}
