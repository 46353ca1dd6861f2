"""What every benchmark shares: a row of the table, timing, percentiles, a gated record."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator


def run_alone(rows: Callable[[bool], list[dict[str, Any]]], description: str | None) -> None:
    """``python benchmarks/NAME.py [--quick]``: one benchmark's rows, a JSON object per line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, as in the CI smoke test")
    for found in rows(parser.parse_args().quick):
        print(json.dumps(found))


def row(what: str, baseline: str, cora: str, ratio: float | None, target: str, **extra: Any) -> dict[str, Any]:
    """One line of the table; ``ratio`` is cora / baseline as measured in the same run."""
    return {"what": what, "baseline": baseline, "cora": cora,
            "ratio": None if ratio is None else round(ratio, 3), "target": target, **extra}


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` leaves the elapsed seconds in ``t[0]``."""
    elapsed: list[float] = []
    started = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - started)


def percentile(samples: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the inclusive method."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


#: who reviews the benchmarks' clearances
SAFETY_OFFICER = "benchmark-safety"


def staffed(record, **others):
    """``record`` with its acting principal as first administrator and operator, a safety
    officer, and ``others`` (name -> roles) registered; harmless on a record already staffed."""
    if not record.has_principals():
        record.bootstrap(roles=["admin", "operator"])
    known = {principal.id for principal in record.list_principals(limit=500).items}
    for name, roles in {SAFETY_OFFICER: ["safety"], **others}.items():
        if name not in known:
            record.register_principal(principal_id=name, roles=roles)
    return record


def activate(record, **bindings) -> str:
    """An Active clearance over ``bindings``, put in force by the safety officer."""
    form = record.register_clearance(form_type="aps-esaf", title="benchmark", **bindings)
    record.submit_clearance(form.id)
    officer = record.bound(principal=SAFETY_OFFICER)
    for step in (officer.start_clearance_review, officer.approve_clearance, officer.activate_clearance):
        step(form.id)
    return form.id


def counting_record(uri: str):
    """A record where ``count`` over the sim detector ``det`` is registered and cleared."""
    import cora_bluesky

    record = staffed(cora_bluesky.connect(uri))
    method = record.register_method(name="counting")
    record.register_plan(name="count", method_id=method.id)
    detector = record.register_asset(name="sim detector", family="detector", device_names=["det"])
    activate(record, asset_ids=[detector.id])
    return record


def one_run(uri: str):
    """A record holding one Running run on one asset in no hutch; returns ``(record, run)``."""
    import cora_bluesky

    record = staffed(cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({})))
    method = record.register_method(name="scan")
    plan = record.register_plan(name="scan", method_id=method.id)
    asset = record.register_asset(name="stage", family="stage")
    activate(record, asset_ids=[asset.id])
    return record, record.start_run(name="benchmark", plan_id=plan.id, asset_ids=[asset.id])
