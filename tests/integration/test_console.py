"""The `cora` console: version, one --uri for every command, URIs checked, the record shown, refusals in IPython."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from support import NOW, activate_clearance, build_beamline

import cora_bluesky
from cora_bluesky.cli import main
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.calibration import CalibrationSource

MODEL = Path(__file__).resolve().parents[2] / "profile_collection" / "beamline.toml"


@pytest.fixture
def told(tmp_path, clock):
    """A record that tells one of everything: a run held, steered and ended, a procedure, a clearance."""
    uri = f"sqlite:///{tmp_path / 'record.db'}"
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-A": True, "2-BM-B": True}),
                                  clock=clock)
    ids = build_beamline(record)
    procedure = record.start_new_procedure(name="find rotation center", kind="alignment", target_asset_ids=[ids.stage])
    record.append_procedure_step(procedure.id, [{"event_id": str(uuid.uuid4()), "step_kind": "setpoint",
                                                 "payload": {"channel": "rot", "target_value": 0}, "sampled_at": NOW}])
    center = record.record_calibration(asset_id=ids.stage, quantity="rotation_center", value=50.8, units="px",
                                       source=CalibrationSource.procedure(procedure.id))
    record.complete_procedure(procedure.id)
    run = record.start_run(name="tomo_scan", plan_id=ids.plan, subject_id=ids.subject)
    clock.advance(seconds=5)
    record.hold_run(run.id)
    clock.advance(seconds=5)
    record.resume_run(run.id)
    record.adjust_run(run.id, parameter_patch={"exposure": 0.2}, reason="more signal after the refill")
    record.append_run_readings(run.id, [
        {"channel_name": "ring_current", "value": v, "sampling_procedure": "baseline", "sampled_at": NOW, "units": "mA"}
        for v in (101.5, 102.0)])
    record.link_run_dataset(run.id, start_uid="abc", uri="tiled://host/raw/abc")
    record.stop_run(run.id, reason="sample cracked")
    yield uri, record, ids, run, procedure, center
    record.close()


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"cora-bluesky {cora_bluesky.__version__}"


def test_runs_show_tells_the_runs_story(capsys, told):
    uri, record, ids, run, procedure, center = told
    code, out, _ = cli(capsys, "--uri", uri, "runs", "show", run.id)
    assert code == 0
    for line in ("run " + run.id + ": tomo_scan (Stopped)", "held", "resumed",
                 "steered {'exposure': 0.2}: more signal after the refill", "stopped: sample cracked",
                 "readings: 2", "ring_current: 2, 101.5..102 mA",
                 f"rotation_center = 50.8 px (revision {center.id})", "  tiled://host/raw/abc  (start uid abc; no digest recorded)"):
        assert line in out, line
    assert out.index("held") < out.index("resumed") < out.index("steered") < out.index("stopped")


def test_one_uri_for_every_command_global_subcommand_or_environment(capsys, told, monkeypatch):
    uri, record, ids, run, procedure, center = told
    seen = [cli(capsys, "--uri", uri, "runs", "list")[1], cli(capsys, "runs", "list", "--uri", uri)[1]]
    monkeypatch.setenv("CORA_URI", uri)
    seen.append(cli(capsys, "runs", "list")[1])
    assert all(run.id in out and "Stopped" in out for out in seen) and len(seen) == 3
    assert run.id in cli(capsys, "runs", "list", "--status", "Stopped", "--plan-id", ids.plan)[1]
    assert cli(capsys, "runs", "list", "--status", "Running")[1].strip() == "no runs"


def test_procedures_and_clearances_list_and_show(capsys, told, monkeypatch):
    uri, record, ids, run, procedure, center = told
    monkeypatch.setenv("CORA_URI", uri)
    assert procedure.id in cli(capsys, "procedures", "list")[1]
    out = cli(capsys, "procedures", "show", procedure.id)[1]
    assert "find rotation center (alignment, Completed)" in out and "steps: 1, setpoint 1" in out
    assert f"rotation_center = 50.8 px (revision {center.id})" in out and "completed" in out
    out = cli(capsys, "clearances", "list", "--status", "Active")[1]
    assert ids.clearance in out
    out = cli(capsys, "clearances", "show", ids.clearance)[1]
    assert all(step in out for step in ("registered", "submitted", "reviewstarted", "approved", "activated"))
    code, _, err = cli(capsys, "runs", "show", "no-such-run")
    assert code == 2 and err.startswith("RunNotFoundError:")


def test_a_missing_directory_is_named_and_nothing_created(capsys, tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "x.db"
    code, _, err = cli(capsys, "runs", "stale", "--uri", f"sqlite:///{target}")
    assert code == 2 and err.startswith("StoreLocationNotFoundError:") and str(target.parent) in err
    assert not (tmp_path / "nonexistent").exists()
    with pytest.raises(e.StoreLocationNotFoundError):
        cora_bluesky.connect(f"sqlite:///{target}")


def test_an_unknown_scheme_is_named(capsys):
    code, _, err = cli(capsys, "--uri", "postgres://db/x", "runs", "list")
    assert code == 2 and err.startswith("UnknownStoreSchemeError:") and "sqlite:///" in err
    with pytest.raises(e.UnknownStoreSchemeError):
        cora_bluesky.connect("record.db")


def test_an_in_memory_copy_target_is_refused(capsys, told):
    uri = told[0]
    code, out, err = cli(capsys, "copy", uri, "mongomock://x/y")
    assert code == 2 and err.startswith("CopyTargetNotDurableError:") and "verified" not in out


def test_model_diff_then_apply_from_the_console(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CORA_URI", f"sqlite:///{tmp_path / 'record.db'}")
    assert cli(capsys, "principal", "bootstrap")[0] == 0  # the console administers the new record
    model = ["model", "apply", str(MODEL), "--substitute", "pss=PA:02BM:"]
    code, out, _ = cli(capsys, *model)
    assert code == 0 and "+ enclosure '2-BM-B'" in out and out.strip().endswith("the record matches the model")
    edited = tmp_path / "beamline.toml"
    edited.write_text(MODEL.read_text().replace('"${pss}B:SECURED"', '"XF:02BMB-PPS:1{PSh:4}Pos-Sts"'))
    code, out, _ = cli(capsys, "model", "diff", str(edited), "--substitute", "pss=PA:02BM:")
    assert out.splitlines() == [
        "~ enclosure '2-BM-B'",
        "    secured_pv: 'PA:02BM:B:SECURED' -> 'XF:02BMB-PPS:1{PSh:4}Pos-Sts'",
        f"1 change(s) to record; apply with: cora model apply {edited}",
    ]
    cli(capsys, "model", "apply", str(edited), "--substitute", "pss=PA:02BM:")
    assert cli(capsys, "model", "diff", str(edited), "--substitute", "pss=PA:02BM:")[1].startswith("0 change(s)")
    code, _, err = cli(capsys, "model", "diff", str(edited))
    assert code == 2 and err.startswith(f"InvalidBeamlineModelError: {edited}:") and "--substitute" in err


def test_a_refusal_in_ipython_is_its_name_message_and_fix_with_the_traceback_one_command_away(tmp_path, capsys):
    from bluesky import RunEngine
    from IPython.core.interactiveshell import InteractiveShell
    from ophyd.sim import SynAxis

    from cora_bluesky.ipython import show_refusals_briefly

    shell = InteractiveShell.instance()
    try:
        record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}")
        ids = build_beamline(record, activate=False)
        RE = RunEngine({}, call_returns_result=False)
        cora_bluesky.install(RE, record, spool=tmp_path / "spool")
        assert show_refusals_briefly(shell) and show_refusals_briefly(shell)  # twice: one handler
        assert shell.custom_exceptions.count(e.CoraError) == 1
        shell.user_ns.update(RE=RE, rot=SynAxis(name="rot"), subject=ids.subject)
        shell.run_cell("import bluesky.plans as bp\nRE(bp.count([rot]), cora_plan_id=" + repr(ids.plan)
                       + ", subject_id=subject)")
        shown = capsys.readouterr().out
        assert shown.splitlines()[0] == "RunRequiresActiveClearance (refused by the record)"
        assert "%tb shows the traceback" in shown and "Traceback" not in shown
        assert len(shown.splitlines()) <= 8
        shell.run_line_magic("tb", "")
        assert "Traceback" in capsys.readouterr().out
        shell.run_cell("1/0")  # not a refusal: IPython's own traceback
        assert "ZeroDivisionError" in capsys.readouterr().out
        activate_clearance(record, subject_ids=[ids.subject])
        record.close()
    finally:
        InteractiveShell.clear_instance()
