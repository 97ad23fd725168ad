-- 0010: the order shards became routable (a review of issue 20): the proxy gives a label two shards share to the one that took it first, and `created_at` (seconds, read before the transaction, reset when a spare is claimed) cannot say which that was. `routed` is a sequence taken inside the write that makes a shard or claims a spare; rows made before this migration are numbered by (created_at, id), the order the proxy used until now.
ALTER TABLE shards ADD COLUMN routed INTEGER;
UPDATE shards SET routed = (
    SELECT COUNT(*) FROM shards o
    WHERE o.created_at < shards.created_at OR (o.created_at = shards.created_at AND o.id <= shards.id)
);
