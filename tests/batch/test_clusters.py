"""Wrong-answer clusters: a class's undeclared shared mistake is shown, and lint checks it once declared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from grader.batch.executor import GradingRun
from grader.batch.run import grade_folder
from grader.cli import main
from grader.grading.fingerprint import value_fingerprint
from grader.spec import load_spec

from conftest import ROOT

DATA = ROOT / "tests" / "data" / "clusters"
STUDENTS = {
    "ann": "import numpy as np\ndef scaled(x):\n    return 3.0 * np.asarray(x)\n",              # right
    "bob": "import numpy as np\ndef scaled(x):\n    return 3.0 * np.asarray(x) + 1.0\n",        # undeclared
    # The same mistake written otherwise: equal up to float noise, not bit for bit.
    "cat": "import numpy as np\ndef scaled(x):\n    return (np.asarray(x) * 0.3 + 0.1) / 0.1\n",
    # A declared mistake (doubled), shared: diagnosed, so in no cluster.
    "dan": "import numpy as np\ndef scaled(x):\n    return np.asarray(x) * 2\n",
    "fay": "import numpy as np\ndef scaled(x):\n    x = np.asarray(x)\n    return x + x\n",
    "eve": "import numpy as np\ndef scaled(x):\n    return 3.0 * np.asarray(x) - 1.0\n",        # a slip of one
    # Right on NumPy < 2.4; the NumPy the spec pins no longer has the keyword.
    "gus": "import numpy as np\ndef scaled(x):\n    return 3.0 * np.reshape(x, newshape=np.shape(x))\n",
}


def test_fingerprints_ignore_float_noise_and_nothing_else() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    assert value_fingerprint(x) == value_fingerprint(x * (1 + 1e-12))
    assert value_fingerprint((x, 1e-17)) == value_fingerprint((x, -1e-17)) != value_fingerprint((x, 1e-3))
    assert value_fingerprint([5.0, 1e-15]) == value_fingerprint([5.0, -1e-15]) != value_fingerprint([5.0, 1e-6])
    assert value_fingerprint(x) != value_fingerprint(x * 1.01)
    assert value_fingerprint(x) != value_fingerprint(x.T)
    assert len({value_fingerprint(np.array([np.nan])), value_fingerprint(np.array([np.inf])),
                value_fingerprint(np.array([-np.inf])), value_fingerprint(np.array([0.0]))}) == 4


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clusters")
    for name, code in STUDENTS.items():
        (root / "subs" / name).mkdir(parents=True)
        (root / "subs" / name / "work.py").write_text(code)
    run = GradingRun(assignment=load_spec(DATA / "clusters.yaml"), out=root / "out", workers=1, progress=False)
    grade_folder(run, root / "subs")
    return root / "out"


def test_the_summary_shows_the_shared_undeclared_wrong_answer_only(graded: Path) -> None:
    data = json.loads((graded / "clusters.json").read_text())
    assert [(c["problem"], c["count"], c["submissions"]) for c in data["clusters"]] == [("scaled", 2, ["bob", "cat"])]
    cluster = data["clusters"][0]
    assert [item["case"] for item in cluster["wrong_answers"]] == ["a", "b"]
    assert cluster["example"]["case"] == "a" and "4" in cluster["example"]["obtained"]  # 3 * 1 + 1
    assert "3 of 3 values differ" in cluster["example"]["differs"], cluster["example"]
    page = (graded / "index.html").read_text()
    section = page.split('id="clusters"')[1].split("</section>")[0]
    assert "bob" in section and "cat" in section
    assert not any(name in section for name in ("ann", "dan", "fay", "eve", "gus"))


@pytest.mark.skipif(np.__version__ != "2.4.6", reason="the NumPy the fixture's spec pins")
def test_every_report_states_the_versions_and_names_the_removed_keyword(graded: Path) -> None:
    graded_with = "Graded with NumPy 2.4.6 and torch 2.13.0"
    assert graded_with in (graded / "index.html").read_text()
    note = "NumPy 2.4.6, which this course grades with, no longer accepts the keyword `newshape` of `np.reshape`"
    results = json.loads((graded / "gus" / "results.json").read_text())
    assert graded_with in results["output"] and note in results["output"]
    assert results["extra_data"]["environment"]["numpy"] == "2.4.6"
    feedback = (graded / "gus" / "feedback.html").read_text()
    assert graded_with in feedback and note.replace("`", "<code>", 1) in feedback.replace("`", "<code>", 1)
    assert "newshape" not in json.loads((graded / "ann" / "results.json").read_text())["output"]


def test_lint_says_which_clusters_a_declared_mistake_explains(graded: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    clusters = str(graded / "clusters.json")
    assert main(["lint", str(DATA / "clusters.yaml"), "--clusters", clusters]) == 0
    before = capsys.readouterr().out
    assert "undeclared scaled: cluster of 2 (e.g. bob)" in before and "0 of 1 wrong-answer clusters" in before

    for name in ("reference.py", "mistakes.py"):
        shutil.copy(DATA / name, tmp_path / name)
    spec = yaml.safe_load((DATA / "clusters.yaml").read_text())
    spec["problems"][0]["mistakes"].append({"id": "plus_one", "message": "adds 1"})
    (tmp_path / "clusters.yaml").write_text(yaml.safe_dump(spec))
    assert main(["lint", str(tmp_path / "clusters.yaml"), "--clusters", clusters]) == 0
    after = capsys.readouterr().out
    assert "explained  scaled: cluster of 2 (e.g. bob) failing a, b: by declared mistake plus_one" in after
    assert "1 of 1 wrong-answer clusters" in after


def test_lint_refuses_a_file_that_is_not_a_clusters_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "clusters.json"
    bad.write_text(json.dumps({"format": 1, "assignment": "clusters", "clusters": [{"problem": "scaled"}]}))
    assert main(["lint", str(DATA / "clusters.yaml"), "--clusters", str(bad)]) == 2
    assert "cluster 0 lacks its problem" in capsys.readouterr().err
