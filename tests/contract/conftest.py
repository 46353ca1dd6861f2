"""Fixtures of the store contract suite: every test here runs against every store.

A new store joins the suite by adding its URI factory to ``support.STORES``; the tests stay
unchanged.
"""

from __future__ import annotations

import pytest
from support import STORES, drop_store, staff

import cora_bluesky
from cora_bluesky.storage import open_store

@pytest.fixture(params=sorted(STORES))
def store_uri(request, tmp_path):
    uri = STORES[request.param](tmp_path)
    yield uri
    drop_store(uri)


@pytest.fixture
def store(store_uri):
    opened = open_store(store_uri)
    yield opened
    opened.close()


@pytest.fixture
def permits():
    return cora_bluesky.StaticPermits({"2-BM-A": True, "2-BM-B": True})


@pytest.fixture
def record(store_uri, permits, clock):
    opened = staff(cora_bluesky.connect(store_uri, permits=permits, clock=clock, principal="tester"))
    yield opened
    opened.close()
