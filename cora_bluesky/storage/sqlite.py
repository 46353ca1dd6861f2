"""The embedded store: one SQLite file in WAL mode, safe with several writing processes."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from cora_bluesky.application.aggregates import stream_id as stream_of
from cora_bluesky.application.ports import Append, AppendResult, ListQuery, ProjectionRow, StoredEvent
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.form_types import BASELINE_FORM_TYPES, FormType
from cora_bluesky.storage.sqlite_schema import MIGRATIONS

_PROJECTION_COLUMNS = "kind, id, version, status, name, plan_id, subject_id, created_at, updated_at, doc"
_READING_COLUMNS = (
    "event_id, run_id, logbook_id, actor_id, command_name, channel_name, value, units,"
    " sampling_procedure, sampled_at, occurred_at, correlation_id, causation_id, recorded_at"
)
_STEP_COLUMNS = (
    "event_id, procedure_id, logbook_id, actor_id, command_name, step_kind, payload, sampled_at,"
    " occurred_at, correlation_id, causation_id, recorded_at"
)
#: logbook table -> its columns (a fixed set: table names never come from input)
_LOGBOOKS = {"entries_run_readings": _READING_COLUMNS, "entries_operation_procedure_steps": _STEP_COLUMNS}
_REF_CHUNK = 400
_EVENT_COLUMNS = (
    "stream_id, version, kind, event_id, event_type, type_version, payload, occurred_at, recorded_at, actor,"
    " correlation_id, causation_id"
)


def _stored(row: Any, payload: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        event_id=row["event_id"],
        event_type=row["event_type"],
        payload=payload,
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        type_version=row["type_version"],
        stream_id=row["stream_id"],
        version=row["version"],
        recorded_at=row["recorded_at"],
        kind=row["kind"],
    )


def _projected(row: Any) -> tuple:
    """The indexed columns of a projection row (a database row or a ``ProjectionRow``'s fields)."""
    names = ("version", "status", "name", "plan_id", "subject_id", "created_at", "updated_at")
    return tuple(row[name] for name in names)


def _recorded_at() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class _Checkpointer:
    """Copies the WAL into the database file from a thread of its own, every ``interval``.

    Passive checkpoints never block a writer or a reader; what a crash leaves in the WAL is
    checkpointed by the next process to open the file.
    """

    def __init__(self, path: str, timeout: float, interval: float = 0.5) -> None:
        self._path, self._timeout, self._interval = path, timeout, interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cora-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while not self._stopping.wait(self._interval):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # busy or gone: the next round, or the next opener, checkpoints

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)


