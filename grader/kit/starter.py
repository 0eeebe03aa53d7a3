"""Starter code from the reference: the module (and notebook) students start from.

As otter-grader's and nbgrader's assign steps do, the student's file is made from the instructor's
solution rather than kept beside it by hand, so the two never disagree on a name or a signature:

- every function and class the spec grades keeps its signature, decorators and docstring (a
  class keeps its class-level lines and each method, processed the same way);
- code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines (nbgrader's ``### BEGIN
  SOLUTION`` too) becomes ``raise NotImplementedError`` at that indentation, so an instructor keeps
  what students should be given (an ``__init__`` setting up attributes, a loop's skeleton); a
  graded function without markers keeps nothing of its body;
- the module's imports and top-level constants are kept, its docstring replaced by one telling
  students what to do; functions and classes the spec does not grade, and methods whose names
  start with one underscore (the reference's own helpers), are left out.

It reads the reference as text with ``ast`` positions and never runs it.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

from grader.spec import Assignment

_BEGIN = re.compile(r"^\s*#+\s*BEGIN SOLUTION\b")
_END = re.compile(r"^\s*#+\s*END SOLUTION\b")
TODO = "raise NotImplementedError  # your code here"


def graded_names(assignment: Assignment, module: str) -> set[str]:
    """The functions and classes of ``module`` the spec grades: problems' functions and the names
    their scenarios call."""
    names: set[str] = set()
    for problem in assignment.problems:
        if assignment.module_of(problem) != module:
            continue
        if problem.steps is None:
            names.add(problem.function_name)
        else:
            names |= set(problem.steps.global_names())
    return names


def starter_source(reference: str, names: set[str], title: str) -> str:
    """The starter module made from the reference's source: see the module docstring."""
    lines = reference.splitlines()
    tree = ast.parse(reference)
    kept: list[str] = []
    cursor = 0
    for node in tree.body:
        start = _first_line(node)
        end = node.end_lineno or node.lineno
        if node is tree.body[0] and _is_docstring(node):
            # The reference's docstring speaks of the solution; the student's says what to do.
            kept += [f'"""{title}: complete every function and class below, as the handout describes."""']
            cursor = end
            continue
        if _assigns_all(node):  # `__all__` would list the reference's helpers too
            kept += _trimmed(lines[cursor:start])
            cursor = end
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name not in names:
            kept += _trimmed(lines[cursor:start])  # comments and blank lines before it stay where they were
            cursor = end
            continue
        kept += lines[cursor:start]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kept += _function(node, lines)
        elif isinstance(node, ast.ClassDef):
            kept += _class(node, lines)
        else:
            kept += lines[start:end]
        cursor = end
    kept += lines[cursor:]
    text = "\n".join(kept).rstrip() + "\n"
    return re.sub(r"\n{4,}", "\n\n\n", text)


def _trimmed(lines: list[str]) -> list[str]:
    """Only the blank lines of what stood before a left-out definition (its comments describe it)."""
    return [line for line in lines if not line.strip()][:2]


def _first_line(node: ast.stmt) -> int:
    """0-based index of a statement's first line, its decorators included."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)]) - 1


def _function(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> list[str]:
    start, end = _first_line(node), node.end_lineno or node.lineno
    if any(_BEGIN.match(line) for line in lines[start:end]):
        return _replace_solutions(lines[start:end])
    first = node.body[0]
    if first.lineno == node.lineno:  # `def f(x): return x`: no line of the body to keep apart
        stub = copy.copy(node)
        stub.body, stub.decorator_list = ast.parse(TODO).body, []
        stub = ast.unparse(stub)
        return [*lines[start:node.lineno - 1], *(_indent_of(lines[node.lineno - 1]) + line for line in stub.splitlines())]
    header = lines[start:first.end_lineno if _is_docstring(first) else first.lineno - 1]
    return [*header, _indent_of(lines[first.lineno - 1]) + TODO]


def _class(node: ast.ClassDef, lines: list[str]) -> list[str]:
    start, first = _first_line(node), node.body[0]
    if first.lineno == node.lineno:  # `class Empty: pass`
        return lines[start:node.end_lineno]
    out = lines[start:_first_line(first)]
    cursor = _first_line(first)
    for item in node.body:
        item_start, item_end = _first_line(item), item.end_lineno or item.lineno
        method = isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        if method and _private(item.name):  # the reference's own helper method: left out
            cursor = item_end
            continue
        out += lines[cursor:item_start]
        out += _function(item, lines) if method else lines[item_start:item_end]
        cursor = item_end
    return out


def _replace_solutions(source: list[str]) -> list[str]:
    out: list[str] = []
    inside = False
    for line in source:
        if _BEGIN.match(line):
            inside = True
            out.append(_indent_of(line) + TODO)
        elif _END.match(line):
            inside = False
        elif not inside:
            out.append(line)
    return out


def _assigns_all(node: ast.stmt) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def starter_notebook(source: str, title: str) -> str:
    """The starter module as a Jupyter notebook (nbformat 4.5): a title cell, then one code cell per
    top-level block (the imports together, then each function or class), as students fill it in."""
    tree = ast.parse(source)
    lines = source.splitlines()
    blocks: list[str] = []
    header: list[str] = []
    for node in tree.body:
        text = "\n".join(lines[_first_line(node):node.end_lineno]).strip("\n")
        if _is_docstring(node):
            continue  # the module docstring becomes the title cell's text
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            blocks.append(text)
        else:
            header.append(text)
    intro = ast.get_docstring(tree) or ""
    cells = [_cell("markdown", f"# {title}\n\n{intro}".strip())]
    if header:
        cells.append(_cell("code", "\n".join(header)))
    cells += [_cell("code", block) for block in blocks]
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1) + "\n"


def _cell(kind: str, text: str) -> dict[str, object]:
    cell: dict[str, object] = {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def write_starter(assignment: Assignment, out: Path) -> list[Path]:
    """Write ``MODULE.py`` and ``MODULE.ipynb`` for each Python module the spec grades from its
    reference (a model problem's own module is not a starter: its reference is a trained model)."""
    if assignment.reference_path is None:
        return []
    reference = assignment.reference_path.read_text(encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for module in sorted({assignment.module_of(problem) for problem in assignment.problems}):
        names = graded_names(assignment, module)
        if not names or module != assignment.module:
            continue
        source = starter_source(reference, names, assignment.title or module)
        (out / f"{module}.py").write_text(source, encoding="utf-8")
        (out / f"{module}.ipynb").write_text(starter_notebook(source, assignment.title or module), encoding="utf-8")
        written += [out / f"{module}.py", out / f"{module}.ipynb"]
    return written
