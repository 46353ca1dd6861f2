"""What only a shared database exposes: racing writers, re-delivery, a writer dying mid-write."""

from __future__ import annotations

import threading

from support import build_beamline

import cora_bluesky

from cora_bluesky.application.aggregates import RUN
from cora_bluesky.application.codec import encode, timestamp
from cora_bluesky.application.ports import Append, NewEvent
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.run import RunHeld


def test_two_writers_racing_on_one_run_exactly_one_wins(store):
    store.append(Append("run:r1", "run", 0, [NewEvent("start", "RunStarted", {}, "t", "a", "c")]))
    barrier, outcomes = threading.Barrier(8), []

    def writer(n):
        barrier.wait()
        try:
            store.append(Append("run:r1", "run", 1, [NewEvent(f"hold-{n}", "RunHeld", {}, "t", f"w{n}", "c")]))
            outcomes.append("won")
        except e.ConcurrencyError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert [event.version for event in store.load("run:r1")] == [1, 2]


def test_redelivered_readings_are_stored_once(record):
    ids = build_beamline(record)
    run = record.start_run(name="x", plan_id=ids.plan, subject_id=ids.subject)
    batch = [{"event_id": f"doc-{i}", "channel_name": "I0", "value": float(i), "sampling_procedure": "monitor",
              "sampled_at": record.now()} for i in range(50)]
    assert record.append_run_readings(run.id, batch) == 50
    assert record.append_run_readings(run.id, batch[25:] + [{**batch[0], "event_id": "doc-new"}]) == 1
    assert len(record.list_run_readings(run.id)) == 51


def test_a_writer_that_died_before_projecting_is_folded_on_read(record):
    ids = build_beamline(record)
    run = record.start_run(name="x", plan_id=ids.plan, subject_id=ids.subject)
    held = RunHeld(run.id, record.now())
    # the events reached the store, the projection never did
    record.store.append(Append(RUN.stream_id(run.id), "run", 1, [
        NewEvent("died-mid-write", "RunHeld", encode(held), timestamp(held.occurred_at), "crashed", "c")
    ]))
    assert record.get_run(run.id).status == "Held"
    record.resume_run(run.id)  # the next write projects the folded state
    assert record.list_runs().items[0].status == "Running"
    assert record.store.get("run", run.id).version == 3


def test_eight_writers_adjusting_one_run_all_get_through(store_uri, record):
    ids = build_beamline(record)
    run = record.start_run(name="x", plan_id=ids.plan, subject_id=ids.subject)
    writers, each = 8, 15
    for n in range(writers):
        record.register_principal(principal_id=f"writer-{n}", roles=["operator"])
    barrier, done, failures = threading.Barrier(writers), [], []

    def writer(n):
        own = cora_bluesky.connect(store_uri, principal=f"writer-{n}")
        try:
            barrier.wait()
            for i in range(each):
                own.adjust_run(run.id, parameter_patch={"exposure": 0.1 + n * 0.01 + i * 0.0001}, reason=f"w{n}-{i}")
                done.append((n, i))
        except Exception as error:  # noqa: BLE001 - every failure is reported below
            failures.append(repr(error))
        finally:
            own.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(done) == [(n, i) for n in range(writers) for i in range(each)]
    adjusted = [ev for ev in record.history("run", run.id) if ev.event_type == "RunAdjusted"]
    assert len(adjusted) == writers * each
    assert record.get_run(run.id).adjustment_count == writers * each


def test_readings_racing_a_completion_never_land_after_it(store_uri, record):
    """The issue's trial: readings keep arriving while the run completes, twelve times over."""
    ids = build_beamline(record)
    trials, late = 12, []
    record.register_principal(principal_id="recorder", roles=["operator"])
    for trial in range(trials):
        run = record.start_run(name=f"race {trial}", plan_id=ids.plan, subject_id=ids.subject)
        writer = cora_bluesky.connect(store_uri, principal="recorder")
        first_batch, reported, refused = threading.Event(), [], []

        def readings():
            for batch in range(10_000):
                rows = [{"event_id": f"{run.id}-{batch}-{n}", "channel_name": "I0", "value": float(n),
                         "sampling_procedure": "monitor", "sampled_at": writer.now()} for n in range(20)]
                try:
                    reported.append(writer.append_run_readings(run.id, rows))
                except e.ConflictError as closed:
                    refused.append(closed)
                    return
                finally:
                    first_batch.set()

        thread = threading.Thread(target=readings)
        thread.start()
        assert first_batch.wait(30)
        record.complete_run(run.id)
        thread.join(60)
        writer.close()
        assert refused and not thread.is_alive()
        (completed,) = [ev for ev in record.history("run", run.id) if ev.event_type == "RunCompleted"]
        stored = record.store.readings(run.id)
        assert len(stored) == sum(reported)  # every row reported written is stored, and no other
        late.append(sum(1 for found in stored if found["recorded_at"] > completed.recorded_at))
    assert late == [0] * trials
