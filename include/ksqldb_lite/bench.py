"""Micro-benchmark of the engine's per-record path: ``python -m ksqldb_lite.bench``.

Generates Meetup-shaped ``open_events`` records (synthetic, shaped after
``shared/meetup-samples/schema.md``: nested venue/group/fee objects, HTML descriptions of about
1.4 KB, ids numeric or letters, about 1.5 % of events in Germany), declares the study's stream
over the full schema with ``id STRING``, and runs the study's Germany filter

    CREATE STREAM MEETUP_EVENTS_GERMANY AS SELECT * FROM MEETUP_EVENTS WHERE `group`->country = 'de';

Three figures for it, and two for the aggregation of ``ksql/migrations/`` V000004,

    CREATE TABLE EVENTS_PER_COUNTRY AS SELECT `group`->country AS COUNTRY, COUNT(*) AS EVENTS
      FROM MEETUP_EVENTS GROUP BY `group`->country;

records/s on one core, deserialization included (wall clock, and per CPU second of this
process, which is the fair figure on a machine shared with other jobs):

* ``processor``: the compiled record processor alone (bytes in, bytes out), called as the
  drivers call it: ``process_raw`` first (the typed scan), ``process`` for the records it keeps;
* ``processor_without_scan``: the same with the scan switched off (orjson, the prefilter and
  its validator), the path every record took before the scan;
* ``in_memory_driver``: records produced through the in-memory topic driver (adds the driver's
  bookkeeping);
* ``per_country_aggregation``, ``…_without_scan``: the aggregation's processor (state in
  dicts, one table update out per record) with its typed scan, and with every record read
  whole by the full path.

``--unicode`` puts accented and CJK words into names and descriptions, as the server
benchmark's events (``replay.bench.meetup_shape``) have: decoding such text costs about twice
as much as ASCII.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import string
import sys
import time
from typing import Any

import orjson

from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.execution.driver import ConsumedRecord, ProducedRecord
from ksqldb_lite.execution.memory_driver import DictStore, InMemoryTopicDriver
from ksqldb_lite.execution.streams import StreamProcessor
from ksqldb_lite.execution.tables import AggregateProcessor

MEETUP_DDL = """
CREATE STREAM MEETUP_EVENTS (
  utc_offset BIGINT,
  venue STRUCT<zip STRING, country STRING, city STRING, address_1 STRING, address_2 STRING, name STRING,
               phone STRING, lon DOUBLE, state STRING, lat DOUBLE>,
  rsvp_limit INT,
  venue_visibility STRING,
  visibility STRING,
  fee STRUCT<amount DOUBLE, currency STRING, description STRING>,
  maybe_rsvp_count INT,
  description STRING,
  mtime BIGINT,
  event_url STRING,
  yes_rsvp_count INT,
  duration BIGINT,
  payment_required STRING,
  name STRING,
  id STRING,
  time BIGINT,
  `group` STRUCT<join_mode STRING, country STRING, city STRING, name STRING, group_lon DOUBLE, id BIGINT,
                 state STRING, urlname STRING, category STRUCT<name STRING, id INT, shortname STRING>,
                 group_photo STRUCT<highres_link STRING, photo_link STRING, photo_id BIGINT,
                                    thumb_link STRING>,
                 group_lat DOUBLE>,
  status STRING
) WITH (KAFKA_TOPIC='meetup_events', VALUE_FORMAT='JSON');
"""
GERMANY = "CREATE STREAM MEETUP_EVENTS_GERMANY AS SELECT * FROM MEETUP_EVENTS WHERE `group`->country = 'de';"
PER_COUNTRY = (
    "CREATE TABLE EVENTS_PER_COUNTRY AS SELECT `group`->country AS COUNTRY, COUNT(*) AS EVENTS "
    "FROM MEETUP_EVENTS GROUP BY `group`->country;"
)

_COUNTRIES = [("us", 74.6), ("ca", 7.1), ("au", 6.6), ("gb", 3.1), ("de", 1.5), ("hk", 0.9), ("nz", 0.8)]
_WORDS = [
    "meetup",
    "group",
    "event",
    "talk",
    "night",
    "coffee",
    "code",
    "hike",
    "yoga",
    "music",
    "film",
    "book",
    "club",
    "data",
    "walk",
    "run",
]


_UNICODE_WORDS = ["über", "straße", "café", "naïve", "résumé", "東京", "日本語"]


def _text(rng: random.Random, length: int, unicode: bool = False) -> str:
    vocabulary = _WORDS + _UNICODE_WORDS if unicode else _WORDS
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(vocabulary)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def _country(rng: random.Random) -> str:
    pick = rng.uniform(0, sum(w for _, w in _COUNTRIES))
    for code, weight in _COUNTRIES:
        pick -= weight
        if pick <= 0:
            return code
    return "us"


def make_event(rng: random.Random, seq: int, unicode: bool = False) -> dict[str, Any]:
    """One synthetic Meetup ``open_events`` object (``unicode``: non-ASCII words in its text)."""
    country = _country(rng)
    event_id = (
        str(200_000_000 + seq)
        if rng.random() < 0.57
        else "".join(rng.choice(string.ascii_lowercase) for _ in range(12))
    )
    urlname = "-".join(rng.choice(_WORDS) for _ in range(3))
    event: dict[str, Any] = {
        "utc_offset": 3_600_000 if country == "de" else -18_000_000,
        "rsvp_limit": rng.choice([0, 0, 0, 20, 50]),
        "venue_visibility": "public",
        "visibility": "public",
        "maybe_rsvp_count": 0,
        "description": "<p>" + _text(rng, int(rng.expovariate(1 / 1400)) + 40, unicode) + "</p>",
        "mtime": 1_425_772_800_000 + seq * 1000,
        "event_url": f"http://www.meetup.com/{urlname}/events/{200_000_000 + seq}/",
        "yes_rsvp_count": rng.randint(0, 20),
        "payment_required": "0",
        "name": _text(rng, 38, unicode).title(),
        "id": event_id,
        "time": 1_427_000_000_000 + seq * 1000,
        "group": {
            "join_mode": "open",
            "country": country,
            "city": "München" if country == "de" and rng.random() < 0.5 else _text(rng, 8).title(),
            "name": _text(rng, 25).title(),
            "group_lon": round(rng.uniform(-120, 20), 2),
            "id": rng.randint(8_811, 33_141_987),
            "urlname": urlname,
            "category": {"name": "tech", "id": 34, "shortname": "tech"},
            "group_photo": {
                "highres_link": "http://photos1.meetupstatic.com/photos/event/highres_1.jpeg",
                "photo_link": "http://photos1.meetupstatic.com/photos/event/600_1.jpeg",
                "photo_id": rng.randint(1, 10**9),
                "thumb_link": "http://photos1.meetupstatic.com/photos/event/thumb_1.jpeg",
            },
            "group_lat": round(rng.uniform(-40, 60), 2),
        },
        "status": "upcoming",
    }
    if rng.random() < 0.71:
        event["venue"] = {
            "country": country,
            "city": _text(rng, 8).title(),
            "address_1": _text(rng, 20),
            "name": _text(rng, 15).title(),
            "lon": round(rng.uniform(-120, 20), 6),
            "lat": round(rng.uniform(-40, 60), 6),
        }
    if rng.random() < 0.48:
        event["duration"] = 7_200_000
    if country in ("us", "ca", "gb"):
        event["group"]["state"] = "NY"
    return event


def make_records(count: int, seed: int = 7, unicode: bool = False) -> list[bytes]:
    """``count`` serialized events."""
    rng = random.Random(seed)
    return [orjson.dumps(make_event(rng, i, unicode)) for i in range(count)]


def _engine(statement: str = GERMANY) -> tuple[KsqlEngine, InMemoryTopicDriver]:
    driver = InMemoryTopicDriver()
    driver.create_topic("meetup_events", 1, 1)
    engine = KsqlEngine(driver, {"ksql.streams.auto.offset.reset": "earliest"})
    engine.start()
    engine.execute(MEETUP_DDL + statement)
    return engine, driver


class _Context:
    query_id = "bench"
    errors = 0

    def __init__(self) -> None:
        self.stores: dict[str, DictStore] = {}

    def report_error(self, entry: bytes | None) -> None:
        self.errors += 1

    def store(self, name: str) -> DictStore:
        return self.stores.setdefault(name, DictStore())


def bench_processor(
    values: list[bytes], repeat: int, scan: bool = True, statement: str = GERMANY
) -> dict[str, Any]:
    """Records/s of the compiled processor of ``statement`` alone (best of ``repeat``), called
    as the drivers call it; ``scan`` False switches the typed scan off."""
    engine, _ = _engine(statement)
    spec = next(q["spec"] for q in (qi.extra for qi in engine._executor.queries.values()))
    processor = spec.processor_factory(_Context())
    assert isinstance(processor, StreamProcessor | AggregateProcessor)
    if not scan:
        processor.c.scan = None
    records = [
        ConsumedRecord("meetup_events", 0, i, 1_425_772_800_000 + i, None, v) for i, v in enumerate(values)
    ]
    best_wall = 0.0
    best_cpu = 0.0
    produced = 0
    process_raw = processor.process_raw
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        produced = 0
        for record in records:
            decided = (
                process_raw(record.key, record.value, record.timestamp, record.partition, record.offset)
                if process_raw is not None
                else None
            )
            produced += len(processor.process(record) if decided is None else decided)
        best_wall = max(best_wall, len(records) / (time.perf_counter() - wall))
        best_cpu = max(best_cpu, len(records) / (time.process_time() - cpu))
    return {
        "records": len(records),
        "selected": produced,
        "records_per_s": round(best_wall),
        "records_per_cpu_s": round(best_cpu),
    }


def bench_driver(values: list[bytes]) -> dict[str, Any]:
    """Records/s through the in-memory driver (produce → query → sink)."""
    engine, driver = _engine()
    batch = [ProducedRecord(None, v, 1_425_772_800_000 + i) for i, v in enumerate(values)]
    wall, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(batch), 1000):
        driver.produce("meetup_events", batch[offset : offset + 1000])
    wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    selected = len(driver.records("MEETUP_EVENTS_GERMANY"))
    engine.close()
    return {
        "records": len(batch),
        "selected": selected,
        "records_per_s": round(len(batch) / wall_s),
        "records_per_cpu_s": round(len(batch) / cpu_s),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print JSON figures."""
    parser = argparse.ArgumentParser(prog="python -m ksqldb_lite.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000, help="events to generate (default 50000)")
    parser.add_argument("--repeat", type=int, default=3, help="processor runs, best is reported (default 3)")
    parser.add_argument("--unicode", action="store_true", help="accented and CJK words in the events' text")
    args = parser.parse_args(argv)
    values = make_records(args.records, unicode=args.unicode)
    mean_bytes = sum(len(v) for v in values) / len(values)
    figures = {
        "benchmark": "ksqldb_lite.germany_filter",
        "python": platform.python_version(),
        "mean_record_bytes": round(mean_bytes),
        "unicode_text": args.unicode,
        "processor": bench_processor(values, args.repeat),
        "processor_without_scan": bench_processor(values, args.repeat, scan=False),
        "in_memory_driver": bench_driver(values),
        "per_country_aggregation": bench_processor(values, args.repeat, statement=PER_COUNTRY),
        "per_country_aggregation_without_scan": bench_processor(
            values, args.repeat, scan=False, statement=PER_COUNTRY
        ),
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
