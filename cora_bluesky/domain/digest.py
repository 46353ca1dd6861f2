"""The digest of a Bluesky run's documents: what a dataset link's checksum is computed over.

A Run references its data by URI plus checksum. The checksum is the SHA-256 of a canonical form
of the run's documents, built so that the same run hashes alike whether it is read from the
RunEngine as it emits, from a databroker (MongoDB) catalog, or back out of a Tiled catalog that
``TiledWriter`` wrote. The form ``bluesky-documents/1`` covers:

``start``
    every field except ``tiled_access_tags`` and ``tiled_specs`` (``TiledWriter`` moves them
    into Tiled's own access control and specs).
``descriptor``
    ``uid``, ``name`` and, for each data key, ``dtype``, ``source``, ``units`` and (for a key
    stored in the event) ``shape``. Tiled rewrites the rest on the way in: it adds
    ``dtype_numpy`` and ``object_name``, recomputes ``object_keys``, folds a stream's later
    descriptors into one node, and an external key's shape follows its consolidated files.
``event`` (and each row of an ``event_page``)
    per stream and ``seq_num``: ``time``, and the ``data`` and ``timestamps`` of keys stored in
    the event. Not the event ``uid`` (Tiled keeps one row per ``seq_num`` and makes the uid up
    on the way out), nor ``filled``, nor values of external keys (datum ids, which Tiled turns
    into stream resources). A ``seq_num`` re-emitted after a rewind counts once, the last
    emission winning, as in the catalog's table.
``stop``
    every field except ``_run_normalizer_notes``.

Resources, datums, stream resources and stream datums are not covered: they name files, not
values, and Tiled rewrites them. Numbers compare by value (``2.0`` equals ``2``: a table column
may widen an integer), sequences are lists, mappings are key-sorted; anything else with a
``tolist`` (numpy) becomes what that returns. A run whose data keys are named ``time`` or
``seq_num`` does not verify against Tiled, which renames them.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterable, Mapping

#: The name of this canonical form, stored beside each digest.
CANONICAL_FORM = "bluesky-documents/1"

_START_DROPPED = frozenset({"tiled_access_tags", "tiled_specs"})
_STOP_DROPPED = frozenset({"_run_normalizer_notes"})


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data, in the form the digest compares."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)  # no JSON number for these; the same text on every side
        return int(value) if value.is_integer() else value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _hash(value: Any) -> str:
    text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def unpack_page(page: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """The events of an ``event_page``, one mapping each."""
    data, timestamps = page.get("data") or {}, page.get("timestamps") or {}
    for row, seq_num in enumerate(page.get("seq_num") or ()):
        yield {
            "descriptor": page["descriptor"],
            "seq_num": seq_num,
            "time": page["time"][row],
            "data": {key: values[row] for key, values in data.items()},
            "timestamps": {key: values[row] for key, values in timestamps.items()},
        }


class RunDigest:
    """Fold one run's documents, in any order a catalog returns them, into its digest.

    Feed every ``(name, doc)`` with :meth:`add`; :attr:`hexdigest` is defined once the start
    document arrived. Memory grows by one short hash per event, never by the event's values.
    """

    def __init__(self) -> None:
        self.start: str | None = None
        self.stop: str | None = None
        self.descriptors: dict[str, str] = {}
        self.streams: dict[str, str] = {}  # descriptor uid -> stream name
        self.external: dict[str, frozenset[str]] = {}  # descriptor uid -> keys not stored in events
        self.events: dict[tuple[str, int], str] = {}
        self.documents = 0

    def add(self, name: str, doc: Mapping[str, Any]) -> None:
        if name == "start":
            self.start = _hash({k: v for k, v in doc.items() if k not in _START_DROPPED})
        elif name == "stop":
            self.stop = _hash({k: v for k, v in doc.items() if k not in _STOP_DROPPED})
        elif name == "descriptor":
            self._descriptor(doc)
        elif name == "event":
            self._event(doc)
            return
        elif name == "event_page":
            for event in unpack_page(doc):
                self._event(event)
            return
        else:
            return
        self.documents += 1

    def _descriptor(self, doc: Mapping[str, Any]) -> None:
        keys = doc.get("data_keys") or {}
        external = frozenset(key for key, meta in keys.items() if meta.get("external") is not None)
        summary = {}
        for key, meta in keys.items():
            kept = {field: meta.get(field) for field in ("dtype", "source", "units")}
            if key not in external:
                kept["shape"] = meta.get("shape") or []
            summary[key] = kept
        uid = doc["uid"]
        self.descriptors[uid] = _hash({"uid": uid, "name": doc.get("name"), "data_keys": summary})
        self.streams[uid] = doc.get("name", "")
        self.external[uid] = external

    def _event(self, doc: Mapping[str, Any]) -> None:
        descriptor = doc["descriptor"]
        external = self.external.get(descriptor, frozenset())
        data = {k: v for k, v in (doc.get("data") or {}).items() if k not in external}
        timestamps = {k: v for k, v in (doc.get("timestamps") or {}).items() if k not in external}
        stream = self.streams.get(descriptor, descriptor)
        self.events[(stream, int(doc["seq_num"]))] = _hash(
            {"time": doc.get("time"), "data": data, "timestamps": timestamps}
        )
        self.documents += 1

    @property
    def hexdigest(self) -> str | None:
        """The run's digest, or ``None`` before its start document."""
        if self.start is None:
            return None
        whole = hashlib.sha256(CANONICAL_FORM.encode())
        whole.update(f"\nstart {self.start}".encode())
        for uid in sorted(self.descriptors):
            whole.update(f"\ndescriptor {uid} {self.descriptors[uid]}".encode())
        for (stream, seq_num) in sorted(self.events):
            whole.update(f"\nevent {json.dumps(stream)} {seq_num} {self.events[(stream, seq_num)]}".encode())
        whole.update(f"\nstop {self.stop}".encode())
        return whole.hexdigest()


def digest_documents(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> RunDigest:
    """Fold a run's ``(name, doc)`` pairs (as a catalog returns them) into a :class:`RunDigest`."""
    digest = RunDigest()
    for name, doc in documents:
        digest.add(name, doc)
    return digest
