//! The worktree path template (`worktree.root`): turns it, a repository and
//! a shard name into the one absolute, normalized folder the shard's
//! worktree goes to, and refuses a folder inside the repository.
//!
//! Pure core: no file system, no environment, no git; the caller passes the
//! user's home folder and the repository root, so every case is a unit test.

use std::path::{Component, Path, PathBuf};

/// A template that cannot place worktrees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The folder would be inside the repository's own worktree.
    #[error(
        "puts worktrees inside the repository {}, where they would show in its `git status`; choose a folder outside it",
        root.display()
    )]
    InsideRepo {
        /// The repository root it would land in.
        root: PathBuf,
    },
}

/// Where a shard's worktree goes, as data: the ledger settles it inside the
/// transaction that reserves the shard, once it knows the repository's
/// `{repo}` folder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorktreePlace {
    /// This folder, whatever `{repo}` is (a worktree being adopted).
    Fixed(PathBuf),
    /// The `worktree.root` template, filled by [`worktree_path`].
    Template {
        /// The template as configured.
        template: String,
        /// The shard's folder name (`{name}`).
        name_folder: String,
        /// The user's home, for a leading `~/`.
        user_home: Option<PathBuf>,
        /// The repository's main worktree, which relative paths start from.
        repo_root: PathBuf,
    },
}

impl WorktreePlace {
    /// Returns the folder for a repository whose `{repo}` name is `repo_dir`.
    pub fn resolve(&self, repo_dir: &str) -> Result<PathBuf, TemplateError> {
        match self {
            WorktreePlace::Fixed(path) => Ok(path.clone()),
            WorktreePlace::Template {
                template,
                name_folder,
                user_home,
                repo_root,
            } => worktree_path(
                template,
                repo_dir,
                name_folder,
                user_home.as_deref(),
                repo_root,
            ),
        }
    }
}

/// Returns the worktree folder of shard `name_folder` of the repository
/// whose `{repo}` folder name is `repo_dir`.
///
/// In order: `/{name}` is appended when the template has no `{name}`;
/// `{name}` and `{repo}` are filled in (in one pass, so a value is never
/// read as a placeholder); a leading `~/` becomes `user_home` (and stays as
/// it is without one); a relative result is taken relative to `repo_root`;
/// `.` and `..` are resolved lexically, without touching the disk. A folder
/// at or under `repo_root` is refused with [`TemplateError::InsideRepo`].
pub fn worktree_path(
    template: &str,
    repo_dir: &str,
    name_folder: &str,
    user_home: Option<&Path>,
    repo_root: &Path,
) -> Result<PathBuf, TemplateError> {
    let template = if template.contains("{name}") {
        template.to_string()
    } else {
        format!("{template}/{{name}}")
    };
    let filled = fill(&template, &[("{name}", name_folder), ("{repo}", repo_dir)]);
    let expanded = match (filled.strip_prefix("~/"), user_home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(filled),
    };
    let path = normalize(&repo_root.join(expanded));
    if path.starts_with(repo_root) {
        return Err(TemplateError::InsideRepo {
            root: repo_root.to_path_buf(),
        });
    }
    Ok(path)
}

