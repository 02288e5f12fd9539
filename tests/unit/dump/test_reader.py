"""The dump reader: formats, positions, original bytes, skip, bounded memory and input errors."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import orjson
import pytest

from replay.dump.reader import DumpReader, SourceRecord, read_dump, sniff_dump
from replay.errors import (
    DumpFormatError,
    DumpIsDirectoryError,
    DumpNotFoundError,
    EmptyDumpError,
    InputError,
    NotJsonDumpError,
)
from replay.paths import shared_dir

EVENTS = [
    b'{"id":"220650001","name":"Hike \\/ trail","group":{"city":"M\xc3\xbcnchen","country":"de"}}',
    b'{"id":"xxlwkmywpbzb","description":"<p>a, b ] c } d [ e { \\"quoted\\" \\\\ end<\\/p>"}',
    b'{"id":"220650002","nested":{"list":[1,[2,{"x":"]"}]],"empty":{}}}',
]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def check_positions(data: bytes, records: list[SourceRecord]) -> None:
    """Every record's raw bytes sit at its offset, on its line, in the decompressed text."""
    for record in records:
        assert data[record.offset : record.offset + len(record.raw)] == record.raw
        assert data.count(b"\n", 0, record.offset) + 1 == record.line


def test_jsonl_records_keep_bytes_and_positions(tmp_path: Path) -> None:
    data = b"\n".join(EVENTS) + b"\n"
    records = list(read_dump(write(tmp_path / "d.jsonl", data)))
    assert [r.raw for r in records] == EVENTS
    assert [r.index for r in records] == [0, 1, 2]
    assert [r.line for r in records] == [1, 2, 3]
    check_positions(data, records)


def test_jsonl_empty_lines_are_records_and_crlf_bom_are_terminators(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + EVENTS[0] + b"\r\n\r\n   \n" + EVENTS[1]  # no newline after the last
    records = list(read_dump(write(tmp_path / "d.jsonl", data)))
    assert [r.raw for r in records] == [EVENTS[0], b"", b"   ", EVENTS[1]]
    assert [r.line for r in records] == [1, 2, 3, 4]
    assert records[0].offset == 3  # after the byte-order mark
    check_positions(data, records)


def test_skip_starts_at_the_record_index(tmp_path: Path) -> None:
    data = b"\n".join(EVENTS * 10) + b"\n"
    path = write(tmp_path / "d.jsonl", data)
    records = list(read_dump(path, skip=25))
    assert [r.index for r in records] == [25, 26, 27, 28, 29]
    assert records[0].raw == EVENTS[25 % 3]
    check_positions(data, records)
    assert list(read_dump(path, skip=1000)) == []


@pytest.mark.parametrize(
    "layout",
    [
        lambda items: b"[" + b",".join(items) + b"]",
        lambda items: b"[\n  " + b",\n  ".join(items) + b"\n]\n",
        lambda items: b"\xef\xbb\xbf \r\n[ " + b" ,\r\n\t".join(items) + b" ]  \n",
    ],
    ids=["compact", "pretty", "crlf-bom"],
)
def test_json_array_elements_keep_bytes_and_positions(tmp_path: Path, layout: object) -> None:
    assert callable(layout)
    data: bytes = layout(EVENTS * 4)
    path = write(tmp_path / "d.json", data)
    assert sniff_dump(path).format == "json-array"
    records = list(read_dump(path))
    assert [r.raw for r in records] == EVENTS * 4
    assert [r.index for r in records] == list(range(12))
    check_positions(data, records)
    assert [r.raw for r in read_dump(path, skip=10)] == (EVENTS * 4)[10:]


def test_json_array_scalars_and_empty_elements_are_records(tmp_path: Path) -> None:
    data = b'[1, "a,]b", null, {"x":[1,{"y":"}"}]}, [2,3] ,,"\\"q\\\\"]'
    records = list(read_dump(write(tmp_path / "d.json", data)))
    assert [r.raw for r in records] == [
        b"1",
        b'"a,]b"',
        b"null",
        b'{"x":[1,{"y":"}"}]}',
        b"[2,3]",
        b"",
        b'"\\"q\\\\"',
    ]
    check_positions(data, records)


def test_json_array_cut_off_yields_the_partial_element_last(tmp_path: Path) -> None:
    whole = b"[" + b",".join(EVENTS) + b"]"
    data = whole[: whole.index(EVENTS[2]) + 20]
    records = list(read_dump(write(tmp_path / "d.json", data)))
    assert [r.raw for r in records[:2]] == EVENTS[:2]
    assert records[2].raw == EVENTS[2][:20]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(records[2].raw)


def test_empty_json_array_has_no_records(tmp_path: Path) -> None:
    assert list(read_dump(write(tmp_path / "d.json", b"[ ]\n"))) == []


def test_data_after_the_array_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path / "d.json", b"[" + EVENTS[0] + b"]\n" + EVENTS[1] + b"\n")
    with pytest.raises(DumpFormatError, match="after the end of the JSON array"):
        list(read_dump(path))


@pytest.mark.parametrize("name", ["d.jsonl.gz", "no-extension"])
def test_gzip_is_detected_by_content(tmp_path: Path, name: str) -> None:
    data = b"\n".join(EVENTS) + b"\n"
    path = write(tmp_path / name, gzip.compress(data))
    info = sniff_dump(path)
    assert info.compressed and info.format == "jsonl"
    records = list(read_dump(path))
    assert [r.raw for r in records] == EVENTS
    check_positions(data, records)
    array = write(tmp_path / f"{name}.array", gzip.compress(b"[" + b",".join(EVENTS) + b"]"))
    assert [r.raw for r in read_dump(array)] == EVENTS


