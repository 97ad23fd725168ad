-- 0005: hooks. A user's approvals of a repository's project hooks (`shards trust`, keyed on the hash of their commands), and the process each shard's `start` hook runs as, with its log.
CREATE TABLE hook_approvals (
    -- canonical path of the repository's common git dir (as repos.git_dir), so a repository can be trusted before it holds a shard
    git_dir     TEXT NOT NULL,
    -- the user who approved: a shared ledger home serves several users, and one's approval is not another's
    owner_uid   INTEGER NOT NULL,
    -- SHA-256 of the project hooks' names and commands
    hash        TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (git_dir, owner_uid, hash)
);

CREATE TABLE hook_starts (
    shard_id   INTEGER PRIMARY KEY REFERENCES shards (id) ON DELETE CASCADE,
    -- the start hook's process (leader of its own session) and its start time, to tell it from a reused pid
    pid        INTEGER NOT NULL,
    pid_start  INTEGER NOT NULL,
    -- the file its stdout and stderr go to
    log        TEXT NOT NULL,
    started_at INTEGER NOT NULL
);
