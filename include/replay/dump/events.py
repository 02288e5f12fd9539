"""Build realistic Meetup ``open_events`` records (as dicts in Meetup's key order).

The shapes follow ``shared/meetup-samples/schema.md``: presence rates, id forms, status mix,
venue absent when ``venue_visibility`` is members, ``fee`` iff ``payment_required`` is "1",
HTML descriptions with the real size distribution, times and utc_offsets that agree with the
group's time zone (daylight saving included), edits (the same id again with a newer mtime),
and the three key orders Meetup's servers produced.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from bisect import bisect
from collections import deque
from functools import lru_cache
from itertools import accumulate
from typing import Any
from urllib.parse import quote

from replay.dump import pools

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# The capture starts like the 2015 samples (Saturday 2015-03-07 00:00 UTC), ~0.9 events/s.
CAPTURE_START_MS = 1_425_686_400_000
EVENTS_PER_SECOND = 0.9
OLDEST_MTIME_MS = 1_289_960_426_000  # 2010-11-17, the oldest mtime in the samples

# Key orders (a superset of keys each; absent keys are skipped), from the samples.
TOP_ORDER = {
    "2015a": "rsvp_limit status visibility maybe_rsvp_count payment_required mtime venue id fee utc_offset "
    "duration time venue_visibility yes_rsvp_count event_url description name group",
    "2015b": "rsvp_limit visibility status payment_required maybe_rsvp_count mtime venue fee id utc_offset "
    "duration time venue_visibility event_url yes_rsvp_count description name group",
    "2016": "utc_offset venue rsvp_limit venue_visibility visibility fee maybe_rsvp_count description mtime "
    "event_url yes_rsvp_count duration payment_required name id time group status",
}
GROUP_ORDER = {
    "2015": "id category group_photo group_lat name state group_lon join_mode urlname country city",
    "2016": "join_mode country city name group_lon id state urlname category group_photo group_lat",
}
VENUE_ORDER = {
    "2015": "zip phone lon name state address_1 address_2 lat country city",
    "2015r": "zip phone lon name state address_1 address_2 lat city country",
    "2016": "zip country city phone address_1 address_2 name lon state lat",
}
CATEGORY_ORDER = {"2015": ("id", "name", "shortname"), "2016": ("name", "id", "shortname")}
PHOTO_ORDER = {
    "2015": ("photo_link", "highres_link", "thumb_link", "photo_id"),
    "2016": ("highres_link", "photo_link", "photo_id", "thumb_link"),
}
FEE_ORDER = {"2015": ("amount", "description", "currency"), "2016": ("description", "amount", "currency")}
STYLES = ("2015a", "2015b", "2016")
STYLE_WEIGHTS = (0.58, 0.28, 0.14)
STATUSES = ("upcoming", "deleted", "canceled", "suggested", "proposed")
STATUS_WEIGHTS = (90.5, 3.6, 2.6, 2.6, 0.7)
DURATIONS_MIN = (120, 180, 60, 90, 150, 240, 300, 30, 45, 360, 480, 1440, 2880, 4320, 10080)
DURATION_WEIGHTS = (22, 16, 15, 13, 6, 5.5, 3, 3, 2, 2, 2, 1.5, 1, 0.5, 0.3)
RSVP_LIMITS = (20, 10, 30, 8, 15, 4, 12, 6, 25, 50, 40, 100, 16, 200, 350, 2)
RSVP_LIMIT_WEIGHTS = (13, 12, 8, 7, 6, 6, 4, 4, 4, 4, 3, 2, 2, 1, 0.5, 1)
# Description bytes: log-normal with median 960 and mean ~1.45 KB, capped just under 20 KB.
DESCRIPTION_MEDIAN = 960
DESCRIPTION_SIGMA = 0.91
DESCRIPTION_MAX = 19_900
_SPLIT = {k: tuple(v.split()) for k, v in TOP_ORDER.items()}
MAX_GROUPS = 30_000  # bigger dumps get busier groups, not more of them (memory stays flat)


class Weighted:
    """A weighted choice with precomputed cumulative weights (``random.choices`` recomputes
    them on every call, a third of the generator's time)."""

    __slots__ = ("_cum", "_total", "_values")

    def __init__(self, values: tuple[Any, ...], weights: tuple[float, ...]) -> None:
        self._values = values
        self._cum = list(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, rng: random.Random) -> Any:
        """One value, drawn with one ``rng.random()``."""
        return self._values[bisect(self._cum, rng.random() * self._total)]


_STYLE = Weighted(STYLES, STYLE_WEIGHTS)
_STATUS = Weighted(STATUSES, STATUS_WEIGHTS)
_DURATION = Weighted(DURATIONS_MIN, DURATION_WEIGHTS)
_RSVP_LIMIT = Weighted(RSVP_LIMITS, RSVP_LIMIT_WEIGHTS)
_HOUR = Weighted(
    (7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21), (1, 2, 4, 5, 4, 4, 3, 3, 2, 2, 5, 12, 14, 6, 2)
)
_MINUTE = Weighted((0, 30, 15, 45), (62, 30, 4, 4))
_YES = Weighted((0, 1, 2, 3, 4, 6, 9, 15, 30, 80), (5, 58, 10, 6, 5, 5, 4, 3, 2.5, 1.5))
_FEE_DESCRIPTION = Weighted(
    tuple(d for d, _ in pools.FEE_DESCRIPTIONS), tuple(w for _, w in pools.FEE_DESCRIPTIONS)
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=4096)
def _dst_window(rule: str, year: int, std_ms: int) -> tuple[int, int]:
    """(start, end) of daylight-saving time in UTC epoch ms for a rule and year."""

    def sunday(month: int, nth: int) -> int:  # nth Sunday of a month, nth=-1 for the last one
        if nth > 0:
            first = dt.date(year, month, 1)
            day = first + dt.timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
        else:
            nxt = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
            day = nxt - dt.timedelta(days=(nxt.weekday() + 1) % 7)
        return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)

    if rule == "us":  # 2nd Sunday of March 02:00 local .. 1st Sunday of November 02:00 daylight
        return sunday(3, 2) + 2 * HOUR_MS - std_ms, sunday(11, 1) + HOUR_MS - std_ms
    if rule == "eu":  # last Sunday of March .. last Sunday of October, 01:00 UTC
        return sunday(3, -1) + HOUR_MS, sunday(10, -1) + HOUR_MS
    if rule == "mx":  # 1st Sunday of April .. last Sunday of October
        return sunday(4, 1) + 2 * HOUR_MS - std_ms, sunday(10, -1) + HOUR_MS - std_ms
    if rule == "au":  # southern: 1st Sunday of October .. 1st Sunday of April (wraps the year)
        return sunday(10, 1) + 2 * HOUR_MS - std_ms, sunday(4, 1) + 2 * HOUR_MS - std_ms
    if rule == "nz":  # last Sunday of September .. 1st Sunday of April
        return sunday(9, -1) + 2 * HOUR_MS - std_ms, sunday(4, 1) + 2 * HOUR_MS - std_ms
    raise ValueError(f"unknown DST rule {rule!r}")


