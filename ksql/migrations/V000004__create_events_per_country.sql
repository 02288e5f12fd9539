-- V000004: how many events each country's groups posted.
--
-- Creates the table EVENTS_PER_COUNTRY (topic EVENTS_PER_COUNTRY, compacted): key COUNTRY =
-- `group`->`country` (lower-case ISO code as Meetup writes it), EVENTS = the number of event
-- messages seen for it. A message is counted each time it arrives: Meetup sends an event again
-- when it is edited, so this counts messages, not distinct event ids. Read it by key:
--   SELECT * FROM EVENTS_PER_COUNTRY WHERE COUNTRY = 'de';
-- Derived names are plain upper-case KSQL names; only the source's JSON fields keep their
-- backticked lower-case names.
--
-- auto.offset.reset = earliest: created after a replay, the query still counts the whole topic.
-- processing.guarantee = exactly_once_v2: the count lives in a state store backed by a
-- changelog topic; under exactly once the changelog writes, the table updates and the consumed
-- offsets commit together, so a server killed mid-count resumes from a consistent state
-- instead of counting again what it processed after its last commit (at least once would).
SET 'auto.offset.reset' = 'earliest';
SET 'processing.guarantee' = 'exactly_once_v2';

CREATE TABLE EVENTS_PER_COUNTRY AS
  SELECT `group`->`country` AS COUNTRY,
         COUNT(*) AS EVENTS
  FROM MEETUP_EVENTS
  GROUP BY `group`->`country`;
