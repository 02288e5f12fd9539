-- V000001: the source stream of the replay.
--
-- Creates the stream MEETUP_EVENTS over the topic `meetup_events`, which the replay
-- (`replay produce`) writes: one JSON object per Meetup open_events message, keyed by the
-- event id. Every later migration reads it.
--
-- The columns are the full event schema of shared/meetup-samples/schema.md, every field and
-- every nested object (`venue`, `fee`, `group` with `group`->`category` and
-- `group`->`group_photo`), so that any query can use any field. Optional fields are simply
-- null when a message omits them. Names are lower case and backticked as in the study, so
-- that they match the JSON keys exactly (`group`, `time` and `name` are also reserved words).
--
-- `id` is a STRING, not the study's BIGINT: about 40 % of real Meetup ids are 12-13 letters
-- (instances of recurring events, e.g. "xxlwkmywpbzb"). A JSON value that cannot be coerced
-- to the declared type makes ksqlDB skip the whole record (it only writes a processing-log
-- entry), so with BIGINT those events silently vanished from every stream built on this one.
--
-- `id` is a value column, as in the study: the sinks then carry each event whole. The stream
-- has no key column (the replay's key, the id again, is not read), so derived streams are
-- keyless too.
--
-- No TIMESTAMP column: ROWTIME stays the record timestamp the replay gave each event, which
-- the end-to-end latency probes measure on the sinks (they keep their source's timestamps).
-- No PARTITIONS either: the topic is the replay's (it sets partitions and retention); it must
-- exist when this file is applied, as ksqlDB refuses a stream over a missing topic without
-- PARTITIONS.
CREATE STREAM MEETUP_EVENTS (
  `id` STRING,
  `name` STRING,
  `status` STRING,
  `visibility` STRING,
  `venue_visibility` STRING,
  `time` BIGINT,
  `utc_offset` BIGINT,
  `mtime` BIGINT,
  `duration` BIGINT,
  `event_url` STRING,
  `description` STRING,
  `yes_rsvp_count` INT,
  `maybe_rsvp_count` INT,
  `rsvp_limit` INT,
  `waitlist_count` INT,
  `payment_required` STRING,
  `photo_url` STRING,
  `fee` STRUCT<
    `amount` DOUBLE,
    `currency` STRING,
    `description` STRING,
    `accepts` STRING,
    `label` STRING,
    `required` STRING
  >,
  `venue` STRUCT<
    `name` STRING,
    `address_1` STRING,
    `address_2` STRING,
    `city` STRING,
    `state` STRING,
    `zip` STRING,
    `country` STRING,
    `phone` STRING,
    `lat` DOUBLE,
    `lon` DOUBLE
  >,
  `group` STRUCT<
    `id` BIGINT,
    `name` STRING,
    `urlname` STRING,
    `city` STRING,
    `state` STRING,
    `country` STRING,
    `join_mode` STRING,
    `group_lat` DOUBLE,
    `group_lon` DOUBLE,
    `category` STRUCT<
      `id` INT,
      `name` STRING,
      `shortname` STRING
    >,
    `group_photo` STRUCT<
      `photo_id` BIGINT,
      `photo_link` STRING,
      `highres_link` STRING,
      `thumb_link` STRING
    >
  >
) WITH (
  KAFKA_TOPIC = 'meetup_events',
  VALUE_FORMAT = 'JSON'
);
