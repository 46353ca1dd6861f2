"""Packaging guards for the mapped layout: plans/, callbacks/ and server/ install under cora_bluesky."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"cora_bluesky": REPO / "cora_bluesky", "cora_bluesky.plans": REPO / "plans",
         "cora_bluesky.callbacks": REPO / "callbacks", "cora_bluesky.server": REPO / "server"}
HEAVY = ["fastapi", "pymongo", "uvicorn", "starlette", "httpx", "mongomock"]


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    return config


def _run(code: str, cwd: Path) -> str:
    # a neutral directory, so the repo root is not on sys.path and the installed mapping decides
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _package_dirs() -> dict[str, Path]:
    """Every package directory in the source trees, by the dotted name it installs as."""
    found = {}
    for name, root in ROOTS.items():
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            found[".".join((name, *relative))] = init.parent
    return found


def test_mapped_packages_resolve_to_their_source_folders(tmp_path):
    code = "import importlib\n" + "".join(
        f"print(importlib.import_module({name!r}).__file__)\n" for name in ROOTS
    )
    printed = _run(code, tmp_path).split()
    for (name, folder), path in zip(ROOTS.items(), printed):
        assert Path(path).resolve() == (folder / "__init__.py").resolve(), (
            f"{name} resolves to {path}, not {folder}: reinstall with `pip install -e .`"
        )


def test_every_package_directory_is_listed_in_setup_cfg():
    config = _setup_cfg()
    listed = set(config["options"]["packages"].split())
    assert set(_package_dirs()) == listed
    mapping = dict(
        line.split("=") for line in config["options"]["package_dir"].strip().splitlines()
    )
    assert {k.strip(): v.strip() for k, v in mapping.items()} == {
        "cora_bluesky": "cora_bluesky", "cora_bluesky.plans": "plans",
        "cora_bluesky.callbacks": "callbacks", "cora_bluesky.server": "server",
    }


def test_extras_are_declared():
    extras = _setup_cfg()["options.extras_require"]
    assert {"mongo", "server", "test", "all"} <= set(extras)


@pytest.mark.slow
def test_the_built_wheel_holds_every_package(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in {p.parts[0] for p in (d.relative_to(REPO) for d in ROOTS.values())}:
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source)],
        check=True, timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("cora_bluesky-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in _package_dirs():
        assert f"{package.replace('.', '/')}/__init__.py" in names, f"{package} is missing from the wheel"
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"cora_bluesky"}


def test_light_entry_points_pull_in_nothing_heavy(tmp_path):
    code = (
        "import sys, cora_bluesky, cora_bluesky.plans, cora_bluesky.callbacks\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "print('cora_bluesky.storage.sqlite' in sys.modules)\n"
    )
    heavy, store_loaded = _run(code, tmp_path).splitlines()
    assert heavy == "[]"
    assert store_loaded == "False"  # no store is opened (or even imported) before connect()


def test_imports_are_absolute():
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for root in ROOTS.values()
        for path in root.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.lstrip().startswith("from .")
    ]
    assert offenders == []


def test_the_installed_web_stack_is_within_the_bounds_the_suite_holds_for():
    # a silent upgrade past the bounds (FastAPI reshaped app.routes in a minor release) fails here
    from importlib.metadata import version

    from packaging.requirements import Requirement

    declared = [Requirement(line) for line in _setup_cfg()["options.extras_require"]["server"].splitlines()
                if line.strip() and not line.strip().startswith("#")]
    bounded = {req.name: req for req in declared if req.name in ("fastapi", "starlette")}
    assert set(bounded) == {"fastapi", "starlette"}
    for name, requirement in bounded.items():
        assert any(spec.operator == "<" for spec in requirement.specifier), f"{name} has no upper bound"
        assert requirement.specifier.contains(version(name)), (name, version(name), str(requirement.specifier))
