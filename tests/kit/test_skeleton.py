"""`grader new`: a skeleton that lints clean as written, never overwrites, and whose self-test
fails when its reference is broken (so "lints clean" means something)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.cli import main


def test_a_new_assignment_lints_clean_and_makes_a_starter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "hw5", "--dir", str(tmp_path)]) == 0
    spec = tmp_path / "problems" / "hw5.yaml"
    assert main(["lint", str(spec)]) == 0
    assert "hw5: 10 of 10 self-test checks passed" in capsys.readouterr().out  # 8, and the strength report of each problem
    assert main(["starter", str(spec), "--out", str(tmp_path / "starter")]) == 0
    assert "def affine_forward(x" in (tmp_path / "starter" / "hw5.py").read_text()
    assert main(["new", "hw5", "--dir", str(tmp_path)]) == 2  # never overwrites
    # The same skeleton with a wrong reference (in a folder of its own: modules load once per path).
    assert main(["new", "hw5", "--dir", str(tmp_path / "broken")]) == 0
    reference = tmp_path / "broken" / "reference" / "hw5.py"
    reference.write_text(reference.read_text().replace("db = dout.sum(axis=0)", "db = dout.mean(axis=0)"))
    assert main(["lint", str(tmp_path / "broken" / "problems" / "hw5.yaml")]) == 1
