"""Stream the records of a Meetup dump with their source positions and original bytes.

A dump is JSON Lines (one event per line, as Meetup's stream sent it) or one JSON array of
events, either of them optionally gzip-compressed (detected by the gzip magic bytes, not the
file name). Memory stays bounded by the largest record whatever the size of the file: lines are
read one at a time, and a JSON array is cut into elements by a scanner that only keeps the
element being read.

Positions refer to the decompressed text: ``line`` is 1-based, ``offset`` is the byte offset of
the record's first byte. In JSON Lines every line is a record, empty ones included (so that
validation can quarantine them); the line terminator (``\\n`` or ``\\r\\n``) is not part of
``raw``. A UTF-8 byte-order mark at the start is skipped.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from replay.dump.closing import Closing
from replay.dump.readahead import ReadAhead
from replay.errors import (
    DumpFormatError,
    DumpIsDirectoryError,
    DumpNotFoundError,
    EmptyDumpError,
    InputError,
    NotJsonDumpError,
)

DumpFormat = Literal["jsonl", "json-array"]

# A single record larger than this is not a Meetup event but a broken file (no newlines).
MAX_RECORD_BYTES = 64 * 1024 * 1024
_SNIFF_BYTES = 64 * 1024
_BLOCK_BYTES = 1024 * 1024
# Blocks read ahead by a thread (replay.dump.readahead): 64 MB carry a replay at 100 MB/s
# through a 0.6 s pause of the disk.
_READ_AHEAD_BLOCKS = 64
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
# Control bytes that never occur in JSON text outside of a corrupt or binary file.
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"
# The array scanner's steps: skip strings and plain bytes in one C-level match and stop at the
# next structural byte (commas only matter at depth 0). A lone quote in group 1 means a string
# runs past the end of the buffer.
_SKIP_TO_STRUCTURE = {
    True: re.compile(rb'(?:"(?:[^"\\]++|\\.)*+"|[^"{}\[\],]++)*+([\[\]{},"])', re.DOTALL),
    False: re.compile(rb'(?:"(?:[^"\\]++|\\.)*+"|[^"{}\[\]]++)*+([\[\]{}"])', re.DOTALL),
}


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record of a dump, exactly as it appears in the (decompressed) file."""

    index: int  # 0-based ordinal of the record in the dump (empty lines count as records)
    line: int  # 1-based line number; for a JSON array the line where the element starts
    offset: int  # byte offset of the record's first byte in the decompressed stream
    raw: bytes  # the record's exact original bytes (no trailing newline)


# A record as a plain tuple: (index, line, offset, raw), the fields of SourceRecord.
Row = tuple[int, int, int, bytes]


@dataclass(frozen=True, slots=True)
class DumpInfo:
    """What :func:`sniff_dump` found out about a dump without reading all of it."""

    path: Path
    format: DumpFormat
    compressed: bool
    size: int  # bytes on disk (compressed size for .gz)


def _check_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise DumpNotFoundError(
            f"dump not found: {p}", hint="check the path, or create one with `replay dump generate`"
        )
    if p.is_dir():
        raise DumpIsDirectoryError(
            f"dump path is a directory: {p}", hint="pass the dump file itself (a .jsonl, .json or .gz file)"
        )
    if not os.access(p, os.R_OK):
        raise InputError(f"dump is not readable: {p}", hint="check the file's permissions")
    if p.stat().st_size == 0:
        raise EmptyDumpError(
            f"dump is empty (0 bytes): {p}", hint="the file holds no events; check how it was written"
        )
    return p


def _open_raw(p: Path) -> tuple[io.BufferedIOBase, io.BufferedIOBase, bool]:
    """Open the dump; returns (decompressed stream, underlying file, compressed?)."""
    raw = p.open("rb")
    compressed = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    if compressed:
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw, True
    return raw, raw, False


def _read_head(stream: io.BufferedIOBase, p: Path) -> bytes:
    try:
        return stream.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as error:
        raise DumpFormatError(
            f"cannot decompress {p}: {error}", hint="the gzip file is corrupt or truncated; re-create it"
        ) from error


def _classify(head: bytes, p: Path, compressed: bool) -> DumpFormat:
    """Decide the format from the first bytes, or raise a clear error for non-JSON input."""
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    what = "decompressed dump" if compressed else "dump"
    body = head.lstrip(_WHITESPACE)
    if not body:
        if len(head) < _SNIFF_BYTES - len(_BOM):
            raise EmptyDumpError(
                f"{what} holds only whitespace: {p}",
                hint="the file holds no events; check how it was written",
            )
        return "jsonl"  # a long run of blank lines; the records after it decide
    controls = sum(head.count(bytes([c])) for c in _CONTROL)
    if b"\x00" in head or controls > len(head) // 20:
        raise NotJsonDumpError(
            f"{what} looks binary, not JSON: {p}",
            hint="pass a JSON Lines file, a JSON array or a gzip of either",
        )
    first = body[:1]
    if first == b"[":
        return "json-array"
    if first == b"{":
        return "jsonl"
    # JSON Lines whose first record is valid JSON but not an object is still JSON (that record
    # is quarantined later); text that does not parse at all is not a dump.
    first_line = body.split(b"\n", 1)[0].strip(_WHITESPACE)
    try:
        orjson.loads(first_line)
    except orjson.JSONDecodeError:
        raise NotJsonDumpError(
            f"{what} is not JSON: {p} starts with {first_line[:40]!r}",
            hint="pass a JSON Lines file (one event object per line) or a JSON array of events",
        ) from None
    return "jsonl"


