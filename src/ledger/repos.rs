//! Repositories in the ledger: list them, and follow one that moved (its
//! git dir and root, and the worktree folders that moved with it), in one
//! [`Ledger::write`] transaction.
//!
//! Part of the `ledger` adapter: knows SQLite, nothing of git; the caller
//! says where the repository went.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};

use super::rows::{classify, path_str};
use super::{Ledger, RepoRow};
use crate::error::Result;

impl Ledger {
    /// Returns every repository the ledger knows, in the order they came.
    pub fn repos(&self) -> Result<Vec<RepoRow>> {
        let read = || -> rusqlite::Result<Vec<RepoRow>> {
            let mut stmt = self
                .conn
                .prepare("SELECT id, git_dir, root, dir_name FROM repos ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(RepoRow {
                    id: r.get(0)?,
                    git_dir: PathBuf::from(r.get::<_, String>(1)?),
                    root: PathBuf::from(r.get::<_, String>(2)?),
                    dir_name: r.get(3)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| classify(&self.path, e))
    }

    /// Records that repository `id` moved: its common git dir is now
    /// `git_dir` and its main worktree `root`, and each `(shard id, folder)`
    /// of `paths` moved with it. Its `{repo}` folder name stays.
    ///
    /// One transaction. A repository row already at `git_dir` that holds no
    /// shard (a later run registered the new place) gives way; one that
    /// holds shards does not, and nothing changes. Returns true when the
    /// move was recorded, false when it was not (also when `id` is gone or
    /// already there).
    pub fn move_repo(
        &mut self,
        id: i64,
        git_dir: &Path,
        root: &Path,
        paths: &[(i64, PathBuf)],
    ) -> Result<bool> {
        let (git_dir, root) = (path_str(git_dir)?.to_string(), path_str(root)?.to_string());
        let paths = paths
            .iter()
            .map(|(shard, p)| Ok((*shard, path_str(p)?.to_string())))
            .collect::<Result<Vec<_>>>()?;
        self.write(|tx| {
            let there: Option<i64> = tx
                .query_row("SELECT id FROM repos WHERE git_dir = ?1", [&git_dir], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(other) = there {
                let holds: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM shards WHERE repo_id = ?1)",
                    [other],
                    |r| r.get(0),
                )?;
                if other == id || holds {
                    return Ok(false);
                }
                tx.execute("DELETE FROM repos WHERE id = ?1", [other])?;
            }
            let n = tx.execute(
                "UPDATE repos SET git_dir = ?2, root = ?3 WHERE id = ?1",
                params![id, git_dir, root],
            )?;
            for (shard, path) in &paths {
                tx.execute(
                    "UPDATE shards SET path = ?2 WHERE id = ?1 AND repo_id = ?3",
                    params![shard, path, id],
                )?;
            }
            Ok(n == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::Pool;
    use crate::ledger::tests::shard_at;

    #[test]
    fn a_moved_repository_keeps_its_shards_and_folder_name() {
        let mut l = Ledger::open_in_memory().unwrap();
        let pool = Pool::new(3000, 3299, 100).unwrap();
        let old = Path::new("/src/app/.git");
        let shard = |name, path| shard_at("/src/app/.git", name, path);
        let a = l.reserve(&shard("a", "/wt/a"), &pool, |_| false).unwrap();
        let b = l.reserve(&shard("b", "/wt/b"), &pool, |_| false).unwrap();
        // The new place is known already (a shard made and destroyed there)
        // before the move was seen.
        let new = Path::new("/moved/app/.git");
        let there = shard_at("/moved/app/.git", "c", "/wt/c");
        let c = l.reserve(&there, &pool, |_| false).unwrap();
        l.remove(c.id).unwrap();
        assert_eq!(l.repos().unwrap().len(), 2);

        let paths = [(b.id, PathBuf::from("/moved/wt/b"))];
        assert!(
            l.move_repo(a.repo.id, new, Path::new("/moved/app"), &paths)
                .unwrap()
        );
        let repos = l.repos().unwrap();
        assert_eq!(repos.len(), 1);
        assert_eq!(
            (
                repos[0].id,
                repos[0].git_dir.as_path(),
                repos[0].dir_name.as_str()
            ),
            (a.repo.id, new, "app")
        );
        let rows = l.list(Some(new)).unwrap();
        let found: Vec<_> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.path.to_str().unwrap(), r.block))
            .collect();
        assert_eq!(
            found,
            vec![("a", "/wt/a", a.block), ("b", "/moved/wt/b", b.block)]
        );
        assert!(l.list(Some(old)).unwrap().is_empty());
        // Already there: nothing to do.
        assert!(
            !l.move_repo(a.repo.id, new, Path::new("/moved/app"), &[])
                .unwrap()
        );
    }

    #[test]
    fn a_move_onto_a_repository_with_shards_changes_nothing() {
        let mut l = Ledger::open_in_memory().unwrap();
        let pool = Pool::new(3000, 3299, 100).unwrap();
        let a = l
            .reserve(&shard_at("/one/.git", "a", "/wt/a"), &pool, |_| false)
            .unwrap();
        l.reserve(&shard_at("/two/.git", "b", "/wt/b"), &pool, |_| false)
            .unwrap();
        let before = l.repos().unwrap();
        assert!(
            !l.move_repo(a.repo.id, Path::new("/two/.git"), Path::new("/two"), &[])
                .unwrap()
        );
        assert_eq!(l.repos().unwrap(), before);
    }
}
