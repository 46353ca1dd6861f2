"""The recorder's local spool: what it was handed survives the store's outages and a crash.

A spool is a folder per record holding one file per session. Each session appends framed,
checksummed records to its own file, which it keeps locked while it lives. ``write()`` puts a
record in the operating system's hands at once (a crash of the process loses nothing); a syncer
thread fsyncs the file at most :data:`SYNC_INTERVAL` seconds later (what a power loss can cost).
Beside each file, ``<session>.acked`` holds the offset up to which everything was recorded, with
the context a replay from there needs (the RunEngine's state, an operator's reason under way).

A frame is ``MAGIC``, the payload's length and its CRC-32 (big-endian), then the payload (JSON).
Reading a file cuts a torn tail away, and moves a record that does not verify into
``<session>.quarantine`` with a warning; the records after it are still read.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

#: Seconds between fsyncs of a session's file: the most a power loss can cost.
SYNC_INTERVAL = 0.05

#: Once everything is acknowledged, a session file larger than this starts afresh.
COMPACT_BYTES = 8 * 1024 * 1024

MAGIC = b"\xc0\x5a"
HEADER = struct.Struct(">2sII")
#: No single record is larger than this; a header claiming more is corrupt.
MAX_RECORD = 64 * 1024 * 1024


def _plain(value: Any) -> Any:
    """JSON for what documents carry beyond plain JSON (numpy arrays and scalars)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def frame(item: Any) -> bytes:
    """One spool record: header, then the item as JSON."""
    payload = json.dumps(item, default=_plain, allow_nan=True, separators=(",", ":")).encode()
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def scan(data: bytes, start: int = 0) -> Iterator[tuple[str, int, int, Any]]:
    """Walk the frames of ``data`` from ``start``.

    Yields ``("item", begin, end, item)`` for a record that verifies, ``("corrupt", begin, end,
    None)`` for bytes that do not, and at most one final ``("torn", begin, len(data), None)`` for
    an incomplete record at the end.
    """
    at = start
    while at < len(data):
        if len(data) - at < HEADER.size:
            yield "torn", at, len(data), None
            return
        magic, length, crc = HEADER.unpack_from(data, at)
        end = at + HEADER.size + length
        if magic == MAGIC and length <= MAX_RECORD and end <= len(data):
            payload = data[at + HEADER.size:end]
            if zlib.crc32(payload) == crc:
                try:
                    item = json.loads(payload)
                except ValueError:
                    item = None
                if item is not None:
                    yield "item", at, end, item
                    at = end
                    continue
        # not a good record here: the next place a good one starts, if any
        following = _next_good(data, at + 1)
        if following is None:
            if magic == MAGIC and length <= MAX_RECORD and end > len(data):
                yield "torn", at, len(data), None  # the last write was cut short
            else:
                yield "corrupt", at, len(data), None
            return
        yield "corrupt", at, following, None
        at = following


def _next_good(data: bytes, at: int) -> int | None:
    while True:
        at = data.find(MAGIC, at)
        if at < 0 or len(data) - at < HEADER.size:
            return None
        _, length, crc = HEADER.unpack_from(data, at)
        end = at + HEADER.size + length
        if length <= MAX_RECORD and end <= len(data) and zlib.crc32(data[at + HEADER.size:end]) == crc:
            return at
        at += 1


def _read_ack(path: Path) -> tuple[int, dict]:
    """The acknowledged offset and the context saved with it."""
    try:
        found = json.loads(path.read_text())
        return int(found["offset"]), dict(found.get("context") or {})
    except (FileNotFoundError, ValueError, TypeError, KeyError):
        return 0, {}


