"""The spool's frames and the recorder's identities, as properties: what a damaged spool still
yields, and which values count as the same reading."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cora_bluesky.domain.documents import reading_id, units_of
from cora_bluesky.callbacks.spool import frame, scan

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
items = st.lists(st.lists(json_values, min_size=1, max_size=4), min_size=1, max_size=12)


def verdicts(data: bytes) -> list[tuple]:
    return list(scan(data))


@given(items, st.data())
def test_a_cut_anywhere_keeps_every_whole_record_before_it(spooled, data):
    frames = [frame(item) for item in spooled]
    whole = b"".join(frames)
    cut = data.draw(st.integers(0, len(whole)))
    found = verdicts(whole[:cut])
    kept = [v[3] for v in found if v[0] == "item"]
    assert kept == spooled[: len(kept)]
    ends = [sum(map(len, frames[: n + 1])) for n in range(len(frames))]
    assert len(kept) == sum(1 for end in ends if end <= cut)
    assert [v[0] for v in found[len(kept):]] in ([], ["torn"])


@given(items, st.data())
def test_damage_inside_one_record_costs_that_record_only(spooled, data):
    frames = [frame(item) for item in spooled]
    victim = data.draw(st.integers(0, len(frames) - 1))
    at = data.draw(st.integers(0, len(frames[victim]) - 1))
    damaged = bytearray(frames[victim])
    damaged[at] ^= data.draw(st.integers(1, 255))
    found = verdicts(b"".join(frames[:victim]) + bytes(damaged) + b"".join(frames[victim + 1:]))
    kept = [v[3] for v in found if v[0] == "item"]
    survivors = spooled[:victim] + spooled[victim + 1:]
    # the records after the damage are all read, even when the damage hit a length
    assert kept == survivors
    assert all(v[0] in ("item", "corrupt", "torn") for v in found)


@given(st.uuids().map(str), st.integers(1, 10**9), st.text(min_size=1, max_size=500),
       st.floats(0, 4e9))
def test_reading_ids_stay_short_and_name_one_sample(descriptor, seq_num, key, timestamp):
    made = reading_id(descriptor, seq_num, key, timestamp)
    assert len(made) <= 100 and made == reading_id(descriptor, seq_num, key, timestamp)
    assert made != reading_id(descriptor, seq_num + 1, key, timestamp)
    assert made != reading_id(descriptor, seq_num, key + "_", timestamp)
    assert made != reading_id(descriptor, seq_num, key, timestamp + 1.0)


@given(st.one_of(st.none(), st.text(max_size=10)))
def test_blank_units_are_no_units(units):
    found = units_of({"units": units})
    assert found is None if units is None or not units.strip() else found == units.strip()