def sniff_dump(path: str | os.PathLike[str]) -> DumpInfo:
    """Check the dump path and detect its format; raises an :class:`InputError` subclass."""
    p = _check_path(path)
    stream, raw, compressed = _open_raw(p)
    with raw, stream:
        fmt = _classify(_read_head(stream, p), p, compressed)
    return DumpInfo(path=p, format=fmt, compressed=compressed, size=p.stat().st_size)


class DumpReader(Closing):
    """An open dump; iterate :meth:`records`. ``position`` (bytes of the file on disk consumed so
    far) and ``info.size`` drive progress bars."""

    def __init__(self, path: str | os.PathLike[str], *, read_ahead_blocks: int = _READ_AHEAD_BLOCKS) -> None:
        self.info = sniff_dump(path)
        self._stream, self._raw, _ = _open_raw(self.info.path)
        self._ahead: ReadAhead | None = None
        self._read_ahead_blocks = read_ahead_blocks

    def close(self) -> None:
        """Stop reading ahead, close the underlying file."""
        if self._ahead is not None:
            self._ahead.close()
        self._stream.close()
        self._raw.close()

    def _blocks(self) -> ReadAhead:
        """The stream, read ahead in blocks of _BLOCK_BYTES (started by the first iteration)."""
        if self._ahead is None:
            self._ahead = ReadAhead(self._stream, block_bytes=_BLOCK_BYTES, depth=self._read_ahead_blocks)
        return self._ahead

    @property
    def position(self) -> int:
        """Bytes of the file on disk read so far (compressed bytes for a gzip dump; it runs up to
        64 MB ahead of the records handed out, see replay.dump.readahead)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):  # closed or unseekable: progress only, not worth failing for
            return 0

    def records(self, *, skip: int = 0) -> Iterator[SourceRecord]:
        """Yield the records in order, starting at record index ``skip``."""
        for index, line, offset, raw in self.rows(skip=skip):
            yield SourceRecord(index, line, offset, raw)

    def rows(self, *, skip: int = 0) -> Iterator[Row]:
        """Like :meth:`records`, as plain ``(index, line, offset, raw)`` tuples: a hot loop (the
        replay) saves the construction of a frozen dataclass per record (about 1 µs)."""
        if skip < 0:
            raise ValueError("skip must be >= 0")
        try:
            if self.info.format == "jsonl":
                yield from self._jsonl(skip)
            else:
                yield from self._array(skip)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise DumpFormatError(
                f"cannot decompress {self.info.path}: {error}",
                hint="the gzip file is corrupt or truncated; re-create it",
            ) from error

    def _jsonl(self, skip: int) -> Iterator[Row]:
        # Lines are cut out of big blocks with bytes.find (memchr: a fraction of a CPU cycle per
        # byte, where bytes.split tests every byte in a loop), so each byte is copied once
        # (readline plus stripping the newline would copy every record twice). A line longer
        # than a block is collected in parts.
        read = self._blocks().read
        offset = 0
        index = 0
        parts: list[bytes] = []  # the unfinished line at the end of the previous block
        waiting = 0
        while block := read(_BLOCK_BYTES):
            find = block.find
            end = find(b"\n")
            if end < 0:
                parts.append(block)
                waiting += len(block)
                if waiting > MAX_RECORD_BYTES:
                    raise DumpFormatError(
                        f"line {index + 1} of {self.info.path} is longer than {MAX_RECORD_BYTES:,} bytes",
                        hint="this is not a JSON Lines dump of events (one event per line)",
                    )
                continue
            if parts:
                parts.append(block[:end])
                line = b"".join(parts)
            else:
                line = block[:end]
            if index == 0 and line.startswith(_BOM):
                offset = len(_BOM)
                line = line[len(_BOM) :]
            start = 0
            while True:
                if index >= skip:
                    yield (index, index + 1, offset, line[:-1] if line.endswith(b"\r") else line)
                offset += len(line) + 1
                index += 1
                start = end + 1
                end = find(b"\n", start)
                if end < 0:
                    break
                line = block[start:end]
            last = block[start:]
            parts, waiting = ([last], len(last)) if last else ([], 0)
        if parts:  # the last line has no newline
            line = b"".join(parts)
            if index == 0 and line.startswith(_BOM):
                offset, line = len(_BOM), line[len(_BOM) :]
            if index >= skip:
                yield (index, index + 1, offset, line)

    def _array(self, skip: int) -> Iterator[Row]:
        yield from _ArrayScanner(self._blocks(), self.info.path).elements(skip)


class _ArrayScanner:
    """Cut a JSON array into its elements' raw bytes without parsing them.

    Tracks only nesting depth and strings; an element is whatever lies between two delimiters
    (``[`` / ``,`` / ``]``) at depth 0, trimmed of whitespace, so malformed elements still come
    out as records (and get quarantined) instead of stopping the read. A file cut off inside an
    element yields that partial element last.
    """

    def __init__(self, stream: ReadAhead, path: Path) -> None:
        self._stream = stream
        self._path = path
        self._buf = b""
        self._base = 0  # absolute offset of self._buf[0]
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        block = self._stream.read(_BLOCK_BYTES)
        if not block:
            self._eof = True
            return False
        self._buf += block
        return True

    def _trim(self, keep_from: int) -> int:
        """Drop bytes before ``keep_from`` (a buffer index); returns how many were dropped."""
        if keep_from > _BLOCK_BYTES:
            self._buf = self._buf[keep_from:]
            self._base += keep_from
            return keep_from
        return 0

    def elements(self, skip: int) -> Iterator[Row]:
        self._fill()
        start = 0
        if self._buf.startswith(_BOM):
            start = len(_BOM)
        # The sniffer guaranteed that the first non-whitespace byte is "[".
        while True:
            stripped = self._buf[start:].lstrip(_WHITESPACE)
            if stripped or not self._fill():
                break
        pos = len(self._buf) - len(stripped) + 1  # just after "["
        line = 1 + self._buf.count(b"\n", 0, pos)
        counted = pos  # line numbers are counted up to this buffer index
        seg = pos  # start of the current element segment
        depth = 0
        index = 0
        closed = False
        while True:
            match = _SKIP_TO_STRUCTURE[depth == 0].match(self._buf, pos)
            if match is None or (match.group(1) == b'"' and not self._eof):
                # Need more data: the buffer ends inside a token (or has no token left).
                if match is None and self._eof:
                    break
                line += self._buf.count(b"\n", counted, seg)
                counted = seg
                dropped = self._trim(seg)
                pos -= dropped
                seg -= dropped
                counted -= dropped
                if not self._fill() and match is None:
                    break
                if len(self._buf) - seg > MAX_RECORD_BYTES:
                    raise DumpFormatError(
                        f"element {index} of the JSON array in {self._path} is longer than "
                        f"{MAX_RECORD_BYTES:,} bytes",
                        hint="this is not a JSON array of events",
                    )
                continue
            token = match.group(1)
            pos = match.end()
            if token in b"{[":
                depth += 1
            elif token in b"}]" and depth > 0:
                depth -= 1
            elif depth == 0 and token in (b",", b"]"):
                raw_seg = self._buf[seg : match.start(1)]
                element = raw_seg.strip(_WHITESPACE)
                if element or token == b",":
                    lead = len(raw_seg) - len(raw_seg.lstrip(_WHITESPACE))
                    start_at = seg + lead
                    line += self._buf.count(b"\n", counted, start_at)
                    counted = start_at
                    if index >= skip:
                        yield (index, line, self._base + start_at, element)
                    index += 1
                seg = pos
                if token == b"]":
                    closed = True
                    break
            elif token == b'"' and self._eof:
                # An unterminated string at the end of the file: the element is truncated.
                pos = len(self._buf)
                break
        if closed:
            self._check_trailing(pos, line + self._buf.count(b"\n", counted, pos))
            return
        # End of file before "]": emit the unfinished element, if any (it is truncated).
        raw_seg = self._buf[seg:]
        element = raw_seg.strip(_WHITESPACE)
        if element:
            start_at = seg + len(raw_seg) - len(raw_seg.lstrip(_WHITESPACE))
            line += self._buf.count(b"\n", counted, start_at)
            if index >= skip:
                yield (index, line, self._base + start_at, element)

    def _check_trailing(self, pos: int, line: int) -> None:
        rest = self._buf[pos:]
        while not rest.strip(_WHITESPACE):
            block = self._stream.read(_BLOCK_BYTES)
            if not block:
                return
            rest = block
        raise DumpFormatError(
            f"data after the end of the JSON array in {self._path} (near line {line})",
            hint="a dump is one JSON array or JSON Lines, not both; remove what follows the closing ]",
        )


def read_dump(path: str | os.PathLike[str], *, skip: int = 0) -> Iterator[SourceRecord]:
    """Stream the records of a dump (JSON Lines or a JSON array, optionally gzip-compressed).

    Starts at record index ``skip`` without building the records before it. Raises
    :class:`replay.errors.InputError` subclasses for a missing, directory, empty, binary or
    non-JSON file before yielding anything.
    """
    reader = DumpReader(path)
    return _iterate(reader, skip)


def _iterate(reader: DumpReader, skip: int) -> Iterator[SourceRecord]:
    with reader:
        yield from reader.records(skip=skip)


def read_dump_rows(path: str | os.PathLike[str], *, skip: int = 0) -> Iterator[Row]:
    """:func:`read_dump` as ``(index, line, offset, raw)`` tuples (see :meth:`DumpReader.rows`)."""
    reader = DumpReader(path)
    return _iterate_rows(reader, skip)


def _iterate_rows(reader: DumpReader, skip: int) -> Iterator[Row]:
    with reader:
        yield from reader.rows(skip=skip)
