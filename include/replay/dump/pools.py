"""Static tables the generator draws from: places, time-zone rules, categories, words.

Everything here is public geography or invented text; no real Meetup record is copied. Shares
follow ``shared/meetup-samples/schema.md`` (group.country mix of the 2015 capture, category
mix, key orders), with Germany raised to the study's 1-2 % and Munich to 0.15-0.3 % of events.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class City:
    """A place groups live in; ``weight`` is its share of all events in percent."""

    country: str  # group.country, lowercase ISO alpha-2
    name: str  # group.city as Meetup writes it
    group_state: str | None  # group.state (us, ca, gb, it only)
    venue_state: str | None  # venue.state when a venue gives one
    lat: float
    lon: float
    std_offset_h: float  # standard time, hours east of UTC
    dst: str | None  # daylight-saving rule name (see generator._dst_window)
    weight: float
    currency: str


def _cities(
    country: str,
    currency: str,
    dst: str | None,
    rows: list[tuple[str, str | None, float, float, float, float]],
) -> list[City]:
    has_group_state = country in ("us", "ca", "gb", "it")
    out = []
    for name, state, lat, lon, offset, weight in rows:
        out.append(
            City(
                country=country,
                name=name,
                group_state=state if has_group_state else None,
                venue_state=state if country in ("us", "ca") else (state if country == "au" else None),
                lat=lat,
                lon=lon,
                std_offset_h=offset,
                dst=dst,
                weight=weight,
                currency=currency,
            )
        )
    return out


# (city, state code, lat, lon, standard UTC offset in hours, share of all events in %)
CITIES: list[City] = [
    *_cities(
        "us",
        "USD",
        "us",
        [
            ("New York", "NY", 40.71, -74.01, -5, 6.0),
            ("Brooklyn", "NY", 40.68, -73.94, -5, 1.2),
            ("Los Angeles", "CA", 34.05, -118.24, -8, 4.5),
            ("San Francisco", "CA", 37.77, -122.42, -8, 3.2),
            ("San Diego", "CA", 32.72, -117.16, -8, 2.3),
            ("San Jose", "CA", 37.34, -121.89, -8, 1.4),
            ("Pasadena", "CA", 34.15, -118.14, -8, 0.8),
            ("Oakland", "CA", 37.8, -122.27, -8, 0.8),
            ("Sacramento", "CA", 38.58, -121.49, -8, 1.0),
            ("Chicago", "IL", 41.88, -87.63, -6, 3.5),
            ("Houston", "TX", 29.76, -95.37, -6, 2.4),
            ("Dallas", "TX", 32.78, -96.8, -6, 2.0),
            ("Austin", "TX", 30.27, -97.74, -6, 1.8),
            ("San Antonio", "TX", 29.42, -98.49, -6, 0.9),
            ("Phoenix", "AZ", 33.45, -112.07, -7, 1.8),
            ("Denver", "CO", 39.74, -104.99, -7, 2.3),
            ("Boulder", "CO", 40.01, -105.27, -7, 0.6),
            ("Salt Lake City", "UT", 40.76, -111.89, -7, 0.8),
            ("Seattle", "WA", 47.61, -122.33, -8, 2.6),
            ("Portland", "OR", 45.52, -122.68, -8, 1.6),
            ("Boston", "MA", 42.36, -71.06, -5, 2.2),
            ("Cambridge", "MA", 42.37, -71.11, -5, 0.5),
            ("Philadelphia", "PA", 39.95, -75.17, -5, 1.5),
            ("Pittsburgh", "PA", 40.44, -80.0, -5, 0.8),
            ("Washington", "DC", 38.91, -77.04, -5, 2.5),
            ("Arlington", "VA", 38.88, -77.1, -5, 0.9),
            ("Baltimore", "MD", 39.29, -76.61, -5, 0.7),
            ("Atlanta", "GA", 33.75, -84.39, -5, 2.0),
            ("Miami", "FL", 25.76, -80.19, -5, 1.3),
            ("Orlando", "FL", 28.54, -81.38, -5, 1.2),
            ("Tampa", "FL", 27.95, -82.46, -5, 1.1),
            ("Delray Beach", "FL", 26.46, -80.07, -5, 0.3),
            ("Charlotte", "NC", 35.23, -80.84, -5, 1.1),
            ("Raleigh", "NC", 35.78, -78.64, -5, 1.0),
            ("Nashville", "TN", 36.16, -86.78, -6, 0.9),
            ("Minneapolis", "MN", 44.98, -93.27, -6, 1.1),
            ("Columbus", "OH", 39.96, -83.0, -5, 0.8),
            ("Detroit", "MI", 42.33, -83.05, -5, 0.8),
            ("Las Vegas", "NV", 36.17, -115.14, -8, 1.0),
            ("Kansas City", "MO", 39.1, -94.58, -6, 0.6),
            ("St. Louis", "MO", 38.63, -90.2, -6, 0.6),
            ("New Orleans", "LA", 29.95, -90.07, -6, 0.5),
            ("Honolulu", "HI", 21.31, -157.86, -10, 0.4),
            ("Anchorage", "AK", 61.22, -149.9, -9, 0.2),
        ],
    ),
    *_cities(
        "ca",
        "CAD",
        "us",
        [
            ("Toronto", "ON", 43.65, -79.38, -5, 2.8),
            ("Vancouver", "BC", 49.28, -123.12, -8, 1.7),
            ("Montreal", "QC", 45.5, -73.57, -5, 1.0),
            ("Calgary", "AB", 51.05, -114.07, -7, 0.7),
            ("Ottawa", "ON", 45.42, -75.7, -5, 0.5),
            ("Edmonton", "AB", 53.55, -113.49, -7, 0.4),
        ],
    ),
    *_cities(
        "au",
        "AUD",
        "au",
        [
            ("Sydney", "NSW", -33.87, 151.21, 10, 2.6),
            ("Melbourne", "VIC", -37.81, 144.96, 10, 2.4),
            ("Canberra", "ACT", -35.28, 149.13, 10, 0.3),
            ("Adelaide", "SA", -34.93, 138.6, 9.5, 0.4),
        ],
    ),
    *_cities(
        "au",
        "AUD",
        None,
        [("Brisbane", "QLD", -27.47, 153.03, 10, 0.7), ("Perth", "WA", -31.95, 115.86, 8, 0.5)],
    ),
    *_cities(
        "gb",
        "GBP",
        "eu",
        [
            ("London", "H9", 51.51, -0.13, 0, 2.3),
            ("Manchester", "I2", 53.48, -2.24, 0, 0.3),
            ("Edinburgh", "U8", 55.95, -3.19, 0, 0.2),
            ("Bristol", "C3", 51.45, -2.59, 0, 0.2),
            ("Birmingham", "A7", 52.49, -1.89, 0, 0.1),
        ],
    ),
    # Germany: 1.5 % of events, Munich 0.22 % in three spellings.
    *_cities(
        "de",
        "EUR",
        "eu",
        [
            ("Berlin", None, 52.52, 13.4, 1, 0.42),
            ("Hamburg", None, 53.55, 9.99, 1, 0.18),
            ("Frankfurt am Main", None, 50.11, 8.68, 1, 0.16),
            ("Köln", None, 50.94, 6.96, 1, 0.1),
            ("Düsseldorf", None, 51.23, 6.78, 1, 0.08),
            ("Stuttgart", None, 48.78, 9.18, 1, 0.08),
            ("Bonn", None, 50.74, 7.1, 1, 0.06),
            ("Leipzig", None, 51.34, 12.37, 1, 0.05),
            ("Nürnberg", None, 49.45, 11.08, 1, 0.05),
            ("München", None, 48.14, 11.58, 1, 0.13),
            ("Munich", None, 48.14, 11.58, 1, 0.065),
            ("Munchen", None, 48.14, 11.58, 1, 0.025),
        ],
    ),
    *_cities("ie", "EUR", "eu", [("Dublin", None, 53.35, -6.26, 0, 0.55)]),
    *_cities(
        "es", "EUR", "eu", [("Madrid", None, 40.42, -3.7, 1, 0.2), ("Barcelona", None, 41.39, 2.17, 1, 0.15)]
    ),
    *_cities("fr", "EUR", "eu", [("Paris", None, 48.86, 2.35, 1, 0.3)]),
    *_cities("nl", "EUR", "eu", [("Amsterdam", None, 52.37, 4.9, 1, 0.25)]),
    *_cities(
        "it", "EUR", "eu", [("Milano", "09", 45.46, 9.19, 1, 0.12), ("Roma", "07", 41.9, 12.5, 1, 0.08)]
    ),
    *_cities("ch", "CHF", "eu", [("Zürich", None, 47.37, 8.54, 1, 0.12)]),
    *_cities("se", "SEK", "eu", [("Stockholm", None, 59.33, 18.07, 1, 0.1)]),
    *_cities("dk", "DKK", "eu", [("Copenhagen", None, 55.68, 12.57, 1, 0.06)]),
    *_cities(
        "nz",
        "NZD",
        "nz",
        [("Auckland", None, -36.85, 174.76, 12, 0.5), ("Wellington", None, -41.29, 174.78, 12, 0.2)],
    ),
    *_cities("hk", "HKD", None, [("Hong Kong", None, 22.32, 114.17, 8, 0.9)]),
    *_cities("ae", "AED", None, [("Dubai", None, 25.2, 55.27, 4, 0.6)]),
    *_cities("sg", "SGD", None, [("Singapore", None, 1.29, 103.85, 8, 0.6)]),
    *_cities("jp", "JPY", None, [("Tokyo", None, 35.68, 139.69, 9, 0.55)]),
    *_cities(
        "cn",
        "CNY",
        None,
        [("Shanghai", None, 31.23, 121.47, 8, 0.35), ("Beijing", None, 39.9, 116.41, 8, 0.2)],
    ),
    *_cities(
        "in",
        "INR",
        None,
        [("Bangalore", None, 12.97, 77.59, 5.5, 0.35), ("Mumbai", None, 19.08, 72.88, 5.5, 0.2)],
    ),
    *_cities("th", "THB", None, [("Bangkok", None, 13.76, 100.5, 7, 0.4)]),
    *_cities("il", "ILS", "eu", [("Tel Aviv-Yafo", None, 32.09, 34.78, 2, 0.1)]),
    *_cities("za", "ZAR", None, [("Cape Town", None, -33.92, 18.42, 2, 0.08)]),
    *_cities("kr", "KRW", None, [("Seoul", None, 37.57, 126.98, 9, 0.08)]),
    *_cities("tw", "TWD", None, [("Taipei", None, 25.03, 121.57, 8, 0.06)]),
    *_cities("my", "MYR", None, [("Kuala Lumpur", None, 3.14, 101.69, 8, 0.06)]),
    *_cities("mx", "MXN", "mx", [("Mexico City", None, 19.43, -99.13, -6, 0.12)]),
    *_cities("br", "BRL", None, [("São Paulo", None, -23.55, -46.63, -3, 0.1)]),
    *_cities("ar", "ARS", None, [("Buenos Aires", None, -34.6, -58.38, -3, 0.05)]),
    *_cities("vn", "VND", None, [("Ho Chi Minh City", None, 10.82, 106.63, 7, 0.04)]),
    *_cities("qa", "QAR", None, [("Doha", None, 25.29, 51.53, 3, 0.03)]),
]

# (id, name, shortname, share) — the category table of schema.md with its observed mix.
CATEGORIES: list[tuple[int, str, str, float]] = [
    (1, "fine arts/culture", "arts-culture", 15),
    (2, "career/business", "career-business", 63),
    (3, "cars/motorcycles", "cars-motorcycles", 19),
    (4, "community/environment", "community-environment", 31),
    (5, "dancing", "dancing", 57),
    (6, "education/learning", "education-learning", 8),
    (8, "fashion/beauty", "fashion-beauty", 9),
    (9, "fitness", "fitness", 82),
    (10, "food/drink", "food-drink", 38),
    (11, "games", "games", 80),
    (12, "LGBT", "lgbt", 27),
    (13, "movements/politics", "government-politics", 8),
    (14, "health/wellbeing", "health-wellbeing", 120),
    (15, "hobbies/crafts", "hobbies-crafts", 15),
    (16, "language/ethnic identity", "language", 50),
    (18, "literature/writing", "literature-writing", 20),
    (20, "movies/film", "movies-film", 22),
    (21, "music", "music", 22),
    (22, "new age/spirituality", "new-age-spirituality", 71),
    (23, "outdoors/adventure", "outdoors-adventure", 93),
    (25, "parents/family", "parents-family", 21),
    (26, "pets/animals", "pets-animals", 26),
    (27, "photography", "photography", 14),
    (28, "religion/beliefs", "religion-beliefs", 35),
    (29, "sci-fi/fantasy", "sci-fi-fantasy", 6),
    (30, "singles", "singles", 43),
    (31, "socializing", "socializing", 159),
    (32, "sports/recreation", "sports-recreation", 71),
    (33, "support", "support", 7),
    (34, "tech", "tech", 46),
    (35, "women", "women", 5),
]

# Topics per category id, used for group and event names.
TOPICS: dict[int, list[str]] = {
    1: ["Art Lovers", "Museum Goers", "Sketching", "Theatre"],
    2: ["Entrepreneurs", "Startup Founders", "Business Networking", "Young Professionals"],
    3: ["Motorcycle Riders", "Classic Cars", "Jeep Owners"],
    4: ["Volunteers", "Green Living", "Neighbourhood"],
    5: ["Salsa", "Swing Dance", "Bachata", "Tango", "Line Dancing"],
    6: ["Public Speaking", "Book Study", "Learning Circle"],
    8: ["Style", "Makeup Artists"],
    9: ["Running", "Bootcamp", "Yoga", "Cycling", "CrossFit"],
    10: ["Foodies", "Wine Tasting", "Craft Beer", "Dining Out"],
    11: ["Board Games", "Trivia", "Poker", "Chess", "Tabletop RPG"],
    12: ["LGBT Social", "Rainbow Hikers", "Queer Book Club"],
    13: ["Progressives", "Civic Action", "Policy Discussion"],
    14: ["Meditation", "Mindfulness", "Healthy Living", "Breathwork"],
    15: ["Knitting", "Makers", "DIY Crafts", "Woodworking"],
    16: ["Spanish Conversation", "French Language", "German Stammtisch", "Language Exchange"],
    18: ["Writers", "Poetry", "Book Club"],
    20: ["Film Buffs", "Indie Film", "Movie Night"],
    21: ["Jam Session", "Choir", "Live Music", "Ukulele"],
    22: ["Spiritual Growth", "Reiki", "Sound Healing"],
    23: ["Hiking", "Outdoor Adventures", "Kayaking", "Camping", "Rock Climbing"],
    25: ["Moms", "Dads", "Playgroup"],
    26: ["Dog Lovers", "Doggie Social Club", "Cat Lovers"],
    27: ["Photography", "Photo Walks"],
    28: ["Bible Study", "Interfaith", "Buddhist"],
    29: ["Sci-Fi Fans", "Fantasy Readers"],
    30: ["Singles", "Speed Dating", "Singles Game Night"],
    31: ["Social Club", "New in Town", "20s & 30s", "Fun & Friends", "Over 40s"],
    32: ["Disc Golf", "Tennis", "Volleyball", "Soccer", "Bowling"],
    33: ["Support Group", "Grief Support"],
    34: ["Python", "JavaScript", "Data Science", "DevOps", "Cloud", "Android Developers", "Machine Learning"],
    35: ["Women in Business", "Ladies Who Hike"],
}

GROUP_SUFFIXES = ["Meetup", "Group", "Club", "Meetup Group", "Society", "Community", "Network", "Crew", ""]
EVENT_KINDS = [
    "Monthly Meetup",
    "Night",
    "Workshop",
    "Social",
    "Happy Hour",
    "Meetup",
    "Study Group",
    "Practice Session",
    "Beginners Class",
    "Weekend Trip",
    "Open Session",
    "Potluck",
    "Networking Mixer",
    "Q&A",
    "Hack Night",
]
WHEN_PREFIXES = [
    "",
    "",
    "",
    "Saturday Morning ",
    "Sunday ",
    "Friday Night ",
    "Weekly ",
    "Thursday ",
    "Spring ",
    "After-Work ",
]
GERMAN_EVENT_NAMES = [
    "Stammtisch",
    "Wanderung am Wochenende",
    "Sprachcafé",
    "Spieleabend",
    "Laufgruppe",
    "Kennenlernabend",
]
VENUE_KINDS = [
    "Coffee House",
    "Public Library",
    "Community Center",
    "Brewing Company",
    "Park",
    "Studio",
    "Taproom",
    "Bookstore",
    "Yoga Studio",
    "Recreation Center",
    "Pub",
    "Café",
    "Co-working Space",
    "Trailhead",
    "Bistro",
]
VENUE_WORDS = [
    "Blue",
    "Green",
    "Central",
    "Old Town",
    "Riverside",
    "Golden",
    "Harbor",
    "Maple",
    "Union",
    "Sunset",
]
STREETS = [
    "Main Street",
    "Oak Avenue",
    "Market Street",
    "2nd Avenue",
    "Broadway",
    "Park Road",
    "High Street",
    "Elm Street",
    "Lake Drive",
    "Washington Boulevard",
    "Mill Road",
    "Church Street",
]
FEE_DESCRIPTIONS = [
    ("per person", 0.84),
    ("per pers, tax included.", 0.07),
    ("person", 0.04),
    ("per ticket", 0.05),
]

# Sentences for HTML descriptions (invented); a few carry non-ASCII characters.
ENGLISH_SENTENCES = [
    "Join us for a relaxed evening with friendly people and good conversation.",
    "Everyone is welcome, whether you are a beginner or have years of experience.",
    "We will meet at the entrance and head out together at the start time.",
    "Please bring water, comfortable shoes and a good mood.",
    "Bring a friend or come on your own; there is always someone new to meet.",
    "The event is free for members; a small donation helps cover the room.",
    "Parking is available on the street and in the garage around the corner.",
    "If you cannot make it, please update your RSVP so someone on the waitlist can come.",
    "We keep the group small so that everybody gets a chance to talk.",
    "Afterwards some of us usually grab a bite nearby, feel free to join.",
    "Questions? Send a message to the organizers through the group page.",
    "This month we are trying something new, so expect a few surprises.",
    "Doors open fifteen minutes early; we start on time.",
    "No experience needed — we will walk you through the basics step by step.",
    "The route is about eight miles with some elevation gain, moderate pace.",
    "We will split into small tables by level so everybody feels comfortable.",
    "Snacks and drinks are provided, but you are welcome to bring something to share.",
    "Look for the sign with our logo at the front desk.",
    "Photos may be taken during the event and shared on the group page.",
    "It’s a great way to unwind after work and meet people with similar interests.",
    "We’re excited to see familiar faces and welcome new ones!",
    "Please arrive a few minutes early so we can get settled.",
    "Contact the host at [masked] if you have any dietary needs.",
    "The session is in English, and all levels are welcome.",
    "Dress for the weather; we go rain or shine.",
    "Kids and well-behaved dogs are welcome on this one.",
    "This is a casual meetup, there is no agenda beyond having a good time.",
    "Tickets are limited, so RSVP early to save your spot.",
    "We will cover the fundamentals first and then move on to a hands-on exercise.",
    "Laptops are optional; bring one if you want to follow along.",
    "Our speaker has worked in the field for over ten years and loves questions.",
    "Feel free to stay after the talk for informal networking.",
    "Meet in the café on the ground floor — look for the table with the flag 🙂",
]
# Mixed into descriptions of groups in Germany.
GERMAN_SENTENCES = [
    "Wir treffen uns am Eingang und gehen dann gemeinsam los.",
    "Jeder ist willkommen, egal ob Anfänger oder Fortgeschrittene.",
    "Nach dem Treffen gehen wir gerne noch zusammen etwas essen.",
    "Bitte meldet euch rechtzeitig ab, falls ihr nicht kommen könnt.",
]
LINK_PATHS = ["photos", "pages/Directions", "about", "files", "messages/boards"]
