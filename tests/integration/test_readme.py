"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    # the first example is the self-contained one; later ones are fragments of a beamline profile
    block = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    run = namespace["record"].get_run(namespace["run"].id)
    assert run.status == "Completed"
    assert (tmp_path / "beamline.db").exists()
