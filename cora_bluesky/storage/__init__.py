"""Stores of the record, chosen by URI."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from cora_bluesky.application.ports import EventStore
from cora_bluesky.domain import errors as e

#: Environment variable naming the record's URI when none is given.
URI_VARIABLE = "CORA_URI"


def default_uri() -> str:
    """``$CORA_URI``, else an SQLite file in the user's data directory."""
    from platformdirs import user_data_dir

    configured = os.environ.get(URI_VARIABLE)
    if configured:
        return configured
    return "sqlite:///" + str(Path(user_data_dir("cora-bluesky")) / "record.db")


def sqlite_path(uri: str) -> str:
    """The file a ``sqlite:///`` URI names (``sqlite:///rel.db``, ``sqlite:////abs.db``)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or len(uri) == len(prefix):
        raise e.StoreError(f"not an SQLite URI: {uri!r}; use sqlite:///path/to/record.db", uri=uri)
    return uri[len(prefix) :]


def open_store(uri: str) -> EventStore:
    """Open the store a URI names: ``sqlite``, ``mongodb`` (``mongodb+srv``) or ``mongomock``."""
    scheme = urlsplit(uri).scheme if "://" in uri else ""
    if scheme == "sqlite":
        from cora_bluesky.storage.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(uri))
    if scheme in {"mongodb", "mongodb+srv", "mongomock"}:
        try:
            from cora_bluesky.storage.mongo import MongoStore
        except ImportError as missing:
            raise e.StoreError(
                f"{scheme}:// needs the mongo extra: pip install 'cora-bluesky[mongo]' ({missing})", uri=uri
            ) from None
        return MongoStore(uri)
    raise e.StoreError(
        f"no store for URI {uri!r}; supported: sqlite:///path.db, mongodb://host/db, mongomock://name/db", uri=uri
    )
