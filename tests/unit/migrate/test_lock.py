"""The apply lock's rule: every reader of the same rows names the same holder."""

from __future__ import annotations

from replay.migrate.lock import LOCKED, UNLOCKED, holder_after, lock_row
from replay.migrate.metadata import MetadataRow


def locked(token: str, at: int, lease: int = 100, owner: str = "") -> MetadataRow:
    return lock_row(LOCKED, token=token, owner=owner, description=f"apply {token}", at_ms=at, lease_ms=lease)


def unlocked(token: str, at: int) -> MetadataRow:
    return lock_row(UNLOCKED, token=token, owner="", description="", at_ms=at, lease_ms=0)


def holder(*rows: MetadataRow) -> str | None:
    found = holder_after(list(rows))
    return found.token if found is not None else None


def test_first_locked_row_wins_a_race_whatever_the_reader() -> None:
    a, b = locked("a", 1000), locked("b", 1001)
    assert holder(a) == "a"  # what a sees when it reads up to its own row
    assert holder(a, b) == "a"  # what b sees: b lost


def test_release_frees_and_only_the_holder_can_release() -> None:
    assert holder(locked("a", 1), unlocked("b", 2)) == "a"
    assert holder(locked("a", 1), unlocked("a", 2)) is None
    assert holder(locked("a", 1), unlocked("a", 2), locked("b", 3)) == "b"


def test_renewal_extends_the_lease_and_keeps_the_start() -> None:
    found = holder_after([locked("a", 1000), locked("a", 1090)])
    assert found is not None and (found.since_ms, found.expires_ms) == (1000, 1190)
    # b came after a's first lease would have ended, but a renewed before: still a.
    assert holder(locked("a", 1000), locked("a", 1090), locked("b", 1150)) == "a"


def test_an_expired_lease_can_be_taken_over() -> None:
    assert holder(locked("a", 1000), locked("b", 1100)) == "b"
    assert holder(locked("a", 1000), locked("b", 1099)) == "a"


def test_the_same_owner_takes_over_at_once_but_no_owner_never_matches() -> None:
    assert holder(locked("a", 1000, owner="run r1"), locked("b", 1001, owner="run r1")) == "b"
    assert holder(locked("a", 1000), locked("b", 1001)) == "a"
    assert holder(locked("a", 1000, owner="run r1"), locked("b", 1001, owner="run r2")) == "a"


def test_rows_of_other_keys_and_broken_rows_are_ignored() -> None:
    other = MetadataRow("CURRENT", "1", "x", "RUNNING", "c", "1", "", "<none>")
    broken = MetadataRow("APPLY_LOCK", "0", "x", LOCKED, "z", "soon", "", "")
    assert holder(other, broken, locked("a", 5)) == "a"
