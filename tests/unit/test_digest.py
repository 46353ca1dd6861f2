"""The canonical digest of a run's documents: what it covers and what it leaves out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cora_bluesky.domain.digest import RunDigest, canonical, digest_documents

values = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6), st.text(max_size=5))


def _run(readings: list[dict]) -> list[tuple[str, dict]]:
    keys = sorted({key for row in readings for key in row}) or ["x"]
    docs = [
        ("start", {"uid": "s", "time": 1.5, "scan_id": 3, "plan_name": "scan", "tiled_specs": []}),
        ("descriptor", {"uid": "d", "name": "primary", "run_start": "s", "time": 1.6,
                        "data_keys": {k: {"dtype": "number", "shape": [], "source": f"SIM:{k}"} for k in keys}}),
    ]
    for seq_num, row in enumerate(readings, 1):
        docs.append(("event", {"uid": f"e{seq_num}", "descriptor": "d", "seq_num": seq_num, "time": 2.0 + seq_num,
                               "data": row, "timestamps": {k: 2.0 + seq_num for k in row}, "filled": {}}))
    docs.append(("stop", {"uid": "t", "run_start": "s", "time": 9.0, "exit_status": "success",
                          "num_events": {"primary": len(readings)}}))
    return docs


rows = st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), values, min_size=1), max_size=8)


@given(rows, st.randoms())
def test_the_digest_does_not_depend_on_the_order_a_catalog_returns_documents(readings, rng):
    docs = _run(readings)
    shuffled = docs[:2] + rng.sample(docs[2:-1], len(docs) - 3) + docs[-1:]
    assert digest_documents(docs).hexdigest == digest_documents(shuffled).hexdigest


@given(rows.filter(bool), st.data())
def test_any_changed_value_changes_the_digest(readings, data):
    docs = _run(readings)
    row = data.draw(st.integers(0, len(readings) - 1))
    key = data.draw(st.sampled_from(sorted(readings[row])))
    changed = [dict(r) for r in readings]
    old = changed[row][key]
    changed[row][key] = old + "!" if isinstance(old, str) else old + 1 if abs(old) < 1e15 else -old - 1
    assert digest_documents(docs).hexdigest != digest_documents(_run(changed)).hexdigest


def test_what_a_tiled_round_trip_changes_is_not_covered():
    docs = _run([{"a": 1.0}, {"a": 2.5}])
    trip = []
    for name, doc in docs:
        doc = {**doc}
        if name == "event":  # a made-up uid, no filled, an integral float read back as an int
            doc.update(uid=f"event-d-{doc['seq_num']}", data={"a": canonical(doc["data"]["a"])})
            doc.pop("filled")
        if name == "descriptor":
            doc["data_keys"] = {k: {**v, "dtype_numpy": "<f8", "object_name": "det"} for k, v in doc["data_keys"].items()}
            doc["object_keys"] = {"det": ["a"]}
        if name == "start":
            doc.pop("tiled_specs")
        if name == "stop":
            doc["_run_normalizer_notes"] = []
        trip.append((name, doc))
    assert digest_documents(docs).hexdigest == digest_documents(trip).hexdigest


def test_a_rewound_event_counts_once_the_last_emission_winning():
    docs = _run([{"a": 1.0}, {"a": 2.0}])
    again = docs[:-1] + [("event", {**docs[3][1], "uid": "again", "data": {"a": 5.0}})] + docs[-1:]
    replaced = _run([{"a": 1.0}, {"a": 5.0}])
    assert digest_documents(again).hexdigest == digest_documents(replaced).hexdigest
    assert digest_documents(again).documents == digest_documents(docs).documents + 1


def test_an_event_page_is_its_events():
    docs = _run([{"a": 1.0}, {"a": 2.0}])
    events = [doc for name, doc in docs if name == "event"]
    page = {"descriptor": "d", "seq_num": [1, 2], "time": [e["time"] for e in events], "uid": ["p1", "p2"],
            "data": {"a": [1.0, 2.0]}, "timestamps": {"a": [e["timestamps"]["a"] for e in events]}}
    paged = docs[:2] + [("event_page", page)] + docs[-1:]
    assert digest_documents(paged).hexdigest == digest_documents(docs).hexdigest


def test_external_values_and_files_are_left_out():
    docs = _run([{"a": 1.0}])
    docs[1][1]["data_keys"]["img"] = {"dtype": "array", "shape": [2, 2], "source": "SIM:img", "external": "FILESTORE:"}
    with_datum = [*docs[:2], ("resource", {"uid": "r"}), ("datum", {"datum_id": "r/0"})]
    event = {**docs[2][1], "data": {**docs[2][1]["data"], "img": "r/0"}}
    moved = {**event, "data": {**event["data"], "img": "r/1"}}
    one = digest_documents([*with_datum, ("event", event), docs[-1]])
    other = digest_documents([*docs[:2], ("event", moved), docs[-1]])
    assert one.hexdigest == other.hexdigest


def test_no_digest_before_the_start_and_numpy_like_values_are_plain():
    assert RunDigest().hexdigest is None

    class Array:
        def tolist(self):
            return [1.0, 2.0]

    assert canonical({"v": Array(), "t": (1, 2.0), "n": float("nan")}) == {"v": [1, 2], "t": [1, 2], "n": "nan"}