def utc_offset_ms(city: pools.City, utc_ms: int) -> int:
    """The city's offset from UTC at an instant, daylight saving included."""
    std = round(city.std_offset_h * HOUR_MS)
    if city.dst is None:
        return std
    year = dt.datetime.fromtimestamp(utc_ms / 1000, tz=dt.UTC).year
    start, end = _dst_window(city.dst, year, std)
    in_dst = (utc_ms >= start or utc_ms < end) if start > end else start <= utc_ms < end
    return std + HOUR_MS if in_dst else std


def _slug(name: str, rng: random.Random) -> str:
    words = re.findall(r"[^\W_]+", name)
    return "".join(words) if rng.random() < 0.3 else "-".join(words)


def meetup_bytes(event: dict[str, Any]) -> bytes:
    """Serialize like Meetup's stream: compact, raw UTF-8, ``/`` escaped as ``\\/``."""
    import orjson

    return orjson.dumps(event).replace(b"/", b"\\/")


class _Group:
    __slots__ = ("by_style", "canonical", "city", "series", "venues")

    def __init__(
        self, canonical: dict[str, Any], city: pools.City, venues: list[dict[str, Any]], series: str
    ):
        self.canonical = canonical
        self.city = city
        self.venues = venues
        self.series = series
        self.by_style: dict[str, dict[str, Any]] = {}

    def styled(self, era: str) -> dict[str, Any]:
        """The group object in the key order of an era (cached)."""
        cached = self.by_style.get(era)
        if cached is None:
            group = {k: self.canonical[k] for k in GROUP_ORDER[era].split() if k in self.canonical}
            if "category" in group:
                group["category"] = {k: group["category"][k] for k in CATEGORY_ORDER[era]}
            if "group_photo" in group:
                group["group_photo"] = {k: group["group_photo"][k] for k in PHOTO_ORDER[era]}
            cached = self.by_style[era] = group
        return cached


