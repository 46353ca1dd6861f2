"""The facility store: MongoDB (or mongomock for demos), same contract as SQLite.

An append is one multi-document transaction: the events, the projection and the logbook rows of
a command commit together or not at all. Every append to a stream first writes that stream's
lock document, so two appends to one stream cannot both commit (the second meets a write
conflict and re-checks the version); this is what keeps a logbook from taking rows after its
aggregate moved on. Transactions need a replica set (a single-node one will do): a standalone
server is refused on connect. mongomock has no transactions; there appends to one database are
serialised by a lock in the process, which is all an in-process stand-in needs.
"""

from __future__ import annotations

import math
import random
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import urlsplit

import bson
import pymongo
from pymongo import errors as mongo_errors
from pymongo.write_concern import WriteConcern

from cora_bluesky.application.aggregates import stream_id as stream_of
from cora_bluesky.application.ports import Append, AppendResult, ListQuery, ProjectionRow, StoredEvent
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.form_types import BASELINE_FORM_TYPES, FormType
from cora_bluesky.domain.rules import ChoiceRule
from cora_bluesky.storage.constraints import LOGBOOK_COLUMNS, NAME_RULES, STATUSES, check_entry

#: 2: appends take the stream's lock document; a cora-bluesky that does not (schema 1) must
#: no longer write to the database, and refuses it on connect.
SCHEMA_VERSION = 2
DUPLICATE_KEY = 11000
DOCUMENT_VALIDATION_FAILURE = 121
#: How often an append is tried when the server could not say whether it took it.
ATTEMPTS = 5
#: How often an append is re-run after a write conflict on its stream's lock document.
CONFLICT_ATTEMPTS = 20

STANDALONE_FIX = (
    "transactions need a replica set: restart mongod with --replSet rs0 and run"
    " mongosh --eval 'rs.initiate()' once (a single-node set will do)"
)

# mongomock keeps data per client: one client per URI lets a process reopen what it wrote.
_mock_clients: dict[str, Any] = {}
_mock_locks: dict[str, threading.Lock] = {}
_mock_lock = threading.Lock()

_FINITE = {"$gte": -1.7976931348623157e308, "$lte": 1.7976931348623157e308}


def _schema(table: str) -> dict[str, Any]:
    """A ``$jsonSchema`` of a logbook's constrained columns, from the domain's rules."""
    properties: dict[str, Any] = {}
    for name, column in LOGBOOK_COLUMNS[table].items():
        rule = column.rule
        shape: dict[str, Any] = {"bsonType": ["string", "null"] if column.optional else "string"}
        if isinstance(rule, ChoiceRule):
            shape["enum"] = [*rule.allowed, *([None] if column.optional else [])]
        else:
            shape.update(minLength=rule.low, maxLength=rule.high)
        properties[name] = shape
    required = [name for name, column in LOGBOOK_COLUMNS[table].items() if not column.optional]
    return {"$jsonSchema": {"required": required, "properties": properties}}


#: collection -> the validator the server applies to every write, even one bypassing the core
_VALIDATORS = {
    "entries_run_readings": {"$and": [{"value": {"$type": "double"}}, {"value": _FINITE}, _schema("entries_run_readings")]},
    "entries_operation_procedure_steps": _schema("entries_operation_procedure_steps"),
}
_LOGBOOKS = {name: name for name in ("entries_run_readings", "entries_operation_procedure_steps")}


class _Conflict(Exception):
    """Another append holds the stream's lock document: re-run this one."""


class _Duplicate(Exception):
    """A row was already there: re-run the append looking before it inserts."""


class _Unknown(Exception):
    """The server did not say whether it took the append: try it again."""


def _recorded_at() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _ref(ref_kind: str, ref_id: str) -> str:
    return f"{ref_kind}:{ref_id}"


def _text(value: Any, what: str) -> str:
    """A filter value as plain text: queries use ``{field: value}``, which an operator dict would subvert."""
    if not isinstance(value, str):
        raise e.StoreConstraintError(f"{what} must be text")
    return value


