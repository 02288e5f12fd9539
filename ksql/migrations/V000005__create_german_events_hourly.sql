-- V000005: German events per hour, a 1-hour tumbling window.
--
-- Creates the windowed table GERMAN_EVENTS_HOURLY (topic GERMAN_EVENTS_HOURLY): key COUNTRY
-- ('de', the only key) plus the window (WINDOWSTART, WINDOWEND in epoch ms), EVENTS = the number
-- of MEETUP_EVENTS_GERMANY records whose ROWTIME falls in that hour. Read it by key, with
-- optional window bounds:
--   SELECT * FROM GERMAN_EVENTS_HOURLY WHERE COUNTRY = 'de' AND WINDOWSTART >= 1425772800000;
--
-- Why ROWTIME and not the event's `time`:
-- * ROWTIME is the record timestamp the replay gave each event when it sent it, and the
--   Germany sink keeps it (MEETUP_EVENTS has no TIMESTAMP column): the replay's end-to-end
--   latency probes measure now - record timestamp on that sink, so the source must not
--   re-time its records, and this window runs on the same clock. An hour here is an hour of
--   the replay (with --speedup K, K hours of the original stream).
-- * The count is exact and repeatable: record timestamps arrive almost in order, so with the
--   grace period below no record is dropped as late, and the table equals an independent
--   count of the Germany topic's records grouped by floor(timestamp / 3,600,000) * 3,600,000.
--   `time` (the meetup's start) is out of order by up to years and absent from ~1 % of
--   events: a window over it would drop most events as late unless the grace period spanned
--   years, and would need a second source stream with TIMESTAMP='time' (which the project's
--   server refuses: its runtime always uses the record's own timestamp).
-- RETENTION 7 DAYS keeps a week of windows answerable by pull queries (the replay's topics keep
-- their data a week by default); GRACE PERIOD 24 HOURS is ksqlDB's default, written out.
--
-- auto.offset.reset = earliest: created after a replay, the query still counts the whole topic.
-- processing.guarantee = exactly_once_v2: counts survive a kill of the server exactly (see
-- V000004).
SET 'auto.offset.reset' = 'earliest';
SET 'processing.guarantee' = 'exactly_once_v2';

CREATE TABLE GERMAN_EVENTS_HOURLY AS
  SELECT `group`->`country` AS COUNTRY,
         COUNT(*) AS EVENTS
  FROM MEETUP_EVENTS_GERMANY
  WINDOW TUMBLING (SIZE 1 HOUR, RETENTION 7 DAYS, GRACE PERIOD 24 HOURS)
  GROUP BY `group`->`country`;