/// Replaces each placeholder in `text` by its value, scanning once.
fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for (key, value) in values {
            if let Some(after) = rest.strip_prefix(key) {
                out.push_str(value);
                rest = after;
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// Resolves `.` and `..` in an absolute path without touching the disk, so
/// the ledger records one clean path per worktree.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/src/app";

    fn path(template: &str) -> Result<PathBuf, TemplateError> {
        worktree_path(
            template,
            "app",
            "fix-login",
            Some(Path::new("/home/u")),
            Path::new(ROOT),
        )
    }

    fn ok(template: &str) -> String {
        path(template).unwrap().display().to_string()
    }

    #[test]
    fn the_default_template_fills_repo_and_name() {
        assert_eq!(
            ok("/home/u/.local/share/shards/worktrees/{repo}/{name}"),
            "/home/u/.local/share/shards/worktrees/app/fix-login"
        );
    }

    #[test]
    fn name_is_appended_when_missing() {
        assert_eq!(ok("/wt"), "/wt/fix-login");
        assert_eq!(ok("/wt/"), "/wt/fix-login");
        assert_eq!(ok("/wt/{repo}"), "/wt/app/fix-login");
    }

    #[test]
    fn placeholders_may_appear_anywhere_and_twice() {
        assert_eq!(ok("/wt/{repo}-{name}"), "/wt/app-fix-login");
        assert_eq!(ok("/wt/{name}/{name}"), "/wt/fix-login/fix-login");
        assert_eq!(ok("/wt/{repo}/{repo}/{name}"), "/wt/app/app/fix-login");
    }

    #[test]
    fn values_are_never_read_as_placeholders() {
        let p = worktree_path(
            "/wt/{repo}/{name}",
            "{name}",
            "{repo}",
            None,
            Path::new(ROOT),
        );
        assert_eq!(p.unwrap(), Path::new("/wt/{name}/{repo}"));
    }

    #[test]
    fn unknown_braces_are_kept() {
        assert_eq!(ok("/wt/{other}/{name}"), "/wt/{other}/fix-login");
    }

    #[test]
    fn tilde_is_the_user_home() {
        assert_eq!(ok("~/wt/{repo}"), "/home/u/wt/app/fix-login");
        assert_eq!(ok("~/{name}"), "/home/u/fix-login");
    }

    #[test]
    fn tilde_only_expands_at_the_start_as_a_folder() {
        assert_eq!(ok("/wt/~/{name}"), "/wt/~/fix-login");
        // `~user/` is not expanded: it is a relative folder named `~user`.
        assert!(path("~user/wt").is_err());
    }

    #[test]
    fn tilde_without_a_home_stays_relative_and_lands_in_the_repo() {
        let e = worktree_path("~/wt", "app", "x", None, Path::new(ROOT)).unwrap_err();
        assert_eq!(
            e,
            TemplateError::InsideRepo {
                root: PathBuf::from(ROOT)
            }
        );
    }

    #[test]
    fn relative_templates_are_relative_to_the_repository_root() {
        assert_eq!(ok("../wt"), "/src/wt/fix-login");
        assert_eq!(ok("../{repo}.{name}"), "/src/app.fix-login");
        assert_eq!(ok("../../../../x"), "/x/fix-login");
    }

    #[test]
    fn dots_are_resolved_lexically() {
        assert_eq!(ok("/a/./b/../c"), "/a/c/fix-login");
        assert_eq!(ok("/a//b/"), "/a/b/fix-login");
    }

    #[test]
    fn folders_inside_the_repository_are_refused() {
        for t in [
            ".",
            "wt",
            "{name}",
            "./x/../y",
            "/src/app",
            "/src/app/wt",
            "/src/x/../app/wt",
        ] {
            assert!(
                matches!(path(t), Err(TemplateError::InsideRepo { .. })),
                "{t:?}"
            );
        }
        // A dotted path that climbs back into the repository is refused too,
        // also when `{repo}` is what leads back: it is filled in before the
        // check.
        assert!(path("../app/wt").is_err());
        assert!(path("../{repo}").is_err());
    }

    #[test]
    fn a_sibling_with_the_same_prefix_is_outside() {
        assert_eq!(ok("/src/app-wt"), "/src/app-wt/fix-login");
        assert_eq!(ok("../app.worktrees"), "/src/app.worktrees/fix-login");
    }

    #[test]
    fn the_refusal_names_the_repository_and_the_fix() {
        let e = path(".").unwrap_err().to_string();
        assert_eq!(
            e,
            "puts worktrees inside the repository /src/app, where they would show in its `git status`; choose a folder outside it"
        );
    }
}
