-- The do-not-call list (issue 15, consent): numbers whose owner pressed 9
-- in the callee's announcement ("never call me again"). Admission refuses
-- every request to them (403 callee_opted_out) until an admin removes the
-- entry. request_id is the call in which the callee opted out ('' when an
-- admin added it).
CREATE TABLE do_not_call (
  number varchar(80) NOT NULL PRIMARY KEY,
  request_id varchar(64) NOT NULL default '',
  created_ms bigint NOT NULL
);
