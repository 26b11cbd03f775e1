-- One time zone per column (issue 10). Every time column of the service's
-- tables and views is UTC: cdr.calldate (a wall clock: the store, the
-- sandbox PBX and Asterisk's database backends as the kit renders them,
-- usegmtime=yes / timezone=UTC, all write UTC), the *_ms columns (Unix
-- milliseconds) and skypecallback.last_call (a UTC wall clock, below; it
-- followed the database session's zone on MySQL and PostgreSQL before).
-- Quota days (number_daily.day) are dates in --timezone.
--
-- billsec in number_stats, number_daily and this view is talk time: the
-- dialplan's talksec summed per call (Asterisk's own cdr.billsec, which
-- counts from the caller's answer, only for rows that carry no talksec).
DROP VIEW IF EXISTS skypecallback;
-- The original's per-number table name, for its readers. "today" is the
-- database server's local date here; the service itself uses --timezone.
CREATE VIEW skypecallback AS
SELECT s.number AS number, s.calls AS calls, s.answered AS answered, s.billsec AS billsec,
  CASE WHEN s.last_call_ms = 0 THEN NULL ELSE (to_timestamp(s.last_call_ms / 1000) AT TIME ZONE 'UTC') END AS last_call,
  COALESCE(d.calls, 0) AS today_calls, COALESCE(d.answered, 0) AS today_answered,
  COALESCE(d.billsec, 0) AS today_billsec,
  CASE WHEN o.kind = 'block' THEN 1 ELSE 0 END AS blocked,
  CASE WHEN o.kind = 'allow' THEN 1 ELSE 0 END AS allowed
FROM number_stats s
LEFT JOIN number_daily d ON d.number = s.number AND d.day = to_char(current_date, 'YYYY-MM-DD')
LEFT JOIN number_override o ON o.number = s.number;
