-- 0001: the first ledger: repositories, shards, and the port block each shard holds.
CREATE TABLE repos (
    id       INTEGER PRIMARY KEY,
    -- canonical path of the common git dir: every worktree of a repo shares it
    git_dir  TEXT NOT NULL UNIQUE,
    -- the main worktree (or the git dir of a bare repository), for display
    root     TEXT NOT NULL,
    -- the {repo} part of worktree paths, unique so two clones named alike never share folders
    dir_name TEXT NOT NULL UNIQUE
);

CREATE TABLE shards (
    id          INTEGER PRIMARY KEY,
    repo_id     INTEGER NOT NULL REFERENCES repos (id),
    name        TEXT NOT NULL,
    branch      TEXT NOT NULL,
    path        TEXT NOT NULL UNIQUE,
    -- git's name for the worktree (the folder under <git_dir>/worktrees)
    wt_name     TEXT NOT NULL,
    -- 1 when this shard's create made the branch, so destroy may delete it
    made_branch INTEGER NOT NULL CHECK (made_branch IN (0, 1)),
    state       TEXT NOT NULL CHECK (state IN ('creating', 'active', 'destroying')),
    -- the process creating or destroying the shard, and its start time, to tell a live one from a dead one
    pid         INTEGER,
    pid_start   INTEGER,
    created_at  INTEGER NOT NULL,
    port_start  INTEGER NOT NULL CHECK (port_start BETWEEN 1 AND 65535),
    port_end    INTEGER NOT NULL CHECK (port_end BETWEEN port_start AND 65535),
    UNIQUE (repo_id, name),
    UNIQUE (repo_id, wt_name),
    UNIQUE (port_start)
);

-- Blocks never overlap. The allocator guarantees it inside one BEGIN IMMEDIATE
-- transaction; these triggers are the safety net under it.
CREATE TRIGGER shards_blocks_disjoint_insert BEFORE INSERT ON shards
WHEN EXISTS (SELECT 1 FROM shards WHERE port_start <= NEW.port_end AND NEW.port_start <= port_end)
BEGIN
    SELECT RAISE(ABORT, 'port block overlaps another shard');
END;

CREATE TRIGGER shards_blocks_disjoint_update BEFORE UPDATE OF port_start, port_end ON shards
WHEN EXISTS (SELECT 1 FROM shards WHERE id <> NEW.id AND port_start <= NEW.port_end AND NEW.port_start <= port_end)
BEGIN
    SELECT RAISE(ABORT, 'port block overlaps another shard');
END;