def _write_ack(path: Path, offset: int, context: dict | None) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"offset": offset, "context": context or {}}))
    os.replace(temporary, path)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class Leftover:
    """A session file whose process is gone: replay it, acknowledging as you go, then discard it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._acked = path.with_suffix(".acked")

    def items(self) -> Iterator[tuple[int, list]]:
        """Each unacknowledged item with the offset just past it; cuts a torn tail, quarantines
        what does not verify."""
        with open(self.path, "rb") as source:
            data = source.read()
        for verdict, begin, end, item in scan(data, _read_ack(self._acked)[0]):
            if verdict == "item":
                yield end, item
            elif verdict == "torn":
                log.warning("cora spool %s: cutting a torn record at byte %d (a write cut short)",
                            self.path.name, begin)
                os.truncate(self.path, begin)
            else:
                quarantine = self.path.with_suffix(".quarantine")
                with open(quarantine, "ab") as kept:
                    kept.write(data[begin:end])
                    kept.flush()
                    os.fsync(kept.fileno())
                log.warning("cora spool %s: %d byte(s) at %d do not verify; kept in %s, reading on",
                            self.path.name, end - begin, begin, quarantine.name)

    def context(self) -> dict:
        """What was saved with the last acknowledgement, for the replay that starts there."""
        return _read_ack(self._acked)[1]

    def ack(self, offset: int, context: dict | None = None) -> None:
        _write_ack(self._acked, offset, context)

    def discard(self) -> None:
        """Everything was replayed: the file goes (a quarantine file stays for a person)."""
        self.path.unlink(missing_ok=True)
        self._acked.unlink(missing_ok=True)
        os.close(self._fd)

    def release(self) -> None:
        os.close(self._fd)


class Spool:
    """This session's file in a record's spool folder, and the leftovers of earlier sessions.

    Parameters
    ----------
    folder : str or Path
        Created when missing; one folder per record. Any number of sessions may share it.
    sync_interval : float
        Seconds between fsyncs (what a power loss can cost).
    """

    def __init__(self, folder: str | Path, *, sync_interval: float = SYNC_INTERVAL) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{time.time_ns():020d}-{os.getpid()}.spool"
        self._acked = self.path.with_suffix(".acked")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if not _try_lock(self._fd):  # pragma: no cover - a fresh name is never locked
            raise OSError(f"spool {self.path} is locked by another session")
        self._size = 0
        self._synced = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._broken = False
        self.sync_interval = sync_interval
        self._syncer = threading.Thread(target=self._sync_loop, name="cora-spool-sync", daemon=True)
        self._syncer.start()

    def append(self, item: Any) -> int | None:
        """Hand one item to the operating system; the offset just past it, or ``None`` if the
        spool cannot be written (the item is then only in memory)."""
        data = frame(item)
        with self._lock:
            try:
                written = os.write(self._fd, data)
            except OSError as failure:
                self._warn_once(failure)
                return None
            self._size += written
            if written != len(data):  # a short write (disk full): the reader cuts or skips it
                self._warn_once(OSError("short write"))
                return None
            self._broken = False
            return self._size

    def _warn_once(self, failure: Exception) -> None:
        if not self._broken:
            self._broken = True
            log.warning("cora spool %s cannot be written (%s); recording continues without it",
                        self.path.name, failure)

    def _sync_loop(self) -> None:
        while not self._closed.wait(self.sync_interval):
            self.sync()

    def sync(self) -> None:
        """fsync what was written since the last call."""
        size = self._size
        if size != self._synced:
            try:
                os.fsync(self._fd)
                self._synced = size
            except (OSError, ValueError):
                pass  # closed or failing: the next append says so

    def ack(self, offset: int, context: dict | None = None) -> None:
        """Everything before ``offset`` is recorded; ``context`` is what a replay from there needs."""
        with self._lock:
            if offset == self._size and offset > COMPACT_BYTES:
                os.ftruncate(self._fd, 0)
                self._size = self._synced = 0
                offset = 0
        _write_ack(self._acked, offset, context)

    def leftovers(self) -> list[Leftover]:
        """Files of sessions that are gone (unlocked), oldest first; each is now locked by us."""
        self._adopt_single_file_spool()
        found = []
        for path in sorted(self.folder.glob("*.spool")):
            if path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue  # another session replayed and discarded it meanwhile
            if _try_lock(fd) and path.exists():
                found.append(Leftover(path, fd))
            else:
                os.close(fd)
        return found

    def _adopt_single_file_spool(self) -> None:
        """A spool of an earlier version (one ``items.jsonl`` per record, ``acked`` an offset):
        its unacknowledged lines become the oldest leftover."""
        claimed = self.folder / f"items.jsonl.{os.getpid()}"
        try:
            os.rename(self.folder / "items.jsonl", claimed)  # one session adopts it
        except FileNotFoundError:
            return
        try:
            start = int((self.folder / "acked").read_text() or 0)
        except (FileNotFoundError, ValueError):
            start = 0
        items = []
        with open(claimed, "rb") as source:
            source.seek(start)
            for line in source:
                try:
                    items.append(json.loads(line))
                except ValueError:
                    log.warning("cora spool: a line of %s is torn or corrupt; skipped", claimed.name)
        adopted = self.folder / f"{0:020d}-{os.getpid()}.spool"
        temporary = adopted.with_suffix(".tmp")
        temporary.write_bytes(b"".join(frame(item) for item in items))
        os.replace(temporary, adopted)
        claimed.unlink()
        (self.folder / "acked").unlink(missing_ok=True)

    def close(self) -> None:
        """Sync and unlock; the file goes when everything in it was recorded."""
        self._closed.set()
        self._syncer.join()
        with self._lock:
            self.sync()
            if _read_ack(self._acked)[0] >= self._size:
                self.path.unlink(missing_ok=True)
                self._acked.unlink(missing_ok=True)
            os.close(self._fd)
