"""The SQLite schema, one list of statements per schema version.

Constraints mirror the spec's table definitions: closed status sets, bounded channel names and
units, finite reading values, and append-only event and logbook tables. Bounds and allowed
values come from the domain's field rules (see :mod:`cora_bluesky.storage.constraints`). A file
keeps the constraints it was created with: a changed rule needs a migration for existing files.
"""

from __future__ import annotations

from cora_bluesky.domain.rules import ChoiceRule
from cora_bluesky.storage.constraints import LOGBOOK_COLUMNS, NAME_RULES, STATUSES, Column


def _one_of(kind: str) -> str:
    values = ", ".join(f"'{status}'" for status in sorted(STATUSES[kind]))
    return f"CHECK (kind <> '{kind}' OR status IN ({values}))"


def _text(values) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def _check(column: str, rule: Column) -> str:
    if isinstance(rule.rule, ChoiceRule):
        test = f"{column} IN ({_text(rule.rule.allowed)})"
    else:
        test = f"length({column}) BETWEEN {rule.rule.low} AND {rule.rule.high}"
    return f"CHECK ({column} IS NULL OR {test})" if rule.optional else f"CHECK ({test})"


def _logbook(table: str, column: str) -> str:
    return _check(column, LOGBOOK_COLUMNS[table][column])


def _names() -> str:
    return ",\n        ".join(
        f"CHECK (kind <> '{kind}' OR length(name) BETWEEN {rule.low} AND {rule.high})"
        for kind, rule in NAME_RULES.items()
    )


def _append_only(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
    ]


def _projections(table: str, run_plan: str) -> str:
    return f"""CREATE TABLE {table} (
        kind        TEXT    NOT NULL,
        id          TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        status      TEXT,
        name        TEXT,
        plan_id     TEXT,
        subject_id  TEXT,
        created_at  TEXT    NOT NULL,
        updated_at  TEXT    NOT NULL,
        doc         TEXT    NOT NULL CHECK (json_valid(doc)),
        PRIMARY KEY (kind, id),
        {_one_of("run")},
        {_one_of("procedure")},
        {_one_of("clearance")},
        {_one_of("subject")},
        {_one_of("asset")},
        {_one_of("plan")},
        {_names()},
        {run_plan}
    )"""


# Every run names its plan; from schema 4, an imported run may instead keep its Bluesky plan's
# name (its ``imported`` part is set), as the events it was folded from say.
_RUN_PLAN = "CHECK (kind <> 'run' OR plan_id IS NOT NULL)"
_RUN_PLAN_OR_IMPORTED = (
    "CHECK (kind <> 'run' OR plan_id IS NOT NULL OR json_type(doc, '$.imported') = 'object')"
)
_PROJECTION_INDEXES = [
    "CREATE INDEX projections_keyset ON projections (kind, created_at, id)",
    "CREATE INDEX projections_status ON projections (kind, status, created_at, id)",
    "CREATE INDEX projections_plan ON projections (kind, plan_id, created_at, id)",
    "CREATE INDEX projections_subject ON projections (kind, subject_id, created_at, id)",
    "CREATE INDEX projections_name ON projections (kind, name)",
]


# Largest finite double: NaN is stored as NULL by SQLite and fails NOT NULL; infinities fail this.
_FINITE = "value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308"

