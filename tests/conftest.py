"""Shared fixtures: the project's paths, the example ground truth, one graded run per assignment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ("hw1", "hw2", "hw3", "hw4")


@pytest.fixture(scope="session")
def expected_examples() -> dict:
    return yaml.safe_load((ROOT / "submissions" / "expected.yaml").read_text())


@pytest.fixture(scope="session")
def graded_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each assignment's example submissions graded once by the real pipeline, sandbox included."""
    from grader.batch.executor import GradingRun
    from grader.batch.run import grade_folder
    from grader.spec import load_spec

    out = tmp_path_factory.mktemp("reports")
    folders = {}
    for name in ASSIGNMENTS:
        run = GradingRun(assignment=load_spec(name), out=out / name, workers=2, progress=False)
        grade_folder(run, ROOT / "submissions" / name)
        folders[name] = out / name
    return folders
