-- Scale-out (issue 14, docs/scale-out.md). callback_hangup: a cancel or an
-- admin hang-up asked of an instance that does not own the call; the owner
-- (callback_request.instance) picks the row up and hangs up. by_reason is
-- visitor or admin.
CREATE TABLE callback_hangup (
  request_id varchar(64) NOT NULL PRIMARY KEY,
  by_reason varchar(20) NOT NULL,
  at_ms bigint NOT NULL
);

-- instance_lease: each running instance renews its row (node: the PBX it
-- is connected to, its --ami address); an instance whose
-- lease expired is dead, and another one on the same node adopts its
-- unfinished calls.
CREATE TABLE instance_lease (
  instance varchar(64) NOT NULL PRIMARY KEY,
  expires_ms bigint NOT NULL default 0,
  node varchar(200) NOT NULL default ''
);
