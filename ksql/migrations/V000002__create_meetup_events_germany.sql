-- V000002: the study's Germany stream.
--
-- Creates MEETUP_EVENTS_GERMANY (topic MEETUP_EVENTS_GERMANY): every event whose group is in
-- Germany, `group`->`country` = 'de' (Meetup writes group countries in lower case; a venue in
-- Germany does not make a group German). SELECT * keeps every column, so the sink holds each
-- selected event whole, and each sink record keeps its source record's timestamp, which the
-- replay's end-to-end latency probes measure.
--
-- auto.offset.reset = earliest: a query created after a replay still reads the whole topic
-- (ksqlDB's default, latest, would see only events produced after this file was applied).
SET 'auto.offset.reset' = 'earliest';

CREATE STREAM MEETUP_EVENTS_GERMANY AS
  SELECT *
  FROM MEETUP_EVENTS
  WHERE `group`->`country` = 'de';
