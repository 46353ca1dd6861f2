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
    """``$CORA_URI``, else an SQLite file in the user's data directory (created if missing)."""
    from platformdirs import user_data_dir

    configured = os.environ.get(URI_VARIABLE)
    if configured:
        return configured
    folder = Path(user_data_dir("cora-bluesky"))
    folder.mkdir(parents=True, exist_ok=True)  # the default home of the record: made on first use
    return "sqlite:///" + str(folder / "record.db")


#: Schemes of stores that live in this process's memory only.
IN_MEMORY_SCHEMES = frozenset({"mongomock"})
SCHEMES = ("sqlite:///path.db", "mongodb://host/db", "mongodb+srv://host/db", "mongomock://name/db (in memory)")


def scheme(uri: str) -> str:
    """The URI's scheme, or a named error for one no store answers to."""
    found = urlsplit(uri).scheme if isinstance(uri, str) and "://" in uri else ""
    if found not in {"sqlite", "mongodb", "mongodb+srv", "mongomock"}:
        raise e.UnknownStoreSchemeError(
            f"no store for URI {uri!r}" + (f" (scheme {found!r})" if found else " (it has no scheme://)")
            + f"; supported: {', '.join(SCHEMES)}",
            uri=str(uri),
            scheme=found,
        )
    return found


def require_durable(uri: str) -> None:
    """Refuse a store that would vanish with this process (as a copy's target, say)."""
    if scheme(uri) in IN_MEMORY_SCHEMES:
        raise e.CopyTargetNotDurableError(
            f"{uri} lives in this process's memory only: whatever is copied there is gone when the"
            " command ends; copy into sqlite:///path.db or mongodb://host/db",
            uri=uri,
        )


def sqlite_path(uri: str) -> str:
    """The file a ``sqlite:///`` URI names (``sqlite:///rel.db``, ``sqlite:////abs.db``)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or len(uri) == len(prefix):
        raise e.StoreError(f"not an SQLite URI: {uri!r}; use sqlite:///path/to/record.db", uri=uri)
    return uri[len(prefix) :]


def open_store(uri: str) -> EventStore:
    """Open the store a URI names: ``sqlite``, ``mongodb`` (``mongodb+srv``) or ``mongomock``.

    Raises
    ------
    UnknownStoreSchemeError
        For a scheme no store answers to.
    StoreLocationNotFoundError
        For an SQLite file in a directory that does not exist: nothing is created.
    """
    kind = scheme(uri)
    if kind == "sqlite":
        from cora_bluesky.storage.sqlite import SQLiteStore

        path = sqlite_path(uri)
        folder = Path(path).parent
        if not folder.is_dir():
            raise e.StoreLocationNotFoundError(
                f"{uri}: the directory {folder} does not exist; create it first (nothing was created)",
                uri=uri,
                directory=str(folder),
            )
        return SQLiteStore(path)
    try:
        from cora_bluesky.storage.mongo import MongoStore
    except ImportError as missing:
        raise e.StoreError(
            f"{kind}:// needs the mongo extra: pip install 'cora-bluesky[mongo]' ({missing})", uri=uri
        ) from None
    return MongoStore(uri)
