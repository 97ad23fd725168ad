//! The host's block register: one folder that every ledger on this host
//! shares, holding one entry file per block a shard holds.
//!
//! A ledger is the truth about its own shards, but ports belong to the host:
//! a second home (another `SHARDS_HOME` or `XDG_DATA_HOME`), another user's
//! private home, or a ledger deleted and made anew must never hand out a
//! block that a live shard holds. So every ledger writes an entry here for
//! each block it hands out, and reads the others' entries before it picks
//! one. The folder is world-writable and sticky (mode 1777, as `/tmp`), so
//! any user may add entries and only their owner may remove them; an entry
//! is named `START-END.LEDGER.UID` (the ledger's random id, its owner) and holds, readable
//! by its owner only, what that owner needs to tell a live entry from a
//! stale one ([`Record`]). `.lock` (flock) serialises every reader that
//! goes on to write, across users and homes.
//!
//! Adapter: knows files, flock and the entry format; nothing of SQLite, git
//! or what makes an entry stale (that is `shard::holds`).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::PortBlock;

/// The default folder, kept across reboots (unlike `/tmp` on most systems)
/// and shared by every user of the host.
pub const DEFAULT_DIR: &str = "/var/tmp/shards-register";

/// The register folder.
#[derive(Debug, Clone)]
pub struct Register {
    dir: PathBuf,
}

/// The register, locked against every other shards process on the host
/// that goes on to write it; unlocked when dropped.
pub struct Locked<'a> {
    register: &'a Register,
    _lock: File,
}

/// What an entry's owner records: enough to tell whether the shard is live.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The path of the ledger that holds the shard.
    pub ledger_path: PathBuf,
    /// The shard's row id in that ledger.
    pub shard_id: i64,
    /// The shard's name.
    pub name: String,
    /// The shard's worktree.
    pub worktree: PathBuf,
    /// The process that wrote the entry, and its start time: an entry for a
    /// shard still being made is live while its maker runs.
    pub pid: i64,
    /// The start time of `pid`.
    pub pid_start: i64,
}

/// One entry of the register.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The block it holds.
    pub block: PortBlock,
    /// The id of the ledger that wrote it.
    pub ledger_id: String,
    /// The Unix user who owns the entry file.
    pub uid: u32,
    /// Its record, when this user may read it and it parses.
    pub record: Option<Record>,
}

impl Register {
    /// Returns the register in `dir` (made on first use).
    pub fn new(dir: PathBuf) -> Register {
        Register { dir }
    }

