"""The facility store: MongoDB (or mongomock for tests and demos), same contract as SQLite.

Appends need no multi-document transactions, so a standalone server works: each event is its
own document, the unique ``(stream_id, version)`` index is the concurrency check, and a
projection is only ever replaced by a newer version. A writer that dies between the events and
the projection leaves a stale projection, which :meth:`MongoStore.get` detects by comparing
versions, so the record folds the stream instead. Use ``w=majority`` in the URI on a replica set.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from cora_bluesky.application.ports import Append, AppendResult, ListQuery, ProjectionRow, StoredEvent
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.form_types import BASELINE_FORM_TYPES, FormType
from cora_bluesky.storage.constraints import STATUSES

SCHEMA_VERSION = 1
DUPLICATE_KEY = 11000

# mongomock keeps data per client: one client per URI lets a process reopen what it wrote.
_mock_clients: dict[str, Any] = {}
_mock_lock = threading.Lock()

_FINITE = {"$gte": -1.7976931348623157e308, "$lte": 1.7976931348623157e308}
_READINGS_VALIDATOR = {
    "$and": [
        {"value": {"$type": "double"}},
        {"value": _FINITE},
        {"channel_name": {"$type": "string"}},
    ]
}


def _recorded_at() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _ref(ref_kind: str, ref_id: str) -> str:
    return f"{ref_kind}:{ref_id}"


class MongoStore:
    """An :class:`~cora_bluesky.application.ports.EventStore` over one MongoDB database.

    Parameters
    ----------
    uri : str
        ``mongodb://[user:pass@]host[:port]/dbname[?replicaSet=...&w=majority]``, or
        ``mongomock://name/dbname`` for an in-process stand-in.
    """

    def __init__(self, uri: str) -> None:
        import pymongo

        self.uri = uri
        parts = urlsplit(uri)
        name = parts.path.lstrip("/") or "cora"
        self._mock = parts.scheme == "mongomock"
        try:
            if self._mock:
                import mongomock

                with _mock_lock:
                    client = _mock_clients.setdefault(parts.netloc, mongomock.MongoClient())
                self.db = client[name]
            else:
                client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
                self.db = client.get_default_database(default=name)
                client.admin.command("ping")
        except pymongo.errors.PyMongoError as error:
            raise e.StoreError(f"cannot reach MongoDB at {parts.hostname}: {error}") from None
        self._client = client
        self._open()

    # --- schema -------------------------------------------------------------------------

    def _open(self) -> None:
        import pymongo

        meta = self.db.meta.find_one({"_id": "schema"})
        if meta is not None and meta["version"] > SCHEMA_VERSION:
            raise e.StoreError(
                f"the database has schema version {meta['version']}; this cora-bluesky knows up to"
                f" {SCHEMA_VERSION}: upgrade cora-bluesky",
                schema_version=meta["version"],
            )
        if not self._mock and "entries_run_readings" not in self.db.list_collection_names():
            try:  # the server refuses non-finite values even if the core were bypassed
                self.db.create_collection("entries_run_readings", validator=_READINGS_VALIDATOR)
            except pymongo.errors.CollectionInvalid:
                pass  # another process created it first
        asc, desc = pymongo.ASCENDING, pymongo.DESCENDING
        self.db.events.create_index([("stream_id", asc), ("version", asc)], unique=True)
        for keys in (
            [("kind", asc), ("created_at", desc), ("id", desc)],
            [("kind", asc), ("status", asc), ("created_at", desc), ("id", desc)],
            [("kind", asc), ("plan_id", asc), ("created_at", desc), ("id", desc)],
            [("kind", asc), ("subject_id", asc), ("created_at", desc), ("id", desc)],
            [("kind", asc), ("name", asc)],
            [("kind", asc), ("refs", asc)],
        ):
            self.db.projections.create_index(keys)
        self.db.entries_run_readings.create_index([("run_id", asc), ("sampled_at", asc)])
        self.db.entries_operation_procedure_steps.create_index([("procedure_id", asc), ("sampled_at", asc)])
        for form in BASELINE_FORM_TYPES:
            self.db.clearance_form_types.update_one(
                {"_id": form.code},
                {"$setOnInsert": {"facility": form.facility, "name": form.name, "seq": BASELINE_FORM_TYPES.index(form)}},
                upsert=True,
            )
        self.db.meta.update_one({"_id": "schema"}, {"$setOnInsert": {"version": SCHEMA_VERSION}}, upsert=True)

    def close(self) -> None:
        if not self._mock:
            self._client.close()

    # --- writing ------------------------------------------------------------------------

    def _version(self, stream_id: str) -> int:
        last = self.db.events.find_one({"stream_id": stream_id}, sort=[("version", -1)], projection={"version": 1})
        return 0 if last is None else last["version"]

    def append(self, batch: Append) -> AppendResult:
        import pymongo

        _check_projection(batch.projection)
        readings = [_check_reading(row) for row in batch.readings]
        steps = list(batch.steps)
        recorded = _recorded_at()
        try:
            current = self._version(batch.stream_id)
            if current != batch.expected_version:
                raise e.ConcurrencyError(
                    f"stream {batch.stream_id} is at version {current}, not {batch.expected_version}",
                    stream_id=batch.stream_id,
                )
            documents = [
                {
                    "_id": event.event_id,
                    "stream_id": batch.stream_id,
                    "version": batch.expected_version + offset,
                    "kind": batch.kind,
                    "event_type": event.event_type,
                    "payload": dict(event.payload),
                    "occurred_at": event.occurred_at,
                    "recorded_at": recorded,
                    "actor": event.actor,
                    "correlation_id": event.correlation_id,
                    "causation_id": event.causation_id,
                }
                for offset, event in enumerate(batch.events, start=1)
            ]
            if documents:
                self._insert_events(documents, batch.stream_id)
            if batch.projection is not None:
                self._project(batch.projection)
            written_readings = self._entries("entries_run_readings", readings, recorded)
            written_steps = self._entries("entries_operation_procedure_steps", steps, recorded)
        except pymongo.errors.PyMongoError as error:
            raise e.StoreError(f"MongoDB refused or could not take the write: {error}") from None
        return AppendResult(batch.expected_version + len(batch.events), written_readings, written_steps)

    def _insert_events(self, documents: list[dict], stream_id: str) -> None:
        import pymongo

        try:
            self.db.events.insert_many(documents, ordered=True)
        except (pymongo.errors.DuplicateKeyError, pymongo.errors.BulkWriteError) as error:
            if isinstance(error, pymongo.errors.BulkWriteError) and any(
                err.get("code") != DUPLICATE_KEY for err in error.details.get("writeErrors", [])
            ):
                raise
            ids = [doc["_id"] for doc in documents]
            if self.db.events.count_documents({"_id": {"$in": ids}, "stream_id": {"$ne": stream_id}}):
                raise e.StoreConstraintError("an event id is already recorded on another stream") from None
            raise e.ConcurrencyError(
                f"stream {stream_id} was appended to concurrently", stream_id=stream_id
            ) from None

    def _project(self, row: ProjectionRow) -> None:
        import pymongo

        document = {
            "kind": row.kind,
            "id": row.id,
            "version": row.version,
            "status": row.status,
            "name": row.name,
            "plan_id": row.plan_id,
            "subject_id": row.subject_id,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "doc": dict(row.doc),
            "refs": [_ref(kind, ident) for kind, ident in row.refs],
        }
        try:  # only a newer version replaces a projection; a stale writer's upsert collides
            self.db.projections.replace_one(
                {"_id": f"{row.kind}:{row.id}", "version": {"$lt": row.version}}, document, upsert=True
            )
        except pymongo.errors.DuplicateKeyError:
            pass

    def _entries(self, collection: str, rows: Sequence[dict[str, Any]], recorded: str) -> int:
        import pymongo

        if not rows:
            return 0
        documents = [{"_id": row["event_id"], **row, "recorded_at": recorded} for row in rows]
        try:
            return len(self.db[collection].insert_many(documents, ordered=False).inserted_ids)
        except pymongo.errors.BulkWriteError as error:
            failures = error.details.get("writeErrors", [])
            if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
                raise e.StoreConstraintError(f"MongoDB refused a logbook row: {failures[0].get('errmsg')}") from None
            return error.details.get("nInserted", 0)

    # --- reading ------------------------------------------------------------------------

    def load(self, stream_id: str) -> list[StoredEvent]:
        return [_stored(doc) for doc in self.db.events.find({"stream_id": {"$eq": stream_id}}).sort("version", 1)]

    # --- whole-record copy ---------------------------------------------------------------

    def is_empty(self) -> bool:
        return self.db.events.find_one({}, projection={"_id": 1}) is None

    def dump_events(self):
        """Every event of every stream, stream by stream in version order."""
        for doc in self.db.events.find().sort([("stream_id", 1), ("version", 1)]):
            yield _stored(doc)

    def dump_projections(self):
        for doc in self.db.projections.find().sort("_id", 1):
            yield _row(doc)

    def dump_entries(self, table: str):
        for doc in self.db[_LOGBOOKS[table]].find().sort("_id", 1):
            yield {key: value for key, value in doc.items() if key != "_id"}

    def import_batch(self, events=(), projections=(), table=None, entries=()) -> None:
        """Write copied rows as they were (ids and timestamps kept); rows already present are skipped."""
        import pymongo

        documents = [
            {"_id": ev.event_id, "stream_id": ev.stream_id, "version": ev.version, "kind": ev.kind,
             "event_type": ev.event_type, "payload": dict(ev.payload), "occurred_at": ev.occurred_at,
             "recorded_at": ev.recorded_at, "actor": ev.actor, "correlation_id": ev.correlation_id,
             "causation_id": ev.causation_id}
            for ev in events
        ]
        for collection, rows in (("events", documents), (table, [{"_id": r["event_id"], **r} for r in entries])):
            if not rows:
                continue
            try:
                self.db[collection].insert_many(rows, ordered=False)
            except pymongo.errors.BulkWriteError as error:
                failures = error.details.get("writeErrors", [])
                known = {doc["_id"] for doc in self.db[collection].find({"_id": {"$in": [r["_id"] for r in rows]}})}
                if any(f.get("code") != DUPLICATE_KEY for f in failures) or len(known) < len(rows):
                    raise e.StoreConstraintError(f"the target refused copied rows: {failures[:1]}") from None
        for row in projections:
            self._project(row)

    def get(self, kind: str, aggregate_id: str) -> ProjectionRow | None:
        doc = self.db.projections.find_one({"_id": {"$eq": f"{kind}:{aggregate_id}"}})
        if doc is None:
            return None
        if doc["version"] != self._version(f"{kind}:{aggregate_id}"):
            return None  # a writer died before projecting: the record folds the stream instead
        return _row(doc)

    def find(self, kind: str, *, name: str | None = None, refs: Iterable[tuple[str, str]] = ()) -> list[ProjectionRow]:
        if name is not None:
            query = {"kind": {"$eq": kind}, "name": {"$eq": name}}
        else:
            wanted = [_ref(k, i) for k, i in dict.fromkeys(refs)]
            if not wanted:
                return []
            query = {"kind": {"$eq": kind}, "refs": {"$in": wanted}}
        return [_row(doc) for doc in self.db.projections.find(query).sort([("created_at", 1), ("id", 1)])]

    def page(self, query: ListQuery) -> list[ProjectionRow]:
        clauses: list[dict[str, Any]] = [{"kind": {"$eq": query.kind}}]
        for column in ("status", "plan_id", "subject_id"):
            value = getattr(query, column)
            if value is not None:
                clauses.append({column: {"$eq": value}})
        if query.created_from is not None:
            clauses.append({"created_at": {"$gte": query.created_from}})
        if query.created_before is not None:
            clauses.append({"created_at": {"$lt": query.created_before}})
        if query.after is not None:
            created, ident = query.after
            clauses.append(
                {"$or": [{"created_at": {"$lt": created}}, {"created_at": {"$eq": created}, "id": {"$lt": ident}}]}
            )
        cursor = self.db.projections.find({"$and": clauses}).sort([("created_at", -1), ("id", -1)]).limit(query.limit)
        return [_row(doc) for doc in cursor]

    def _logbook(self, collection: str, owner: str, owner_id: str, limit: int | None) -> list[dict[str, Any]]:
        cursor = self.db[collection].find({owner: {"$eq": owner_id}}).sort([("sampled_at", 1), ("_id", 1)])
        if limit is not None:
            cursor = cursor.limit(int(limit))
        return [{key: value for key, value in doc.items() if key != "_id"} for doc in cursor]

    def readings(self, run_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return self._logbook("entries_run_readings", "run_id", run_id, limit)

    def latest_reading_at(self, run_id: str) -> str | None:
        doc = self.db.entries_run_readings.find_one({"run_id": {"$eq": run_id}}, sort=[("sampled_at", -1)])
        return None if doc is None else doc["sampled_at"]

    def steps(self, procedure_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return self._logbook("entries_operation_procedure_steps", "procedure_id", procedure_id, limit)

    # --- idempotency keys ------------------------------------------------------------------

    def claim_key(self, key: str, fingerprint: str, claimed_at: str) -> dict[str, Any] | None:
        import pymongo

        try:
            self.db.idempotency_keys.insert_one(
                {"_id": key, "fingerprint": fingerprint, "claimed_at": claimed_at, "response": None}
            )
            return None
        except pymongo.errors.DuplicateKeyError:
            doc = self.db.idempotency_keys.find_one({"_id": {"$eq": key}})
        if doc is None:  # released between the two calls: claim again
            return self.claim_key(key, fingerprint, claimed_at)
        return {"key": doc["_id"], "fingerprint": doc["fingerprint"], "claimed_at": doc["claimed_at"],
                "response": doc["response"]}

    def settle_key(self, key: str, response: dict[str, Any]) -> None:
        self.db.idempotency_keys.update_one({"_id": {"$eq": key}, "response": None}, {"$set": {"response": response}})

    def release_key(self, key: str) -> None:
        self.db.idempotency_keys.delete_one({"_id": {"$eq": key}, "response": None})

    def form_types(self) -> list[FormType]:
        return [
            FormType(doc["_id"], doc["facility"], doc["name"])
            for doc in self.db.clearance_form_types.find().sort("seq", 1)
        ]


_LOGBOOKS = {name: name for name in ("entries_run_readings", "entries_operation_procedure_steps")}


def _stored(doc: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        event_id=doc["_id"],
        event_type=doc["event_type"],
        payload=doc["payload"],
        occurred_at=doc["occurred_at"],
        actor=doc["actor"],
        correlation_id=doc["correlation_id"],
        causation_id=doc.get("causation_id"),
        stream_id=doc["stream_id"],
        version=doc["version"],
        recorded_at=doc["recorded_at"],
        kind=doc.get("kind", ""),
    )


def _row(doc: dict[str, Any]) -> ProjectionRow:
    return ProjectionRow(
        kind=doc["kind"],
        id=doc["id"],
        version=doc["version"],
        status=doc["status"],
        name=doc["name"],
        plan_id=doc["plan_id"],
        subject_id=doc["subject_id"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        doc=doc["doc"],
        refs=tuple(tuple(ref.split(":", 1)) for ref in doc.get("refs", ())),
    )


def _check_projection(row: ProjectionRow | None) -> None:
    if row is None:
        return
    allowed = STATUSES.get(row.kind)
    if allowed is not None and row.status not in allowed:
        raise e.StoreConstraintError(f"{row.status!r} is not a {row.kind} status")


def _check_reading(row: dict[str, Any]) -> dict[str, Any]:
    """The store's own copy of the logbook constraints, for a store without CHECK constraints."""
    value, channel, units = row.get("value"), row.get("channel_name"), row.get("units")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise e.StoreConstraintError(f"reading value {value!r} is not a finite number")
    if not isinstance(channel, str) or not 1 <= len(channel) <= 255:
        raise e.StoreConstraintError("channel_name must be 1-255 characters")
    if units is not None and len(units) > 64:
        raise e.StoreConstraintError("units must be at most 64 characters")
    return {**row, "value": float(value)}
