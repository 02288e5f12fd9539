-- V000003: the study's Munich stream, with all three spellings.
--
-- Creates MEETUP_EVENTS_MUNICH (topic MEETUP_EVENTS_MUNICH): every event whose group city is
-- one of the spellings Meetup's users chose for Munich: 'München', 'Munich' and 'Munchen'.
-- The study matched only the first two and so missed the groups that wrote 'Munchen'. The
-- match is on the group's city alone and exact (case and accents as written), as in the
-- study. Like the Germany stream, the sink keeps whole events and their record timestamps
-- (the latency probes read them).
--
-- auto.offset.reset = earliest: a query created after a replay still reads the whole topic.
SET 'auto.offset.reset' = 'earliest';

CREATE STREAM MEETUP_EVENTS_MUNICH AS
  SELECT *
  FROM MEETUP_EVENTS
  WHERE `group`->`city` IN ('München', 'Munich', 'Munchen');