    /// Returns the register's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Locks the register, making its folder when missing, waiting up to
    /// `timeout` for another process's lock.
    pub fn lock(&self, timeout: Duration) -> Result<Locked<'_>> {
        let path = self.dir.join(".lock");
        let file = self.lock_file(&path)?;
        let start = Instant::now();
        loop {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Locked {
                    register: self,
                    _lock: file,
                });
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(self.unusable(&path, e));
            }
            if start.elapsed() >= timeout {
                return Err(Error::RegisterLocked {
                    path,
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Opens (making it when missing, mode 0666, in a folder made when
    /// missing) the register's lock file, which every user may flock.
    fn lock_file(&self, path: &Path) -> Result<File> {
        self.ensure_dir()?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .or_else(|e| match e.kind() {
                // Another user made it: reading is enough for flock.
                ErrorKind::PermissionDenied => OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(path),
                _ => Err(e),
            })
            .map_err(|e| self.unusable(path, e))?;
        // The umask narrows the mode at creation: every user must open it.
        if let Ok(meta) = file.metadata()
            && meta.uid() == crate_uid()
            && meta.mode() & 0o666 != 0o666
        {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
        }
        Ok(file)
    }

    /// Returns the blocks that ledger `ledger_id` has entries for, read
    /// without the lock (a glance: an empty list when the folder is
    /// missing or unreadable).
    pub fn blocks_of(&self, ledger_id: &str) -> Vec<PortBlock> {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        read.flatten()
            .filter_map(|item| {
                let name = item.file_name();
                let (block, id) = parse_name(name.to_str()?)?;
                (id == ledger_id).then_some(block)
            })
            .collect()
    }

    /// Makes the folder (mode 1777) when missing, and refuses one that
    /// others could empty behind our back: a symlink, or a folder others may
    /// write that is not sticky.
    fn ensure_dir(&self) -> Result<()> {
        let meta = match std::fs::symlink_metadata(&self.dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if let Some(parent) = self.dir.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| self.unusable(parent, e))?;
                }
                match std::fs::create_dir(&self.dir) {
                    Ok(()) => {
                        std::fs::set_permissions(
                            &self.dir,
                            std::fs::Permissions::from_mode(0o1777),
                        )
                        .map_err(|e| self.unusable(&self.dir, e))?;
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(self.unusable(&self.dir, e)),
                }
                std::fs::symlink_metadata(&self.dir).map_err(|e| self.unusable(&self.dir, e))?
            }
            Err(e) => return Err(self.unusable(&self.dir, e)),
        };
        let mode = meta.mode();
        let others_write = mode & 0o022 != 0;
        let sticky = mode & 0o1000 != 0;
        let trusted_owner = meta.uid() == 0 || meta.uid() == crate_uid();
        let reason = if meta.file_type().is_symlink() {
            Some("it is a symlink")
        } else if !meta.is_dir() {
            Some("it is not a folder")
        } else if others_write && !sticky {
            Some("others may write it and it is not sticky, so they could remove its entries")
        } else if !trusted_owner && !sticky {
            Some("another user owns it and it is not sticky, so they could remove its entries")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::RegisterUnsafe {
                path: self.dir.clone(),
                reason,
            });
        }
        Ok(())
    }

    fn unusable(&self, path: &Path, source: std::io::Error) -> Error {
        Error::RegisterUnusable {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// This process's user id (the adapter reads it itself: adapters do not
/// import each other).
fn crate_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

impl Register {
    /// Returns every entry in the register, read without its lock and
    /// without making its folder (none when the folder is missing): what a
    /// pick would see now, for a preview that writes nothing.
    pub fn glance(&self) -> Result<Vec<Entry>> {
        match std::fs::symlink_metadata(&self.dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            _ => self.read_entries(),
        }
    }

    /// Returns every entry in the folder; a file whose name is not an
    /// entry's is left alone.
    fn read_entries(&self) -> Result<Vec<Entry>> {
        let dir = &self.dir;
        let read = std::fs::read_dir(dir).map_err(|e| self.unusable(dir, e))?;
        let mut entries = Vec::new();
        for item in read.flatten() {
            let name = item.file_name();
            let Some((block, ledger_id)) = name.to_str().and_then(parse_name) else {
                continue;
            };
            let Ok(meta) = item.metadata() else {
                continue;
            };
            let record = if meta.uid() == crate_uid() {
                std::fs::read(item.path())
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            } else {
                None
            };
            entries.push(Entry {
                block,
                ledger_id: ledger_id.to_string(),
                uid: meta.uid(),
                record,
            });
        }
        entries.sort_by_key(|e| (e.block.start(), e.ledger_id.clone()));
        Ok(entries)
    }
}

impl Locked<'_> {
    /// Returns every entry in the register; a file whose name is not an
    /// entry's is left alone.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        self.register.read_entries()
    }

    /// Writes (or rewrites) the entry of ledger `ledger_id` for `block`:
    /// a temporary file renamed into place, so no reader sees half of it.
    pub fn write(&self, block: PortBlock, ledger_id: &str, record: &Record) -> Result<()> {
        let dir = &self.register.dir;
        let path = dir.join(entry_name(block, ledger_id));
        let tmp = dir.join(format!(".tmp.{ledger_id}.{}", std::process::id()));
        let bytes =
            serde_json::to_vec(record).map_err(|e| self.register.unusable(&path, e.into()))?;
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.register.unusable(&path, e));
        }
        Ok(())
    }

    /// Removes the entry of ledger `ledger_id` for `block`; a missing one is
    /// no error. Returns false when the entry is another user's, which only
    /// its owner may remove.
    pub fn remove(&self, block: PortBlock, ledger_id: &str) -> Result<bool> {
        let path = self.register.dir.join(entry_name(block, ledger_id));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => Ok(false),
            Err(e) => Err(self.register.unusable(&path, e)),
        }
    }
}

