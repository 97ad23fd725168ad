-- 0008: spares, shards made ahead of their names (issue 19): the state `spare`, what a spare was made to fit (`spare_fit`: the config fingerprint, sparse patterns and key files' hash) and the commit it was checked out at (`spare_base`). A spare has no branch of its own, so one branch per shard no longer counts spares. SQLite cannot change a CHECK constraint in place: the table is made anew and its rows copied (foreign keys are off while migrations run, so the copy keeps every service port and start record).
CREATE TABLE shards_new (
    id              INTEGER PRIMARY KEY,
    repo_id         INTEGER NOT NULL REFERENCES repos (id),
    name            TEXT NOT NULL,
    branch          TEXT NOT NULL,
    path            TEXT NOT NULL UNIQUE,
    wt_name         TEXT NOT NULL,
    made_branch     INTEGER NOT NULL CHECK (made_branch IN (0, 1)),
    state           TEXT NOT NULL CHECK (state IN ('creating', 'active', 'destroying', 'spare')),
    pid             INTEGER,
    pid_start       INTEGER,
    created_at      INTEGER NOT NULL,
    port_start      INTEGER NOT NULL CHECK (port_start BETWEEN 1 AND 65535),
    port_end        INTEGER NOT NULL CHECK (port_end BETWEEN port_start AND 65535),
    owner_uid       INTEGER,
    destroy_checked INTEGER NOT NULL DEFAULT 0 CHECK (destroy_checked IN (0, 1)),
    env_copied      BLOB,
    spare_fit       TEXT,
    spare_base      TEXT,
    UNIQUE (repo_id, name),
    UNIQUE (repo_id, wt_name),
    UNIQUE (port_start)
);
INSERT INTO shards_new (id, repo_id, name, branch, path, wt_name, made_branch, state, pid, pid_start, created_at, port_start, port_end, owner_uid, destroy_checked, env_copied)
    SELECT id, repo_id, name, branch, path, wt_name, made_branch, state, pid, pid_start, created_at, port_start, port_end, owner_uid, destroy_checked, env_copied FROM shards;
DROP TRIGGER service_ports_inside_block;
DROP TABLE shards;
ALTER TABLE shards_new RENAME TO shards;
CREATE TRIGGER service_ports_inside_block BEFORE INSERT ON service_ports
WHEN NOT EXISTS (SELECT 1 FROM shards WHERE id = NEW.shard_id AND NEW.port BETWEEN port_start AND port_end)
BEGIN
    SELECT RAISE(ABORT, 'service port outside its shard''s block');
END;
CREATE UNIQUE INDEX shards_one_per_branch ON shards (repo_id, branch) WHERE spare_fit IS NULL;
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
