-- Writes that survive database outages (issue 10): the service spools a
-- write the database refused and replays it later, so every replayed
-- write must be idempotent. Audit entries get a key of their own; the
-- probe row is what /readyz writes to learn whether the database takes
-- writes (a ping only proves it reads).
ALTER TABLE audit_log ADD COLUMN entry_key varchar(64) NULL;
CREATE UNIQUE INDEX audit_log_entry_key ON audit_log (entry_key);
CREATE TABLE write_probe (
  id int NOT NULL PRIMARY KEY,
  at_ms bigint NOT NULL
);
INSERT INTO write_probe (id, at_ms) VALUES (1, 0);
