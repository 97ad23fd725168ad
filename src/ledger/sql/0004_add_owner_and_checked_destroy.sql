-- 0004: who owns a shard (a ledger home shared by the users of one host), and whether the destroy working on it passed its own check for work, so what that destroy deleted is never taken for work when `prune` or a repeated destroy finishes it.
ALTER TABLE shards ADD COLUMN owner_uid INTEGER;
ALTER TABLE shards ADD COLUMN destroy_checked INTEGER NOT NULL DEFAULT 0 CHECK (destroy_checked IN (0, 1));
