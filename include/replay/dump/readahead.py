"""Read a stream's blocks in a background thread, ahead of the consumer.

The replay's send loop reads the dump between two records; a read that blocks (a cold page
cache, a busy disk — the broker flushing a rolled 1 GB segment on the same disk stalled reads
for up to 0.9 s in the produce benchmark) would hold every record due meanwhile. A thread that
stays up to ``depth`` blocks ahead turns such a pause into buffered data: the consumer only
waits when the buffer runs dry. Reads release the GIL (so does zlib for gzip dumps), so the
thread costs the consumer almost nothing.
"""

from __future__ import annotations

import io
import queue
import threading
import zlib
from typing import Final

_EOF: Final = b""
_PUT_TIMEOUT_S = 0.1
_JOIN_TIMEOUT_S = 5.0


class ReadAhead:
    """``read()`` returns the stream's blocks in order, read by a daemon thread.

    Errors of the stream (``OSError``, gzip's ``EOFError``/``zlib.error``…) are raised by the
    ``read()`` that reaches them, exactly as a direct read would. :meth:`close` stops the
    thread; closing the stream stays the owner's job (after :meth:`close`).
    """

    def __init__(self, stream: io.BufferedIOBase, *, block_bytes: int, depth: int) -> None:
        if block_bytes <= 0 or depth <= 0:
            raise ValueError("block_bytes and depth must be positive")
        self._stream = stream
        self._block_bytes = block_bytes
        self._queue: queue.Queue[bytes | Exception] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="dump-read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        read = self._stream.read
        size = self._block_bytes
        ended = False
        try:
            while not self._stop.is_set():
                block = read(size)
                ended = not block
                self._put(block)
                if ended:
                    return
        except (OSError, EOFError, ValueError, zlib.error) as error:  # the consumer raises it
            ended = True
            self._put(error)
        finally:
            if not ended and not self._stop.is_set():
                # Anything else killed the thread (threading's excepthook prints it): the consumer
                # must not wait forever for the next block.
                self._put(RuntimeError("the thread reading the dump died; see the error printed above"))

    def _put(self, item: bytes | Exception) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_PUT_TIMEOUT_S)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        """The next block (``b""`` at the end). ``size`` is ignored: blocks have the reader's size."""
        del size
        if self._finished:
            return _EOF
        item = self._queue.get()
        if isinstance(item, Exception):
            self._finished = True
            raise item
        if not item:
            self._finished = True
        return item

    def close(self) -> None:
        """Stop the thread and drop what it read ahead."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(_JOIN_TIMEOUT_S)
