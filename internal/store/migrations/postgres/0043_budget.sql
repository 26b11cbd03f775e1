-- The daily budget's reservations (--daily-minutes) of every instance: one
-- row per request admitted in the last call limit + 10 min, counted as a
-- full call limit until its CDR is surely in (docs/scale-out.md).
CREATE TABLE budget_reservation (
  id varchar(64) NOT NULL PRIMARY KEY,
  at_ms bigint NOT NULL
);
CREATE INDEX budget_reservation_at ON budget_reservation (at_ms);