/// The file name of this user's entry. The owner's uid is part of it: in
/// a home shared by several users, one ledger's entries for one block may
/// be made by each of them, and the sticky folder lets none replace
/// another's file.
fn entry_name(block: PortBlock, ledger_id: &str) -> String {
    format!(
        "{}-{}.{ledger_id}.{}",
        block.start(),
        block.end(),
        crate_uid()
    )
}

/// Parses `START-END.LEDGER.UID` into the block and the ledger id.
fn parse_name(name: &str) -> Option<(PortBlock, &str)> {
    let (range, rest) = name.split_once('.')?;
    let (ledger_id, uid) = rest.split_once('.')?;
    uid.parse::<u32>().ok()?;
    let (start, end) = range.split_once('-')?;
    let (start, end): (u16, u16) = (start.parse().ok()?, end.parse().ok()?);
    let valid_id = !ledger_id.is_empty() && ledger_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if end < start || !valid_id {
        return None;
    }
    Some((PortBlock::new(start, end - start + 1)?, ledger_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(start: u16, len: u16) -> PortBlock {
        PortBlock::new(start, len).unwrap()
    }

    fn record(name: &str) -> Record {
        Record {
            ledger_path: "/h/shards.db".into(),
            shard_id: 1,
            name: name.into(),
            worktree: "/h/wt".into(),
            pid: 1,
            pid_start: 2,
        }
    }

    #[test]
    fn names_round_trip_and_strangers_are_skipped() {
        let ours = entry_name(block(3000, 100), "ab12");
        assert_eq!(ours, format!("3000-3099.ab12.{}", crate_uid()));
        assert_eq!(parse_name(&ours), Some((block(3000, 100), "ab12")));
        assert_eq!(
            parse_name("3000-3099.ab12.1000"),
            Some((block(3000, 100), "ab12"))
        );
        for odd in [
            ".lock",
            ".tmp.ab.12",
            "3000.ab.1",
            "3099-3000.ab.1",
            "3000-3099..1",
            "x-y.ab.1",
            "3000-3099.a/b.1",
            "3000-3099.ab",
            "3000-3099.ab.x",
        ] {
            assert_eq!(parse_name(odd), None, "{odd}");
        }
    }

    #[test]
    fn entries_are_written_listed_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let register = Register::new(tmp.path().join("reg"));
        let locked = register.lock(Duration::from_secs(1)).unwrap();
        let mode = std::fs::metadata(register.dir()).unwrap().mode();
        assert_eq!(mode & 0o7777, 0o1777);
        locked.write(block(3000, 100), "aa", &record("a")).unwrap();
        locked.write(block(3100, 100), "bb", &record("b")).unwrap();
        std::fs::write(register.dir().join("notes.txt"), "x").unwrap();
        let entries = locked.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].block, block(3000, 100));
        assert_eq!(entries[0].record, Some(record("a")));
        assert!(locked.remove(block(3000, 100), "aa").unwrap());
        assert!(locked.remove(block(3000, 100), "aa").unwrap());
        assert_eq!(locked.entries().unwrap().len(), 1);
    }

    #[test]
    fn a_second_lock_waits_then_gives_up() {
        let tmp = tempfile::tempdir().unwrap();
        let register = Register::new(tmp.path().join("reg"));
        let _held = register.lock(Duration::from_secs(1)).unwrap();
        let other = Register::new(tmp.path().join("reg"));
        let e = other.lock(Duration::from_millis(50)).err().unwrap();
        assert!(matches!(e, Error::RegisterLocked { .. }), "{e}");
    }

    #[test]
    fn a_folder_others_may_empty_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("reg");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = Register::new(dir)
            .lock(Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(matches!(e, Error::RegisterUnsafe { .. }), "{e}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        let e = Register::new(link)
            .lock(Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(matches!(e, Error::RegisterUnsafe { .. }), "{e}");
    }
}
