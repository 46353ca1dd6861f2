"""Declaring that a plan is a Procedure (an alignment, a calibration) rather than a Run."""

from __future__ import annotations

import weakref
from typing import Any, Iterable

from bluesky.preprocessors import plan_mutator
from bluesky.utils import Msg, make_decorator

#: The start-document key a procedure declaration travels under.
PROCEDURE_KEY = "cora_procedure"


class ProcedureDeclaration(dict):
    """A declaration only :func:`procedure_wrapper` makes (a plain mapping in the document)."""


#: The declarations procedure_wrapper made and that are still alive, by identity: the gate
#: starts a Procedure only for one of these, never for a mapping from metadata or a queue item,
#: nor for a ProcedureDeclaration built anywhere else.
_issued: "weakref.WeakValueDictionary[int, ProcedureDeclaration]" = weakref.WeakValueDictionary()


def issued(declaration: Any) -> bool:
    """Whether ``declaration`` is one that :func:`procedure_wrapper` made."""
    return declaration is not None and _issued.get(id(declaration)) is declaration


def procedure_wrapper(
    plan,
    *,
    name: str,
    kind: str,
    target_asset_ids: Iterable[str] = (),
    target_devices: Iterable[str] = (),
):
    """Declare every run the plan opens a Procedure: it leaves a calibration, not a dataset.

    Parameters
    ----------
    plan : iterable or iterator
        A generator, list, or similar containing `Msg` objects.
    name : str
        The procedure's name, for example ``"find rotation center"``.
    kind : str
        ``"alignment"``, ``"calibration"``, ``"bakeout"``, ...
    target_asset_ids : iterable of str
        The CORA assets it acts on.
    target_devices : iterable of str
        ophyd device names whose assets it acts on (resolved when the procedure starts).

    Yields
    ------
    msg : Msg
        messages from plan, with ``open_run`` carrying the declaration
    """
    declaration = ProcedureDeclaration(
        name=name,
        kind=kind,
        target_asset_ids=list(target_asset_ids),
        target_devices=list(target_devices),
    )
    _issued[id(declaration)] = declaration

    def declare(msg):
        if msg.command == "open_run" and PROCEDURE_KEY not in msg.kwargs:
            return _single(msg._replace(kwargs={**msg.kwargs, PROCEDURE_KEY: declaration})), None
        return None, None

    return (yield from plan_mutator(plan, declare))


def _single(msg: Msg):
    return (yield msg)


procedure_decorator = make_decorator(procedure_wrapper)
