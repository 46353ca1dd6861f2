"""A Hypothesis state machine over a real record: random commands, then the record must agree
with itself. The projection equals the folded stream, a refusal appends nothing, and the
listing shows what each get shows."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from support import STORES, Clock, build_beamline, drop_store

import cora_bluesky
from cora_bluesky.application.aggregates import CLEARANCE, PROCEDURE, RUN
from cora_bluesky.domain import errors as e

reasons = st.sampled_from(["beam dump", "", "  ", "operator call", "x" * 501])


class RecordMachine(RuleBasedStateMachine):
    store_name = "sqlite"
    runs = Bundle("runs")
    procedures = Bundle("procedures")

    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.clock = Clock()
        self.permits = cora_bluesky.StaticPermits({"2-BM-A": True, "2-BM-B": True})
        self.uri = STORES[self.store_name](self.folder)
        self.record = cora_bluesky.connect(self.uri, permits=self.permits, clock=self.clock)
        self.ids = build_beamline(self.record)
        self.touched = {RUN: set(), PROCEDURE: set(), CLEARANCE: {self.ids.clearance}}

    def teardown(self):
        self.record.close()
        drop_store(self.uri)
        shutil.rmtree(self.folder, ignore_errors=True)

    def attempt(self, aggregate, ident, action):
        """Run ``action``; a refusal must be a named error and must leave the stream as it was."""
        before = len(self.record.store.load(aggregate.stream_id(ident)))
        try:
            action()
        except e.CoraError:
            assert len(self.record.store.load(aggregate.stream_id(ident))) == before
            return False
        return True

    @rule(target=runs, secured=st.booleans(), patch=st.sampled_from([{}, {"exposure": 0.2}, {"exposure": 99}]))
    def start(self, secured, patch):
        self.permits.set("2-BM-B", secured)
        in_force = self.record.get_clearance(self.ids.clearance).status == "Active"
        # the guards refuse in this order: parameters, clearance, hutches
        expected = (
            e.InvalidRunParametersError if patch == {"exposure": 99}
            else e.RunClearanceCoverageMismatchError if not in_force
            else e.RunRequiresPermittedEnclosureError if not secured
            else None
        )
        try:
            run = self.record.start_run(name="scan", plan_id=self.ids.plan, subject_id=self.ids.subject,
                                        override_parameters=patch)
        except e.CoraError as refused:
            assert type(refused) is expected
            return "never-started"
        assert expected is None
        self.touched[RUN].add(run.id)
        return run.id

    @rule(run=runs, verb=st.sampled_from(["hold_run", "resume_run", "complete_run"]))
    def plain(self, run, verb):
        self.attempt(RUN, run, lambda: getattr(self.record, verb)(run))

    @rule(run=runs, verb=st.sampled_from(["abort_run", "stop_run", "truncate_run"]), reason=reasons)
    def exit(self, run, verb, reason):
        self.attempt(RUN, run, lambda: getattr(self.record, verb)(run, reason=reason))

    @rule(run=runs, exposure=st.floats(-1, 20, allow_nan=False), reason=reasons)
    def adjust(self, run, exposure, reason):
        self.attempt(RUN, run, lambda: self.record.adjust_run(run, parameter_patch={"exposure": exposure}, reason=reason))

    @rule(run=runs, value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10)))
    def reading(self, run, value):
        self.attempt(RUN, run, lambda: self.record.append_run_reading(
            run, channel_name="I0", value=value, sampling_procedure="monitor", sampled_at=self.clock.current))

    @rule(target=procedures)
    def register_procedure(self):
        proc = self.record.register_procedure(name="align", kind="alignment", target_asset_ids=[self.ids.stage])
        self.touched[PROCEDURE].add(proc.id)
        return proc.id

    @rule(proc=procedures, verb=st.sampled_from(["start_procedure", "complete_procedure"]))
    def procedure_plain(self, proc, verb):
        self.attempt(PROCEDURE, proc, lambda: getattr(self.record, verb)(proc))

    @rule(proc=procedures, verb=st.sampled_from(["abort_procedure", "truncate_procedure"]), reason=reasons)
    def procedure_exit(self, proc, verb, reason):
        self.attempt(PROCEDURE, proc, lambda: getattr(self.record, verb)(proc, reason=reason))

    @rule(verb=st.sampled_from(["expire_clearance", "activate_clearance", "submit_clearance"]))
    def clearance(self, verb):
        self.attempt(CLEARANCE, self.ids.clearance, lambda: getattr(self.record, verb)(self.ids.clearance))

    @invariant()
    def projections_equal_folded_streams(self):
        for aggregate, idents in self.touched.items():
            for ident in idents:
                folded, version = self.record._fold(aggregate, ident)
                assert self.record._view(aggregate, ident) == folded
                assert self.record.store.get(aggregate.kind, ident).version == version

    @invariant()
    def listing_agrees_with_gets(self):
        listed = {run.id: run for run in self.record.list_runs(limit=500).items}
        assert set(listed) == self.touched[RUN]
        for ident, run in listed.items():
            assert run == self.record.get_run(ident)


for _name in STORES:
    _machine = type(f"RecordMachine_{_name}", (RecordMachine,), {"store_name": _name})
    _machine.TestCase.settings = settings(max_examples=25, stateful_step_count=30)
    globals()[f"TestRecordMachine_{_name}"] = _machine.TestCase
