"""What the fork server imports before it forks workers: torch only when the run needs it.

Importing torch costs about two seconds of CPU and makes every fork dearer, so a numpy-only class
never pays for it. A run needs torch when its spec does (an MNIST model, a tensor argument, a
gradient by autograd, a scenario's ``grad``/``load_state_dict``) or when a submission imports it.
Submissions are read here with ``ast`` in the trusted process, never run: a ``.py`` file's
``import``/``from`` statements anywhere in it, or a notebook's code cells.

A wrong guess costs time, never a verdict's honesty: a worker whose fork server did not preload
torch imports it itself when the student's code does (the student's time limits then include
that import, which is why the guess errs on the side of preloading).
"""

from __future__ import annotations

import ast
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.sandbox.notebook import NotebookError, parse_cells, without_magics

if TYPE_CHECKING:  # the spec's models are not imported: reading a folder's imports must stay cheap
    from grader.spec import Assignment

TORCH = "torch"
_TORCH_BUILTINS = frozenset({"grad", "load_state_dict"})
"""Scenario builtins that run torch in the worker."""
SOURCE_SUFFIXES = (".py", ".ipynb")
MAX_SOURCE_FILES = 500
MAX_SOURCE_BYTES = 4 * 1024 * 1024
"""Larger source files are not read for their imports."""
PARSE_BUDGET = 512 * 1024
"""Characters of one submission's sources that may be parsed with ``ast`` (a few ms each KiB, and
memory many times the text): what does not fit and names torch counts as importing it, so a
submission cannot make the trusted process slow or huge, only its own run a little dearer."""
READ_BUDGET = 16 * 1024 * 1024
"""Characters of one submission's sources that are read at all (a zip's members are unpacked to be
read): a submission with more counts as importing torch, and the rest is not read."""


def spec_needs_torch(assignment: Assignment) -> bool:
    """Whether grading this spec runs torch in the worker, whatever the student wrote."""
    for problem in assignment.problems:
        for check in problem.checks:
            if check.kind == "accuracy" or getattr(check, "method", None) == "autograd":
                return True
        if any(_has_tensor(case.model_dump()) for case in problem.cases):
            return True
        if problem.steps is not None and _uses_builtins(list(problem.steps.steps), _TORCH_BUILTINS):
            return True
    return False


def imports_torch(sources: Iterable[tuple[str, str]], *, budget: int = PARSE_BUDGET,
                  read_budget: int = READ_BUDGET) -> bool:
    """Whether any of a submission's files, as (name, text) of its ``.py`` files and notebooks,
    imports torch. A file that does not parse counts as not importing it; code beyond ``budget``
    characters in all that names torch counts as importing it, unparsed, and so do sources beyond
    ``read_budget`` characters in all, unread."""
    for name, text in sources:
        read_budget -= len(text)
        if read_budget < 0:
            return True
        if TORCH not in text:  # no need to parse what cannot name it (most of a numpy class)
            continue
        codes = _notebook_codes(name, text) if name.endswith(".ipynb") else [text]
        for code in codes:
            if TORCH not in code:
                continue
            budget -= len(code)
            if budget < 0 or TORCH in _imported_packages(code):
                return True
    return False


def modules_to_preload(assignment: Assignment, submissions: Iterable[Iterable[tuple[str, str]]]) -> tuple[str, ...]:
    """The modules the fork server should import for this run (empty, or ``("torch",)``), given
    each submission's sources (read lazily: the first that imports torch ends the reading)."""
    if spec_needs_torch(assignment) or any(imports_torch(sources) for sources in submissions):
        return (TORCH,)
    return ()


def folder_sources(folder: Path) -> Iterator[tuple[str, str]]:
    """(relative name, text) of a folder's Python files and notebooks, links not followed."""
    seen = 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            seen += 1
            if seen > MAX_SOURCE_FILES:
                return
            path = Path(root) / name
            try:
                info = path.lstat()
                if path.suffix in SOURCE_SUFFIXES and stat.S_ISREG(info.st_mode) and info.st_size <= MAX_SOURCE_BYTES:
                    yield str(path.relative_to(folder)), path.read_text("utf-8", errors="replace")
            except OSError:
                continue


def _has_tensor(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("tensor") is True or any(_has_tensor(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_tensor(item) for item in value)
    return False


def _uses_builtins(node: Any, names: frozenset[str]) -> bool:
    if isinstance(node, list):
        if len(node) == 2 and node[0] == "builtin" and node[1] in names:
            return True
        return any(_uses_builtins(item, names) for item in node)
    if isinstance(node, dict):
        return any(_uses_builtins(item, names) for item in node.values())
    return False


def _notebook_codes(name: str, text: str) -> list[str]:
    try:
        return [without_magics(source) for _, source in parse_cells(text, name)]
    except NotebookError:
        return []


def _imported_packages(source: str) -> set[str]:
    """Top-level packages named by the import statements of ``source``."""
    try:
        # Parsed before any grading thread runs, so never beside numpy's .npy header parsing
        # (see ``grader.wire.AST_LOCK``).
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    packages = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            packages |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            packages.add(node.module.split(".")[0])
    return packages
