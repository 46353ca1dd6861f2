"""The baseline safety form types seeded into every record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FormType:
    """One facility's kind of experiment safety form."""

    code: str
    facility: str
    name: str


BASELINE_FORM_TYPES: tuple[FormType, ...] = (
    FormType("aps-esaf", "APS", "Experiment Safety Assessment Form (ESAF)"),
    FormType("nsls2-saf", "NSLS-II", "Safety Approval Form (SAF)"),
    FormType("esrf-a-form", "ESRF", "A Form"),
    FormType("maxiv-duo", "MAX IV", "DUO submission"),
    FormType("maxiv-esr", "MAX IV", "Experimental safety review"),
    FormType("diamond-ra", "Diamond", "Risk assessment"),
    FormType("diamond-lhd", "Diamond", "Local hazard declaration"),
    FormType("desy-door", "DESY", "DOOR form"),
    FormType("slac-btr", "SLAC", "Beam time request"),
    FormType("spring8-form9", "SPring-8", "Form 9"),
)
