"""Permits held in memory: for tests, simulations and benchmarks, never for a real hutch."""

from __future__ import annotations

from typing import Mapping, Sequence

from cora_bluesky.domain.equipment import EnclosureState
from cora_bluesky.domain.gates import Permit


class StaticPermits:
    """A :class:`~cora_bluesky.application.ports.PermitSource` answering from a mapping.

    Parameters
    ----------
    permitted : mapping of str to bool
        Hutch name (or enclosure id) to whether it is permitted; any hutch not listed is not.
    """

    def __init__(self, permitted: Mapping[str, bool] | None = None) -> None:
        self.permitted = dict(permitted or {})

    def set(self, hutch: str, permitted: bool) -> None:
        self.permitted[hutch] = permitted

    def permits(self, enclosures: Sequence[EnclosureState]) -> dict[str, Permit]:
        found = {}
        for enclosure in enclosures:
            value = self.permitted.get(enclosure.name, self.permitted.get(enclosure.id))
            detail = "not listed" if value is None else ("permitted" if value else "not permitted")
            found[enclosure.id] = Permit(enclosure.id, bool(value), detail)
        return found
