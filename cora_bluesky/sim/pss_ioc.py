"""A simulated Personnel Safety System IOC: two hutches' secured flags and their shutters.

Run as ``python -m cora_bluesky.sim.pss_ioc --prefix PFX: --interfaces 127.0.0.1``. Each
``*_INVALID`` PV, when set to 1, puts its partner PV into INVALID alarm (and 0 clears it).
"""

from caproto import AlarmSeverity, AlarmStatus
from caproto.server import PVGroup, ioc_arg_parser, pvproperty, run


def _flag(name: str, value: int):
    return pvproperty(name=name, value=value, dtype=int, alarm_group=name)


class PSS(PVGroup):
    a_secured = _flag("A:SECURED", 1)
    b_secured = _flag("B:SECURED", 1)
    a_shutter = _flag("A:SHUTTER", 0)
    b_shutter = _flag("B:SHUTTER", 0)
    a_secured_invalid = pvproperty(name="A:SECURED_INVALID", value=0, dtype=int)
    b_secured_invalid = pvproperty(name="B:SECURED_INVALID", value=0, dtype=int)
    b_shutter_invalid = pvproperty(name="B:SHUTTER_INVALID", value=0, dtype=int)

    async def _alarm(self, target, value):
        if value:
            await target.alarm.write(severity=AlarmSeverity.INVALID_ALARM, status=AlarmStatus.COMM)
        else:
            await target.alarm.write(severity=AlarmSeverity.NO_ALARM, status=AlarmStatus.NO_ALARM)

    @a_secured_invalid.putter
    async def a_secured_invalid(self, instance, value):
        await self._alarm(self.a_secured, value)

    @b_secured_invalid.putter
    async def b_secured_invalid(self, instance, value):
        await self._alarm(self.b_secured, value)

    @b_shutter_invalid.putter
    async def b_shutter_invalid(self, instance, value):
        await self._alarm(self.b_shutter, value)


if __name__ == "__main__":
    ioc_options, run_options = ioc_arg_parser(default_prefix="PSS:", desc=__doc__)
    run(PSS(**ioc_options).pvdb, **run_options)
