-- Rate limits several instances share (docs/scale-out.md): one row per
-- limiter and key (an address, a subnet, a number, a prefix), the state of
-- its sliding window and backoff (policy/ratelimit.State), in Unix ms.
-- keep_ms: after it the row says nothing any more and may be deleted.
CREATE TABLE rate_limit (
  k varchar(200) NOT NULL PRIMARY KEY,
  window_ms bigint NOT NULL default 0,
  cur int NOT NULL default 0,
  prev int NOT NULL default 0,
  strikes int NOT NULL default 0,
  last_strike_ms bigint NOT NULL default 0,
  blocked_until_ms bigint NOT NULL default 0,
  keep_ms bigint NOT NULL default 0
);
CREATE INDEX rate_limit_keep ON rate_limit (keep_ms);
