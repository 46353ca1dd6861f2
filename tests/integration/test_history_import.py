"""Years of history brought in: ``cora import`` over a real Tiled catalog written by
``TiledWriter``, and a databroker v2 catalog, into real SQLite files and the MongoDB wire server.

The catalog holds generated runs (see ``historic_runs.py``) with every kind of ending. An import
is checked run by run against what was generated; a second import adds nothing; an import killed
with SIGKILL at a moment chosen while it writes leaves whole runs only, and the next one finishes.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone

import pytest
from historic_runs import ENDINGS, FIRST, historic
from support import STORES, activate_clearance, build_beamline, drop_store, wait_for

import cora_bluesky
from cora_bluesky.application.ports import every
from cora_bluesky.application.run_data import Verdict
from cora_bluesky.application.run_imports import DEVICE_SCHEME, SAMPLE_SCHEME, imported_run_id
from cora_bluesky.cli import main as cora_main
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.documents import NO_STOP, at
from cora_bluesky.importing import import_catalog
from cora_bluesky.sim.catalog_server import API_KEY

tiled_client = pytest.importorskip("tiled.client", reason="needs the data extra: pip install -e '.[data]'")
tiled_writing = pytest.importorskip(
    "bluesky_tiled_plugins.writing.tiled_writer", reason="needs the data extra: pip install -e '.[data]'"
)

#: Runs in the catalog: a few hundred, every ending many times over.
HISTORY = 300


@pytest.fixture(scope="module")
def history(tiled_server):
    """The Tiled server's catalog, holding ``HISTORY`` generated runs written by ``TiledWriter``."""
    client = tiled_client.from_uri(tiled_server, api_key=API_KEY)
    writer = tiled_writing.TiledWriter(client)
    runs = [historic(i) for i in range(HISTORY)]
    for run in runs:
        for name, doc in run.documents:
            writer(name, doc)
    assert len(client) == HISTORY
    return tiled_server, runs


def _beamline(record):
    """The 2-BM model, with a CORA plan ``scan`` that ``rel_scan`` also answers to."""
    ids = build_beamline(record, activate=False)
    counting = record.register_method(name="counting", needed_families=["camera"])
    ids.scan = record.register_plan(name="scan", method_id=counting.id, bluesky_names=["rel_scan"]).id
    return ids


def _fresh_record(tmp_path):
    """A SQLite record holding the 2-BM model: its file, its URI and the model's ids."""
    path = tmp_path / "record.db"
    uri = f"sqlite:///{path}"
    with cora_bluesky.connect(uri) as record:
        ids = _beamline(record)
    return path, uri, ids


def _expected_plan(ids, plan: str) -> str | None:
    return {"scan": ids.scan, "rel_scan": ids.scan, "tomo_scan": ids.plan}.get(plan)


def _held_by(entry) -> tuple[float, int]:
    """The latest time of the documents a catalog holds of a run, and its baseline and monitor
    values: a catalog keeps less of a run that never stopped (``TiledWriter`` writes events in
    batches it flushes at the stop)."""
    last, values = 0.0, 0
    streams = {}
    for name, doc in entry.documents():
        if name == "descriptor":
            streams[doc["uid"]] = doc["name"]
        times = doc.get("time") if name in ("event", "event_page") else [doc.get("time")]
        times = times if isinstance(times, list) else [times]
        last = max([last, *(t for t in times if isinstance(t, float))])
        if name in ("event", "event_page") and (streams[doc["descriptor"]] == "baseline"
                                               or streams[doc["descriptor"]].endswith("_monitor")):
            values += len(times) * sum(1 for column in doc["data"].values()
                                       if isinstance(column[0] if name == "event_page" else column, float))
    return last, values


