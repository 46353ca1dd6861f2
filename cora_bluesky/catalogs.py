"""The beamline's catalogs of Bluesky runs, behind the record's ``DataCatalog`` port.

A Tiled node of Bluesky runs and a databroker v2 catalog are the same thing to a client (a
databroker v2 catalog is a Tiled client over databroker's MongoDB adapter), so one adapter
serves both. Nothing here imports tiled until a link is resolved by URI.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from cora_bluesky.domain import errors as e

#: The link recorded when no catalog is given: a start uid, resolvable by nothing.
DEFAULT_TEMPLATE = "bluesky://run/{uid}"


def _documents(entry: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        for name, doc in entry.documents():
            yield str(name), doc
    except e.CoraError:
        raise
    except Exception as failure:  # a dropped server, a catalog without the exporter
        raise e.RunDataUnreachableError(f"the catalog could not return the run's documents: {failure}") from failure


class TiledCatalog:
    """A Tiled client node of Bluesky runs, or a databroker v2 catalog.

    Parameters
    ----------
    node : tiled.client.container.Container
        For example ``tiled.client.from_uri("http://host:8000/raw")`` or ``databroker.v2.temp()``.
    """

    def __init__(self, node: Any) -> None:
        self.node = node

    def link(self, start_uid: str) -> str:
        return f"{str(self.node.uri).rstrip('/')}/{start_uid}"

    def open(self, start_uid: str, uri: str) -> Any:
        try:
            return self.node[start_uid]
        except KeyError:
            raise e.RunDataUnreachableError(
                f"the catalog holds no Bluesky run {start_uid}", start_uid=start_uid
            ) from None
        except Exception as failure:
            raise e.RunDataUnreachableError(f"the catalog could not be read: {failure}", start_uid=start_uid) from failure

    def documents(self, entry: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
        return _documents(entry)

    @property
    def source(self) -> str:
        return str(self.node.uri).rstrip("/")

    def runs(self, since: float | None = None, until: float | None = None) -> Iterator[tuple[str, Any]]:
        """Every run that started in ``[since, until)``, in the catalog's order.

        The catalog is asked to narrow by start time; one that cannot is read whole and
        narrowed here, by each run's start document.
        """
        node, narrowed = self.node, True
        try:
            from tiled.queries import Comparison

            if since is not None:
                node = node.search(Comparison("ge", "start.time", since))
            if until is not None:
                node = node.search(Comparison("lt", "start.time", until))
        except Exception:  # a catalog without comparison queries
            node, narrowed = self.node, False
        try:
            for uid, entry in node.items():
                if narrowed or _started_within(entry, since, until):
                    yield str(uid), entry
        except e.CoraError:
            raise
        except Exception as failure:
            raise e.RunDataUnreachableError(f"the catalog's runs could not be listed: {failure}") from failure


def _started_within(entry: Any, since: float | None, until: float | None) -> bool:
    started = (entry.metadata.get("start") or {}).get("time")
    if not isinstance(started, (int, float)):
        return since is None and until is None
    return (since is None or started >= since) and (until is None or started < until)


class UriCatalog:
    """Links made from a template; a link that is a Tiled address (``http(s)://``) opens by itself.

    Parameters
    ----------
    template : str
        The link of a run, with ``{uid}`` for its start uid.
    **client_options
        Passed to ``tiled.client.from_uri`` (for example ``api_key``).
    """

    def __init__(self, template: str = DEFAULT_TEMPLATE, **client_options: Any) -> None:
        self.template = template
        self.options = client_options

    def link(self, start_uid: str) -> str:
        return self.template.format(uid=start_uid)

    def open(self, start_uid: str, uri: str) -> Any:
        if not uri.startswith(("http://", "https://")):
            raise e.RunDataUnreachableError(
                f"{uri} names no catalog this record can open; give it the catalog (catalog=...)", uri=uri
            )
        from tiled.client import from_uri

        try:
            return from_uri(uri, **self.options)
        except Exception as failure:
            raise e.RunDataUnreachableError(f"{uri} could not be opened: {failure}", uri=uri) from failure

    def documents(self, entry: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
        return _documents(entry)


def as_catalog(catalog: Any) -> Any:
    """The ``DataCatalog`` for what ``install``/``connect`` were given: ``None``, a link template
    (with ``{uid}``), a Tiled address, a Tiled or databroker v2 node, or a ``DataCatalog``."""
    if catalog is None:
        return None
    if isinstance(catalog, str):
        return UriCatalog(catalog if "{uid}" in catalog else catalog.rstrip("/") + "/{uid}")
    if all(hasattr(catalog, name) for name in ("link", "open", "documents")):
        return catalog
    if hasattr(catalog, "uri") and hasattr(catalog, "__getitem__"):
        return TiledCatalog(catalog)
    raise TypeError(
        f"{type(catalog).__name__} is not a catalog: give a Tiled node, a databroker v2 catalog or a URI"
    )
