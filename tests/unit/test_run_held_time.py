"""Time held is a fact of the Run's own fold: holds counted, intervals summed, the open one's start kept."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from support import NOW, start_command, start_context

from cora_bluesky.domain import run
from cora_bluesky.domain.values import At

ENDINGS = {
    "abort": run.AbortRun("r1", "beam lost"),
    "stop": run.StopRun("r1", "operator stop"),
    "truncate": run.TruncateRun("r1", "process died"),
}


def _decided(gaps: list[int], ending: str | None) -> list:
    """Events of a run held and resumed in turn, ``gaps[i]`` microseconds after the previous event."""
    state = run.evolve(None, *run.decide(start_command(), None, start_context()))
    events, at = [], NOW
    for n, gap in enumerate(gaps):
        at += timedelta(microseconds=gap)
        command = run.HoldRun("r1") if n % 2 == 0 else run.ResumeRun("r1")
        (event,) = run.decide(command, state, At(at))
        events.append(event)
        state = run.evolve(state, event)
    if ending is not None:
        (event,) = run.decide(ENDINGS[ending], state, At(at + timedelta(seconds=1)))
        events.append(event)
    return events


def _fold(events: list) -> run.RunState:
    state = run.evolve(None, *run.decide(start_command(), None, start_context()))
    for event in events:
        state = run.evolve(state, event)
    return state


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=10**12), max_size=30),
    ending=st.none() | st.sampled_from(sorted(ENDINGS)),
)
def test_replaying_holds_and_resumes_gives_the_sum_of_the_held_intervals(gaps, ending):
    events = _decided(gaps, ending)
    holds = [ev.occurred_at for ev in events if isinstance(ev, run.RunHeld)]
    ends = [ev.occurred_at for ev in events if not isinstance(ev, run.RunHeld)]
    intervals = [end - start for start, end in zip(holds, ends)]  # each hold ends at the next event
    state = _fold(events)
    assert state.hold_count == len(holds)
    assert state.time_held == sum(intervals, timedelta(0))
    still_held = len(holds) > len(ends)
    assert state.held_since == (holds[-1] if still_held else None)
    assert (state.status is run.RunStatus.HELD) == still_held
    assert _fold(events) == state  # replay is deterministic


def test_a_run_ended_while_held_was_held_until_its_end():
    state = _fold(_decided([0, 5_000_000], None))
    assert state.held_since is None and state.time_held == timedelta(seconds=5)
    held = _fold(_decided([0, 5_000_000, 1_000_000], "abort"))
    assert held.status is run.RunStatus.ABORTED and held.held_since is None
    assert held.time_held == timedelta(seconds=6) and held.hold_count == 2