def _check_run(record, ids, generated, catalog) -> None:
    """The imported run says what the catalog holds about it, and nothing it does not."""
    run = record.get_run(imported_run_id(generated.uid))
    last, readings = (generated.last, generated.readings) if generated.ending != "none" else _held_by(
        catalog[generated.uid])
    expected = {"success": "Completed", "none": "Truncated"}.get(generated.ending, "Aborted")
    assert run.status == expected, (generated.uid, run.status)
    assert run.imported is not None and run.imported.bluesky_plan == generated.plan
    assert run.clearance_ids == () and run.triggered_by is None
    assert run.plan_id == _expected_plan(ids, generated.plan)
    assert run.created_at == at(generated.started)
    if generated.ending == "none":
        assert run.last_reason == NO_STOP and run.interrupted_at == at(last)
    elif generated.ending == "abort":
        assert run.last_reason == f"beam dump {historic_index(generated)}"
    elif expected == "Aborted":
        assert run.last_reason and run.interrupted_at is None
    else:
        assert run.last_reason is None and run.updated_at == at(last)
    refs = {(ref.scheme, ref.id) for ref in run.external_refs}
    assert (DEVICE_SCHEME, "ghost_motor") in refs and (DEVICE_SCHEME, "cam") not in refs
    assert set(run.asset_ids) == {ids.camera, ids.stage}
    sample = generated.documents[0][1]["sample"]
    assert (run.subject_id == ids.subject) == (sample == "sn-2024-038")
    assert ((SAMPLE_SCHEME, sample) in refs) == (run.subject_id is None)
    (dataset,) = run.datasets
    assert dataset.start_uid == generated.uid and dataset.scan_id == generated.documents[0][1]["scan_id"]
    assert len(dataset.digest) == 64
    assert len(record.list_run_readings(run.id)) == readings
    events = [event.event_type for event in record.history("run", run.id)]
    assert events[0] == "RunImported" and "RunStarted" not in events


def _events(path) -> int:
    with sqlite3.connect(path) as reading:
        return reading.execute("SELECT count(*) FROM events").fetchone()[0]


def historic_index(generated) -> int:
    return int(generated.uid.split("-")[1])


def test_an_import_of_hundreds_of_runs_is_correct_and_a_second_adds_nothing(history, tmp_path, capsys):
    address, runs = history
    uri = f"sqlite:///{tmp_path / 'record.db'}"
    with cora_bluesky.connect(uri) as record:
        ids = _beamline(record)
    assert cora_main(["import", address, "--api-key", API_KEY, "--uri", uri]) == 0
    out = capsys.readouterr()
    assert f"imported {HISTORY}, skipped 0, failed 0" in out.out
    assert " runs" in out.err  # the progress bar

    catalog = tiled_client.from_uri(address, api_key=API_KEY)
    with cora_bluesky.connect(uri, catalog=catalog) as record:
        for generated in runs:
            _check_run(record, ids, generated, catalog)
        every_run = [run for status in ("Completed", "Aborted", "Truncated")
                     for run in every(record.list_runs, status=status)]
        assert len(every_run) == HISTORY
        endings = Counter(generated.ending for generated in runs)
        assert set(endings) == set(ENDINGS) and min(endings.values()) >= HISTORY // len(ENDINGS)
        # found by scan id and start uid, and its data verifies against the catalog
        sample = runs[17]
        (found,) = record.find_runs(scan_id=sample.documents[0][1]["scan_id"])
        assert found.id == imported_run_id(sample.uid) == record.find_runs(start_uid=sample.uid)[0].id
        assert [check.verdict for check in record.verify_run_data(found.id)] == [Verdict.VERIFIED]
    events = _events(tmp_path / "record.db")

    # a second import: every run skipped, not one event written
    assert cora_main(["import", address, "--api-key", API_KEY, "--uri", uri]) == 0
    assert f"imported 0, skipped {HISTORY}, failed 0" in capsys.readouterr().out
    assert _events(tmp_path / "record.db") == events


def test_an_import_killed_while_it_writes_leaves_whole_runs_and_the_next_finishes(history, tmp_path):
    address, runs = history
    path, uri, ids = _fresh_record(tmp_path)
    log = open(tmp_path / "import.log", "wb")
    importing = subprocess.Popen(
        [sys.executable, "-m", "cora_bluesky.cli", "import", address, "--api-key", API_KEY, "--uri", uri],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )

    def imported() -> int:
        with sqlite3.connect(path) as reading:
            return reading.execute("SELECT count(*) FROM projections WHERE kind = 'run'").fetchone()[0]

    moment = random.randint(1, HISTORY - 30)  # how many runs in: the kill lands while it writes the next
    try:
        wait_for(lambda: imported() >= moment or importing.poll() is not None, 600, f"{moment} runs imported")
    finally:
        os.kill(importing.pid, signal.SIGKILL)
        importing.wait(30)
        log.close()
    assert importing.returncode == -signal.SIGKILL, (tmp_path / "import.log").read_text()[-2000:]
    done = imported()
    assert moment <= done < HISTORY, moment

    catalog = tiled_client.from_uri(address, api_key=API_KEY)
    with cora_bluesky.connect(uri) as record:
        held = [run for status in ("Running", "Held", "Completed", "Aborted", "Truncated")
                for run in every(record.list_runs, status=status)]
        assert len(held) == done and all(run.status in ("Completed", "Aborted", "Truncated") for run in held)
        by_id = {imported_run_id(generated.uid): generated for generated in runs}
        for run in held:  # whole: each with its every reading and its ending
            _check_run(record, ids, by_id[run.id], catalog)
        report = import_catalog(record, catalog)
        assert (len(report.imported), len(report.skipped), report.failed) == (HISTORY - done, done, [])
        for generated in runs:
            _check_run(record, ids, generated, catalog)


