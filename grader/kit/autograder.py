"""A Gradescope autograder package: build it (``grader gradescope``), and what it runs (``grader autograde``).

``grader gradescope hw1 --out autograder.zip`` writes the zip Gradescope asks for
(https://gradescope-autograders.readthedocs.io/en/latest/specs/)::

    setup.sh          run once when Gradescope builds the image: a venv with CPU torch (pinned as in
                      the README) and the grader installed from grader/ below
    run_autograder    run for each submission: ``grader autograde`` on /autograder/submission,
                      writing /autograder/results/results.json
    grader/           the grader's source (pyproject.toml, README.md, the package)
    course/           the spec, its reference, mistakes module and handout, at the same relative
                      places as in the course repository (so the spec's paths still resolve)
    data/mnist/       the MNIST files of --data-dir, if given (else the test set inside the grader)

Both scripts honour ``AUTOGRADER_ROOT`` (a folder used instead of ``/autograder``, to try a package
before uploading it), and ``run_autograder`` uses the ``grader`` on ``PATH`` when setup.sh has not
made its venv. Grading is sandboxed as in a local run; the package's files, the results folder and
the data are hidden from student code, and results.json says which isolation applied.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import tempfile
import zipfile
from pathlib import Path

import grader
from grader.batch.executor import grade_in_sandbox, hidden_paths
from grader.batch.submissions import Submission, sources
from grader.errors import UsageError
from grader.grading import environment
from grader.grading.expectations import ReferenceExpectations
from grader.grading.preflight import verify_reference
from grader.reports.gradescope import Visibility, to_autograder_results
from grader.results import GradeReport
from grader.sandbox.choice import open_sandbox
from grader.sandbox.preload import modules_to_preload
from grader.sandbox.server import Isolation, Sandbox
from grader.spec import Assignment, load_spec

TORCH_REQUIREMENT = "torch==2.13.0"
"""As in the README's install commands: the CPU build; any other version pulls a multi-GB CUDA build."""
CPU_WHEEL_INDEX = "https://download.pytorch.org/whl/cpu"
"""PyTorch's index of CPU-only wheels (what the student kit's README tells students to use too)."""

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# A venv with CPU torch (pinned: any other version pulls a multi-GB CUDA build) and the grader.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
PYTHON="${{PYTHON:-python3}}"
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip
fi
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "the grader needs Python 3.11 or newer: choose a Gradescope base image that has it")'
"$PYTHON" -m venv "$ROOT/venv"
# PyPI's Linux torch wheels are CUDA builds (GBs of nvidia-* packages): take torch alone from the
# CPU wheel index first; the grader's own install then finds its torch range satisfied and adds none.
"$ROOT/venv/bin/python" -m pip install -q {torch} --index-url {cpu_index}
"$ROOT/venv/bin/python" -m pip install -q {numpy}"$SOURCE/grader"
"$ROOT/venv/bin/python" -m grader --version   # fails here, not at the first submission, if broken
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission into results/results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
GRADER="$ROOT/venv/bin/grader"
[ -x "$GRADER" ] || GRADER=grader     # setup.sh has not run: the grader on PATH
mkdir -p "$ROOT/results"
exec "$GRADER" autograde "$SOURCE/course/{spec}" "$ROOT/submission" --results "$ROOT/results/results.json" \\
    --hide "$SOURCE" --hidden-visibility {visibility}{data_dir}
