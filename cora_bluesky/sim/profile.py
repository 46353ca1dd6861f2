"""Run a profile's startup files into one namespace, as IPython and queueserver do."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_startup(startup_dir: str | Path, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute every ``*.py`` of ``startup_dir`` in name order into ``namespace``.

    Each file sees ``__file__`` while it runs, as in queueserver. Returns the namespace.
    """
    folder = Path(startup_dir)
    files = sorted(folder.glob("*.py"))
    if not files:
        raise FileNotFoundError(f"no startup files in {folder}")
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    for path in files:
        namespace["__file__"] = str(path)
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    namespace.pop("__file__", None)
    return namespace
