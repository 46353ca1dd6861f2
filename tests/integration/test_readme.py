"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs_and_runs_again(tmp_path, monkeypatch):
    # the first example is the self-contained one; later ones are fragments of a beamline profile
    block = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    records = []
    for _ in range(2):  # a newcomer runs it twice on the same file
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)
        record = namespace["record"]
        records.append(record)
        assert record.get_run(namespace["run"].id).status == "Completed"
    assert (tmp_path / "beamline.db").exists()
    assert len(record.list_runs().items) == 2 and len(record.list_assets().items) == 1
    assert len(record.list_plans().items) == 1 and len(record.list_enclosures().items) == 1
    for record in records:
        record.close()
