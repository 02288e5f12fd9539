"""Meetup-shaped ``open_events`` records for benchmarks, generated from the published schema.

Distributions follow shared/meetup-samples/schema.md (presence rates, id styles, country
shares, HTML descriptions of about 1.4 KB mean and up to 20 KB, ``\\/`` escapes, the 2016+ key
order), so the bytes a query parses look like the real dump's. Deterministic for a seed. A
stand-in until the project's dump generator (``replay dump generate``) is available.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass

COUNTRIES = (
    ("us", 74.6),
    ("ca", 7.1),
    ("au", 6.6),
    ("gb", 3.1),
    ("hk", 0.9),
    ("nz", 0.7),
    ("ae", 0.6),
    ("sg", 0.6),
)
OTHER_COUNTRIES = ("jp", "cn", "in", "ie", "fr", "nl", "es", "it", "br", "mx")
GERMAN_CITIES = ("Berlin", "Hamburg", "Bonn", "Köln", "Frankfurt am Main", "Stuttgart")
MUNICH_SPELLINGS = ("München", "Munich", "Munchen")
WORDS = [
    "meetup",
    "group",
    "event",
    "tech",
    "social",
    "hiking",
    "yoga",
    "dance",
    "salsa",
    "code",
    "python",
    "data",
    "startup",
    "night",
    "coffee",
    "book",
    "club",
    "network",
    "women",
    "music",
    "photo",
    "film",
    "games",
    "run",
    "walk",
    "learn",
    "talk",
    "beer",
    "wine",
    "food",
    "über",
    "straße",
    "café",
    "naïve",
    "résumé",
    "東京",
    "日本語",
]
STATUSES = (("upcoming", 90.5), ("deleted", 3.6), ("canceled", 2.6), ("suggested", 2.6), ("proposed", 0.7))


@dataclass(frozen=True)
class ShapeOptions:
    """Germany's and Munich's share of events (the study's dump: about 1.5 % and 0.2 %)."""

    germany_share: float = 0.015
    munich_share_of_germany: float = 0.15
    seed: int = 20150307


class MeetupShapedEvents:
    """An endless, deterministic supply of Meetup-shaped events (``bytes``, one JSON object)."""

    def __init__(self, options: ShapeOptions | None = None) -> None:
        self.options = options or ShapeOptions()
        self.rng = random.Random(self.options.seed)
        # A pool of descriptions, lognormal lengths (median ~960 B, mean ~1.4 KB, max 20 KB).
        self._descriptions = [self._description() for _ in range(512)]
        self._mtime = 1425686400000  # 2015-03-07

    def _weighted(self, choices: tuple[tuple[str, float], ...]) -> str:
        return self.rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]

    def _words(self, low: int, high: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(low, high)))

    def _description(self) -> str:
        target = min(20_000, int(math.exp(self.rng.gauss(math.log(960), 0.85))))
        parts: list[str] = []
        size = 0
        while size < target:
            part = f'<p>{self._words(8, 30)} <a href="https://www.meetup.com/x/">link</a></p> '
            parts.append(part)
            size += len(part.encode("utf-8"))
        return "".join(parts)

    def _group(self, country: str, city: str) -> dict[str, object]:
        rng = self.rng
        group: dict[str, object] = {
            "join_mode": "open" if rng.random() < 0.84 else "approval",
            "country": country,
            "city": city,
            "name": self._words(2, 6).title(),
            "group_lon": round(rng.uniform(-180, 180), 2),
            "id": rng.randint(8811, 33141987),
        }
        if country in ("us", "ca", "gb", "it"):
            group["state"] = rng.choice(("CA", "NY", "TX", "ON", "17", "E4"))
        group["urlname"] = "-".join(self._words(1, 4).split())
        if rng.random() < 0.995:
            category = rng.randint(1, 35)
            group["category"] = {
                "name": f"category {category}",
                "id": category,
                "shortname": f"cat-{category}",
            }
        if rng.random() < 0.78:
            photo = rng.randint(10_000_000, 99_999_999)
            base = f"http://photos1.meetupstatic.com/photos/event/{photo}"
            group["group_photo"] = {
                "highres_link": f"{base}/highres.jpeg",
                "photo_link": f"{base}/600.jpeg",
                "photo_id": photo,
                "thumb_link": f"{base}/thumb.jpeg",
            }
        group["group_lat"] = round(rng.uniform(-60, 70), 2)
        return group

    def _place(self) -> tuple[str, str]:
        rng, options = self.rng, self.options
        if rng.random() < options.germany_share:
            if rng.random() < options.munich_share_of_germany:
                return "de", rng.choice(MUNICH_SPELLINGS)
            return "de", rng.choice(GERMAN_CITIES)
        if rng.random() < 0.9:
            return self._weighted(COUNTRIES), self._words(1, 2).title()
        return rng.choice(OTHER_COUNTRIES), self._words(1, 2).title()

    def event(self, sequence: int) -> dict[str, object]:
        """One event as a dict (keys in Meetup's 2016+ order; optional keys omitted, never null)."""
        rng = self.rng
        self._mtime += rng.randint(0, 400)
        country, city = self._place()
        numeric = rng.random() < 0.57
        event_id = (
            str(200_000_000 + sequence) if numeric else "".join(rng.choices(string.ascii_lowercase, k=12))
        )
        has_time = rng.random() < 0.99
        members_only = rng.random() < 0.21
        event: dict[str, object] = {}
        if has_time:
            event["utc_offset"] = rng.choice((-14_400_000, -18_000_000, 0, 3_600_000, 7_200_000, 39_600_000))
        if not members_only and rng.random() < 0.9:
            venue: dict[str, object] = {}
            if rng.random() < 0.48:
                venue["zip"] = f"{rng.randint(10000, 99999)}"
            venue["country"] = country.upper() if rng.random() < 0.12 else country
            venue["city"] = city
            venue["address_1"] = f"{rng.randint(1, 999)} {self._words(1, 2).title()} St"
            venue["name"] = self._words(1, 4).title()
            if rng.random() < 0.945:
                venue["lon"] = round(rng.uniform(-180, 180), 6)
            if rng.random() < 0.74:
                venue["state"] = rng.choice(("CA", "NY", "TX", "ON", "NSW"))
            if "lon" in venue:
                venue["lat"] = round(rng.uniform(-60, 70), 6)
            event["venue"] = venue
        event["rsvp_limit"] = 0 if rng.random() < 0.75 else rng.randint(2, 350)
        event["venue_visibility"] = "members" if members_only else "public"
        event["visibility"] = "public"
        paid = rng.random() < 0.033
        if paid:
            event["fee"] = {
                "amount": round(rng.uniform(5, 60), 2),
                "currency": "USD",
                "description": "per person",
            }
        event["maybe_rsvp_count"] = 0
        if rng.random() < 0.98:
            event["description"] = rng.choice(self._descriptions)
        event["mtime"] = self._mtime
        urlname = self._words(1, 3).replace(" ", "-")
        event["event_url"] = f"http://www.meetup.com/{urlname}/events/{200_000_000 + sequence}/"
        event["yes_rsvp_count"] = rng.randint(0, 145) if rng.random() < 0.5 else 1
        if rng.random() < 0.48:
            event["duration"] = rng.choice((7_200_000, 10_800_000, 3_600_000, 5_400_000))
        event["payment_required"] = "1" if paid else "0"
        event["name"] = self._words(2, 10).title()
        event["id"] = event_id
        if has_time:
            event["time"] = self._mtime + rng.randint(0, 40) * 86_400_000
        event["group"] = self._group(country, city)
        event["status"] = self._weighted(STATUSES)
        return event

    def lines(self, count: int) -> Iterator[bytes]:
        """``count`` events serialized as Meetup did (compact, raw UTF-8, ``/`` escaped as ``\\/``)."""
        for sequence in range(count):
            text = json.dumps(self.event(sequence), ensure_ascii=False, separators=(",", ":"))
            yield text.replace("/", "\\/").encode("utf-8")


def is_german(line: bytes) -> bool:
    """The independent Germany filter (``group.country == 'de'``) on one serialized event."""
    group = json.loads(line).get("group") or {}
    return bool(group.get("country") == "de")
