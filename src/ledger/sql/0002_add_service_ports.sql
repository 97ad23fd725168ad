-- 0002: named service ports (web, api, db…) at stable offsets inside each shard's block.
CREATE TABLE service_ports (
    shard_id INTEGER NOT NULL REFERENCES shards (id) ON DELETE CASCADE,
    service  TEXT NOT NULL,
    port     INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    PRIMARY KEY (shard_id, service),
    UNIQUE (port)
);

-- A service port always lies inside its own shard's block.
CREATE TRIGGER service_ports_inside_block BEFORE INSERT ON service_ports
WHEN NOT EXISTS (SELECT 1 FROM shards WHERE id = NEW.shard_id AND NEW.port BETWEEN port_start AND port_end)
BEGIN
    SELECT RAISE(ABORT, 'service port outside its shard''s block');
END;
