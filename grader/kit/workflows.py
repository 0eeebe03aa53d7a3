"""Continuous integration on submission repositories: workflow files and the job summary.

``grader init-ci KIT --out REPO`` copies the student kit into the repository (``tests-grader/`` by
default) and writes two workflow files that need nothing else:

- ``.github/workflows/grader.yml`` (GitHub Actions): checkout, Python 3.11, PyTorch's CPU build,
  the grader, ``grader ci``; the JUnit file is uploaded as an artifact and published as a check
  run by ``dorny/test-reporter`` (``reporter: java-junit``). With ``--os windows-latest`` and/or
  ``--os macos-latest`` the job is a matrix over ubuntu-latest and those, in bash everywhere, with
  torch from PyTorch's CPU index on Linux and Windows and from PyPI on macOS (CPU wheels there);
- ``.gitlab-ci.yml`` (GitLab CI): the same in a ``python:3.11`` image, the JUnit file declared under
  ``artifacts: reports: junit:`` so that merge requests and the Tests tab show it.

Where the spec names an ``environment``, torch and NumPy are installed at exactly its versions.
The grader is installed with ``pip install dl-grader``, or whatever requirement the instructor passes
as ``--grader-spec`` (a pinned version, ``git+https://host/course/grader.git@v1``...). The files are
rendered from the Jinja templates in ``grader/reports/templates/ci/``; values land in YAML as quoted
strings and in shell commands quoted by ``shlex``.

``grader ci`` appends ``markdown_summary`` to ``$GITHUB_STEP_SUMMARY`` when GitHub sets it.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2

from grader.errors import UsageError
from grader.grading import environment
from grader.kit.selfcheck import KIT_SPEC, STUDENT_KIT_DIR, is_kit
from grader.results import GradeReport, ProblemResult
from grader.spec import load_spec

TORCH_REQUIREMENT = "torch==2.13.0"
"""PyTorch as in the README's install commands: the course machines' CPU build, installed before the
grader (whose own torch range it satisfies, so the grader adds no CUDA build)."""
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
DEFAULT_GRADER_SPEC = "dl-grader"
SYSTEMS = ("ubuntu-latest", "windows-latest", "macos-latest")
"""GitHub-hosted runners the workflow can run on; ubuntu-latest always."""
JUNIT_FILE = "grader-junit.xml"
GITHUB_WORKFLOW = Path(".github/workflows/grader.yml")
GITLAB_CI = Path(".gitlab-ci.yml")

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("grader.reports", "templates/ci"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # YAML, not HTML: values are quoted by the filters below
    keep_trailing_newline=True,
)
# A JSON string is a valid YAML double-quoted scalar.
_environment.filters["yaml"] = json.dumps


@dataclass(frozen=True)
class Workflows:
    """What ``init_ci`` wrote."""

    kit: Path
    files: tuple[Path, ...]


def _single_line(value: str, what: str) -> str:
    if not value.strip() or any(char in value for char in "\r\n\0"):
        raise UsageError(f"{what} must be a single non-empty line, got {value!r}")
    return value


def render_workflows(
    assignment: str,
    *,
    kit_dir: str = STUDENT_KIT_DIR,
    grader_spec: str = DEFAULT_GRADER_SPEC,
    min_score: float | None = None,
    systems: tuple[str, ...] = (),
    pins: dict[str, str] | None = None,
) -> dict[Path, str]:
    """The workflow files' text, by path relative to the repository.

    ``systems``: GitHub runners besides ubuntu-latest (``SYSTEMS``) to check on too (GitLab's
    job stays on Linux: its shared Windows and macOS runners are not generally available).
    ``pins``: the spec's environment (``grading.environment.pinned``): torch and NumPy installed at
    exactly those versions.
    """
    pins = pins or {}
    torch_requirement = f"torch=={pins['torch']}" if "torch" in pins else TORCH_REQUIREMENT
    kit_dir = _single_line(kit_dir, "the kit folder")
    grader_spec = _single_line(grader_spec, "--grader-spec")
    unknown = [system for system in systems if system not in SYSTEMS]
    if unknown:
        raise UsageError(f"unknown runner {unknown[0]!r}; choose from {', '.join(SYSTEMS)}")
    every = tuple(system for system in SYSTEMS if system == SYSTEMS[0] or system in systems)
    cpu_torch = f"pip install {shlex.quote(torch_requirement)} --index-url {shlex.quote(TORCH_INDEX)}"
    numpy = f"{shlex.quote('numpy==' + pins['numpy'])} " if "numpy" in pins else ""
    install = [
        "python -m pip install --upgrade pip",
        cpu_torch,
        f"pip install {numpy}{shlex.quote(grader_spec)}",
    ]
    github_install = list(install)
    if "macos-latest" in every:
        # PyPI's macOS wheels are the CPU build; the CPU index is for Linux and Windows.
        github_install[1] = (f'if [ "$RUNNER_OS" = macOS ]; then pip install {shlex.quote(torch_requirement)}; '
                             f"else {cpu_torch}; fi")
    check = f"grader ci {shlex.quote(kit_dir)} . --junit {JUNIT_FILE}"
    if min_score is not None:
        check += f" --min-score {min_score:g}"
    pass_rule = f"the score reaches {min_score:g} points" if min_score is not None else "every public check passes"
    context = {"assignment": assignment, "kit_dir": kit_dir, "install": install, "check": check,
               "junit": JUNIT_FILE, "pass_rule": pass_rule, "systems": every, "matrix": len(every) > 1}
    return {
        GITHUB_WORKFLOW: _environment.get_template("github-actions.yml.j2").render(
            {**context, "install": github_install}),
        GITLAB_CI: _environment.get_template("gitlab-ci.yml.j2").render(context),
    }


def init_ci(
    kit: Path,
    repo: Path,
    *,
    kit_dir: str = STUDENT_KIT_DIR,
    grader_spec: str = DEFAULT_GRADER_SPEC,
    min_score: float | None = None,
    force: bool = False,
    systems: tuple[str, ...] = (),
) -> Workflows:
    """Copy a kit into a submission repository and write its workflow files.

    Raises:
        UsageError: ``kit`` is not a student kit, the kit folder would leave the repository, or a
            workflow file exists already (unless ``force``).
    """
    if not is_kit(kit):
        raise UsageError(f"{kit} is not a student kit (make one with `grader bundle ASSIGNMENT --out KIT`)")
    relative = Path(_single_line(kit_dir, "the kit folder"))
    if relative.is_absolute() or ".." in relative.parts:
        raise UsageError(f"the kit folder must be a path inside the repository, got {kit_dir!r}")
    assignment = load_spec(kit / KIT_SPEC, check_files=False)
    files = render_workflows(assignment.assignment, kit_dir=relative.as_posix(), grader_spec=grader_spec,
                             min_score=min_score, systems=systems, pins=environment.pinned(assignment))
    existing = [path for path in files if (repo / path).exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(str(repo / path) for path in existing)} exist already; --force replaces them")
    target = repo / relative
    if target.exists():
        if not (is_kit(target) or force):
            raise UsageError(f"{target} exists and is not a student kit; choose another --kit-dir")
        shutil.rmtree(target)
    shutil.copytree(kit, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    written = []
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
        written.append(repo / path)
    return Workflows(kit=target, files=tuple(written))


def _cell(text: str, limit: int = 160) -> str:
    """Student-influenced text made safe for one Markdown table cell."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`")):
        text = text.replace(char, escaped)
    return text


