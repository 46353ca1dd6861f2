"""The recorder: the RunEngine's documents, states and messages folded into the record.

The RunEngine thread only enqueues. A spooler thread makes each batch durable in the local spool
whatever state the store is in; a recorder thread talks to the record, in arrival order, and
retries while the store is unavailable. A recording failure is logged and counted, never raised
into the RunEngine.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from datetime import datetime, timezone
from numbers import Real
from typing import Any

from event_model import DocumentRouter, unpack_event_page

from cora_bluesky.domain import errors as e
from cora_bluesky.plans.stubs import STEPS_STREAM

log = logging.getLogger(__name__)

#: Seconds the spooler lets documents gather before making a batch durable.
BATCH_WINDOW = 0.05

#: RunEngine states that tell a stop document's ``success`` apart from a completion.
ENDING_STATES = {"stopping": "stop", "aborting": "abort", "halting": "halt"}
NO_REASON = {
    "stop": "RE.stop() was called; no reason was given",
    "abort": "RE.abort() was called; no reason was given",
    "halt": "RE.halt() was called; no reason was given",
}


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


class _Run:
    """What the recorder knows about one open Bluesky run."""

    def __init__(self, kind: str, ident: str, started: float) -> None:
        self.kind = kind
        self.ident = ident
        self.started = started
        self.streams: dict[str, str] = {}  # descriptor uid -> stream name
        self.units: dict[str, dict[str, str | None]] = {}
        self.seen: dict[str, set[int]] = {}  # stream name -> seq_nums (a rewind re-emits them)
        self.rejected = 0


class CoraRecorder(DocumentRouter):
    """Fold documents carrying ``cora_run_id`` / ``cora_procedure_id`` into the record.

    Parameters
    ----------
    record : cora_bluesky.Record
        Where runs, procedures and readings are recorded.
    dataset_uri : str
        How a user resolves a Bluesky run, with ``{uid}`` for its start uid (for example a
        tiled or databroker address).
    spool : Spool, optional
        Where items wait, durably, until they are recorded; anything it still holds from an
        earlier process is replayed first.
    retry : float
        Seconds between attempts while the store is unavailable.
    """

    def __init__(self, record, *, dataset_uri: str = "bluesky://run/{uid}", spool=None, retry: float = 0.5) -> None:
        super().__init__()
        self.record = record
        self.dataset_uri = dataset_uri
        self.spool = spool
        self.retry = retry
        self._queue: "queue.Queue[tuple]" = queue.Queue()
        self._runs: dict[str, _Run] = {}
        self._stream_names: dict[str, str] = {}  # descriptor uid -> stream, for spooling
        self._ending: str | None = None
        self._reasons: dict[str, str] = {}
        self._paused = False
        self.failures = 0
        self._recordable: "queue.Queue[tuple]" = queue.Queue()
        self._spooler = threading.Thread(target=self._spool_batches, name="cora-spooler", daemon=True)
        self._worker = threading.Thread(target=self._work, name="cora-recorder", daemon=True)
        self._worker.start()

    # --- RunEngine side: enqueue only ---------------------------------------------------

    def __call__(self, name: str, doc: dict) -> None:
        self._queue.put(("document", name, doc, time.time()))

    def state_hook(self, new: str, old: str) -> None:
        self._queue.put(("state", new, old, time.time()))

    def msg_hook(self, msg) -> None:
        if msg.command in ("_start_suspender", "_resume_from_suspender"):
            self._queue.put(("suspension", msg.command, None, time.time()))

    def give_reason(self, ending: str, reason: str) -> None:
        """The operator's words for the next stop or abort (see ``Cora.stop``/``Cora.abort``)."""
        self._queue.put(("reason", ending, reason, time.time()))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything enqueued so far is recorded; ``False`` if it is still behind."""
        done = threading.Event()
        self._queue.put(("flush", done, None, time.time()))
        caught_up = done.wait(timeout)
        if not caught_up:
            log.warning("cora recorder is %d item(s) behind the RunEngine", self._queue.qsize())
        return caught_up

    def close(self, timeout: float | None = None) -> bool:
        """Record what is queued, then stop the worker and close the spool; ``False`` on timeout."""
        self._queue.put(("close", None, None, time.time()))
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def rejected_readings(self, cora_id: str) -> int:
        """How many values of an open run were not stored as readings (non-finite, non-scalar)."""
        return sum(run.rejected for run in self._runs.values() if run.ident == cora_id)

    # --- worker side --------------------------------------------------------------------

    def _spool_batches(self) -> None:
        """Spooler thread: make what the RunEngine handed over durable, whatever the store does."""
        while True:
            batch = [self._queue.get()]
            if batch[0][0] not in ("flush", "close"):
                # gather a batch instead of waking per document: each wake-up costs the
                # RunEngine thread a share of the GIL
                time.sleep(BATCH_WINDOW)
            while len(batch) < 2000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            durable = [list(item) for item in batch if self._worth_spooling(item)]
            offset = self._spool_call("append", durable) if self.spool is not None and durable else None
            self._recordable.put((batch, offset))
            if any(item[0] == "close" for item in batch):
                return

    def _work(self) -> None:
        """Recorder thread: replay what an earlier process left, then record batch after batch."""
        if self.spool is not None:
            replayed = None
            for replayed, item in self.spool.pending():
                self._record(item)
            if replayed is not None:
                self.spool.ack(replayed)
            # runs left open by a process that died stay Running in the record, for a person
            # to truncate; this process will never see their stop documents
            self._runs.clear()
        self._spooler.start()
        while True:
            batch, offset = self._recordable.get()
            for item in batch:
                self._record(item)
            # acknowledge only between runs: a replay must start from an open run's start
            # document, so that its descriptors and events can be understood again
            if offset is not None and not self._runs:
                self._spool_call("ack", offset)
            if any(item[0] == "close" for item in batch):
                self._spooler.join()
                if self.spool is not None:
                    self.spool.close()
                return

    def _worth_spooling(self, item) -> bool:
        """Everything that can change the record; events of other streams only feed counts."""
        kind, name, doc = item[0], item[1], item[2]
        if kind in ("flush", "close"):
            return False
        if kind != "document":
            return True
        if name == "descriptor":
            self._stream_names[doc["uid"]] = doc.get("name", "")
            return True
        if name in ("event", "event_page"):
            stream = self._stream_names.get(doc.get("descriptor"), "")
            return stream in ("baseline", STEPS_STREAM) or stream.endswith("_monitor")
        return True

    def _spool_call(self, verb: str, argument):
        """A spool that cannot be written costs durability, never the recording itself."""
        try:
            return getattr(self.spool, verb)(argument)
        except (OSError, ValueError) as failure:
            log.warning("cora spool %s failed (%s); recording continues without it", verb, failure)
            return None

    def _record(self, item) -> None:
        while True:
            try:
                self._handle(*item)
                return
            except e.StoreError as unavailable:  # keep order: retry this item until it lands
                log.warning("record unavailable, retrying: %s", unavailable)
                time.sleep(self.retry)
            except Exception:  # never let one bad document stop the recording of the next
                self.failures += 1
                log.exception("cora recorder could not record %s", item[0])
                return

    def _handle(self, kind: str, first: Any, second: Any, when: float) -> None:
        if kind == "document":
            self._at = when
            DocumentRouter.__call__(self, first, second)
        elif kind == "state":
            self._state(first, second, when)
        elif kind == "suspension":
            self._lifecycle("hold_run" if first == "_start_suspender" else "resume_run", when)
        elif kind == "reason":
            self._reasons[first] = second
        elif kind == "flush":
            first.set()

    def _bound(self, when: float):
        instant = _at(when)
        return self.record.bound(clock=lambda: instant)

    def _state(self, new: str, old: str, when: float) -> None:
        if new in ENDING_STATES:
            self._ending = ENDING_STATES[new]
        elif new == "paused":
            self._paused = True
            self._lifecycle("hold_run", when)
        elif new == "running" and self._paused:
            self._paused = False
            self._lifecycle("resume_run", when)
        elif new == "idle":
            self._ending = None
            self._paused = False

    def _lifecycle(self, verb: str, when: float) -> None:
        """Hold or resume the innermost open Run (a procedure has no Held state)."""
        runs = [run for run in self._runs.values() if run.kind == "run"]
        if runs:
            try:
                getattr(self._bound(when), verb)(runs[-1].ident)
            except (e.RunCannotHoldError, e.RunCannotResumeError):
                pass  # a pause inside a suspension (or the reverse) is one hold, not two

    # --- documents ------------------------------------------------------------------------

    def start(self, doc):
        if doc.get("cora_run_id"):
            run = self._runs[doc["uid"]] = _Run("run", doc["cora_run_id"], doc.get("time", self._at))
            try:
                self._bound(self._at).link_run_dataset(
                    run.ident, start_uid=doc["uid"], uri=self.dataset_uri.format(uid=doc["uid"])
                )
            except e.RunCannotLinkDatasetError:
                pass  # re-delivered: already linked
        elif doc.get("cora_procedure_id"):
            self._runs[doc["uid"]] = _Run("procedure", doc["cora_procedure_id"], doc.get("time", self._at))

    def descriptor(self, doc):
        run = self._runs.get(doc["run_start"])
        if run is not None:
            run.streams[doc["uid"]] = doc.get("name", "")
            run.units[doc["uid"]] = {key: meta.get("units") for key, meta in doc.get("data_keys", {}).items()}

    def event_page(self, doc):
        for event in unpack_event_page(doc):
            self.event(event)

    def event(self, doc):
        run = next((r for r in self._runs.values() if doc["descriptor"] in r.streams), None)
        if run is None:
            return
        stream = run.streams[doc["descriptor"]]
        seen = run.seen.setdefault(stream, set())
        if doc["seq_num"] in seen and stream != STEPS_STREAM:
            return  # re-emitted after a rewind: already recorded and counted
        seen.add(doc["seq_num"])
        if stream == STEPS_STREAM:
            self._step(run, doc)
            return
        if run.kind != "run":
            return
        if stream == "baseline":
            procedure = "baseline"
        elif stream.endswith("_monitor"):
            procedure = "monitor"
        else:
            return
        readings = []
        for key, value in doc.get("data", {}).items():
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
                run.rejected += 1
                continue
            readings.append(
                {
                    # the same descriptor and seq_num after a rewind is the same reading
                    "event_id": f"{doc['descriptor']}:{doc['seq_num']}:{key}",
                    "channel_name": key,
                    "value": float(value),
                    "units": run.units[doc["descriptor"]].get(key),
                    "sampling_procedure": procedure,
                    "sampled_at": _at(doc.get("timestamps", {}).get(key, doc["time"])),
                }
            )
        if readings:
            self._bound(self._at).append_run_readings(run.ident, readings)

    def _step(self, run: _Run, doc) -> None:
        data = doc.get("data", {})
        kind = data.get("cora_step_step_kind")
        when = doc.get("timestamps", {}).get("cora_step_step_kind", doc["time"])
        self._bound(self._at).append_procedure_step(
            run.ident,
            [
                {
                    "event_id": f"{doc['descriptor']}:{doc['seq_num']}",
                    "step_kind": kind,
                    "payload": json.loads(data.get("cora_step_payload") or "{}"),
                    "sampled_at": _at(when),
                }
            ],
        )

    def _summary(self, run: _Run, stop: dict) -> dict[str, Any]:
        """What the run amounted to, from its documents and its own lifecycle events."""
        ended = stop.get("time", self._at)
        held, holds, since = 0.0, 0, None
        for event in self.record.store.load(f"run:{run.ident}"):
            at = datetime.fromisoformat(event.occurred_at).timestamp()
            if event.event_type == "RunHeld":
                holds, since = holds + 1, at
            elif event.event_type == "RunResumed" and since is not None:
                held, since = held + (at - since), None
        if since is not None:
            held += max(0.0, ended - since)
        return {
            "events_per_stream": {stream: len(seqs) for stream, seqs in run.seen.items()},
            "duration_s": round(max(0.0, ended - run.started), 6),
            "time_held_s": round(held, 6),
            "holds": holds,
            "adjustments": self.record.get_run(run.ident).adjustment_count,
            "rejected_readings": run.rejected,
            "exit_status": stop.get("exit_status"),
        }

    def stop(self, doc):
        run = self._runs.pop(doc.get("run_start"), None)
        if run is None:
            return
        record = self._bound(doc.get("time", self._at))
        if run.kind == "run":
            record.summarize_run(run.ident, self._summary(run, doc))
        status, message = doc.get("exit_status"), doc.get("reason") or ""
        ending = self._ending if status == "success" and self._ending == "stop" else status
        if ending == "success":
            verb = "complete_run" if run.kind == "run" else "complete_procedure"
            getattr(record, verb)(run.ident)
            return
        if ending == "fail":
            reason = message or "the plan failed without a message"
        else:
            key = "halt" if self._ending == "halt" else ending
            reason = self._reasons.pop(key, None) or message or NO_REASON.get(key, f"exit status {status}")
        reason = reason[:500]
        if run.kind == "procedure":
            record.abort_procedure(run.ident, reason=reason)
        elif ending == "stop":
            record.stop_run(run.ident, reason=reason)
        else:
            record.abort_run(run.ident, reason=reason)
