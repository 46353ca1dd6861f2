"""Hutch permits read from a real caproto IOC on loopback."""

from __future__ import annotations

from support import NOW, wait_for

from cora_bluesky.domain.equipment import EnclosureState


def hutch(ioc, name, shutter=True):
    return EnclosureState(name, name, ioc.pv(f"{name}:SECURED"), (ioc.pv(f"{name}:SHUTTER"),) if shutter else (), NOW, NOW)


def test_secured_hutches_are_permitted_and_a_closed_shutter_is_not_a_refusal(ioc, epics_permits):
    permits = epics_permits.permits([hutch(ioc, "A"), hutch(ioc, "B")])
    assert permits["A"].permitted and permits["B"].permitted
    ioc.put("B:SHUTTER", 1)
    permit = epics_permits.permits([hutch(ioc, "B")])["B"]
    assert permit.permitted and "closed" in permit.detail


def test_unsecured_hutch(ioc, epics_permits):
    ioc.put("B:SECURED", 0)
    permit = epics_permits.permits([hutch(ioc, "B")])["B"]
    assert not permit.permitted and "not searched and secured" in permit.detail


def test_invalid_alarm_fails_closed(ioc, epics_permits):
    assert epics_permits.permits([hutch(ioc, "B")])["B"].permitted
    ioc.put("B:SECURED_INVALID", 1)
    permit = epics_permits.permits([hutch(ioc, "B")])["B"]
    assert not permit.permitted and "INVALID" in permit.detail
    ioc.put("B:SECURED_INVALID", 0)
    ioc.put("B:SHUTTER_INVALID", 1)
    permit = epics_permits.permits([hutch(ioc, "B")])["B"]
    assert not permit.permitted and "shutter" in permit.detail


def test_a_killed_ioc_fails_closed(epics_permits):
    from support import PSSIoc

    ioc = PSSIoc(spare_port=True)  # its own IOC: this test kills it
    assert epics_permits.permits([hutch(ioc, "A")])["A"].permitted
    ioc.stop()

    wait_for(lambda: not epics_permits.permits([hutch(ioc, "A")])["A"].permitted, 10,
             "a dead IOC to read as not permitted", interval=0.2)
    assert "disconnected" in epics_permits.permits([hutch(ioc, "A")])["A"].detail


def test_unknown_pv_fails_closed(epics_permits, ioc):
    ghost = EnclosureState("G", "G", ioc.pv("NO:SUCH:PV"), (), NOW, NOW)
    permit = epics_permits.permits([ghost])["G"]
    assert not permit.permitted and "disconnected" in permit.detail