@contextmanager
def _served(action: str) -> Iterator[None]:
    """Any driver failure while doing ``action`` is the record's :class:`StoreError`."""
    try:
        yield
    except mongo_errors.PyMongoError as error:
        raise e.StoreError(f"MongoDB could not {action}: {error}") from None


def _transient(error: mongo_errors.PyMongoError) -> bool:
    """Did the server fail to answer (network, election, write concern), rather than refuse?"""
    if isinstance(error, (mongo_errors.ConnectionFailure, mongo_errors.WriteConcernError)) or error.timeout:
        return True
    return error.has_error_label("TransientTransactionError") or error.has_error_label(
        "UnknownTransactionCommitResult"
    )


def _is_write_conflict(error: mongo_errors.PyMongoError) -> bool:
    return isinstance(error, mongo_errors.OperationFailure) and error.code == 112


def _backoff(attempt: int, cap: float) -> None:
    time.sleep(random.uniform(0, min(cap, 0.002 * 2**attempt)))


class MongoStore:
    """Every store port of :mod:`cora_bluesky.application.ports` over one MongoDB database.

    Parameters
    ----------
    uri : str
        ``mongodb://[user:pass@]host[:port]/dbname?replicaSet=...``, or ``mongomock://name/dbname``
        for an in-process stand-in. Writes are acknowledged by a majority unless the URI names
        another ``w``.

    Raises
    ------
    StoreError
        The server cannot be reached, is standalone, or refuses the schema's setup.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        parts = urlsplit(uri)
        name = parts.path.lstrip("/") or "cora"
        self._mock = parts.scheme == "mongomock"
        self._client = None
        try:
            if self._mock:
                import mongomock

                with _mock_lock:
                    client = _mock_clients.setdefault(parts.netloc, mongomock.MongoClient())
                    self._write_lock = _mock_locks.setdefault(parts.netloc, threading.Lock())
            else:
                options = {"serverSelectionTimeoutMS": 5000, "tz_aware": True}
                if "serverselectiontimeoutms" in parts.query.lower():
                    del options["serverSelectionTimeoutMS"]
                client = pymongo.MongoClient(uri, **options)
                self._client = client
                self._require_transactions(client, parts.hostname)
            self.db = client[name] if self._mock else client.get_default_database(default=name)
            if not self._mock and not client.write_concern.document.get("w"):
                self.db = self.db.with_options(write_concern=WriteConcern("majority"))
            self._client = client
            self._open()
        except (mongo_errors.PyMongoError, ValueError, TypeError) as error:
            self.close()
            raise e.StoreError(f"cannot use MongoDB at {parts.hostname or uri}: {error}") from None
        except e.CoraError:
            self.close()
            raise

    @property
    def location(self) -> str:
        return self.uri

    @staticmethod
    def _require_transactions(client, host: str | None) -> None:
        hello = client.admin.command("hello")
        if not hello.get("setName") and hello.get("msg") != "isdbgrid":
            raise e.StoreError(f"MongoDB at {host} is a standalone server; {STANDALONE_FIX}")

    # --- schema -------------------------------------------------------------------------

    def _open(self) -> None:
        meta = self.db.meta.find_one({"_id": "schema"})
        if meta is not None and meta["version"] > SCHEMA_VERSION:
            raise e.StoreError(
                f"the database has schema version {meta['version']}; this cora-bluesky knows up to"
                f" {SCHEMA_VERSION}: upgrade cora-bluesky",
                schema_version=meta["version"],
            )
        if not self._mock:  # collections exist before any transaction writes to them
            present = set(self.db.list_collection_names())
            for collection in ("events", "projections", "streams", *_LOGBOOKS):
                # the server refuses non-finite values even if the core were bypassed
                options = {"validator": _VALIDATORS[collection]} if collection in _VALIDATORS else {}
                if collection not in present:
                    try:
                        self.db.create_collection(collection, **options)
                    except mongo_errors.CollectionInvalid:
                        pass  # another process created it first
        asc = pymongo.ASCENDING
        self.db.events.create_index([("stream_id", asc), ("version", asc)], unique=True)
        for keys in (
            *(_listing_index(column) for column in (None, *_LISTING_FILTERS)),
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
        self.db.meta.update_one({"_id": "schema"}, {"$max": {"version": SCHEMA_VERSION}}, upsert=True)

    def close(self) -> None:
        if not self._mock and self._client is not None:
            self._client.close()

    # --- writing ------------------------------------------------------------------------

    def append(self, batch: Append) -> AppendResult:
        _check_projection(batch.projection)
        readings = [_check_reading(row) for row in batch.readings]
        steps = list(batch.steps)
        for step in steps:
            check_entry("entries_operation_procedure_steps", step)
        stamps: list[str] = []  # recorded_at of every try, to count what an earlier try wrote
        documents = [
            {
                "_id": event.event_id,
                "stream_id": batch.stream_id,
                "version": batch.expected_version + offset,
                "kind": batch.kind,
                "event_type": event.event_type,
                "type_version": event.type_version,
                "payload": dict(event.payload),
                "occurred_at": event.occurred_at,
                "actor": event.actor,
                "correlation_id": event.correlation_id,
                "causation_id": event.causation_id,
            }
            for offset, event in enumerate(batch.events, start=1)
        ]
        unknown = conflicts = 0
        careful = self._mock  # mongomock cannot roll back a half-inserted batch: always look first
        while True:
            try:
                return self._append_once(batch, documents, readings, steps, stamps, careful)
            except (_Conflict, _Duplicate) as again:
                # a duplicate is a re-delivered logbook row (or two first appends racing to create
                # the lock document): run again, looking before inserting
                careful = careful or isinstance(again, _Duplicate)
                conflicts += 1
                if conflicts >= CONFLICT_ATTEMPTS:
                    raise e.ConcurrencyError(
                        f"stream {batch.stream_id} is being appended to concurrently", stream_id=batch.stream_id
                    ) from None
                _backoff(conflicts, 0.05)
            except _Unknown as error:
                # the same events again: if the first try did commit, the next one finds them
                unknown += 1
                if unknown >= ATTEMPTS:
                    raise e.StoreError(
                        f"MongoDB did not confirm the write to {batch.stream_id}; it is safe to retry: {error}",
                        stream_id=batch.stream_id,
                    ) from None
                _backoff(unknown + 5, 1.0)

    def _append_once(self, batch, documents, readings, steps, stamps, careful) -> AppendResult:
        """One transaction; raises ``_Conflict``, ``_Duplicate`` or ``_Unknown`` to be run again."""
        try:
            if self._mock:
                with self._write_lock:
                    return self._apply(None, batch, documents, readings, steps, stamps, careful)
            with self._client.start_session() as session:
                with session.start_transaction(write_concern=self.db.write_concern):
                    result = self._apply(session, batch, documents, readings, steps, stamps, careful)
                return result
        except mongo_errors.PyMongoError as error:
            if isinstance(error, mongo_errors.BulkWriteError):
                error = _first_write_error(error)
            if _is_write_conflict(error):
                raise _Conflict() from None
            if isinstance(error, mongo_errors.DuplicateKeyError):
                self._explain_duplicate(batch, documents)
                raise _Duplicate() from None
            if _transient(error):
                raise _Unknown(str(error)) from None
            if getattr(error, "code", None) == DOCUMENT_VALIDATION_FAILURE:
                raise e.StoreConstraintError(f"MongoDB refused a row: {error}") from None
            raise e.StoreError(f"MongoDB refused the write: {error}") from None
        except (bson.errors.BSONError, OverflowError) as error:  # a value BSON cannot hold
            raise e.StoreConstraintError(f"MongoDB cannot store this value: {error}") from None

    def _apply(self, session, batch, documents, readings, steps, stamps, careful) -> AppendResult:
        # the lock document first: from here on, no other append to this stream can commit
        self.db.streams.update_one({"_id": batch.stream_id}, {"$inc": {"appends": 1}}, upsert=True, session=session)
        current = self._version(batch.stream_id, session)
        new_version = batch.expected_version + len(documents)
        if current != batch.expected_version:
            stamp = self._own_events(batch, documents, session)
            if stamp is None:
                raise e.ConcurrencyError(
                    f"stream {batch.stream_id} is at version {current}, not {batch.expected_version}",
                    stream_id=batch.stream_id,
                )
            # a retry of an append that did commit: count, do not write, what it wrote
            return AppendResult(
                new_version,
                self._count_own("entries_run_readings", readings, stamp, session),
                self._count_own("entries_operation_procedure_steps", steps, stamp, session),
            )
        # stamped while holding the stream, so recorded_at follows the order of commits
        stamps.append(_recorded_at())
        if documents:
            stamped = [{**doc, "recorded_at": stamps[-1]} for doc in documents]
            self.db.events.insert_many(stamped, ordered=True, session=session)
        if batch.projection is not None:
            self._project(batch.projection, session)
        return AppendResult(
            new_version,
            self._entries("entries_run_readings", readings, stamps, session, careful),
            self._entries("entries_operation_procedure_steps", steps, stamps, session, careful),
        )

    def _own_events(self, batch: Append, documents: list[dict], session) -> str | None:
        """``recorded_at`` of this batch's events if they are stored where it put them, else ``None``."""
        if not documents:
            return None
        found = list(
            self.db.events.find(
                {"stream_id": batch.stream_id, "version": {"$gt": batch.expected_version, "$lte": documents[-1]["version"]}},
                projection={"_id": 1, "recorded_at": 1},
                session=session,
            ).sort("version", 1)
        )
        if [doc["_id"] for doc in found] != [doc["_id"] for doc in documents]:
            return None
        return found[0]["recorded_at"]

    def _explain_duplicate(self, batch: Append, documents: list[dict]) -> None:
        """A duplicate key: an event id recorded on another stream, or a writer that bypassed the lock."""
        ids = [doc["_id"] for doc in documents]
        with _served("read the events"):
            if ids and self.db.events.count_documents({"_id": {"$in": ids}, "stream_id": {"$ne": batch.stream_id}}):
                raise e.StoreConstraintError("an event id is already recorded on another stream") from None
            if ids and self.db.events.count_documents({"stream_id": batch.stream_id, "version": documents[0]["version"]}):
                raise e.ConcurrencyError(
                    f"stream {batch.stream_id} was appended to concurrently", stream_id=batch.stream_id
                ) from None

    def _version(self, stream_id: str, session=None) -> int:
        last = self.db.events.find_one(
            {"stream_id": stream_id}, sort=[("version", -1)], projection={"version": 1}, session=session
        )
        return 0 if last is None else last["version"]

    def _project(self, row: ProjectionRow, session=None) -> None:
        document = _projection_document(row)
        try:  # only a newer version replaces a projection (a copy may bring an older one)
            self.db.projections.replace_one(
                {"_id": _key(row.kind, row.id), "version": {"$lt": row.version}}, document, upsert=True,
                session=session,
            )
        except mongo_errors.DuplicateKeyError:
            if session is not None:
                raise  # inside a transaction the lock makes this impossible; let it abort

    def _entries(self, collection: str, rows: Sequence[dict[str, Any]], stamps: list[str], session, careful) -> int:
        """Insert the rows whose event id is new; count those and any this append wrote on an earlier try.

        Not ``careful``, every row is taken to be new: a known one aborts the transaction with a
        duplicate key, and the append is run again carefully (re-delivery is the rare case).
        """
        if not rows:
            return 0
        documents = {row["event_id"]: {"_id": row["event_id"], **row, "recorded_at": stamps[-1]} for row in reversed(rows)}
        if not careful:
            self.db[collection].insert_many(list(reversed(documents.values())), ordered=False, session=session)
            return len(documents)
        known = {
            doc["_id"]: doc["recorded_at"]
            for doc in self.db[collection].find(
                {"_id": {"$in": list(documents)}}, projection={"recorded_at": 1}, session=session
            )
        }
        fresh = [doc for ident, doc in reversed(documents.items()) if ident not in known]
        if fresh:  # a duplicate would abort the transaction, hence the look first
            self.db[collection].insert_many(fresh, ordered=False, session=session)
        return len(fresh) + sum(1 for stamp in known.values() if stamp in stamps)

    def _count_own(self, collection: str, rows: Sequence[dict[str, Any]], stamp: str, session) -> int:
        if not rows:
            return 0
        return self.db[collection].count_documents(
            {"_id": {"$in": [row["event_id"] for row in rows]}, "recorded_at": stamp}, session=session
        )

    # --- reading ------------------------------------------------------------------------

    def load(self, stream_id: str) -> list[StoredEvent]:
        with _served("read the events"):
            cursor = self.db.events.find({"stream_id": _text(stream_id, "stream_id")}).sort("version", 1)
            return [_stored(doc) for doc in cursor]

    def get(self, kind: str, aggregate_id: str) -> ProjectionRow | None:
        with _served("read a projection"):
            doc = self.db.projections.find_one({"_id": _text(_key(kind, aggregate_id), "id")})
            if doc is None:
                return None
            if doc["version"] != self._version(stream_of(kind, aggregate_id)):
                return None  # a projection behind its stream (an older writer): the record folds it
            return _row(doc)

    def find(self, kind: str, *, name: str | None = None, refs: Iterable[tuple[str, str]] = ()) -> list[ProjectionRow]:
        if name is not None:
            query = {"kind": _text(kind, "kind"), "name": _text(name, "name")}
        else:
            wanted = [_text(_ref(k, i), "ref") for k, i in dict.fromkeys(refs)]
            if not wanted:
                return []
            query = {"kind": _text(kind, "kind"), "refs": {"$in": wanted}}
        with _served("find projections"):
            return [_row(doc) for doc in self.db.projections.find(query).sort([("created_at", 1), ("id", 1)])]

    def page(self, query: ListQuery) -> list[ProjectionRow]:
        with _served("list projections"):
            hint = {} if self._mock else {"hint": page_index(query)}  # mongomock knows no hints
            cursor = self.db.projections.find(page_filter(query), **hint).sort([("created_at", -1), ("id", -1)])
            return [_row(doc) for doc in cursor.limit(query.limit)]

    def _logbook(self, collection: str, owner: str, owner_id: str, limit: int | None) -> list[dict[str, Any]]:
        with _served("read a logbook"):
            cursor = self.db[collection].find({owner: _text(owner_id, owner)}).sort([("sampled_at", 1), ("_id", 1)])
            if limit is not None:
                cursor = cursor.limit(int(limit))
            return [{key: value for key, value in doc.items() if key != "_id"} for doc in cursor]

    def readings(self, run_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return self._logbook("entries_run_readings", "run_id", run_id, limit)

    def latest_reading_at(self, run_id: str) -> str | None:
        with _served("read a logbook"):
            doc = self.db.entries_run_readings.find_one({"run_id": _text(run_id, "run_id")}, sort=[("sampled_at", -1)])
        return None if doc is None else doc["sampled_at"]

    def steps(self, procedure_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return self._logbook("entries_operation_procedure_steps", "procedure_id", procedure_id, limit)

    def form_types(self) -> list[FormType]:
        with _served("read the form types"):
            return [
                FormType(doc["_id"], doc["facility"], doc["name"])
                for doc in self.db.clearance_form_types.find().sort("seq", 1)
            ]

    # --- whole-record copy ---------------------------------------------------------------

    def is_empty(self) -> bool:
        with _served("read the events"):
            return self.db.events.find_one({}, projection={"_id": 1}) is None

    def _dump(self, collection: str, sort, convert) -> Iterator[Any]:
        with _served(f"read {collection}"):
            for doc in self.db[collection].find().sort(sort):
                yield convert(doc)

    def dump_events(self):
        """Every event of every stream, stream by stream in version order."""
        return self._dump("events", [("stream_id", 1), ("version", 1)], _stored)

    def dump_projections(self):
        return self._dump("projections", [("_id", 1)], _row)

    def dump_entries(self, table: str):
        return self._dump(_LOGBOOKS[table], [("_id", 1)], lambda doc: {k: v for k, v in doc.items() if k != "_id"})

    def import_batch(self, events=(), projections=(), table=None, entries=()) -> None:
        """Write copied rows as they were (ids and timestamps kept); rows already present are skipped."""
        documents = [
            {"_id": ev.event_id, "stream_id": ev.stream_id, "version": ev.version, "kind": ev.kind,
             "event_type": ev.event_type, "type_version": ev.type_version, "payload": dict(ev.payload),
             "occurred_at": ev.occurred_at, "recorded_at": ev.recorded_at, "actor": ev.actor,
             "correlation_id": ev.correlation_id, "causation_id": ev.causation_id}
            for ev in events
        ]
        with _served("take the copied rows"):
            for collection, rows in (("events", documents), (table, [{"_id": r["event_id"], **r} for r in entries])):
                if not rows:
                    continue
                try:
                    self.db[collection].insert_many(rows, ordered=False)
                except mongo_errors.BulkWriteError as error:
                    failures = error.details.get("writeErrors", [])
                    ids = [r["_id"] for r in rows]
                    known = {doc["_id"] for doc in self.db[collection].find({"_id": {"$in": ids}}, projection={"_id": 1})}
                    if any(f.get("code") != DUPLICATE_KEY for f in failures) or len(known) < len(rows):
                        raise e.StoreConstraintError(f"the target refused copied rows: {failures[:1]}") from None
            for row in projections:
                self._project(row)

    # --- rebuilding projections -----------------------------------------------------------

    def stream_ids(self) -> Iterator[tuple[str, str]]:
        # every stream starts at version 1: its first event names it once
        with _served("list the streams"):
            found = self.db.events.find({"version": 1}, projection={"stream_id": 1, "kind": 1}).sort("stream_id", 1)
            return iter([(doc["kind"], doc["stream_id"]) for doc in found])

    def replace_projection(self, stream_id: str, row: ProjectionRow) -> bool:
        _check_projection(row)
        document = _projection_document(row)

        def replace(session) -> bool:
            # the stream's lock document, as an append takes it: no append commits meanwhile
            self.db.streams.update_one({"_id": stream_id}, {"$inc": {"rebuilds": 1}}, upsert=True, session=session)
            if self._version(stream_id, session) != row.version:
                return False  # appended to meanwhile: that append projected it
            found = self.db.projections.find_one({"_id": _key(row.kind, row.id)}, session=session)
            if found is not None and {k: v for k, v in found.items() if k != "_id"} == document:
                return False
            self.db.projections.replace_one({"_id": _key(row.kind, row.id)}, document, upsert=True, session=session)
            return True

        with _served("replace a projection"):
            try:
                if self._mock:
                    with self._write_lock:
                        return replace(None)
                with self._client.start_session() as session:
                    with session.start_transaction(write_concern=self.db.write_concern):
                        changed = replace(session)
                    return changed
            except mongo_errors.OperationFailure as error:
                if _is_write_conflict(error):
                    return False  # an append holds the stream: it projects it
                raise

    # --- idempotency keys ------------------------------------------------------------------

    def claim_key(self, key: str, fingerprint: str, claimed_at: str) -> dict[str, Any] | None:
        with _served("claim an idempotency key"):
            try:
                self.db.idempotency_keys.insert_one(
                    {"_id": key, "fingerprint": fingerprint, "claimed_at": claimed_at, "response": None}
                )
                return None
            except mongo_errors.DuplicateKeyError:
                doc = self.db.idempotency_keys.find_one({"_id": _text(key, "key")})
        if doc is None:  # released between the two calls: claim again
            return self.claim_key(key, fingerprint, claimed_at)
        return {"key": doc["_id"], "fingerprint": doc["fingerprint"], "claimed_at": doc["claimed_at"],
                "response": doc["response"]}

    def settle_key(self, key: str, response: dict[str, Any]) -> None:
        with _served("keep a response"):
            self.db.idempotency_keys.update_one({"_id": _text(key, "key"), "response": None}, {"$set": {"response": response}})

    def release_key(self, key: str) -> None:
        with _served("release an idempotency key"):
            self.db.idempotency_keys.delete_one({"_id": _text(key, "key"), "response": None})


_LISTING_FILTERS = ("status", "plan_id", "subject_id")


def _listing_index(column: str | None) -> list[tuple[str, int]]:
    middle = [] if column is None else [(column, pymongo.ASCENDING)]
    return [("kind", pymongo.ASCENDING), *middle, ("created_at", pymongo.DESCENDING), ("id", pymongo.DESCENDING)]


def page_index(query: ListQuery) -> list[tuple[str, int]]:
    """The index a listing page reads: named, since some planners scan when the filter has ``$or``."""
    return _listing_index(next((c for c in _LISTING_FILTERS if getattr(query, c) is not None), None))


def page_filter(query: ListQuery) -> dict[str, Any]:
    """The filter of one listing page: flat, plain equalities, so it is planned on an index.

    Some servers plan neither ``{"$and": [...]}`` nor ``{"f": {"$eq": v}}`` on the compound index.
    """
    found: dict[str, Any] = {"kind": _text(query.kind, "kind")}
    for column in _LISTING_FILTERS:
        value = getattr(query, column)
        if value is not None:
            found[column] = _text(value, column)
    wanted = [_text(_ref(kind, ident), "ref") for kind, ident in query.refs]
    if len(wanted) == 1:
        found["refs"] = wanted[0]  # a plain equality on an array field matches any element
    elif wanted:
        found["refs"] = {"$all": wanted}
    window = {}
    if query.created_from is not None:
        window["$gte"] = query.created_from
    if query.created_before is not None:
        window["$lt"] = query.created_before
    if query.after is not None:
        # after (created, ident) in (created_at, id) descending order, as a range on created_at
        # the index can serve plus a residual test: created_at < created or (equal and id < ident)
        created, ident = query.after
        window["$lte"] = created
        found["$or"] = [{"created_at": {"$lt": created}}, {"id": {"$lt": ident}}]
    if window:
        found["created_at"] = window
    return found


def _first_write_error(error: mongo_errors.BulkWriteError) -> mongo_errors.PyMongoError:
    """The bulk error as the single error it stands for (a duplicate key, a validator refusal)."""
    failures = error.details.get("writeErrors", [])
    if failures:
        first = failures[0]
        kind = mongo_errors.DuplicateKeyError if first.get("code") == DUPLICATE_KEY else mongo_errors.OperationFailure
        return kind(first.get("errmsg", "write error"), first.get("code"))
    if error.details.get("writeConcernErrors"):
        return mongo_errors.WriteConcernError(str(error.details["writeConcernErrors"][0]))
    return error


def _key(kind: str, aggregate_id: str) -> str:
    """The ``_id`` of an aggregate's projection document."""
    return f"{kind}:{aggregate_id}"


def _projection_document(row: ProjectionRow) -> dict[str, Any]:
    return {
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


def _stored(doc: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        event_id=doc["_id"],
        event_type=doc["event_type"],
        payload=doc["payload"],
        occurred_at=doc["occurred_at"],
        actor=doc["actor"],
        correlation_id=doc["correlation_id"],
        causation_id=doc.get("causation_id"),
        type_version=doc.get("type_version", 1),  # written before event types had versions
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
    rule = NAME_RULES.get(row.kind)
    if rule is not None and row.name is not None and not rule.low <= len(row.name) <= rule.high:
        raise e.StoreConstraintError(f"a {row.kind} name must be {rule.low}-{rule.high} characters")


def _check_reading(row: dict[str, Any]) -> dict[str, Any]:
    """The store's own copy of the logbook constraints, for a store without CHECK constraints."""
    value = row.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise e.StoreConstraintError(f"reading value {value!r} is not a finite number")
    check_entry("entries_run_readings", row)
    return {**row, "value": float(value)}