V1 = [
    """CREATE TABLE events (
        position        INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id       TEXT    NOT NULL,
        version         INTEGER NOT NULL CHECK (version >= 1),
        kind            TEXT    NOT NULL,
        event_id        TEXT    NOT NULL UNIQUE,
        event_type      TEXT    NOT NULL,
        payload         TEXT    NOT NULL CHECK (json_valid(payload)),
        occurred_at     TEXT    NOT NULL,
        recorded_at     TEXT    NOT NULL,
        actor           TEXT    NOT NULL,
        correlation_id  TEXT    NOT NULL,
        causation_id    TEXT,
        UNIQUE (stream_id, version)
    )""",
    *_append_only("events"),
    _projections("projections", _RUN_PLAN),
    *_PROJECTION_INDEXES,
    """CREATE TABLE projection_refs (
        ref_kind  TEXT NOT NULL,
        ref_id    TEXT NOT NULL,
        kind      TEXT NOT NULL,
        id        TEXT NOT NULL,
        PRIMARY KEY (ref_kind, ref_id, kind, id)
    ) WITHOUT ROWID""",
    "CREATE INDEX projection_refs_owner ON projection_refs (kind, id)",
    f"""CREATE TABLE entries_run_readings (
        event_id            TEXT PRIMARY KEY,
        run_id              TEXT NOT NULL,
        logbook_id          TEXT NOT NULL,
        actor_id            TEXT NOT NULL,
        command_name        TEXT NOT NULL,
        channel_name        TEXT NOT NULL {_logbook('entries_run_readings', 'channel_name')},
        value               REAL NOT NULL CHECK ({_FINITE}),
        units               TEXT {_logbook('entries_run_readings', 'units')},
        sampling_procedure  TEXT NOT NULL {_logbook('entries_run_readings', 'sampling_procedure')},
        sampled_at          TEXT NOT NULL,
        occurred_at         TEXT NOT NULL,
        correlation_id      TEXT NOT NULL,
        causation_id        TEXT,
        recorded_at         TEXT NOT NULL
    )""",
    "CREATE INDEX entries_run_readings_run_sampled ON entries_run_readings (run_id, sampled_at)",
    *_append_only("entries_run_readings"),
    f"""CREATE TABLE entries_operation_procedure_steps (
        event_id        TEXT PRIMARY KEY,
        procedure_id    TEXT NOT NULL,
        logbook_id      TEXT NOT NULL,
        actor_id        TEXT NOT NULL,
        command_name    TEXT NOT NULL,
        step_kind       TEXT NOT NULL {_logbook('entries_operation_procedure_steps', 'step_kind')},
        payload         TEXT NOT NULL CHECK (json_valid(payload)),
        sampled_at      TEXT NOT NULL,
        occurred_at     TEXT NOT NULL,
        correlation_id  TEXT NOT NULL,
        causation_id    TEXT,
        recorded_at     TEXT NOT NULL
    )""",
    """CREATE INDEX entries_operation_procedure_steps_proc_sampled
        ON entries_operation_procedure_steps (procedure_id, sampled_at)""",
    """CREATE INDEX entries_operation_procedure_steps_proc_kind_sampled
        ON entries_operation_procedure_steps (procedure_id, step_kind, sampled_at)""",
    *_append_only("entries_operation_procedure_steps"),
    """CREATE TABLE clearance_form_types (
        code      TEXT PRIMARY KEY,
        facility  TEXT NOT NULL,
        name      TEXT NOT NULL
    )""",
]

# Idempotency keys of the HTTP edge: a claim while the first request runs, then its response.
V2 = [
    """CREATE TABLE idempotency_keys (
        key          TEXT PRIMARY KEY,
        fingerprint  TEXT NOT NULL,
        claimed_at   TEXT NOT NULL,
        response     TEXT CHECK (response IS NULL OR json_valid(response))
    )""",
]

# The version of each event's type (its payload's shape) as it was written; events written
# before versions existed are version 1.
V3 = [
    "ALTER TABLE events ADD COLUMN type_version INTEGER NOT NULL DEFAULT 1 CHECK (type_version >= 1)",
]

# Imported runs: a CHECK cannot change in place, so the table is copied into one with the new
# CHECK (its indexes go with the old table and are made again).
V4 = [
    _projections("projections_v4", _RUN_PLAN_OR_IMPORTED),
    "INSERT INTO projections_v4 SELECT * FROM projections",
    "DROP TABLE projections",
    "ALTER TABLE projections_v4 RENAME TO projections",
    *_PROJECTION_INDEXES,
]

#: MIGRATIONS[n] brings a database from schema version n to n + 1.
MIGRATIONS: list[list[str]] = [V1, V2, V3, V4]