def test_corrupt_gzip_is_a_format_error(tmp_path: Path) -> None:
    packed = gzip.compress(b"\n".join(EVENTS * 2000))
    path = write(tmp_path / "d.jsonl.gz", packed[: len(packed) // 2])
    with pytest.raises(DumpFormatError, match="cannot decompress"):
        list(read_dump(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DumpNotFoundError, match="dump not found") as caught:
        read_dump(tmp_path / "nope.jsonl")
    assert caught.value.hint and "replay dump generate" in caught.value.hint


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DumpIsDirectoryError, match="is a directory"):
        read_dump(tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"\n\n  \n", gzip.compress(b"")], ids=["zero-bytes", "blank", "empty-gzip"]
)
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(EmptyDumpError):
        read_dump(write(tmp_path / "d.jsonl", content))


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
        bytes((i * 37 + 11) % 256 for i in range(4096)),
    ],
    ids=["png", "noise"],
)
def test_binary_file(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(NotJsonDumpError, match="looks binary"):
        read_dump(write(tmp_path / "d.jsonl", content))


def test_text_that_is_not_json(tmp_path: Path) -> None:
    with pytest.raises(NotJsonDumpError, match="is not JSON"):
        read_dump(write(tmp_path / "d.csv", b"id,name\n1,hike\n"))


def test_jsonl_whose_first_record_is_valid_json_but_no_object_is_still_read(tmp_path: Path) -> None:
    records = list(read_dump(write(tmp_path / "d.jsonl", b'"keep-alive"\n' + EVENTS[0] + b"\n")))
    assert [r.raw for r in records] == [b'"keep-alive"', EVENTS[0]]


def test_errors_are_input_errors_with_hints(tmp_path: Path) -> None:
    for error_type in (
        DumpNotFoundError,
        DumpIsDirectoryError,
        EmptyDumpError,
        NotJsonDumpError,
        DumpFormatError,
    ):
        assert issubclass(error_type, InputError)
    with pytest.raises(InputError) as caught:
        read_dump(write(tmp_path / "d.jsonl", b""))
    assert caught.value.exit_code == 5 and caught.value.hint


@pytest.mark.parametrize("fmt", ["jsonl", "json-array"])
def test_memory_stays_bounded_by_the_record_not_the_file(tmp_path: Path, fmt: str) -> None:
    record = b'{"id":"1","description":"' + b"x" * 2000 + b'"}'
    count = 12_000  # ~24 MB
    path = tmp_path / "big"
    with path.open("wb") as out:
        if fmt == "jsonl":
            for _ in range(count):
                out.write(record + b"\n")
        else:
            out.write(b"[" + b",\n".join([record] * count) + b"]")
    tracemalloc.start()
    seen = 0
    # Memory = the record being cut + the blocks read ahead (2 MB here, 64 MB by default).
    with DumpReader(path, read_ahead_blocks=2) as reader:
        for item in reader.records():
            seen += len(item.raw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seen == count * len(record)
    assert peak < 10 * 1024 * 1024, f"peak {peak:,} bytes for a {path.stat().st_size:,}-byte dump"


@pytest.mark.shared
@pytest.mark.parametrize(
    "name", ["events.jsonl", "events_all_versions.jsonl", "events_raw_stream_bytes_2015.jsonl"]
)
def test_real_samples_round_trip_byte_for_byte(name: str) -> None:
    path = shared_dir() / "meetup-samples" / name
    data = path.read_bytes()
    records = list(read_dump(path))
    assert [r.raw for r in records] == data.rstrip(b"\n").split(b"\n")
    check_positions(data, records)


def test_lines_longer_than_a_read_block(tmp_path: Path) -> None:
    long = b'{"id":"1","description":"' + b"y" * 3_500_000 + b'"}'
    data = EVENTS[0] + b"\r\n" + long + b"\r\n" + EVENTS[1]
    records = list(read_dump(write(tmp_path / "d.jsonl", data)))
    assert [r.raw for r in records] == [EVENTS[0], long, EVENTS[1]]
    check_positions(data, records)


def test_a_giant_line_is_a_format_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("replay.dump.reader.MAX_RECORD_BYTES", 2_000_000)
    path = write(tmp_path / "d.jsonl", b'{"id":"' + b"z" * 3_000_000 + b'"}\n')
    with pytest.raises(DumpFormatError, match="longer than 2,000,000 bytes"):
        list(read_dump(path))


@pytest.mark.parametrize("block", [1, 2, 3, 5, 64])
def test_jsonl_lines_cut_at_every_block_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Tiny read blocks put block boundaries inside the BOM, the CR LF pairs, empty lines and
    records: bytes, positions and skip stay the same, for records() and for rows()."""
    monkeypatch.setattr("replay.dump.reader._BLOCK_BYTES", block)
    data = b"\xef\xbb\xbf" + EVENTS[0] + b"\r\n\n" + EVENTS[1] + b"\n\r\n" + EVENTS[2]
    path = write(tmp_path / "d.jsonl", data)
    records = list(read_dump(path))
    assert [r.raw for r in records] == [EVENTS[0], b"", EVENTS[1], b"", EVENTS[2]]
    assert [r.line for r in records] == [1, 2, 3, 4, 5]
    check_positions(data, records)
    with DumpReader(path) as reader:
        assert list(reader.rows(skip=2)) == [(r.index, r.line, r.offset, r.raw) for r in records[2:]]
