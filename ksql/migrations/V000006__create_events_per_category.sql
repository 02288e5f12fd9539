-- V000006: how many events each group category posted.
--
-- Creates the table EVENTS_PER_CATEGORY (topic EVENTS_PER_CATEGORY, compacted): key CATEGORY =
-- `group`->`category`->`shortname` (e.g. 'tech', 'outdoors-adventure'), EVENTS = the number of
-- event messages of groups in that category (edits counted again, as in EVENTS_PER_COUNTRY).
-- Events of groups without a category (~0.5 %) have no key and are not counted, as ksqlDB
-- drops records whose GROUP BY key is null. Read it by key:
--   SELECT * FROM EVENTS_PER_CATEGORY WHERE CATEGORY = 'tech';
--
-- auto.offset.reset = earliest: created after a replay, the query still counts the whole topic.
-- processing.guarantee = exactly_once_v2: counts survive a kill of the server exactly (see
-- V000004).
SET 'auto.offset.reset' = 'earliest';
SET 'processing.guarantee' = 'exactly_once_v2';

CREATE TABLE EVENTS_PER_CATEGORY AS
  SELECT `group`->`category`->`shortname` AS CATEGORY,
         COUNT(*) AS EVENTS
  FROM MEETUP_EVENTS
  GROUP BY `group`->`category`->`shortname`;
