"""A beamline model (hutches, equipment, methods, plans) loaded into the record by name.

Loading is idempotent: whatever the record already holds under a name is kept as it is, so a
profile can load its model at every start.
"""

from __future__ import annotations

from typing import Any, Mapping

from cora_bluesky.application.aggregates import ASSET, ENCLOSURE, METHOD, PLAN
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e


def load_beamline(record: Record, model: Mapping[str, Any], *, substitutions: Mapping[str, str] = {}) -> dict:
    """Register what ``model`` describes and the record lacks; returns ``{name: id}`` per section.

    Parameters
    ----------
    model : mapping
        ``enclosures`` (name, secured_pv, shutter_pvs), ``assets`` (name, family, parent or
        enclosure by name, device_names), ``methods`` (name, parameters_schema, needed_families)
        and ``plans`` (name, method and assets by name, default_parameters), as lists of tables;
        ``outside_hutches``, names or patterns of devices that sit in no hutch, is returned as
        it is for ``install(..., outside_hutches=...)``.
    substitutions : mapping
        Values for ``{placeholders}`` in PV names, such as the PSS prefix.
    """
    ids: dict[str, Any] = {"enclosures": {}, "assets": {}, "methods": {}, "plans": {}}
    outside = model.get("outside_hutches", [])
    if isinstance(outside, str) or not all(isinstance(p, str) and p.strip() for p in outside):
        raise e.InvalidInputError("outside_hutches is a list of device names or patterns")
    ids["outside_hutches"] = list(outside)

    def known(aggregate, name: str) -> str | None:
        found = record.find_named(aggregate.kind, name)
        return found[0].id if found else None

    def ref(section: str, name: str) -> str:
        try:
            return ids[section][name]
        except KeyError:
            raise e.InvalidInputError(f"the beamline model names {name!r} before describing it") from None

    for item in model.get("enclosures", ()):
        pvs = {key: item[key].format(**substitutions) for key in ("secured_pv",)}
        shutters = [pv.format(**substitutions) for pv in item.get("shutter_pvs", ())]
        ids["enclosures"][item["name"]] = known(ENCLOSURE, item["name"]) or record.register_enclosure(
            name=item["name"], shutter_pvs=shutters, **pvs
        ).id
    for item in model.get("assets", ()):
        ids["assets"][item["name"]] = known(ASSET, item["name"]) or record.register_asset(
            name=item["name"],
            family=item["family"],
            parent_id=ref("assets", item["parent"]) if "parent" in item else None,
            enclosure_id=ref("enclosures", item["enclosure"]) if "enclosure" in item else None,
            device_names=item.get("device_names", ()),
        ).id
    for item in model.get("methods", ()):
        ids["methods"][item["name"]] = known(METHOD, item["name"]) or record.register_method(
            name=item["name"],
            parameters_schema=item.get("parameters_schema"),
            needed_families=item.get("needed_families", ()),
        ).id
    for item in model.get("plans", ()):
        ids["plans"][item["name"]] = known(PLAN, item["name"]) or record.register_plan(
            name=item["name"],
            method_id=ref("methods", item["method"]),
            default_parameters=item.get("default_parameters", {}),
            asset_ids=[ref("assets", name) for name in item.get("assets", ())],
        ).id
    return ids
