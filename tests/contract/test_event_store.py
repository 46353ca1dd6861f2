"""The EventStore port: atomic, version-checked appends; idempotent entries; indexed queries."""

from __future__ import annotations

import pytest
from support import MOCK_STORE, STORES, drop_store

from cora_bluesky.application.ports import Append, ListQuery, NewEvent, ProjectionRow
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.form_types import BASELINE_FORM_TYPES

T0 = "2026-05-20T14:30:00.000000+00:00"


@pytest.fixture(params=sorted({**STORES, **MOCK_STORE}))
def store_uri(request, tmp_path):
    """The port's contract holds for the in-process stand-in too."""
    uri = {**STORES, **MOCK_STORE}[request.param](tmp_path)
    yield uri
    drop_store(uri)


def event(n: int, kind: str = "Thing") -> NewEvent:
    return NewEvent(f"ev-{n}", kind, {"n": n}, T0, "tester", "corr-1", None)


def row(kind="run", ident="r1", version=1, created=T0, status="Running", refs=(), name="scan", plan="p1"):
    return ProjectionRow(kind, ident, version, status, name, plan, None, created, created, {"id": ident}, refs)


def reading(event_id: str, value: float = 1.0, channel: str = "ring_current") -> dict:
    return {
        "event_id": event_id, "run_id": "r1", "logbook_id": "log", "actor_id": "tester", "command_name": "AppendRunReading",
        "channel_name": channel, "value": value, "units": "mA", "sampling_procedure": "baseline", "sampled_at": T0,
        "occurred_at": T0, "correlation_id": "corr", "causation_id": None,
    }


def test_append_and_load_in_version_order(store):
    store.append(Append("run:r1", "run", 0, [event(1), event(2)], row()))
    result = store.append(Append("run:r1", "run", 2, [event(3)], row(version=3)))
    assert result.version == 3
    loaded = store.load("run:r1")
    assert [(s.version, s.payload["n"], s.actor, s.correlation_id) for s in loaded] == [
        (1, 1, "tester", "corr-1"), (2, 2, "tester", "corr-1"), (3, 3, "tester", "corr-1")
    ]
    assert all(s.recorded_at for s in loaded)
    assert store.load("run:unknown") == []


def test_stale_expected_version_is_a_conflict_and_writes_nothing(store):
    store.append(Append("run:r1", "run", 0, [event(1)], row()))
    with pytest.raises(e.ConcurrencyError):
        store.append(Append("run:r1", "run", 0, [event(2)], row(status="Held"), readings=[reading("x")]))
    assert len(store.load("run:r1")) == 1
    assert store.get("run", "r1").status == "Running"
    assert store.readings("r1") == []


def test_entries_only_append_checks_the_version_too(store):
    store.append(Append("run:r1", "run", 0, [event(1)], row()))
    assert store.append(Append("run:r1", "run", 1, readings=[reading("a")])).readings_written == 1
    with pytest.raises(e.ConcurrencyError):
        store.append(Append("run:r1", "run", 0, readings=[reading("b")]))
    assert [r["event_id"] for r in store.readings("r1")] == ["a"]


def test_entries_are_idempotent_by_event_id(store):
    store.append(Append("run:r1", "run", 0, [event(1)], row()))
    first = store.append(Append("run:r1", "run", 1, readings=[reading("a"), reading("b")]))
    again = store.append(Append("run:r1", "run", 1, readings=[reading("b"), reading("c")]))
    assert (first.readings_written, again.readings_written) == (2, 1)
    assert len(store.readings("r1")) == 3


@pytest.mark.parametrize(
    "bad", [reading("n", float("nan")), reading("i", float("inf")), reading("m", -float("inf")), reading("c", channel="")]
)
def test_store_refuses_what_the_core_should_have_refused(store, bad):
    store.append(Append("run:r1", "run", 0, [event(1)], row()))
    with pytest.raises(e.StoreConstraintError):
        store.append(Append("run:r1", "run", 1, [event(2)], row(version=2), readings=[reading("ok"), bad]))
    assert len(store.load("run:r1")) == 1  # the event went with the rolled-back batch
    assert store.readings("r1") == []


def test_projection_status_set_is_closed(store):
    with pytest.raises(e.StoreConstraintError):
        store.append(Append("run:r1", "run", 0, [event(1)], row(status="Finished")))
    assert store.load("run:r1") == []


def test_event_ids_are_unique_across_streams(store):
    store.append(Append("run:r1", "run", 0, [event(1)], row()))
    with pytest.raises(e.CoraError):
        store.append(Append("run:r2", "run", 0, [event(1)], row(ident="r2")))