class EventFactory:
    """Makes events one after another from a seeded RNG; deterministic for a seed."""

    def __init__(self, rng: random.Random, expected_events: int) -> None:
        self.rng = rng
        self.clock_ms = CAPTURE_START_MS
        self._cities = pools.CITIES
        self._city_cum = list(accumulate(c.weight for c in self._cities))
        total_groups = min(MAX_GROUPS, max(60, expected_events // 5))
        weight_sum = self._city_cum[-1]
        self._slots = [max(2, round(total_groups * c.weight / weight_sum)) for c in self._cities]
        self._groups: dict[tuple[int, int], _Group] = {}
        self._group_ids: set[int] = set()
        self._urlnames: set[str] = set()
        self._letter_ids: set[str] = set()
        self._next_numeric = 220_650_000
        self._cat_cum = list(accumulate(c[3] for c in pools.CATEGORIES))
        self._recent: deque[tuple[dict[str, Any], str, pools.City]] = deque(maxlen=3000)
        self._paragraphs = {
            False: self._make_paragraphs(pools.ENGLISH_SENTENCES),
            True: self._make_paragraphs(pools.ENGLISH_SENTENCES + pools.GERMAN_SENTENCES),
        }
        self._para_mean = sum(len(p.encode()) for p in self._paragraphs[False]) / len(self._paragraphs[False])

    # ---- pools -------------------------------------------------------------------------
    def _make_paragraphs(self, pool: list[str]) -> list[str]:
        rng = self.rng
        out = []
        for _ in range(600):
            sentences = [rng.choice(pool) for _ in range(rng.randint(1, 5))]
            if rng.random() < 0.15:
                word = rng.choice(pools.VENUE_WORDS).lower().replace(" ", "")
                url = f"http://www.{word}{rng.randint(1, 99)}.com/{rng.choice(pools.LINK_PATHS)}/"
                sentences.append(f'More at <a href="{url}">{url}</a>.')
            if rng.random() < 0.1:
                sentences[0] = f"<b>{sentences[0]}</b>"
            joiner = "<br/>" if rng.random() < 0.2 else " "
            out.append("<p>" + joiner.join(sentences) + "</p>")
        return out

    def _city(self) -> int:
        return bisect(self._city_cum, self.rng.random() * self._city_cum[-1])

    def _group(self, city_index: int) -> _Group:
        rng = self.rng
        slots = self._slots[city_index]
        slot = int(slots * rng.random() ** 2.2)  # a few busy groups, many quiet ones
        group = self._groups.get((city_index, slot))
        if group is None:
            group = self._groups[(city_index, slot)] = self._new_group(self._cities[city_index])
        return group

    def _new_group(self, city: pools.City) -> _Group:
        rng = self.rng
        category = pools.CATEGORIES[bisect(self._cat_cum, rng.random() * self._cat_cum[-1])]
        topic = rng.choice(pools.TOPICS[category[0]])
        suffix = rng.choice(pools.GROUP_SUFFIXES)
        name = f"{city.name} {topic} {suffix}".strip() if rng.random() < 0.7 else f"{topic} of {city.name}"
        urlname = _slug(name, rng)
        if city.country == "de" or not urlname.isascii():
            urlname = (
                urlname if rng.random() < 0.5 else urlname.encode("ascii", "ignore").decode() or "Gruppe"
            )
        while urlname in self._urlnames:
            urlname = f"{urlname}-{rng.randint(2, 999)}"
        self._urlnames.add(urlname)
        group_id = (
            rng.randint(8_811, 18_500_000) if rng.random() < 0.6 else rng.randint(18_500_000, 33_141_987)
        )
        while group_id in self._group_ids:
            group_id += 1
        self._group_ids.add(group_id)
        lat = round(city.lat + rng.uniform(-0.06, 0.06), 2)
        lon = round(city.lon + rng.uniform(-0.06, 0.06), 2)
        canonical: dict[str, Any] = {
            "join_mode": "approval" if rng.random() < 0.16 else "open",
            "country": city.country,
            "city": city.name,
            "name": name,
            "group_lon": int(lon) if lon.is_integer() else lon,
            "id": group_id,
            "urlname": urlname,
            "group_lat": int(lat) if lat.is_integer() else lat,
        }
        if city.group_state:
            canonical["state"] = city.group_state
        if rng.random() < 0.995:
            canonical["category"] = {"id": category[0], "name": category[1], "shortname": category[2]}
        if rng.random() < 0.78:
            photo_id = rng.randint(421_953, 460_627_158)
            hexes = "/".join(rng.choice("0123456789abcdef") for _ in range(4))
            base = f"http://photos{rng.randint(1, 4)}.meetupstatic.com/photos/event/{hexes}"
            canonical["group_photo"] = {
                "highres_link": f"{base}/highres_{photo_id}.jpeg",
                "photo_link": f"{base}/600_{photo_id}.jpeg",
                "photo_id": photo_id,
                "thumb_link": f"{base}/thumb_{photo_id}.jpeg",
            }
        venues = [self._new_venue(city) for _ in range(rng.choice((1, 1, 2, 3)))]
        series = "".join(rng.choice(_LETTERS) for _ in range(4))
        return _Group(canonical, city, venues, series)

    def _new_venue(self, city: pools.City) -> dict[str, Any]:
        rng = self.rng
        venue: dict[str, Any] = {}
        if rng.random() < 0.48:
            venue["zip"] = self._zip(city)
        upper = city.country in ("us", "ca", "au", "gb", "nz") and rng.random() < 0.3
        venue["country"] = city.country.upper() if upper else city.country
        venue["city"] = city.name
        if rng.random() < 0.16:
            venue["phone"] = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
        venue["address_1"] = f"{rng.randint(1, 9999)} {rng.choice(pools.STREETS)}"
        if rng.random() < 0.03:
            venue["address_2"] = f"Suite {rng.randint(100, 999)}"
        venue["name"] = f"{rng.choice(pools.VENUE_WORDS)} {rng.choice(pools.VENUE_KINDS)}"
        if rng.random() < 0.945:
            venue["lon"] = round(city.lon + rng.uniform(-0.15, 0.15), 6)
        if city.venue_state and rng.random() < 0.9:
            venue["state"] = city.venue_state
        if "lon" in venue:
            venue["lat"] = round(city.lat + rng.uniform(-0.15, 0.15), 6)
        venue["_city_last"] = rng.random() < 0.37  # the 2015 servers put city before country 37 % of the time
        return venue

    def _zip(self, city: pools.City) -> str:
        rng = self.rng
        if rng.random() < 0.05:
            return f"meetup{rng.randint(1, 9)}"
        if city.country == "us":
            return f"{rng.randint(1000, 99950):05d}"
        if city.country == "ca":
            a, b = rng.choice("KLMNPRTV"), rng.choice("ABCEGHJ")
            return f"{a}{rng.randint(0, 9)}{b} {rng.randint(0, 9)}{rng.choice('ABCEGHJ')}{rng.randint(0, 9)}"
        return f"{rng.randint(1000, 99999)}"

    # ---- fields -------------------------------------------------------------------------
    def _new_id(self) -> str:
        self._next_numeric += self.rng.randint(1, 6)
        return str(self._next_numeric)

    def _letter_id(self, group: _Group) -> str:
        rng = self.rng
        while True:
            middle = rng.choice(("f", "f", "f", "d", "c", "z", "s")) + rng.choice(
                ("l", "l", "l", "k", "h", "j")
            )
            length = rng.random()
            if length < 0.03:
                middle = middle[:1]
            elif length > 0.99:
                middle += rng.choice(_LETTERS)
            tail = "yt" + rng.choice("fffffg") + "b" + rng.choice(_LETTERS) + rng.choice("bcc")
            candidate = group.series + middle + tail
            if candidate not in self._letter_ids:
                self._letter_ids.add(candidate)
                return candidate
            group.series = "".join(rng.choice(_LETTERS) for _ in range(4))

    def description(self, era: str, german: bool = False) -> str | None:
        """An HTML description of realistic size (None = absent, 2 %); German text mixed in
        for groups in Germany."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:
            return None
        if roll < 0.032:
            return "\n"
        target = min(DESCRIPTION_MAX, rng.lognormvariate(math.log(DESCRIPTION_MEDIAN), DESCRIPTION_SIGMA))
        sep = "\n" if era != "2016" else " "
        paragraphs = self._paragraphs[german]
        if target < 180:
            sentence = rng.choice(paragraphs)[3:-4]
            return f"<p>{sentence[: max(1, int(target) - 7)]}</p>"
        parts: list[str] = []
        size = 0.0
        while size + self._para_mean / 2 < target:
            part = paragraphs[rng.randrange(len(paragraphs))]
            parts.append(part)
            size += len(part) + 1
        return sep.join(parts)

    def _mtime(self) -> int:
        rng = self.rng
        roll = rng.random()
        if roll < 0.75:
            return self.clock_ms - rng.randint(0, 5_000)
        if roll < 0.875:
            return self.clock_ms - rng.randint(DAY_MS, 120 * DAY_MS)
        if roll < 0.96:
            return self.clock_ms - rng.randint(120 * DAY_MS, 730 * DAY_MS)
        return rng.randint(OLDEST_MTIME_MS, self.clock_ms - 730 * DAY_MS)

    def _start_time(self, city: pools.City) -> tuple[int, int]:
        """(time, utc_offset): a local start on a quarter hour, mostly days to weeks ahead."""
        rng = self.rng
        ahead_days = min(1_500.0, rng.lognormvariate(math.log(12.0), 1.1))
        std = round(city.std_offset_h * HOUR_MS)
        local_day = (self.clock_ms + std + int(ahead_days * DAY_MS)) // DAY_MS * DAY_MS
        hour = _HOUR.pick(rng)
        minute = _MINUTE.pick(rng)
        local = local_day + hour * HOUR_MS + minute * 60_000
        offset = utc_offset_ms(city, local - std)
        return local - offset, offset

    # ---- events -------------------------------------------------------------------------
    def next_event(self) -> tuple[dict[str, Any], str]:
        """The next event (in Meetup key order) and its style; advances the capture clock."""
        rng = self.rng
        self.clock_ms += int(rng.expovariate(EVENTS_PER_SECOND) * 1000) + 1
        if self._recent and rng.random() < 0.15:
            return self._edit()
        style = _STYLE.pick(rng)
        era = "2016" if style == "2016" else "2015"
        city_index = self._city()
        group = self._group(city_index)
        city = group.city
        event: dict[str, Any] = {}
        status = _STATUS.pick(rng)
        if not (status in ("proposed", "suggested") and rng.random() < 0.3):
            event["time"], event["utc_offset"] = self._start_time(city)
        members = rng.random() < 0.21
        event["venue_visibility"] = "members" if members else "public"
        if not members and rng.random() < 0.9:
            event["venue"] = rng.choice(group.venues)
        limit = 0 if rng.random() < 0.75 else _RSVP_LIMIT.pick(rng)
        event["rsvp_limit"] = limit
        event["visibility"] = "public"
        paid = rng.random() < 0.033
        event["payment_required"] = "1" if paid else "0"
        if paid:
            event["fee"] = self._fee(city)
        event["maybe_rsvp_count"] = 0
        description = self.description(era, city.country == "de")
        if description is not None:
            event["description"] = description
        event["mtime"] = self._mtime()
        letter = rng.random() < 0.43
        event_id = self._letter_id(group) if letter else self._new_id()
        url_id = self._new_id() if letter and rng.random() < 0.34 else event_id
        event["event_url"] = (
            f"http://www.meetup.com/{quote(group.canonical['urlname'], safe='-_.~')}/events/{url_id}/"
        )
        yes = _YES.pick(rng)
        yes = yes + rng.randint(0, yes // 2) if yes > 4 else yes
        event["yes_rsvp_count"] = min(yes, limit) if limit else yes
        if rng.random() < 0.48:
            event["duration"] = _DURATION.pick(rng) * 60_000
        event["name"] = self._event_name(group)
        event["id"] = event_id
        event["status"] = status
        ordered = self._ordered(event, group, style)
        self._recent.append((ordered, style, city))
        return ordered, style

    def _fee(self, city: pools.City) -> dict[str, Any]:
        rng = self.rng
        amount: int | float = rng.choice(
            (5, 10, 10, 15, 20, 20, 25, 25, 30, 35, 40, 45, 50, 60, 75, 100, 120)
        )
        if rng.random() < 0.2:
            amount = rng.choice((7.5, 12.5, 19.99, 22.5, 27.5, 9.95))
        description = _FEE_DESCRIPTION.pick(rng)
        return {"amount": amount, "description": description, "currency": city.currency}

    def _event_name(self, group: _Group) -> str:
        rng = self.rng
        if group.city.country == "de" and rng.random() < 0.5:
            return f"{rng.choice(pools.GERMAN_EVENT_NAMES)} {group.city.name}"
        topic = group.canonical["name"].split(" ")[-2] if rng.random() < 0.2 else ""
        category = group.canonical.get("category", {}).get("id", 31)
        when, topic_word = rng.choice(pools.WHEN_PREFIXES), rng.choice(pools.TOPICS[category])
        base = f"{when}{topic_word} {rng.choice(pools.EVENT_KINDS)}"
        if topic and rng.random() < 0.5:
            base = f"{base} #{rng.randint(2, 60)}"
        return base[:80]

    def _ordered(self, event: dict[str, Any], group: _Group, style: str) -> dict[str, Any]:
        era = "2016" if style == "2016" else "2015"
        venue = event.get("venue")
        if venue is not None:
            order = VENUE_ORDER["2016" if era == "2016" else ("2015r" if venue["_city_last"] else "2015")]
            event["venue"] = {k: venue[k] for k in order.split() if k in venue}
        if "fee" in event:
            event["fee"] = {k: event["fee"][k] for k in FEE_ORDER[era]}
        event["group"] = group.styled(era)
        return {k: event[k] for k in _SPLIT[style] if k in event}

    def _edit(self) -> tuple[dict[str, Any], str]:
        """A newer version of a recent event: same id, newer mtime, some fields changed."""
        rng = self.rng
        position = rng.randrange(len(self._recent))
        old, style, city = self._recent[position]
        event = dict(old)
        event["mtime"] = max(
            old["mtime"] + rng.randint(1_000, 600_000), self.clock_ms - rng.randint(0, 5_000)
        )
        roll = rng.random()
        if roll < 0.5:
            bump = rng.randint(1, 4)
            limit = event["rsvp_limit"]
            event["yes_rsvp_count"] = (
                min(event["yes_rsvp_count"] + bump, limit) if limit else event["yes_rsvp_count"] + bump
            )
        elif roll < 0.55 and event["status"] == "upcoming":
            event["status"] = "canceled" if rng.random() < 0.7 else "deleted"
        elif roll < 0.8 and "time" in event:
            event["time"] += rng.choice((-7, -2, -1, 1, 2, 7)) * DAY_MS
            event["utc_offset"] = utc_offset_ms(city, event["time"])
        else:
            description = self.description("2016" if style == "2016" else "2015", city.country == "de")
            if description is not None and "description" in event:
                event["description"] = description
        self._recent[position] = (event, style, city)
        return event, style
