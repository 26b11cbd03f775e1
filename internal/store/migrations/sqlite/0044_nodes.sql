-- Several Asterisk nodes (docs/scale-out.md): the node each request is
-- placed on (its AMI address host:port, never the secret), chosen once at
-- Submit and kept, so that restarts, failover, reconciliation and CDR
-- matching follow the call on its own node; '' for the requests of older
-- versions (one node: the instance's).
ALTER TABLE callback_request ADD COLUMN node varchar(200) NOT NULL DEFAULT '';

-- pbx_node: an admin's drain of a node, honoured by every instance: a
-- draining node finishes its live calls but gets no new ones. A node
-- without a row is not draining.
CREATE TABLE pbx_node (
  node varchar(200) NOT NULL PRIMARY KEY,
  draining smallint NOT NULL DEFAULT 0,
  changed_ms bigint NOT NULL DEFAULT 0
);
