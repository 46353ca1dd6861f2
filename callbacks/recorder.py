"""The recorder: the RunEngine's documents, states and messages folded into the record.

Whatever thread hands an item over (the RunEngine's, a monitored signal's, the console's)
writes it to this session's spool file and queues it, and returns: the item is in the
operating system's hands before the RunEngine's callback returns. A recorder thread first
replays the spools earlier sessions left, then folds the queue into the record in arrival order.

Delivery is at least once into an idempotent record: an item's effect is only taken as done
once the store took it, so an item is retried (with backoff, logged once per outage) for as
long as the store raises :class:`~cora_bluesky.domain.errors.StoreError`; an item the record
refuses is counted and reported, never retried. The spool is acknowledged whenever no run is
open, so a replay starts at a run's start document and understands its descriptors again.

The recorder thread also folds each run's documents into their digest (see
:mod:`cora_bluesky.domain.digest`) and seals it on the Run's dataset link as the run ends. The
spool keeps only what the record needs (no values of streams that are not readings), so a run
replayed from a spool is linked but not sealed: its digest would be a guess.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any, Callable

from event_model import DocumentRouter, unpack_event_page

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.digest import CANONICAL_FORM, RunDigest
from cora_bluesky.domain.documents import FAILED_WITHOUT_MESSAGE, reading_procedure, readings_of, units_of
from cora_bluesky.domain.documents import at as _at
from cora_bluesky.domain.rules import REASON_LENGTH
from cora_bluesky.plans.stubs import STEPS_STREAM

log = logging.getLogger(__name__)

#: RunEngine states that tell a stop document's ``success`` apart from a completion.
ENDING_STATES = {"stopping": "stop", "aborting": "abort", "halting": "halt"}
#: What the record says when the operator's words did not reach it (``RE.abort(reason)`` in
#: bluesky 1.15 puts an empty reason in the stop document; ``RE.stop()`` takes none).
NO_REASON = {
    "stop": "RE.stop() was called; no reason reached the record",
    "abort": "RE.abort() was called; no reason reached the record",
    "halt": "RE.halt() was called; no reason reached the record",
}
#: The RunEngine completed a run that the record held (held from outside the RunEngine).
COMPLETED_WHILE_HELD = (
    "the RunEngine completed this run while the record held it; what it took during the hold"
    " needs review"
)
#: Seconds the recorder thread lets items gather before it folds them (how far it may lag).
BATCH_WINDOW = 0.05
#: Seconds between attempts while the store is unavailable: the first, and the longest.
RETRY_FIRST, RETRY_LONGEST = 0.5, 5.0
#: Refusals kept for :attr:`CoraRecorder.refusals`.
REFUSALS_KEPT = 100
TERMINAL = {"Completed", "Aborted", "Stopped", "Truncated"}


def _snapshot(name: str, doc: dict) -> dict:
    """A shallow copy of a document, its per-key mappings (and a page's columns) copied too:
    cheap on the RunEngine's thread, and safe from a subscriber that edits documents in place."""
    copied = dict(doc)
    if name == "event":
        copied["data"], copied["timestamps"] = dict(doc.get("data", {})), dict(doc.get("timestamps", {}))
    elif name == "event_page":
        for part in ("data", "timestamps"):
            copied[part] = {key: list(values) for key, values in doc.get(part, {}).items()}
        copied["seq_num"], copied["time"] = list(doc.get("seq_num", ())), list(doc.get("time", ()))
    return copied


class _Run:
    """What a fold knows about one open Bluesky run."""

    def __init__(self, kind: str, ident: str, started: float, uid: str = "") -> None:
        self.kind = kind
        self.ident = ident
        self.started = started
        self.uid = uid
        #: the digest of its documents while the fold sees all of them, closed by the stop
        self.digest: RunDigest | None = None
        self.digest_open = False
        self.streams: dict[str, str] = {}  # descriptor uid -> stream name
        self.units: dict[str, dict[str, str | None]] = {}
        self.seen: dict[str, set] = {}  # stream name -> identities of the events it counted
        self.rejected = 0
        self.held = False  # held by this RunEngine (a pause or a suspension)
        self.ended = False  # already ended in the record when its start arrived (a replay)
        self.refusal: str | None = None  # the gate refused a device mid-run: the run ends Aborted


class _Fold(DocumentRouter):
    """One session's stream of items folded into the record; a replayed spool gets its own."""

    def __init__(self, recorder: "CoraRecorder", *, live: bool = False) -> None:
        super().__init__()
        self.recorder = recorder
        self.live = live  # items carry whole documents (a replayed spool has compact ones)
        self.record = recorder.record
        self.runs: dict[str, _Run] = {}
        self.ending: str | None = None
        self.reasons: dict[str, str] = {}
        self.state: str | None = None
        self.paused = False
        self._at = time.time()
        self.stopped: dict[str, dict] = {}  # start uid -> its stop document, not yet ended

    def context(self) -> dict:
        """What a replay starting here needs to know (saved with an acknowledgement)."""
        return {"state": self.state, "ending": self.ending, "paused": self.paused, "reasons": self.reasons}

    def restore(self, context: dict) -> None:
        self.state = context.get("state")
        self.ending = context.get("ending")
        self.paused = bool(context.get("paused"))
        self.reasons = dict(context.get("reasons") or {})

    def handle(self, kind: str, first: Any, second: Any, when: float) -> None:
        if self.stopped and not self._late_event(kind, first, second):
            self.settle()
        self._at = when
        if kind == "document":
            DocumentRouter.__call__(self, first, second)
        elif kind == "state":
            self._state(first, when)
        elif kind == "suspension":
            self._lifecycle("hold" if first == "_start_suspender" else "resume", when)
        elif kind == "settle":
            pass  # the runs stopped so far were ended above
        elif kind == "refusal":
            for run in self.runs.values():
                if run.ident == first:
                    run.refusal = second
        elif kind == "reason":
            if self.state in (None, "idle"):
                log.info("cora: %s reason given while nothing ran; it is not kept", first)
            else:
                self.reasons[first] = second

    def _late_event(self, kind: str, name: Any, doc: Any) -> bool:
        """An event of a run whose stop document is out: a monitor's callback, on its own
        thread, can emit one just after the stop."""
        if kind != "document" or name not in ("event", "event_page"):
            return False
        run = self._run_of(doc.get("descriptor"))
        return run is not None and any(self.runs.get(uid) is run for uid in self.stopped)

    def settle(self) -> None:
        """End the runs whose stop documents arrived (late events of theirs are recorded)."""
        for uid, doc in list(self.stopped.items()):
            try:
                self._end(self.runs[uid], doc)
            except e.StoreError:
                raise  # retried with the item at hand; the run stays until its end is stored
            except Exception as refusal:  # refused: reported once, never in front of every item
                self.recorder.refused("stop", refusal)
            del self.runs[uid], self.stopped[uid]

    def _bound(self, when: float):
        instant = _at(when)
        return self.record.bound(clock=lambda: instant)

    def _state(self, new: str, when: float) -> None:
        self.state = new
        if new in ENDING_STATES:
            self.ending = ENDING_STATES[new]
        elif new == "paused":
            self.paused = True
            self._lifecycle("hold", when)
        elif new == "running" and self.paused:
            self.paused = False
            self._lifecycle("resume", when)
        elif new == "idle":
            # an operator's reason belongs to the ending it was given for, and expires with it
            self.ending, self.paused = None, False
            self.reasons.clear()

    def _lifecycle(self, verb: str, when: float) -> None:
        """Hold (or resume) every open Run this RunEngine has (a procedure has no Held state)."""
        event_type = "RunHeld" if verb == "hold" else "RunResumed"
        for run in [run for run in self.runs.values() if run.kind == "run" and not run.ended]:
            if verb == "resume" and not run.held:
                continue  # held from outside the RunEngine: not this RunEngine's to resume
            if not self._already(run, event_type, when):
                try:
                    getattr(self._bound(when), f"{verb}_run")(run.ident)
                except (e.RunCannotHoldError, e.RunCannotResumeError):
                    continue  # held already (a pause inside a suspension, or from outside)
            run.held = verb == "hold"

    def _already(self, run: _Run, event_type: str, when: float) -> bool:
        """A replayed transition the record already holds, recognised by its type and instant."""
        instant = _at(when)
        return any(
            event.event_type == event_type and datetime.fromisoformat(event.occurred_at) == instant
            for event in self.record.history("run", run.ident)
        )

    # --- documents ------------------------------------------------------------------------

    def start(self, doc):
        ident = doc.get("cora_run_id") or doc.get("cora_procedure_id")
        if not ident:
            return
        kind = "run" if doc.get("cora_run_id") else "procedure"
        run = _Run(kind, ident, doc.get("time", self._at), doc["uid"])
        state = self.record.get_run(ident) if kind == "run" else self.record.get_procedure(ident)
        run.ended = str(state.status) in TERMINAL
        if kind == "run" and not run.ended and not any(d.start_uid == doc["uid"] for d in state.datasets):
            scan_id = doc.get("scan_id")
            self._bound(self._at).link_run_dataset(
                ident,
                start_uid=doc["uid"],
                uri=self.recorder.link(doc["uid"]),
                scan_id=scan_id if isinstance(scan_id, int) and not isinstance(scan_id, bool) and scan_id >= 0
                else None,
            )
        if kind == "run" and not run.ended and self.live:
            run.digest, run.digest_open = RunDigest(), True
            run.digest.add("start", doc)
        self.runs[doc["uid"]] = run

    def descriptor(self, doc):
        run = self.runs.get(doc["run_start"])
        if run is not None:
            if run.digest_open:
                run.digest.add("descriptor", doc)
            run.streams[doc["uid"]] = doc.get("name", "")
            run.units[doc["uid"]] = {key: units_of(meta) for key, meta in doc.get("data_keys", {}).items()}

    def event_page(self, doc):
        if doc.get("data"):
            for event in unpack_event_page(doc):
                self.event(event)
        else:  # spooled without values: a stream that only feeds counts
            for seq_num in doc.get("seq_num", ()):
                self.event({"descriptor": doc["descriptor"], "seq_num": seq_num})

    def _run_of(self, descriptor: str) -> _Run | None:
        return next((r for r in self.runs.values() if descriptor in r.streams), None)

    def event(self, doc):
        run = self._run_of(doc["descriptor"])
        if run is None:
            return
        if run.digest_open:
            run.digest.add("event", doc)  # a re-emission too: the digest keeps the last
        stream = run.streams[doc["descriptor"]]
        if stream == STEPS_STREAM:
            if not run.ended:
                self._step(run, doc)
            return
        procedure = reading_procedure(stream) if run.kind == "run" else None
        timestamps = doc.get("timestamps", {})
        identity = (doc["seq_num"], tuple(sorted(timestamps.items()))) if procedure else doc["seq_num"]
        seen = run.seen.setdefault(stream, set())
        if identity in seen:
            return  # re-emitted after a rewind: already recorded and counted
        rejected = 0
        if procedure is not None and not run.ended:
            readings, rejected = readings_of(doc, procedure, run.units[doc["descriptor"]])
            if readings:
                rejected += self._append(run, readings)
        # only now, with the readings stored, is the event counted as seen
        seen.add(identity)
        run.rejected += rejected

    def _append(self, run: _Run, readings: list[dict]) -> int:
        """Store the readings; one the record refuses costs only itself. Returns the refused."""
        record = self._bound(self._at)
        try:
            record.append_run_readings(run.ident, readings)
            return 0
        except e.InvalidInputError as refusal:
            if len(readings) == 1:
                log.warning("cora: the record refused a reading of %s: %s", readings[0]["channel_name"], refusal)
                return 1
        return sum(self._append(run, [reading]) for reading in readings)

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
        """What the run amounted to, from its documents and the run's own state."""
        ended = stop.get("time", self._at)
        state = self.record.get_run(run.ident)
        held = state.time_held.total_seconds()
        if state.held_since is not None:  # still held as it ends: held until the stop document
            held += max(0.0, ended - state.held_since.timestamp())
        return {
            "events_per_stream": {stream: len(seen) for stream, seen in run.seen.items()},
            "duration_s": round(max(0.0, ended - run.started), 6),
            "time_held_s": round(held, 6),
            "holds": state.hold_count,
            "adjustments": state.adjustment_count,
            "rejected_readings": run.rejected,
            "exit_status": stop.get("exit_status"),
        }

    def stop(self, doc):
        run = self.runs.get(doc.get("run_start"))
        if run is not None:
            if run.digest_open:  # what comes after the stop is not part of the run's documents
                run.digest.add("stop", doc)
                run.digest_open = False
            self.stopped[doc["run_start"]] = doc  # ended with the next item that is not its event

    def _end(self, run: _Run, doc: dict) -> None:
        record = self._bound(doc.get("time", self._at))
        state = record.get_run(run.ident) if run.kind == "run" else record.get_procedure(run.ident)
        if str(state.status) in TERMINAL:
            return  # already ended: by this stop before a crash, or by a person
        if run.kind == "run" and run.digest is not None:
            ref = next((d for d in state.datasets if d.start_uid == run.uid), None)
            if ref is not None and ref.digest is None:
                record.seal_run_dataset(run.ident, start_uid=run.uid, digest=run.digest.hexdigest,
                                        canonical_form=CANONICAL_FORM, documents=run.digest.documents)
        if run.kind == "run" and state.summary is None:
            record.summarize_run(run.ident, self._summary(run, doc))
        if run.refusal is not None:  # whether the plan caught the refusal or not
            if run.kind == "procedure":
                record.abort_procedure(run.ident, reason=run.refusal)
            else:
                record.abort_run(run.ident, reason=run.refusal)
            return
        status, message = doc.get("exit_status"), doc.get("reason") or ""
        ending = self.ending if status == "success" and self.ending == "stop" else status
        if ending == "success":
            if run.kind == "procedure":
                record.complete_procedure(run.ident)
            elif str(state.status) == "Held":
                record.abort_run(run.ident, reason=COMPLETED_WHILE_HELD)
            else:
                record.complete_run(run.ident)
            return
        if ending == "fail":
            reason = message or FAILED_WITHOUT_MESSAGE
        else:
            key = "halt" if self.ending == "halt" else ending
            reason = self.reasons.get(key) or message or NO_REASON.get(key, f"exit status {status}")
        reason = reason[:REASON_LENGTH]
        if run.kind == "procedure":
            record.abort_procedure(run.ident, reason=reason)
        elif ending == "stop":
            record.stop_run(run.ident, reason=reason)
        else:
            record.abort_run(run.ident, reason=reason)


class CoraRecorder:
    """Fold documents carrying ``cora_run_id`` / ``cora_procedure_id`` into the record.

    Parameters
    ----------
    record : cora_bluesky.Record
        Where runs, procedures and readings are recorded.
    dataset_uri : str or callable
        How a user resolves a Bluesky run, with ``{uid}`` for its start uid (for example a
        Tiled address), or a function from the start uid to its link (``DataCatalog.link``).
    spool : Spool, optional
        This session's spool; what earlier sessions left in its folder is replayed first.
    retry : float
        Seconds before the first retry while the store is unavailable; later retries back off
        up to :data:`RETRY_LONGEST`.

    Attributes
    ----------
    failures : int
        Items the record refused (each logged at ERROR, kept in :attr:`refusals`, not retried).
    outages : int
        Times the store became unavailable (each logged once, with its end).
    """

    def __init__(self, record, *, dataset_uri: str | Callable[[str], str] = "bluesky://run/{uid}", spool=None,
                 retry: float = RETRY_FIRST) -> None:
        self.record = record
        self.link: Callable[[str], str] = (
            dataset_uri if callable(dataset_uri) else lambda uid: dataset_uri.format(uid=uid)
        )
        self.spool = spool
        self.retry = retry
        self.failures = 0
        self.outages = 0
        self.refusals: collections.deque[str] = collections.deque(maxlen=REFUSALS_KEPT)
        self.replaying = threading.Event()
        self._queue: "queue.Queue[tuple]" = queue.Queue()
        self._lock = threading.Lock()
        self._streams: dict[str, str] = {}  # descriptor uid -> stream name, to spool compactly
        self._live = _Fold(self, live=True)
        self._last: int | None = None  # offset of the last item folded and not acknowledged
        self._worker = threading.Thread(target=self._work, name="cora-recorder", daemon=True)
        self._worker.start()

    # --- any thread: spool and enqueue, never raise ---------------------------------------

    def __call__(self, name: str, doc: dict) -> None:
        try:
            now = time.time()
            compact = self._compact(name, doc)
            # the spool keeps what the record needs; the worker also gets the whole document
            # for the digest (copied where a later subscriber could change it in place)
            self._take(["document", name, compact, now], ["document", name, _snapshot(name, doc), now])
        except Exception:  # the RunEngine is never failed by its recorder
            log.exception("cora recorder could not take a %s document", name)

    def state_hook(self, new: str, old: str) -> None:
        self._take(["state", new, old, time.time()])

    def msg_hook(self, msg) -> None:
        if msg.command in ("_start_suspender", "_resume_from_suspender"):
            self._take(["suspension", msg.command, None, time.time()])

    def gate_refused(self, cora_id: str, reason: str) -> None:
        """The gate refused a device of this open run: it ends Aborted with ``reason``."""
        self._take(["refusal", cora_id, reason, time.time()])

    def give_reason(self, ending: str, reason: str) -> None:
        """The operator's words for the stop or abort under way (see ``Cora.stop``/``Cora.abort``)."""
        self._take(["reason", ending, reason, time.time()])

    def _take(self, item: list, whole: list | None = None) -> None:
        # spooling and queueing under one lock: the queue is in spool order, so an
        # acknowledged offset never passes an item that is not recorded yet
        with self._lock:
            offset = self.spool.append(item) if self.spool is not None else None
            self._queue.put((whole or item, offset))

    def _compact(self, name: str, doc: dict) -> dict:
        """What the record needs of a document: events of streams that are not readings or
        steps only feed counts, so their values are neither spooled nor kept."""
        if name == "descriptor":
            self._streams[doc["uid"]] = doc.get("name", "")
        elif name in ("event", "event_page"):
            stream = self._streams.get(doc.get("descriptor"), "")
            if stream != STEPS_STREAM and reading_procedure(stream) is None:
                return {"descriptor": doc["descriptor"], "seq_num": doc["seq_num"], "time": doc.get("time")}
        return doc

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything handed over so far is recorded; ``False`` if it is still behind."""
        done = threading.Event()
        self._queue.put((["flush", done, None, time.time()], None))
        caught_up = done.wait(timeout)
        if not caught_up:
            log.warning("cora recorder is %d item(s) behind the RunEngine", self._queue.qsize())
        return caught_up

    def close(self, timeout: float | None = None) -> bool:
        """Record what is queued, then stop the worker and close the spool; ``False`` on timeout."""
        self._queue.put((["close", None, None, time.time()], None))
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def rejected_readings(self, cora_id: str) -> int:
        """How many values of an open run were not stored as readings (non-finite, non-scalar)."""
        return sum(run.rejected for run in self._live.runs.values() if run.ident == cora_id)

    # --- the recorder thread ---------------------------------------------------------------

    def _work(self) -> None:
        if self.spool is not None:
            self.replaying.set()
            for leftover in self.spool.leftovers():
                self._replay(leftover)
            self.replaying.clear()
        while True:
            try:
                # a stop document waits for its run's late events, a moment at most
                batch = [self._queue.get(timeout=BATCH_WINDOW if self._live.stopped else None)]
            except queue.Empty:
                self._fold_live(["settle", None, None, time.time()], None)
                continue
            if batch[0][0][0] not in ("flush", "close"):
                # gather a batch instead of waking per document: each wake-up costs the
                # RunEngine thread a hand-over of the GIL
                time.sleep(BATCH_WINDOW)
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item, offset in batch:
                if item[0] not in ("flush", "close"):
                    self._fold_live(item, offset)
                    continue
                # a stop document waits for its run's late events: nothing more is coming now
                self._fold_live(["settle", None, None, time.time()], None)
                if item[0] == "flush":
                    item[1].set()
                    continue
                if self.spool is not None:
                    self.spool.close()
                return

    def _fold_live(self, item: list, offset: int | None) -> None:
        self._record(self._live, item)
        if offset is not None:
            self._last = offset
        if self._last is not None and not self._live.runs:
            self._ack(self.spool, self._last, self._live)
            self._last = None

    def _replay(self, leftover) -> None:
        """Fold what a session that is gone spooled; its runs still open stay open."""
        fold, replayed = _Fold(self), 0
        fold.restore(leftover.context())
        for offset, item in leftover.items():
            self._record(fold, item)
            replayed += 1
            if not fold.runs:
                self._ack(leftover, offset, fold)
        self._record(fold, ["settle", None, None, time.time()])
        if fold.runs:
            log.warning("cora: %d run(s) of a session that is gone never ended; `cora runs stale` lists them",
                        len(fold.runs))
        log.info("cora: replayed %d item(s) from %s", replayed, leftover.path.name)
        leftover.discard()

    def refused(self, what: str, refusal: Exception) -> None:
        """Count and report an item the record refused (it is not retried)."""
        self.failures += 1
        self.refusals.append(f"{what}: {refusal}")
        log.error("cora: the record refused a %s: %s", what, refusal, exc_info=not isinstance(refusal, e.CoraError))

    @staticmethod
    def _ack(spool, offset: int, fold: _Fold) -> None:
        try:
            spool.ack(offset, fold.context())
        except OSError as failure:  # costs a longer replay, never a record
            log.warning("cora spool acknowledgement failed: %s", failure)

    def _record(self, fold: _Fold, item) -> None:
        """Retry until the store takes the item; a refusal is counted, reported, not retried."""
        delay, outage = self.retry, None
        while True:
            try:
                fold.handle(*item)
            except e.StoreError as unavailable:  # keep order: retry this item until it lands
                if outage is None:
                    outage = time.monotonic()
                    self.outages += 1
                    log.warning("cora: the record is unavailable (%s); retrying until it is back", unavailable)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_LONGEST)
                continue
            except Exception as refusal:  # never let one bad document stop the next
                self.refused(item[1] if item[0] == "document" else item[0], refusal)
            if outage is not None:
                log.warning("cora: the record is back after %.1f s", time.monotonic() - outage)
            return
