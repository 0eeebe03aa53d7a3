"""Checking from Python, and from a notebook: ``Checker("kit/").check("hw4.ipynb")``.

What ``grader check`` does, called from a notebook cell (or any Python): the saved notebook or
module is graded on the kit's public cases, sandboxed as ``grader check`` does it (the portable
worker where the fork server cannot run), and the result shows inline, as the HTML feedback in
Jupyter and Colab, as ``grader check``'s table elsewhere. The file on disk is what is graded: a
notebook's unsaved cells are not, and the result says so.

In Colab, where the running notebook is not a file of the machine, ``check()`` with no argument
asks Colab for the notebook as it is (``google.colab._message``) and grades that.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from grader.errors import UsageError
from grader.sandbox.files import read_submission, write_submission

if TYPE_CHECKING:
    from grader.results import GradeReport
    from grader.sandbox.choice import IsolationChoice
    from grader.spec import Assignment

# The grading machinery (spec loading, sandbox, reports) is imported by the methods that use it:
# `from grader import Checker` in a notebook's first cell stays instant.

MODULE_SUFFIXES = (".ipynb", ".py")
"""What a module may be handed in as; a notebook first, since ``check()`` is called from one."""


@final
@dataclass(frozen=True, kw_only=True)
class CheckedFile:
    """The result of ``Checker.check``: the report, and what it was computed from."""

    report: GradeReport
    checked: Path
    """The file (or folder) graded, as saved on disk."""
    saved: str
    """When it was last saved (local time), or '' for a folder."""
    html: str
    """The feedback as an HTML fragment (what Jupyter shows)."""
    text: str
    """``grader check``'s plain-text report (what a terminal or a plain REPL shows)."""

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def score(self) -> float:
        return self.report.score

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


@final
class Checker:
    """A student kit (or, for the instructor, a spec) to check a notebook or module against.

    Args:
        kit: the student kit folder (``grader bundle``), a spec file or a name in ``problems/``.
        isolation: as ``grader check --isolation``; ``auto`` picks the sandbox this machine can run.
        data_dir: MNIST files, as ``grader check --data-dir``.
    """

    def __init__(self, kit: str | Path, *, isolation: "IsolationChoice" = "auto",
                 data_dir: Path | None = None) -> None:
        self.kit = kit
        self.isolation = isolation
        self.data_dir = data_dir
        self._assignment: Assignment | None = None

    @property
    def assignment(self) -> Assignment:
        from grader.kit.selfcheck import load_target

        if self._assignment is None:
            self._assignment = load_target(self.kit, data_dir=self.data_dir)[0]
        return self._assignment

    def modules(self) -> list[str]:
        """The module names the kit grades (``hw4`` for hw4.py or hw4.ipynb)."""
        return sorted({self.assignment.module_of(problem) for problem in self.assignment.problems})

    def check(self, path: str | Path | None = None) -> CheckedFile:
        """Grade a saved notebook or module (or a submission folder) on the public cases.

        Without ``path``: the running Colab notebook, else the one ``hwN.ipynb`` or ``hwN.py`` the
        kit expects in the current folder.

        Raises:
            UsageError: no such file, a file the kit does not grade, or none (or two) to choose from.
        """
        from grader.kit.selfcheck import check_submission

        if path is None:
            colab = _colab_notebook()
            if colab is not None:
                return self._check_notebook_json(colab)
            path = self._find_default()
        target = Path(path).expanduser()
        if target.is_dir():
            return self._result(check_submission(self.kit, target, isolation=self.isolation, data_dir=self.data_dir),
                                target.resolve(), saved="")
        if not target.is_file():
            raise UsageError(f"{target} does not exist")
        if target.suffix not in MODULE_SUFFIXES:
            raise UsageError(f"{target.name} is neither a notebook (.ipynb) nor a module (.py)")
        module = self._module_for(target)
        saved = time.strftime("%H:%M:%S", time.localtime(target.stat().st_mtime))
        with tempfile.TemporaryDirectory(prefix="grader-check-") as staging:
            # Named as the file's folder: the report calls the submission by that name.
            folder = Path(staging) / (target.resolve().parent.name or "submission")
            # The file's neighbours (weights, helper modules) come along; the other form of the same
            # module does not, so that hw4.ipynb is graded even beside an old hw4.py.
            files = {name: data for name, data in read_submission(target.parent.resolve()).items()
                     if name not in {module + suffix for suffix in MODULE_SUFFIXES}}
            files[module + target.suffix] = target.read_bytes()
            write_submission(files, folder)
            report = check_submission(self.kit, folder, isolation=self.isolation, data_dir=self.data_dir)
        return self._result(report, target.resolve(), saved=saved)

    def _module_for(self, target: Path) -> str:
        modules = self.modules()
        if target.stem in modules:
            return target.stem
        if len(modules) == 1:
            return modules[0]  # "hw4 - Ada Lovelace.ipynb" is graded as hw4.ipynb
        raise UsageError(f"{target.name} is none of the modules this kit grades ({', '.join(modules)}): "
                         f"name it after one of them, or check the folder")

    def _find_default(self) -> Path:
        found = [Path(module + suffix) for module in self.modules() for suffix in MODULE_SUFFIXES
                 if Path(module + suffix).is_file()]
        if len(self.modules()) > 1:
            return Path(".")
        if len(found) == 1:
            return found[0]
        expected = " or ".join(self.modules()[0] + suffix for suffix in MODULE_SUFFIXES)
        if not found:
            raise UsageError(f"no {expected} in {Path.cwd()}: save your work there, or name the file to check")
        raise UsageError(f"both {' and '.join(str(path) for path in found)} are here: name the one to check")

    def _check_notebook_json(self, notebook: dict[str, Any]) -> CheckedFile:
        from grader.kit.selfcheck import check_submission

        module = self.modules()[0]
        with tempfile.TemporaryDirectory(prefix="grader-check-") as staging:
            folder = Path(staging) / "notebook"
            folder.mkdir()
            (folder / f"{module}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
            report = check_submission(self.kit, folder, isolation=self.isolation, data_dir=self.data_dir)
        return self._result(report, Path(f"{module}.ipynb"), saved=time.strftime("%H:%M:%S"))

    def _result(self, report: GradeReport, checked: Path, *, saved: str) -> CheckedFile:
        from rich.console import Console

        from grader.reports.render import render_inline_feedback
        from grader.reports.terminal import print_report

        # force_jupyter=False: in a Jupyter kernel rich would display each print as an output block,
        # whatever the file, and the report would show twice (those blocks, then the HTML).
        console = Console(file=io.StringIO(), width=shutil.get_terminal_size((100, 24)).columns,
                          color_system=None, highlight=False, soft_wrap=False, force_jupyter=False)
        print_report(report, console=console, advice=False)
        text = console.file.getvalue()  # type: ignore[attr-defined]
        note = (f"Checked the saved file {checked}" + (f" (saved {saved})" if saved else "")
                + ": changes you have not saved are not graded.")
        return CheckedFile(report=report, checked=checked, saved=saved,
                           html=render_inline_feedback(report, checked=checked.name, saved=saved,
                                                       data_dir=self.data_dir),
                           text=f"{note}\n{text}")


def _colab_notebook() -> dict[str, Any] | None:
    """The running notebook's JSON when in Google Colab (as it is in the browser), else None."""
    try:
        from google.colab import _message  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=30)
    except Exception:  # noqa: BLE001 - an older Colab: fall back to the files on disk
        return None
    notebook = reply.get("ipynb") if isinstance(reply, dict) else None
    return notebook if isinstance(notebook, dict) else None
