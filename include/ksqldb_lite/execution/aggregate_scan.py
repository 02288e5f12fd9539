"""The fast path of a GROUP BY over a JSON stream: the typed scan instead of the full row.

An aggregation reads every record of its source, and ksqlDB deserializes each one whole before
anything else, so a record that does not fit the schema goes to the processing log. The full
path here does the same (orjson, then every column coerced into a row), which costs most of an
aggregation's time on a wide schema such as the Meetup events', although ``COUNT(*) … GROUP BY
`group`->country`` reads one field.

:class:`AggregateScan` runs the query's typed scan (``serde/jsonscan.py``) instead: one C-level
msgspec pass validates the whole record at least as strictly as the full reader (every string
decoded, numbers in range, objects where STRUCTs are, no unknown key that the reader could
take for a column), and the WHERE clause, the GROUP BY expressions and the aggregates'
arguments are evaluated over the scanned objects, reading only the fields they reference
(projection pushdown). For a record msgspec accepts, those fields hold exactly the values the
full reader would coerce (the same strings, the same ints, the same floats — a JSON integer in
a DOUBLE column included), so the group, the arguments and hence the table update are the same.

It decides only when that holds and nothing went wrong: a record msgspec refuses (a numeric
string in an INT column, a key in another case, invalid JSON, …), or an expression that raises
or would report an error (a failing CAST) makes it decline, and the full path decides and
reports exactly as before. ``tests/unit/test_ksql_aggscan.py`` compares both paths on fuzzed,
byte-damaged and edge-case records and over ksqlDB's conformance suites.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from ksqldb_lite.planning.aggregation import AggregatePlan
from ksqldb_lite.serde import formats as serde
from ksqldb_lite.serde import jsonscan

# :meth:`AggregateScan.read`'s answer for a record the full path would skip without a word
# (the WHERE clause is false or null, or a GROUP BY value is null).
SKIPPED: Final = object()
# … and for one msgspec refused: the full path decides, then the scan may learn from it.
NOT_SCANNED: Final = jsonscan.NOT_SCANNED


class AggregateScan:
    """The scan of one aggregation (shared by its processors; not thread-safe)."""

    def __init__(self, scan: jsonscan.JsonScan, has_where: bool, groups: int, counts: Sequence[bool]) -> None:
        self.scan = scan
        self._has_where = has_where
        self._groups = groups
        # per aggregate: True for COUNT(*), which has no argument expression (its argument is 1)
        self._counts = list(counts)

    @property
    def enabled(self) -> bool:
        """False once most records failed the scan (it stops scanning, see ``jsonscan``)."""
        return self.scan.enabled

    def read(self, value: bytes, key: list[Any], timestamp: int, partition: int, offset: int) -> Any:
        """``(group, arguments)`` of a record the scan decided (a tuple), :data:`SKIPPED` for one
        the full path would skip silently, or — take the full path — :data:`NOT_SCANNED` (then
        :meth:`learn` from the record if the full path read it) or None (an expression could
        not be decided)."""
        scan = self.scan
        scanned = scan.decode(value)
        if scanned is NOT_SCANNED:
            return NOT_SCANNED
        row = [*key, scanned, timestamp, partition, offset]
        functions = scan.functions
        index = 0
        try:
            if self._has_where:
                if not functions[0](row):
                    return SKIPPED
                index = 1
            group = [f(row) for f in functions[index : index + self._groups]]
            if None in group:
                return SKIPPED  # ksqlDB drops records whose GROUP BY key is null
            rest = iter(functions[index + self._groups :])
            arguments = [1 if count else next(rest)(row) for count in self._counts]
        except jsonscan.UNDECIDED:
            return None
        return group, arguments

    def learn(self, value: bytes) -> None:
        """After the full path read a record the scan refused (see ``JsonScan.learn``)."""
        try:
            decoded = serde.loads(value)
        except serde.SerdeError:
            return
        self.scan.learn(decoded)


def build(plan: AggregatePlan) -> AggregateScan | None:
    """The scan of an aggregation over a JSON stream, or None when the scan cannot evaluate its
    WHERE clause, GROUP BY expressions and aggregate arguments exactly (a table source, another
    format, a whole STRUCT/ARRAY/MAP column, a subscript, a DECIMAL, RANDOM())."""
    source = plan.source
    fmt = source.value_format
    if (
        source.is_table
        or fmt.name != "JSON"
        or not source.schema.value
        or serde.unwrapped(fmt, source.schema.value)
    ):
        return None
    arguments = [a.argument for a in plan.aggregates if a.argument is not None]
    expressions = [*([plan.where] if plan.where is not None else []), *plan.group_by, *arguments]
    scan = jsonscan.build(
        [(c.name, c.type) for c in source.schema.value], expressions, plan.scope, len(source.schema.key)
    )
    if scan is None:
        return None
    return AggregateScan(
        scan, plan.where is not None, len(plan.group_by), [a.argument is None for a in plan.aggregates]
    )
