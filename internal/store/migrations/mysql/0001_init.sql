-- The classic Asterisk cdr table: columns, types and the three indexes of the
-- original schema, verbatim, except uniqueid: varchar(32) there, 150 here
-- (Asterisk's own limit) because our caller leg's Uniqueid is the request's
-- UUID (Originate ChannelId, 36 characters). Added after the original
-- columns: Asterisk 12+'s linkedid, sequence, peeraccount, and ours (id,
-- request_id, callkey, dedup), all with defaults so a foreign writer that
-- knows only the classic columns still works.
CREATE TABLE cdr (
  id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
  calldate datetime NOT NULL default '0000-00-00 00:00:00',
  clid varchar(80) NOT NULL default '',
  src varchar(80) NOT NULL default '',
  dst varchar(80) NOT NULL default '',
  dcontext varchar(80) NOT NULL default '',
  channel varchar(80) NOT NULL default '',
  dstchannel varchar(80) NOT NULL default '',
  lastapp varchar(80) NOT NULL default '',
  lastdata varchar(80) NOT NULL default '',
  duration int(11) NOT NULL default '0',
  billsec int(11) NOT NULL default '0',
  disposition varchar(45) NOT NULL default '',
  amaflags int(11) NOT NULL default '0',
  accountcode varchar(20) NOT NULL default '',
  uniqueid varchar(150) NOT NULL default '',
  userfield varchar(255) NOT NULL default '',
  linkedid varchar(150) NOT NULL default '',
  sequence int(11) NOT NULL default '0',
  peeraccount varchar(80) NOT NULL default '',
  request_id varchar(64) COLLATE utf8mb4_bin NOT NULL default '',
  callkey varchar(150) COLLATE utf8mb4_bin NOT NULL default '',
  dedup char(64) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
ALTER TABLE `cdr` ADD INDEX ( `calldate` );
ALTER TABLE `cdr` ADD INDEX ( `dst` );
ALTER TABLE `cdr` ADD INDEX ( `accountcode` );
CREATE UNIQUE INDEX cdr_dedup ON cdr (dedup);
CREATE INDEX cdr_callkey ON cdr (callkey);
CREATE INDEX cdr_request_id ON cdr (request_id);

CREATE TABLE callback_request (
  id varchar(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  caller varchar(32) NOT NULL,
  callee varchar(32) NOT NULL,
  state varchar(20) NOT NULL,
  reason varchar(40) NOT NULL default '',
  cause int NOT NULL default 0,
  prompt varchar(20) NOT NULL default '',
  created_ms bigint NOT NULL,
  answered_ms bigint NULL,
  connected_ms bigint NULL,
  ended_ms bigint NULL,
  billsec int NOT NULL default 0,
  caller_dial varchar(32) NOT NULL default '',
  callee_dial varchar(32) NOT NULL default '',
  lang varchar(8) NOT NULL default '',
  client_ip varchar(64) NOT NULL default '',
  instance varchar(64) NOT NULL default '',
  caller_channel varchar(80) NOT NULL default '',
  callee_channel varchar(80) NOT NULL default '',
  updated_ms bigint NOT NULL,
  history_n int NOT NULL default 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX callback_request_caller ON callback_request (caller, created_ms);
CREATE INDEX callback_request_callee ON callback_request (callee, created_ms);
CREATE INDEX callback_request_created ON callback_request (created_ms);
CREATE INDEX callback_request_state ON callback_request (state);

CREATE TABLE callback_transition (
  request_id varchar(64) COLLATE utf8mb4_bin NOT NULL,
  seq int NOT NULL,
  state varchar(20) NOT NULL,
  at_ms bigint NOT NULL,
  PRIMARY KEY (request_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE cdr_call (
  callkey varchar(150) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  number varchar(80) NOT NULL default '',
  day char(10) NOT NULL default '',
  first_ms bigint NOT NULL default 0,
  first_dedup char(64) NOT NULL default '',
  last_ms bigint NOT NULL default 0,
  answered int NOT NULL default 0,
  billsec int NOT NULL default 0,
  nrows int NOT NULL default 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX cdr_call_number ON cdr_call (number);

CREATE TABLE number_stats (
  number varchar(80) NOT NULL PRIMARY KEY,
  calls int NOT NULL default 0,
  answered int NOT NULL default 0,
  billsec bigint NOT NULL default 0,
  last_call_ms bigint NOT NULL default 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE number_daily (
  number varchar(80) NOT NULL,
  day char(10) NOT NULL,
  calls int NOT NULL default 0,
  answered int NOT NULL default 0,
  billsec bigint NOT NULL default 0,
  PRIMARY KEY (number, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE number_lock (
  number varchar(80) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- '#rebuild' is the lock RebuildNumberStats holds exclusively and InsertCDR
-- shares, so a rebuild never races an ingestion.
INSERT INTO number_lock (number) VALUES ('#rebuild');

CREATE TABLE number_override (
  number varchar(80) NOT NULL PRIMARY KEY,
  kind varchar(8) NOT NULL,
  note varchar(255) NOT NULL default '',
  created_by varchar(120) NOT NULL default '',
  created_ms bigint NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE audit_log (
  id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at_ms bigint NOT NULL,
  actor varchar(120) NOT NULL default '',
  action varchar(60) NOT NULL default '',
  target varchar(120) NOT NULL default '',
  detail text NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX audit_log_at ON audit_log (at_ms);

CREATE TABLE cdr_cursor (
  name varchar(200) NOT NULL PRIMARY KEY,
  value varchar(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The original's per-number table name, for its readers. "today" is the
-- database server's local date here; the service itself uses --timezone.
CREATE VIEW skypecallback AS
SELECT s.number AS number, s.calls AS calls, s.answered AS answered, s.billsec AS billsec,
  CASE WHEN s.last_call_ms = 0 THEN NULL ELSE FROM_UNIXTIME(s.last_call_ms DIV 1000) END AS last_call,
  COALESCE(d.calls, 0) AS today_calls, COALESCE(d.answered, 0) AS today_answered,
  COALESCE(d.billsec, 0) AS today_billsec,
  CASE WHEN o.kind = 'block' THEN 1 ELSE 0 END AS blocked,
  CASE WHEN o.kind = 'allow' THEN 1 ELSE 0 END AS allowed
FROM number_stats s
LEFT JOIN number_daily d ON d.number = s.number AND d.day = DATE_FORMAT(CURDATE(), '%Y-%m-%d')
LEFT JOIN number_override o ON o.number = s.number;
