"""The dump's read-ahead thread: same bytes in the same order, errors raised where a direct read
would raise them, never a consumer left waiting, and a thread that stops on close."""

from __future__ import annotations

import io
import threading
import time

import pytest

from replay.dump.readahead import ReadAhead


class _Failing(io.BufferedIOBase):
    """A stream whose read number ``fail_at`` raises ``error`` (earlier reads give blocks)."""

    def __init__(self, blocks: list[bytes], fail_at: int, error: BaseException) -> None:
        self.blocks = blocks
        self.fail_at = fail_at
        self.error = error
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads - 1 == self.fail_at:
            raise self.error
        return self.blocks[self.reads - 1] if self.reads - 1 < len(self.blocks) else b""


def _drain(ahead: ReadAhead) -> bytes:
    out = bytearray()
    while block := ahead.read():
        out += block
    return bytes(out)


def test_blocks_come_in_order_and_end_with_empty_reads() -> None:
    data = bytes(range(256)) * 4099
    ahead = ReadAhead(io.BytesIO(data), block_bytes=1000, depth=3)
    assert _drain(ahead) == data
    assert ahead.read() == b"" and ahead.read() == b""
    ahead.close()


def test_a_read_error_is_raised_after_the_blocks_before_it() -> None:
    stream = _Failing([b"a" * 10, b"b" * 10], fail_at=2, error=OSError("disk gone"))
    ahead = ReadAhead(stream, block_bytes=10, depth=4)
    assert ahead.read() == b"a" * 10
    assert ahead.read() == b"b" * 10
    with pytest.raises(OSError, match="disk gone"):
        ahead.read()
    assert ahead.read() == b""
    ahead.close()


def test_an_unexpected_error_in_the_thread_does_not_leave_the_reader_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # keep the test output clean
    stream = _Failing([b"a" * 10], fail_at=1, error=KeyError("bug"))
    ahead = ReadAhead(stream, block_bytes=10, depth=4)
    assert ahead.read() == b"a" * 10
    with pytest.raises(RuntimeError, match="thread reading the dump died"):
        ahead.read()
    ahead.close()


def test_it_reads_ahead_at_most_depth_blocks_and_close_stops_the_thread() -> None:
    stream = _Failing([b"x" * 10] * 1000, fail_at=-1, error=OSError())
    ahead = ReadAhead(stream, block_bytes=10, depth=5)
    deadline = time.monotonic() + 5
    while stream.reads < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    # five blocks queued, one read held until there is room
    assert stream.reads == 6
    ahead.close()
    assert not ahead._thread.is_alive()
    assert stream.reads <= 7


def test_depth_and_block_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReadAhead(io.BytesIO(b""), block_bytes=0, depth=1)
    with pytest.raises(ValueError):
        ReadAhead(io.BytesIO(b""), block_bytes=1, depth=0)