"""


def build_autograder(
    assignment: Assignment, out: Path, *, hidden_visibility: Visibility = "after_published",
    data_dir: Path | None = None,
) -> Path:
    """Write the Gradescope autograder zip of ``assignment`` to ``out``; return its path.

    Raises:
        UsageError: the grader is not installed from a source checkout (its pyproject.toml is
            needed to install it from the zip), or ``data_dir`` holds no MNIST file.
    """
    verify_reference(ReferenceExpectations(assignment, data_dir=data_dir))
    project = Path(grader.__file__).resolve().parent.parent
    if not (project / "pyproject.toml").is_file():
        raise UsageError(f"no pyproject.toml beside the grader package in {project}: build the autograder "
                         "package from a source checkout of the grader (pip install -e .)")
    # Every file grading reads (the helpers and checks modules too), and the handout.
    course_files = assignment.instructor_files() + ([assignment.resolve(assignment.handout)]
                                                    if assignment.handout else [])
    top = Path(os.path.commonpath([path.parent for path in course_files]))
    spec = assignment.source.relative_to(top).as_posix()
    data_files = sorted(path for path in data_dir.iterdir() if path.is_file()) if data_dir else []
    if data_dir and not data_files:
        raise UsageError(f"--data-dir {data_dir} holds no file")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    os.close(handle)
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as package:
        # The spec's environment, when it names one, pins torch and NumPy to the course's versions.
        pins = environment.pinned(assignment)
        _add_script(package, "setup.sh", SETUP_SH.format(
            torch=f"torch=={pins['torch']}" if "torch" in pins else TORCH_REQUIREMENT, cpu_index=CPU_WHEEL_INDEX,
            numpy=f"numpy=={pins['numpy']} " if "numpy" in pins else ""))
        data_option = ' --data-dir "$SOURCE/data/mnist"' if data_files else ""
        _add_script(package, "run_autograder", RUN_AUTOGRADER.format(
            spec=shlex.quote(spec), visibility=hidden_visibility, data_dir=data_option))
        for name in ("pyproject.toml", "README.md"):
            package.write(project / name, f"grader/{name}")
        for path in sorted((project / "grader").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                package.write(path, f"grader/{path.relative_to(project).as_posix()}")
        for path in course_files:
            package.write(path, f"course/{path.relative_to(top).as_posix()}")
        for path in data_files:
            package.write(path, f"data/mnist/{path.name}")
    os.replace(temporary, out)
    return out


def _add_script(package: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFREG | 0o755) << 16  # executable once Gradescope unzips it
    info.compress_type = zipfile.ZIP_DEFLATED
    package.writestr(info, text)


def autograde(
    spec: str | Path, submission: Path, results: Path, *, hidden_visibility: Visibility = "after_published",
    isolation: Isolation = "auto", data_dir: Path | None = None, hide: tuple[Path, ...] = (),
) -> GradeReport:
    """Grade one Gradescope submission with the hidden cases and write its results.json.

    ``hide`` are more folders the sandbox hides from student code (the package's own files).
    """
    assignment = load_spec(spec)
    folder = _submission_folder(submission, assignment)
    results.parent.mkdir(parents=True, exist_ok=True)
    hidden = hidden_paths(assignment, data_dir, results.parent, *hide)
    preload = modules_to_preload(assignment, [sources(Submission(folder.name, folder))])
    with open_sandbox(isolation, hide=hidden, purpose="grade", preload=preload) as sandbox:
        # Computed while the fork server boots.
        expectations = ReferenceExpectations(assignment, data_dir=data_dir)
        verify_reference(expectations)
        if isinstance(sandbox, Sandbox):
            # Gradescope's Docker containers refuse namespaces: there the package's own files
            # (its source, hidden cases, data, results) are kept from workers by permissions.
            sandbox.lock_hidden()
        report = grade_in_sandbox(assignment, folder, folder.name, expectations=expectations, sandbox=sandbox)
    data = to_autograder_results(report, assignment, hidden_visibility=hidden_visibility)
    results.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return report


def _submission_folder(submission: Path, assignment: Assignment) -> Path:
    """Where the student's modules are: the submission folder, or the one folder a student zipped up."""
    if not submission.is_dir():
        raise UsageError(f"{submission} is not a folder")
    modules = {assignment.module_of(problem) for problem in assignment.problems}
    if any((submission / f"{module}.py").exists() or (submission / f"{module}.ipynb").exists() for module in modules):
        return submission.resolve()
    inner = [path for path in submission.iterdir() if path.is_dir() and not path.name.startswith((".", "__"))]
    return (inner[0] if len(inner) == 1 else submission).resolve()