class SQLiteStore:
    """Every store port of :mod:`cora_bluesky.application.ports` over one SQLite file.

    Parameters
    ----------
    path : str or Path
        The database file (created with its schema when missing), or ``":memory:"``.
    timeout : float
        Seconds to wait for another process's write lock before giving up.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise e.StoreError(f"cannot open SQLite database {self.path}: {error}", path=self.path) from None
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()
        self._checkpointer = None if self.path == ":memory:" else _Checkpointer(self.path, timeout)
        if self._checkpointer is not None:
            # a commit that has to checkpoint the WAL waits for the database file to be synced;
            # the checkpointer thread does that instead, off every writer's path
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")

    @property
    def location(self) -> str:
        return self.path

    # --- schema -------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        with self._transaction():
            version = self.schema_version
            if version > len(MIGRATIONS):
                raise e.StoreError(
                    f"{self.path} has schema version {version}; this cora-bluesky knows up to"
                    f" {len(MIGRATIONS)}: upgrade cora-bluesky",
                    schema_version=version,
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            self._conn.executemany(
                "INSERT INTO clearance_form_types (code, facility, name) VALUES (?, ?, ?)"
                " ON CONFLICT (code) DO NOTHING",
                [(f.code, f.facility, f.name) for f in BASELINE_FORM_TYPES],
            )

    class _Tx:
        def __init__(self, store: "SQLiteStore") -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            try:
                self.store._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                self.store._lock.release()
                raise e.StoreError(f"the record is busy or unavailable: {error}") from None
            return self.store._conn

        def __exit__(self, kind, error, tb) -> None:
            conn = self.store._conn
            try:
                conn.execute("ROLLBACK" if kind else "COMMIT")
            except sqlite3.Error:
                # a COMMIT that failed (disk full, busy) leaves the transaction open: end it,
                # or every later BEGIN fails and the outage never ends
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if not kind:
                    raise
            finally:
                self.store._lock.release()

    def _transaction(self) -> "_Tx":
        return self._Tx(self)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()

    # --- writing ------------------------------------------------------------------------

    def append(self, batch: Append) -> AppendResult:
        try:
            with self._transaction() as conn:
                recorded = _recorded_at()  # under the write lock: recorded_at follows the order of commits
                current = conn.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?", (batch.stream_id,)
                ).fetchone()[0]
                if current != batch.expected_version:
                    own = self._own_append(conn, batch)
                    if own is not None:
                        return own
                    raise e.ConcurrencyError(
                        f"stream {batch.stream_id} is at version {current}, not {batch.expected_version}",
                        stream_id=batch.stream_id,
                    )
                conn.executemany(
                    f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            batch.stream_id,
                            batch.expected_version + offset,
                            batch.kind,
                            event.event_id,
                            event.event_type,
                            event.type_version,
                            json.dumps(event.payload, allow_nan=False),
                            event.occurred_at,
                            recorded,
                            event.actor,
                            event.correlation_id,
                            event.causation_id,
                        )
                        for offset, event in enumerate(batch.events, start=1)
                    ],
                )
                if batch.projection is not None:
                    self._project(conn, batch.projection)
                readings = self._entries(conn, "entries_run_readings", _READING_COLUMNS, batch.readings, recorded)
                steps = self._entries(
                    conn, "entries_operation_procedure_steps", _STEP_COLUMNS, batch.steps, recorded
                )
        except sqlite3.IntegrityError as error:
            if "events.stream_id, events.version" in str(error):
                raise e.ConcurrencyError(
                    f"stream {batch.stream_id} was appended to concurrently", stream_id=batch.stream_id
                ) from None
            raise e.StoreConstraintError(f"the store refused the write: {error}") from None
        except (ValueError, TypeError) as error:
            raise e.StoreConstraintError(f"the store refused the write: {error}") from None
        except sqlite3.OperationalError as error:
            raise e.StoreError(f"the record is busy or unavailable: {error}") from None
        return AppendResult(batch.expected_version + len(batch.events), readings, steps)

    @staticmethod
    def _own_append(conn: sqlite3.Connection, batch: Append) -> AppendResult | None:
        """The result of this very append if it is already stored (a retry), else ``None``."""
        if not batch.events:
            return None
        last = batch.expected_version + len(batch.events)
        found = conn.execute(
            "SELECT event_id, recorded_at FROM events WHERE stream_id = ? AND version > ? AND version <= ?"
            " ORDER BY version",
            (batch.stream_id, batch.expected_version, last),
        ).fetchall()
        if [row[0] for row in found] != [event.event_id for event in batch.events]:
            return None
        stamp = found[0][1]

        def count(table: str, rows) -> int:
            ids = [row["event_id"] for row in rows]
            if not ids:
                return 0
            marks = ", ".join("?" * len(ids))
            return conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE recorded_at = ? AND event_id IN ({marks})", (stamp, *ids)
            ).fetchone()[0]

        return AppendResult(last, count("entries_run_readings", batch.readings),
                            count("entries_operation_procedure_steps", batch.steps))

    def _project(self, conn: sqlite3.Connection, row: ProjectionRow) -> None:
        conn.execute(
            f"INSERT INTO projections ({_PROJECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version, status = excluded.status,"
            " name = excluded.name, plan_id = excluded.plan_id, subject_id = excluded.subject_id,"
            " updated_at = excluded.updated_at, doc = excluded.doc",
            (
                row.kind,
                row.id,
                row.version,
                row.status,
                row.name,
                row.plan_id,
                row.subject_id,
                row.created_at,
                row.updated_at,
                json.dumps(row.doc, allow_nan=False),
            ),
        )
        conn.execute("DELETE FROM projection_refs WHERE kind = ? AND id = ?", (row.kind, row.id))
        conn.executemany(
            "INSERT INTO projection_refs (ref_kind, ref_id, kind, id) VALUES (?, ?, ?, ?)",
            [(ref_kind, ref_id, row.kind, row.id) for ref_kind, ref_id in row.refs],
        )

    @staticmethod
    def _entries(
        conn: sqlite3.Connection, table: str, columns: str, rows: Sequence[dict[str, Any]], recorded: str | None
    ) -> int:
        """Insert logbook rows, skipping known event ids; ``recorded`` stamps them (a copy keeps theirs)."""
        if not rows:
            return 0
        names = [name.strip() for name in columns.split(",")]

        def value(row: dict[str, Any], name: str) -> Any:
            if name == "recorded_at" and recorded is not None:
                return recorded
            return json.dumps(row[name], allow_nan=False) if name == "payload" else row[name]

        before = conn.total_changes
        conn.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(names))})"
            " ON CONFLICT (event_id) DO NOTHING",
            [tuple(value(row, name) for name in names) for row in rows],
        )
        return conn.total_changes - before

    # --- reading ------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as error:
                raise e.StoreError(f"the record is busy or unavailable: {error}") from None

    def load(self, stream_id: str) -> list[StoredEvent]:
        rows = self._query(f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = ? ORDER BY version", (stream_id,))
        return [_stored(row, json.loads(row["payload"])) for row in rows]

    def get(self, kind: str, aggregate_id: str) -> ProjectionRow | None:
        # a projection behind its stream (written by an older process, or not at all) is not served
        rows = self._query(
            f"SELECT {_PROJECTION_COLUMNS} FROM projections WHERE kind = ? AND id = ? AND version ="
            " (SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?)",
            (kind, aggregate_id, stream_of(kind, aggregate_id)),
        )
        return self._rows(rows)[0] if rows else None

    def find(
        self, kind: str, *, name: str | None = None, refs: Iterable[tuple[str, str]] = ()
    ) -> list[ProjectionRow]:
        if name is not None:
            rows = self._query(
                f"SELECT {_PROJECTION_COLUMNS} FROM projections WHERE kind = ? AND name = ?"
                " ORDER BY created_at, rowid",
                (kind, name),
            )
            return self._rows(rows)
        wanted = list(dict.fromkeys(refs))
        found: dict[str, sqlite3.Row] = {}
        for start in range(0, len(wanted), _REF_CHUNK):
            chunk = wanted[start : start + _REF_CHUNK]
            values = ", ".join("(?, ?)" for _ in chunk)
            rows = self._query(
                f"SELECT {_PROJECTION_COLUMNS} FROM projections WHERE kind = ? AND id IN ("
                f" SELECT r.id FROM projection_refs r JOIN (VALUES {values}) AS v"
                " ON r.ref_kind = v.column1 AND r.ref_id = v.column2 WHERE r.kind = ?)"
                " ORDER BY created_at, rowid",
                (kind, *[item for pair in chunk for item in pair], kind),
            )
            for row in rows:
                found.setdefault(row["id"], row)
        ordered = sorted(found.values(), key=lambda row: row["created_at"])
        return self._rows(ordered)

    def page(self, query: ListQuery) -> list[ProjectionRow]:
        clauses, params = ["kind = ?"], [query.kind]
        for column in ("status", "plan_id", "subject_id"):
            value = getattr(query, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.created_from is not None:
            clauses.append("created_at >= ?")
            params.append(query.created_from)
        if query.created_before is not None:
            clauses.append("created_at < ?")
            params.append(query.created_before)
        for ref_kind, ref_id in query.refs:
            clauses.append("id IN (SELECT id FROM projection_refs WHERE kind = ? AND ref_kind = ? AND ref_id = ?)")
            params.extend((query.kind, ref_kind, ref_id))
        if query.after is not None:
            clauses.append("(created_at, id) < (?, ?)")
            params.extend(query.after)
        rows = self._query(
            f"SELECT {_PROJECTION_COLUMNS} FROM projections WHERE {' AND '.join(clauses)}"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, query.limit),
        )
        return self._rows(rows)

    @staticmethod
    def _rows(rows: Iterable[sqlite3.Row]) -> list[ProjectionRow]:
        return [
            ProjectionRow(
                kind=row["kind"],
                id=row["id"],
                version=row["version"],
                status=row["status"],
                name=row["name"],
                plan_id=row["plan_id"],
                subject_id=row["subject_id"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                doc=json.loads(row["doc"]),
            )
            for row in rows
        ]

    def _logbook(self, table: str, columns: str, owner: str, owner_id: str, limit: int | None) -> Iterator[dict]:
        sql = f"SELECT {columns} FROM {table} WHERE {owner} = ? ORDER BY sampled_at, event_id"
        params: list[Any] = [owner_id]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        for row in self._query(sql, params):
            yield dict(row)

    def readings(self, run_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return list(self._logbook("entries_run_readings", _READING_COLUMNS, "run_id", run_id, limit))

    def latest_reading_at(self, run_id: str) -> str | None:
        rows = self._query("SELECT MAX(sampled_at) AS latest FROM entries_run_readings WHERE run_id = ?", (run_id,))
        return rows[0]["latest"]

    def steps(self, procedure_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        rows = list(
            self._logbook("entries_operation_procedure_steps", _STEP_COLUMNS, "procedure_id", procedure_id, limit)
        )
        for row in rows:
            row["payload"] = json.loads(row["payload"])
        return rows

    # --- whole-record copy ---------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self._query("SELECT 1 FROM events LIMIT 1")

    def _chunks(self, table: str, columns: str, size: int = 5000) -> Iterator[list[sqlite3.Row]]:
        last = -1
        while True:
            rows = self._query(
                f"SELECT rowid AS _pos, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, size)
            )
            if not rows:
                return
            last = rows[-1]["_pos"]
            yield rows

    def dump_events(self) -> Iterator[StoredEvent]:
        """Every event of every stream, in append order."""
        for rows in self._chunks("events", _EVENT_COLUMNS):
            for row in rows:
                yield _stored(row, json.loads(row["payload"]))

    def dump_projections(self) -> Iterator[ProjectionRow]:
        for rows in self._chunks("projections", _PROJECTION_COLUMNS):
            found = self._rows(rows)
            for row in found:
                refs = self._query(
                    "SELECT ref_kind, ref_id FROM projection_refs WHERE kind = ? AND id = ?", (row.kind, row.id)
                )
                yield ProjectionRow(**{**row.__dict__, "refs": tuple((r["ref_kind"], r["ref_id"]) for r in refs)})

    def dump_entries(self, table: str) -> Iterator[dict[str, Any]]:
        for rows in self._chunks(table, _LOGBOOKS[table]):
            for row in rows:
                entry = {key: row[key] for key in row.keys() if key != "_pos"}
                if "payload" in entry:
                    entry["payload"] = json.loads(entry["payload"])
                yield entry

    def import_batch(
        self,
        events: Sequence[StoredEvent] = (),
        projections: Sequence[ProjectionRow] = (),
        table: str | None = None,
        entries: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Write copied rows as they were (ids and timestamps kept); rows already present are skipped."""
        try:
            self._import(events, projections, table, entries)
        except sqlite3.IntegrityError as error:
            raise e.StoreConstraintError(f"the target refused copied rows: {error}") from None

    def _import(self, events, projections, table, entries) -> None:
        with self._transaction() as conn:
            conn.executemany(
                f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id) DO NOTHING",
                [
                    (ev.stream_id, ev.version, ev.kind, ev.event_id, ev.event_type, ev.type_version,
                     json.dumps(ev.payload), ev.occurred_at, ev.recorded_at, ev.actor, ev.correlation_id,
                     ev.causation_id)
                    for ev in events
                ],
            )
            for row in projections:
                current = conn.execute(
                    "SELECT version FROM projections WHERE kind = ? AND id = ?", (row.kind, row.id)
                ).fetchone()
                if current is None or current[0] < row.version:
                    self._project(conn, row)
            if entries:
                self._entries(conn, table, _LOGBOOKS[table], entries, recorded=None)

    # --- rebuilding projections -----------------------------------------------------------

    def stream_ids(self) -> Iterator[tuple[str, str]]:
        # every stream starts at version 1: its first event names it once
        rows = self._query("SELECT kind, stream_id FROM events WHERE version = 1 ORDER BY stream_id")
        return iter([(row["kind"], row["stream_id"]) for row in rows])

    def replace_projection(self, stream_id: str, row: ProjectionRow) -> bool:
        try:
            with self._transaction() as conn:
                current = conn.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?", (stream_id,)
                ).fetchone()[0]
                if current != row.version:
                    return False  # appended to meanwhile: that append projected it
                found = conn.execute(
                    f"SELECT {_PROJECTION_COLUMNS} FROM projections WHERE kind = ? AND id = ?", (row.kind, row.id)
                ).fetchone()
                refs = conn.execute(
                    "SELECT ref_kind, ref_id FROM projection_refs WHERE kind = ? AND id = ?", (row.kind, row.id)
                ).fetchall()
                wanted = json.loads(json.dumps(row.doc, allow_nan=False))
                if found is not None and (
                    _projected(found) == _projected(row.__dict__)
                    and json.loads(found["doc"]) == wanted
                    and {tuple(ref) for ref in refs} == set(row.refs)
                ):
                    return False
                # delete first: an upsert keeps created_at, which may be what is wrong
                conn.execute("DELETE FROM projections WHERE kind = ? AND id = ?", (row.kind, row.id))
                self._project(conn, row)
                return True
        except sqlite3.IntegrityError as error:
            raise e.StoreConstraintError(f"the store refused the projection: {error}") from None
        except sqlite3.OperationalError as error:
            raise e.StoreError(f"the record is busy or unavailable: {error}") from None

    # --- idempotency keys ------------------------------------------------------------------

    def claim_key(self, key: str, fingerprint: str, claimed_at: str) -> dict[str, Any] | None:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT key, fingerprint, claimed_at, response FROM idempotency_keys WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO idempotency_keys (key, fingerprint, claimed_at) VALUES (?, ?, ?)",
                    (key, fingerprint, claimed_at),
                )
                return None
        found = dict(row)
        found["response"] = None if row["response"] is None else json.loads(row["response"])
        return found

    def settle_key(self, key: str, response: dict[str, Any]) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE idempotency_keys SET response = ? WHERE key = ? AND response IS NULL",
                (json.dumps(response, allow_nan=False), key),
            )

    def release_key(self, key: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM idempotency_keys WHERE key = ? AND response IS NULL", (key,))

    def form_types(self) -> list[FormType]:
        rows = self._query("SELECT code, facility, name FROM clearance_form_types ORDER BY rowid")
        return [FormType(row["code"], row["facility"], row["name"]) for row in rows]