def test_find_by_name_and_refs(store):
    store.append(Append("plan:p1", "plan", 0, [event(1)], row("plan", "p1", status="Active", name="tomo_scan", refs=(("asset", "a1"),))))
    store.append(Append("plan:p2", "plan", 0, [event(2)], row("plan", "p2", status="Active", name="fly_scan", refs=(("asset", "a2"), ("asset", "a1")))))
    assert [r.id for r in store.find("plan", name="tomo_scan")] == ["p1"]
    assert sorted(r.id for r in store.find("plan", refs=[("asset", "a1")])) == ["p1", "p2"]
    assert [r.id for r in store.find("plan", refs=[("asset", "a2"), ("asset", "zz")])] == ["p2"]
    assert store.find("run", refs=[("asset", "a1")]) == []
    assert store.find("plan", refs=[]) == []
    # re-projecting replaces the references
    store.append(Append("plan:p2", "plan", 1, [event(3)], row("plan", "p2", version=2, status="Active", name="fly_scan", refs=(("asset", "a3"),))))
    assert [r.id for r in store.find("plan", refs=[("asset", "a1")])] == ["p1"]


def test_find_handles_many_refs(store):
    store.append(Append("clearance:c1", "clearance", 0, [event(1)], row("clearance", "c1", status="Active", refs=(("asset", "a999"),))))
    refs = [("asset", f"a{i}") for i in range(1000)]
    assert [r.id for r in store.find("clearance", refs=refs)] == ["c1"]


def test_page_is_newest_first_with_keyset_and_filters(store):
    for i in range(7):
        created = f"2026-05-20T14:30:0{i}.000000+00:00"
        status = "Running" if i % 2 else "Completed"
        store.append(Append(f"run:r{i}", "run", 0, [event(i)], row(ident=f"r{i}", created=created, status=status)))
    first = store.page(ListQuery("run", limit=3))
    assert [r.id for r in first] == ["r6", "r5", "r4"]
    second = store.page(ListQuery("run", limit=3, after=(first[-1].created_at, first[-1].id)))
    assert [r.id for r in second] == ["r3", "r2", "r1"]
    running = store.page(ListQuery("run", limit=10, status="Running"))
    assert [r.id for r in running] == ["r5", "r3", "r1"]
    window = store.page(ListQuery("run", limit=10, created_from="2026-05-20T14:30:02.000000+00:00", created_before="2026-05-20T14:30:04.000000+00:00"))
    assert [r.id for r in window] == ["r3", "r2"]
    assert store.page(ListQuery("run", limit=10, plan_id="nope")) == []


def test_hostile_filter_values_are_plain_values(store):
    store.append(Append("run:r1", "run", 0, [event(1)], row()))
    for value in ["' OR 1=1 --", '{"$ne": null}', "%", "*"]:
        assert store.page(ListQuery("run", limit=10, status=value)) == []
        assert store.find("run", name=value) == []


def test_baseline_form_types_are_seeded_once(store_uri, store):
    from cora_bluesky.storage import open_store

    assert [f.code for f in store.form_types()] == [f.code for f in BASELINE_FORM_TYPES]
    again = open_store(store_uri)
    try:
        assert len(again.form_types()) == 10
    finally:
        again.close()


def test_a_retry_of_a_committed_append_succeeds_without_writing_again(store):
    store.append(Append("run:r1", "run", 0, [event(1)], row()))
    batch = Append("run:r1", "run", 1, [event(2), event(3)], row(version=3, status="Held"), readings=[reading("a")])
    first = store.append(batch)
    again = store.append(batch)  # as if the first answer had been lost on the way back
    assert again == first
    assert [(s.version, s.event_id) for s in store.load("run:r1")] == [(1, "ev-1"), (2, "ev-2"), (3, "ev-3")]
    assert [r["event_id"] for r in store.readings("r1")] == ["a"]


def test_other_events_at_the_expected_version_are_a_lost_race(store):
    store.append(Append("run:r1", "run", 0, [event(1)], row()))
    store.append(Append("run:r1", "run", 1, [event(2)], row(version=2)))
    with pytest.raises(e.ConcurrencyError):  # same versions, other event ids: another writer won
        store.append(Append("run:r1", "run", 1, [event(7)], row(version=2)))
    with pytest.raises(e.ConcurrencyError):  # a prefix of our own is not all of our own
        store.append(Append("run:r1", "run", 1, [event(2), event(8)], row(version=3)))
    assert [s.event_id for s in store.load("run:r1")] == ["ev-1", "ev-2"]
