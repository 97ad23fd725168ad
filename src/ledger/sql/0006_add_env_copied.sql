-- 0006: what a shard's env file held right after create copied it from the main worktree (`.worktreeinclude`) and disowned the shard's keys, so destroy judges the user's lines against what was copied, not against the main worktree's file as it is later. NULL: nothing was copied, or the shard predates this column.
ALTER TABLE shards ADD COLUMN env_copied BLOB;
