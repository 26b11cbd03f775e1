-- Service-wide capacity (docs/scale-out.md): one row per call holding one
-- of the --max-concurrent slots of its PBX node (the AMI address), from its
-- Originate to its final state, on whichever instance; the rows of requests
-- already final are swept.
CREATE TABLE capacity_slot (
  request_id varchar(64) NOT NULL PRIMARY KEY,
  node varchar(200) NOT NULL,
  taken_ms bigint NOT NULL
);
CREATE INDEX capacity_slot_node ON capacity_slot (node);
