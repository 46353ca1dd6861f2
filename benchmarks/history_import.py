"""History import: runs per second that ``import_catalog`` brings in from a Tiled catalog, vs
reading the same runs' documents from the catalog alone.

A RunEngine with ``TiledWriter`` fills a Tiled server on 127.0.0.1 with ``count`` runs that carry
a baseline; the baseline pass lists the catalog and reads every run's documents, and the cora
pass imports them all into a fresh SQLite record (which reads the same documents and more).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import row, run_alone, staffed, stopwatch


def fill(address: str, runs: int) -> None:
    import bluesky.plans as bp
    from bluesky import RunEngine
    from bluesky.preprocessors import SupplementalData
    from bluesky_tiled_plugins.writing.tiled_writer import TiledWriter
    from ophyd import Signal
    from ophyd.sim import det
    from tiled.client import from_uri

    from cora_bluesky.sim.catalog_server import API_KEY

    RE = RunEngine({})
    RE.preprocessors.append(SupplementalData(baseline=[Signal(name=f"b{n}", value=float(n)) for n in range(5)]))
    RE.subscribe(TiledWriter(from_uri(address, api_key=API_KEY)))
    for _ in range(runs):
        RE(bp.count([det], num=3))


def rows(quick: bool) -> list[dict]:
    from tiled.client import from_uri

    import cora_bluesky
    from cora_bluesky.catalogs import as_catalog
    from cora_bluesky.importing import import_catalog
    from cora_bluesky.sim.catalog_server import API_KEY, CatalogServer

    runs = 10 if quick else 200
    with tempfile.TemporaryDirectory() as folder, CatalogServer(Path(folder)) as server:
        fill(server.address, runs)
        catalog = as_catalog(from_uri(server.address, api_key=API_KEY))

        def read_alone() -> tuple[float, int]:
            with stopwatch() as reading:
                documents = sum(len(list(catalog.documents(entry))) for _, entry in catalog.runs())
            return reading[0], documents

        before, documents = read_alone()
        with cora_bluesky.connect(f"sqlite:///{Path(folder) / 'record.db'}") as record:
            staffed(record)
            with stopwatch() as importing:
                report = import_catalog(record, from_uri(server.address, api_key=API_KEY))
        assert (len(report.imported), report.failed) == (runs, []), report.lines()
        reading = min(before, read_alone()[0])  # read before and after: the server warms up
    rate = lambda seconds: f"{runs / seconds:,.1f} runs/s"  # noqa: E731
    return [
        row(f"history import from Tiled into SQLite, {runs} runs ({documents:,} documents) vs reading them alone",
            rate(reading), rate(importing[0]), importing[0] / reading, "(context)"),
    ]


if __name__ == "__main__":
    run_alone(rows, __doc__)
