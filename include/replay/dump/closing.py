"""A base for objects that own files or processes and are used in ``with`` blocks."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """``with obj:`` calls ``obj.close()`` on the way out, whatever happened inside."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError
