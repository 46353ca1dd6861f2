"""Every store implements every narrow port, and each user needs no more than its port declares."""

from __future__ import annotations

import ast
import inspect
import typing

import pytest

from cora_bluesky.application import copying, ports, rebuilding

PORTS = (
    ports.EventStreams,
    ports.Projections,
    ports.Logbooks,
    ports.FormTypes,
    ports.EventStore,
    ports.Copying,
    ports.ProjectionRebuild,
    ports.IdempotencyKeys,
)


def members(port: type) -> set[str]:
    """The public names a protocol declares, its bases' included."""
    return {
        name for klass in port.__mro__ if klass not in (object, typing.Protocol, typing.Generic)
        for name in vars(klass) if not name.startswith("_")
    }


@pytest.mark.parametrize("port", PORTS, ids=lambda port: port.__name__)
def test_the_store_implements_the_port_with_its_signatures(store, port):
    declared = members(port)
    assert declared  # a port with nothing to check would pass vacuously
    for name in declared:
        wanted = inspect.getattr_static(port, name)
        found = inspect.getattr_static(type(store), name, None)
        assert found is not None, f"{type(store).__name__} lacks {port.__name__}.{name}"
        if isinstance(wanted, property):
            assert isinstance(found, property), name
            continue
        expected = [(p.name, p.kind) for p in inspect.signature(wanted).parameters.values()]
        actual = [(p.name, p.kind) for p in inspect.signature(found).parameters.values()]
        assert actual == expected, f"{type(store).__name__}.{name}"


def _called_on(module, names: set[str]) -> set[str]:
    """Methods the module calls on the variables ``names`` (the stores it was handed)."""
    tree = ast.parse(inspect.getsource(module))
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name) and node.func.value.id in names
    }


def test_copying_uses_exactly_the_methods_its_port_declares():
    assert _called_on(copying, {"store", "source", "target"}) == members(ports.Copying)


def test_rebuilding_uses_only_its_port():
    used = _called_on(rebuilding, {"store"})
    assert used and used <= members(ports.ProjectionRebuild)


def test_the_record_keeps_no_idempotency_keys():
    assert not members(ports.EventStore) & members(ports.IdempotencyKeys)
