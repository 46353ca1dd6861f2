"""An append-only local spool: what the recorder has been handed survives the store and a crash.

Items are appended as JSON lines and fsynced in batches before they are recorded; the offset
of the last recorded item is kept beside them. After a crash, whatever lies past that offset is
handed back for replay (recording is idempotent, so an item recorded just before the crash and
replayed again changes nothing).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

#: Once everything is acknowledged, a spool larger than this starts afresh.
COMPACT_BYTES = 8 * 1024 * 1024


def _plain(value: Any) -> Any:
    """JSON for what documents carry beyond plain JSON (numpy arrays and scalars)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class Spool:
    """A spool in one folder: ``items.jsonl`` and ``acked`` (a byte offset into it).

    Parameters
    ----------
    folder : str or Path
        Created when missing. One spool per record; one recorder writes to it at a time.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._items = self.folder / "items.jsonl"
        self._acked = self.folder / "acked"
        self._lock = threading.Lock()
        self._file = open(self._items, "ab")

    def acked(self) -> int:
        try:
            return int(self._acked.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def pending(self) -> Iterator[tuple[int, list]]:
        """Items written but not acknowledged, each with the offset just past it."""
        with open(self._items, "rb") as source:
            source.seek(self.acked())
            for line in source:
                if not line.endswith(b"\n"):
                    return  # a line torn by a crash was never acknowledged as written either
                yield source.tell(), json.loads(line)

    def append(self, items: list[list]) -> int:
        """Write and fsync a batch; returns the offset just past it."""
        data = b"".join(json.dumps(item, default=_plain, allow_nan=True).encode() + b"\n" for item in items)
        with self._lock:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
            return self._file.tell()

    def ack(self, offset: int) -> None:
        """Everything before ``offset`` is recorded."""
        temporary = self._acked.with_suffix(".tmp")
        temporary.write_text(str(offset))
        os.replace(temporary, self._acked)
        with self._lock:
            if offset == self._file.tell() and offset > COMPACT_BYTES:
                self._file.truncate(0)
                self._file.seek(0)
                temporary.write_text("0")
                os.replace(temporary, self._acked)

    def close(self) -> None:
        self._file.close()