def test_two_imports_at_once_record_each_run_once(history, tmp_path):
    address, runs = history
    path, uri, ids = _fresh_record(tmp_path)
    logs = [open(tmp_path / f"import{n}.log", "w+") for n in range(2)]
    importers = [subprocess.Popen([sys.executable, "-m", "cora_bluesky.cli", "import", address, "--api-key", API_KEY,
                                   "--uri", uri], stdout=log, stderr=subprocess.DEVNULL) for log in logs]
    try:
        assert [importer.wait(600) for importer in importers] == [0, 0]
    finally:
        for importer in importers:
            if importer.poll() is None:
                os.kill(importer.pid, signal.SIGKILL)
                importer.wait(30)
    said = []
    for log in logs:
        log.seek(0)
        said.append(log.read())
        log.close()
    counts = [tuple(int(word) for word in text.split("\n")[0].replace(",", "").split()[1::2]) for text in said]
    assert sum(imported for imported, _, _ in counts) == HISTORY, said  # between them, each run once
    assert all(imported + skipped == HISTORY and failed == 0 for imported, skipped, failed in counts), said
    catalog = tiled_client.from_uri(address, api_key=API_KEY)
    with cora_bluesky.connect(uri) as record:
        for generated in runs:
            _check_run(record, ids, generated, catalog)
    with sqlite3.connect(path) as reading:
        assert reading.execute("SELECT count(*) FROM projections WHERE kind = 'run'").fetchone()[0] == HISTORY


def test_an_import_takes_the_runs_of_a_time_window(history, tmp_path):
    address, runs = history
    since, until = datetime.fromtimestamp(FIRST + 3600 * 10, timezone.utc), datetime.fromtimestamp(
        FIRST + 3600 * 25, timezone.utc)
    with cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}") as record:
        _beamline(record)
        report = import_catalog(record, tiled_client.from_uri(address, api_key=API_KEY), since=since, until=until)
        assert sorted(uid for uid, _ in report.imported) == sorted(g.uid for g in runs[10:25])
        assert (report.skipped, report.failed) == ([], [])


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_databroker_catalog_imports_into_each_store(databroker_server, tmp_path, store):
    catalog = tiled_client.from_uri(databroker_server, api_key=API_KEY)
    runs = [historic(i) for i in range(1000, 1010)]
    if not len(catalog):
        for run in runs:
            for name, doc in run.documents:
                catalog.post_document(name, doc)
    uri = STORES[store](tmp_path)
    try:
        with cora_bluesky.connect(uri, catalog=catalog) as record:
            ids = _beamline(record)
            report = import_catalog(record, catalog)
            assert (len(report.imported), report.failed) == (len(runs), [])
            for generated in runs:
                _check_run(record, ids, generated, catalog)
                (check,) = record.verify_run_data(imported_run_id(generated.uid))
                assert check.verdict is Verdict.VERIFIED, check
            assert len(import_catalog(record, catalog).skipped) == len(runs)
    finally:
        drop_store(uri)


def test_a_run_recorded_as_it_ran_is_not_imported_again(tmp_path):
    generated = historic(3)
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}",
                                  permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    with record:
        ids = _beamline(record)

        activate_clearance(record, subject_ids=[ids.subject])
        live = record.start_run(name="tomography", plan_id=ids.plan, subject_id=ids.subject)
        record.link_run_dataset(live.id, start_uid=generated.uid, uri="bluesky://run/x")
        with pytest.raises(e.RunAlreadyExistsError) as refused:
            record.import_run(generated.documents, source="catalog", uri="bluesky://run/x")
        assert live.id in refused.value.message
        assert record.find_runs(start_uid=generated.uid) == [record.get_run(live.id)]


def test_a_run_the_record_cannot_keep_fails_alone_and_names_why(tmp_path):
    """Hostile text in one historic run fails that run; the others are imported."""

    class Catalog:
        source = "memory://history"
        runs_ = [historic(i) for i in range(5)]

        def link(self, uid):
            return f"memory://history/{uid}"

        def open(self, uid, uri):
            raise KeyError(uid)

        def documents(self, entry):
            return entry.documents

        def runs(self, since=None, until=None):
            return [(run.uid, run) for run in self.runs_]

    catalog = Catalog()
    catalog.runs_[2].documents[0][1]["plan_name"] = "scan\ud800"  # a lone surrogate
    catalog.runs_[3].documents[0][1]["detectors"] = ["x" * 5000]  # kept as a reference: cut to its bound
    with cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}") as record:
        _beamline(record)
        report = import_catalog(record, catalog)
        assert [uid for uid, _ in report.imported] == [catalog.runs_[i].uid for i in (0, 1, 3, 4)]
        ((uid, why),) = report.failed
        assert uid == catalog.runs_[2].uid and why.startswith("InvalidRunImport")
        with pytest.raises(e.RunNotFoundError):
            record.get_run(imported_run_id(uid))


