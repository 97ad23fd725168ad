-- 0007: the ledger's own random id, which names its entries in the host's block register (src/register.rs). A ledger made anew where a lost one was gets a new id, so the lost ledger's entries are never mistaken for its own.
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('ledger_id', lower(hex(randomblob(8))));
