"""The quarantine file (bad records with their bytes and reasons) and the per-record verdicts.

``quarantine.jsonl`` — one JSON object per invalid record, in dump order::

    {"index": 17, "line": 18, "offset": 40211, "bytes": 2410, "encoding": "utf-8",
     "raw": "{\\"id\\": ...", "checks": ["mtime.range"], "reasons": ["mtime is not epoch ..."]}

``raw`` holds the record's original bytes: as text when they are valid UTF-8
(``encoding: "utf-8"``), else base64 (``encoding: "base64"``). ``checks`` are stable names from
the suite (``meta.check``) or the prechecks (``record.json`` ...), ``reasons`` say the same for
people; both lists have one entry per failed check, in suite order.

``verdicts.csv`` — one row per record: ``index,line,offset,bytes,verdict`` with verdict ``valid``
or ``invalid``; the join key for anything that wants the fate of a record.
"""

from __future__ import annotations

import base64
import csv
from pathlib import Path
from typing import IO

import orjson

from replay.dump.closing import Closing
from replay.dump.reader import SourceRecord
from replay.errors import InputError
from replay.validate.prechecks import Failure

QUARANTINE_FILE = "quarantine.jsonl"
VERDICTS_FILE = "verdicts.csv"
SUMMARY_FILE = "validation.json"


def encode_raw(raw: bytes) -> tuple[str, str]:
    """(encoding, text) for a record's bytes: UTF-8 text when possible, else base64."""
    try:
        return "utf-8", raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(raw).decode("ascii")


def decode_raw(encoding: str, text: str) -> bytes:
    """The original bytes back from a quarantine line."""
    if encoding == "utf-8":
        return text.encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(text)
    raise ValueError(f"unknown raw encoding {encoding!r}")


class OutputWriter(Closing):
    """Streams ``quarantine.jsonl`` and ``verdicts.csv`` into the output folder."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.quarantine_path = out_dir / QUARANTINE_FILE
        self.verdicts_path = out_dir / VERDICTS_FILE
        self._quarantine: IO[bytes] = self.quarantine_path.open("wb")
        self._verdicts: IO[str] = self.verdicts_path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._verdicts, lineterminator="\n")
        self._csv.writerow(("index", "line", "offset", "bytes", "verdict"))

    def close(self) -> None:
        """Flush and close both files."""
        self._quarantine.close()
        self._verdicts.close()

    def write_valid(self, index: int, line: int, offset: int, size: int) -> None:
        """Record that a record passed."""
        self._csv.writerow((index, line, offset, size, "valid"))

    def write_invalid(self, record: SourceRecord, failures: list[Failure]) -> None:
        """Record that a record failed, and quarantine it with every reason."""
        self._csv.writerow((record.index, record.line, record.offset, len(record.raw), "invalid"))
        encoding, text = encode_raw(record.raw)
        entry = {
            "index": record.index,
            "line": record.line,
            "offset": record.offset,
            "bytes": len(record.raw),
            "encoding": encoding,
            "raw": text,
            "checks": [f.check for f in failures],
            "reasons": [f.reason for f in failures],
        }
        self._quarantine.write(orjson.dumps(entry) + b"\n")


def load_quarantine(path: str | Path) -> dict[int, list[str]]:
    """Record index -> reasons, from a ``quarantine.jsonl`` (or the validation folder holding it).

    The replay producer uses it to skip quarantined records and send them to a dead-letter
    topic with their reasons.
    """
    file = Path(path)
    if file.is_dir():
        file = file / QUARANTINE_FILE
    if not file.is_file():
        raise InputError(
            f"quarantine file not found: {file}", hint="run `replay validate` first, or pass its --out-dir"
        )
    reasons: dict[int, list[str]] = {}
    with file.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
                reasons[int(entry["index"])] = [str(r) for r in entry["reasons"]]
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise InputError(
                    f"line {number} of {file} is not a quarantine entry: {error}",
                    hint="the file is damaged; re-run `replay validate`",
                ) from error
    return reasons
