-- Talk time beside Asterisk's billsec (issue 10). cdr.billsec stays
-- Asterisk's own figure (from the caller leg's answer: Welcome and the
-- callee's ringing included); cdr.talksec is the talk time in seconds, from
-- the callee's answer to the end of the bridge, which the dialplan measures
-- and sets as the CDR variable "talksec" (Asterisk's database backends fill
-- a column from the CDR variable of its name). NULL = the row carries no
-- talk time (a row of another writer, or not the row the dialplan set it on).
ALTER TABLE cdr ADD COLUMN talksec integer NULL;
-- The rows Asterisk writes itself are found by the caller leg's uniqueid
-- (= the request id) when the engine settles a call that ended unseen.
CREATE INDEX cdr_uniqueid ON cdr (uniqueid);
-- Per call: the talk time of its rows (-1 = none carried one: the call's
-- billsec is then the sum of its answered Dial rows' billsec, as before).
-- number_stats.billsec and number_daily.billsec sum talksec where >= 0.
ALTER TABLE cdr_call ADD COLUMN talksec integer NOT NULL default -1;
