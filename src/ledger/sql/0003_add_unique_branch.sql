-- 0003: one shard per branch in a repository, so two racing creates can never check one branch out twice.
CREATE UNIQUE INDEX shards_one_per_branch ON shards (repo_id, branch);
