"""``replay dump inspect``: what a user checks before replaying a dump.

Counts, bytes, id forms, countries (top N, Germany, Munich in its three spellings), time
ranges, duplicates and edits, status mix and description sizes — in one streaming pass with
memory that grows by 16 bytes per record (two hashes, for duplicates and edits).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from replay.dump.progress import Progress
from replay.dump.reader import DumpReader

log = logging.getLogger(__name__)

MUNICH_SPELLINGS = ("münchen", "munich", "munchen", "muenchen")


def _share(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 4) if whole else 0.0


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    try:
        return (
            dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z")
        )
    except (OverflowError, OSError, ValueError):
        return f"out of range ({ms})"


def _quantiles(values: array[int]) -> dict[str, float | int]:
    if not values:
        return {"count": 0}
    data = np.frombuffer(values, dtype=np.int32) if values.typecode == "i" else np.asarray(values)
    return {
        "count": int(data.size),
        "mean": round(float(data.mean()), 1),
        "median": float(np.median(data)),
        "p90": float(np.percentile(data, 90)),
        "max": int(data.max()),
    }


@dataclass
class DumpInspection:
    """The figures of one dump; :meth:`to_json` is what ``--json`` prints."""

    path: str
    format: str
    compressed: bool
    file_bytes: int
    records: int = 0
    objects: int = 0
    unparseable: int = 0
    not_objects: int = 0
    empty_lines: int = 0
    record_bytes: dict[str, float | int] = field(default_factory=dict)
    id_forms: dict[str, int] = field(default_factory=dict)
    countries: Counter[str] = field(default_factory=Counter)
    munich: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    mtime_range: tuple[int | None, int | None] = (None, None)
    time_range: tuple[int | None, int | None] = (None, None)
    duplicates: int = 0
    edited_ids: int = 0
    later_versions: int = 0
    with_venue: int = 0
    with_fee: int = 0
    description_bytes: dict[str, float | int] = field(default_factory=dict)
    top: int = 10

    def to_json(self) -> dict[str, Any]:
        """JSON-ready figures; shares are percent of all records."""
        n = self.records
        germany = self.countries.get("de", 0)
        munich = sum(self.munich.values())
        return {
            "path": self.path,
            "format": self.format,
            "compressed": self.compressed,
            "file_bytes": self.file_bytes,
            "records": n,
            "objects": self.objects,
            "unparseable": self.unparseable,
            "not_objects": self.not_objects,
            "empty_lines": self.empty_lines,
            "record_bytes": self.record_bytes,
            "id_forms": {k: {"count": v, "share_pct": _share(v, n)} for k, v in self.id_forms.items()},
            "countries_top": [
                {"country": c, "count": k, "share_pct": _share(k, n)}
                for c, k in self.countries.most_common(self.top)
            ],
            "countries_distinct": len(self.countries),
            "germany": {"count": germany, "share_pct": _share(germany, n)},
            "munich": {"count": munich, "share_pct": _share(munich, n), "spellings": dict(self.munich)},
            "statuses": {s: {"count": k, "share_pct": _share(k, n)} for s, k in self.statuses.most_common()},
            "mtime": {"min": _iso(self.mtime_range[0]), "max": _iso(self.mtime_range[1])},
            "time": {"min": _iso(self.time_range[0]), "max": _iso(self.time_range[1])},
            "duplicates": {"records": self.duplicates, "share_pct": _share(self.duplicates, n)},
            "edits": {"ids_with_versions": self.edited_ids, "later_versions": self.later_versions},
            "venue_pct": _share(self.with_venue, n),
            "fee_pct": _share(self.with_fee, n),
            "description_bytes": self.description_bytes,
        }


def _id_form(value: Any) -> str:
    if not isinstance(value, str):
        return "not_string"
    if value.isdigit() and value.isascii():
        return "numeric"
    if 11 <= len(value) <= 13 and value.isascii() and value.isalpha() and value.islower():
        return "letters"
    return "other"


class _Collector:
    def __init__(self, result: DumpInspection) -> None:
        self.r = result
        self.sizes: array[int] = array("i")
        self.descriptions: array[int] = array("i")
        self.pair_hashes: array[int] = array("q")
        self.id_hashes: array[int] = array("q")
        self.id_forms: Counter[str] = Counter()
        self.mtime: list[int] = []
        self.time: list[int] = []

    def add(self, raw: bytes) -> None:
        r = self.r
        r.records += 1
        self.sizes.append(len(raw))
        if not raw.strip():
            r.empty_lines += 1
            return
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            r.unparseable += 1
            return
        if not isinstance(event, dict):
            r.not_objects += 1
            return
        r.objects += 1
        event_id = event.get("id")
        self.id_forms[_id_form(event_id)] += 1
        group = event.get("group")
        if isinstance(group, dict):
            country = group.get("country")
            r.countries[country if isinstance(country, str) else "?"] += 1
            city = group.get("city")
            if isinstance(city, str) and city.casefold() in MUNICH_SPELLINGS:
                r.munich[city] += 1
        status = event.get("status")
        r.statuses[status if isinstance(status, str) else "?"] += 1
        mtime, time = event.get("mtime"), event.get("time")
        if isinstance(mtime, int):
            self._range("mtime_range", mtime)
            if isinstance(event_id, str | int):
                self.pair_hashes.append(hash((str(event_id), mtime)))
        if isinstance(time, int):
            self._range("time_range", time)
        if isinstance(event_id, str | int):
            self.id_hashes.append(hash(str(event_id)))
        if "venue" in event:
            r.with_venue += 1
        if "fee" in event:
            r.with_fee += 1
        description = event.get("description")
        if isinstance(description, str):
            self.descriptions.append(len(description.encode("utf-8")))

    def _range(self, attr: str, value: int) -> None:
        low, high = getattr(self.r, attr)
        setattr(
            self.r,
            attr,
            (value if low is None else min(low, value), value if high is None else max(high, value)),
        )

    def finish(self) -> DumpInspection:
        r = self.r
        r.record_bytes = _quantiles(self.sizes) | {"total": int(sum(self.sizes))}
        r.description_bytes = _quantiles(self.descriptions)
        r.id_forms = {k: self.id_forms.get(k, 0) for k in ("numeric", "letters", "other", "not_string")}
        pairs = np.frombuffer(self.pair_hashes, dtype=np.int64)
        r.duplicates = int(pairs.size - np.unique(pairs).size)
        ids = np.frombuffer(self.id_hashes, dtype=np.int64)
        _, counts = np.unique(ids, return_counts=True)
        r.edited_ids = int((counts > 1).sum())
        # Later versions of an id, minus exact (id, mtime) repeats, which are duplicates not edits.
        r.later_versions = int((counts - 1).sum()) - r.duplicates
        return r


def inspect_dump(path: str | os.PathLike[str], *, top: int = 10, progress: bool = True) -> DumpInspection:
    """Read the whole dump once and return its figures."""
    with DumpReader(path) as reader:
        info = reader.info
        result = DumpInspection(
            path=str(info.path), format=info.format, compressed=info.compressed, file_bytes=info.size, top=top
        )
        collector = _Collector(result)
        bar = Progress(
            f"inspect {info.path.name}", total=info.size, unit="B", scale=True, logger=log, enabled=progress
        )
        with bar:
            for record in reader.records():
                collector.add(record.raw)
                if record.index % 5_000 == 0:
                    bar.advance_to(reader.position)
    return collector.finish()


def render_text(inspection: DumpInspection) -> str:
    """The inspection as a few aligned lines for a terminal."""
    j = inspection.to_json()
    n = j["records"]
    rb = j["record_bytes"]
    db = j["description_bytes"]
    kind = ("gzip " if j["compressed"] else "") + ("JSON Lines" if j["format"] == "jsonl" else "JSON array")
    ids = ", ".join(
        f"{k} {v['count']:,} ({v['share_pct']:.1f} %)" for k, v in j["id_forms"].items() if v["count"]
    )
    top = ", ".join(f"{c['country']} {c['share_pct']:.2f} %" for c in j["countries_top"])
    munich = ", ".join(f"{k} {v:,}" for k, v in j["munich"]["spellings"].items()) or "none"
    status = ", ".join(f"{k} {v['share_pct']:.1f} %" for k, v in j["statuses"].items())
    lines = [
        f"dump         {j['path']} ({kind}, {j['file_bytes']:,} bytes on disk)",
        f"records      {n:,}: {j['objects']:,} JSON objects, {j['unparseable']:,} not parseable, "
        f"{j['not_objects']:,} not objects, {j['empty_lines']:,} empty lines",
    ]
    if rb.get("count"):
        lines.append(
            f"bytes        {rb['total']:,} in records; per record mean {rb['mean']:,.0f}, "
            f"median {rb['median']:,.0f}, p90 {rb['p90']:,.0f}, max {rb['max']:,}"
        )
    lines += [
        f"ids          {ids or 'none'}",
        f"countries    {j['countries_distinct']} distinct; top: {top or 'none'}",
        f"Germany      {j['germany']['count']:,} events ({j['germany']['share_pct']:.2f} %)",
        f"Munich       {j['munich']['count']:,} events ({j['munich']['share_pct']:.3f} %): {munich}",
        f"mtime        {j['mtime']['min']} .. {j['mtime']['max']}",
        f"time         {j['time']['min']} .. {j['time']['max']}",
        f"duplicates   {j['duplicates']['records']:,} records repeat an earlier (id, mtime)",
        f"edits        {j['edits']['ids_with_versions']:,} ids have several versions "
        f"({j['edits']['later_versions']:,} later versions)",
        f"status       {status or 'none'}",
        f"venue / fee  {j['venue_pct']:.1f} % / {j['fee_pct']:.1f} % of records",
    ]
    if db.get("count"):
        lines.append(
            f"description  {db['count']:,} present; bytes mean {db['mean']:,.0f}, "
            f"median {db['median']:,.0f}, p90 {db['p90']:,.0f}, max {db['max']:,}"
        )
    return "\n".join(lines)