def _status(problem: ProblemResult) -> str:
    if problem.max_score == 0:
        return "⏭️ skipped"
    return "✅ passed" if problem.passed else "❌ failed"


def markdown_summary(report: GradeReport, *, passed: bool) -> str:
    """A Markdown table of problems and scores, for a CI job's summary page."""
    verdict = "passed" if passed else "failed"
    lines = [
        f"### grader: {report.assignment}, {report.score:.2f} / {report.max_score:.2f} points on the public checks "
        f"({verdict})",
        "",
        "| Problem | Score | Points | Result | First problem |",
        "|---|---:|---:|---|---|",
    ]
    for problem in report.problems:
        lines.append(f"| `{problem.problem}` | {problem.score:.2f} | {problem.max_score:.2f} | {_status(problem)} "
                     f"| {_cell(problem.failure) if not problem.passed else ''} |")
    lines += ["", "Hidden cases are graded after the deadline: passing every public check is necessary, not "
              "sufficient.", ""]
    return "\n".join(lines)


def append_step_summary(report: GradeReport, *, passed: bool, path: str | None) -> None:
    """Append the summary to ``path`` (``$GITHUB_STEP_SUMMARY``); nothing when it is unset."""
    if not path:
        return
    with open(path, "a", encoding="utf-8", errors="replace") as stream:
        stream.write(markdown_summary(report, passed=passed))