def test_a_catalog_that_goes_away_mid_import_loses_nothing_and_the_next_import_finishes(tmp_path):
    """The catalog server is stopped while the import runs (after its tenth run), then started
    again on the same files: the first import leaves whole runs, the second brings the rest."""
    from cora_bluesky.sim.catalog_server import CatalogServer

    import stamina

    stamina.set_testing(True, attempts=1)  # the Tiled client's retries: one attempt, no backoff
    runs = [historic(i) for i in range(2000, 2040)]
    folder = tmp_path / "catalog"
    folder.mkdir()
    server = CatalogServer(folder)
    try:
        writer = tiled_writing.TiledWriter(tiled_client.from_uri(server.address, api_key=API_KEY), batch_size=1)
        for run in runs:
            for name, doc in run.documents:
                writer(name, doc)
        port = server.address.rsplit(":", 1)[1]

        def outage(report):
            if report.seen == 10:
                server.stop()

        with cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}") as record:
            ids = _beamline(record)
            first = import_catalog(record, tiled_client.from_uri(server.address, api_key=API_KEY), progress=outage)
            # the rest could not be read: three in a row, and the import stops, saying so
            assert (len(first.imported), first.skipped, len(first.failed)) == (10, [], 3)
            assert all(why.startswith("RunDataUnreachable") for _, why in first.failed)
            assert first.stopped.startswith("RunDataUnreachable") and "import again" in first.lines()[-1]
            held = [run for status in ("Completed", "Aborted", "Truncated")
                    for run in every(record.list_runs, status=status)]
            assert len(held) == 10
            server = CatalogServer(folder, port=int(port))
            catalog = tiled_client.from_uri(server.address, api_key=API_KEY)
            second = import_catalog(record, catalog)
            assert (len(second.imported), len(second.skipped), second.failed, second.stopped) == (30, 10, [], None)
            for generated in runs:
                _check_run(record, ids, generated, catalog)
    finally:
        server.stop()
        stamina.set_testing(False)


def test_an_import_by_someone_who_may_not_stops_before_writing(tmp_path):
    runs = [historic(i) for i in range(3)]

    class Catalog:
        source = "memory://history"
        link = staticmethod(lambda uid: f"memory://history/{uid}")
        documents = staticmethod(lambda entry: entry.documents)

        def open(self, uid, uri):
            raise KeyError(uid)

        def runs(self, since=None, until=None):
            return [(run.uid, run) for run in runs]

    with cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}") as record:
        _beamline(record)
        record.register_principal(principal_id="viewer", roles=["viewer"])
        report = import_catalog(record.bound(principal="viewer"), Catalog())
        assert report.stopped.startswith("Forbidden") and report.seen == 0
        assert all(record.find_runs(start_uid=run.uid) == [] for run in runs)


def test_an_imported_run_is_served_as_imported_over_http_and_in_the_web_view(served):
    """REST, MCP's response model and the web view say where the run came from; one no CORA
    plan answers to is served with no plan id and its Bluesky plan's name."""
    generated = historic(1)  # a ``count``: no CORA plan answers to it
    run = served.record.import_run(generated.documents, source="http://tiled.example/api/v1/metadata",
                                   uri=f"http://tiled.example/api/v1/metadata/{generated.uid}")
    answer = served.call("GET", f"/runs/{run.id}", "viewer")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["plan_id"] is None and body["status"] == "Aborted" and body["clearance_ids"] == []
    assert body["imported"]["source"] == "http://tiled.example/api/v1/metadata"
    assert body["imported"]["bluesky_plan"] == "count"
    listed = served.call("GET", "/runs", "viewer", params={"status": "Aborted"}).json()["items"]
    assert [item["id"] for item in listed] == [run.id]
    served.client.cookies.set("cora_view_token", served.tokens["viewer"], path="/view")
    page = served.client.get(f"/view/runs/{run.id}")
    assert page.status_code == 200 and "Imported from" in page.text and "never gated" in page.text
    assert "count (Bluesky plan; no CORA plan answers to it)" in page.text
    listing = served.client.get("/view/runs")
    assert listing.status_code == 200 and "count (Bluesky)" in listing.text
