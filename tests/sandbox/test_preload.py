"""What the fork server preloads: torch only when the spec or a submission needs it.

The decision is read from the spec and from the submissions' import statements (``ast``, never
run); the tests show both ways for each rule, and that a worker forked before a preload has no
torch while one forked after has it warm. The fork server's start-up (launched early, adopted by
the first sandbox) and its stop are tested here too.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from grader.batch.submissions import Submission, sources
from grader.calls import Call
from grader.sandbox import launch
from grader.sandbox.preload import folder_sources, imports_torch, modules_to_preload, spec_needs_torch
from grader.sandbox.server import Sandbox
from grader.sandbox.session import SandboxSession
from grader.spec import Limits, load_spec

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server needs Linux")


def write_spec(folder: Path, problem: dict) -> Path:
    (folder / "ref.py").write_text("def f(x):\n    return x\n\nclass Net:\n    pass\n")
    spec = {"schema_version": 1, "assignment": "t", "module": "m", "reference": "ref.py",
            "problems": [{"id": "f", "points": 1, **problem}]}
    path = folder / "t.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_the_course_specs_need_torch_where_they_grade_models_or_tensors() -> None:
    needs = {name: spec_needs_torch(load_spec(name)) for name in ("hw1", "hw2", "hw3", "hw4")}
    # hw1 has an MNIST model, hw4 tensors and modules; hw2 and hw3 are numpy functions.
    assert needs == {"hw1": True, "hw2": False, "hw3": False, "hw4": True}


@pytest.mark.parametrize(("arg", "needs"), [
    ({"array": [[1.0, 2.0]]}, False),
    ({"array": [[1.0, 2.0]], "tensor": True}, True),
    ({"mapping": {"w": {"array": [1.0], "tensor": True}}}, True),
])
def test_a_tensor_argument_needs_torch(tmp_path: Path, arg: dict, needs: bool) -> None:
    path = write_spec(tmp_path, {"function": "f", "cases": [{"name": "a", "args": {"x": arg}}],
                                 "checks": [{"kind": "value"}]})
    assert spec_needs_torch(load_spec(path)) is needs


@pytest.mark.parametrize(("line", "needs"), [("y = f(x)", False), ("y = grad(f(x), [x])", True)])
def test_a_scenario_using_grad_needs_torch(tmp_path: Path, line: str, needs: bool) -> None:
    path = write_spec(tmp_path, {"cases": [{"name": "a", "args": {"x": {"array": [1.0], "tensor": needs}}}],
                                 "scenario": [line], "read": ["y"], "checks": [{"kind": "value"}]})
    assert spec_needs_torch(load_spec(path)) is needs


@pytest.mark.parametrize(("source", "imports"), [
    ("import numpy as np\n", False),
    ("import torch\n", True),
    ("import torch.nn.functional as F\n", True),
    ("from torch import nn\n", True),
    ("def f(x):\n    import torch\n    return torch.relu(x)\n", True),  # inside a function still counts
    ("import torchvision_like\n", False),
    ("from .torch import helpers\n", False),  # the student's own module called torch
    ("import torch\n  this is not python", False),  # cannot parse: cannot import it either
])
def test_imports_are_read_not_run(source: str, imports: bool) -> None:
    assert imports_torch([("hw1.py", source)]) is imports


def test_a_notebooks_code_cells_are_read_with_magics_removed() -> None:
    notebook = {"cells": [{"cell_type": "markdown", "source": "import torch"},
                          {"cell_type": "code", "source": ["%pip install torch\n", "import torch\n"]}],
                "nbformat": 4}
    assert imports_torch([("hw4.ipynb", json.dumps(notebook))])
    notebook["cells"][1]["source"] = "import numpy\n"
    assert not imports_torch([("hw4.ipynb", json.dumps(notebook))])  # the markdown cell is not code
    assert not imports_torch([("hw4.ipynb", "{not json")])


def test_a_class_needs_torch_if_any_submission_imports_it(tmp_path: Path) -> None:
    hw2 = load_spec("hw2")
    numpy_only = [sources(Submission(name, ROOT / "submissions" / "hw2" / name)) for name in ("ben", "cy")]
    assert modules_to_preload(hw2, numpy_only) == ()
    # ada computes sigmoid with torch
    with_ada = [sources(Submission(name, ROOT / "submissions" / "hw2" / name)) for name in ("ben", "ada")]
    assert modules_to_preload(hw2, with_ada) == ("torch",)
    assert modules_to_preload(load_spec("hw1"), []) == ("torch",)


def test_zipped_submissions_are_read_without_following_links(tmp_path: Path) -> None:
    archive = tmp_path / "s1.zip"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("s1/hw2.py", "import numpy\n")
        link = zipfile.ZipInfo("s1/helper.py")
        link.external_attr = (0o120777 << 16)  # a symbolic link whose "text" imports torch
        package.writestr(link, "import torch\n")
    assert [name for name, _ in sources(Submission("s1", archive))] == ["s1/hw2.py"]
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "hw2.py").write_text("import torch\n")
    (tmp_path / "folder" / "notes.txt").write_text("import torch\n")
    (tmp_path / "folder" / "linked.py").symlink_to(tmp_path / "folder" / "hw2.py")
    assert [name for name, _ in folder_sources(tmp_path / "folder")] == ["hw2.py"]


def torch_loaded_in_a_worker(sandbox: Sandbox, submission: Path) -> bool:
    session = SandboxSession(sandbox, submission, deadline=float("inf"))
    try:
        outcomes, _ = session.run([Call(key="k", module="probe", function="loaded", args=())], Limits())
    finally:
        session.close()
    assert outcomes["k"].status == "ok", outcomes["k"]
    return bool(outcomes["k"].value)


def test_workers_have_torch_only_once_it_is_preloaded(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text("import sys\n\ndef loaded():\n    return 'torch' in sys.modules\n")
    with Sandbox() as sandbox:
        assert not torch_loaded_in_a_worker(sandbox, tmp_path)
        sandbox.preload("torch")
        assert torch_loaded_in_a_worker(sandbox, tmp_path)


def test_the_first_sandbox_adopts_the_fork_server_launched_early(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text("import sys\n\ndef loaded():\n    return 'torch' in sys.modules\n")
    launch.launch_early(("torch",))
    early = launch._waiting
    assert early is not None
    with Sandbox() as sandbox:
        sandbox.wait_ready()
        assert sandbox._process is early.process  # adopted, not a second fork server
        assert torch_loaded_in_a_worker(sandbox, tmp_path)  # with the preload it was launched with
        process = early.process
    # Closing its socket is enough: the fork server ends by itself, not killed after a grace period.
    assert process.returncode == 0
    assert launch._waiting is None


def test_the_boot_error_is_raised_to_whoever_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> launch.Launched:
        raise OSError("no fork server today")

    monkeypatch.setattr(launch, "take", broken)
    sandbox = Sandbox().start()
    with pytest.raises(OSError, match="no fork server today"):
        sandbox.info
    sandbox.close()


def test_sources_too_large_to_parse_count_as_importing_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A small zip of two 4 MB files that mention torch (issue 21, 6): not parsed, taken as needing torch."""
    import ast

    parsed = []
    real = ast.parse
    monkeypatch.setattr(ast, "parse", lambda source, *a, **k: parsed.append(len(source)) or real(source, *a, **k))
    big = "x = 1  # torch\n" * (4_000_000 // 15)
    archive = tmp_path / "s1.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("s1/a.py", big)
        package.writestr("s1/b.py", big)
    assert archive.stat().st_size < 100_000  # a small upload
    assert imports_torch(sources(Submission("s1", archive)))
    assert parsed == []
    assert not imports_torch([("a.py", "import numpy  # no torch here\n")])  # what fits is still parsed
    assert parsed
    chunk = "y = 2\n" * 500_000  # 3 MB, naming no torch
    read = []
    many = (read.append(i) or (f"f{i}.py", chunk) for i in range(100))
    assert imports_torch(many)  # past the read budget: taken as needing torch, the rest unread
    assert len(read) < 10


def test_a_usage_error_while_the_fork_server_boots_prints_only_the_error(tmp_path: Path) -> None:
    """`grader check` launches the fork server before it reads its arguments; when they are wrong it
    exits at once, and the fork server, finding nobody at the other end of its socket, ends without
    a traceback of its own."""
    import subprocess

    spec = write_spec(tmp_path, {"cases": [{"name": "a", "visibility": "public", "args": {"x": 1}}],
                                 "checks": [{"kind": "value"}]})
    (tmp_path / "m.py").write_text("def f(x):\n    return x\n")
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(spec), str(tmp_path / "m.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"grader: {tmp_path / 'm.py'} is not a folder"], done.stderr
