"""Import a Jupyter notebook as a module: its code cells, in order, are the module's source.

Runs in the worker, on the student's file. Lines that start with ``%`` or ``!`` (IPython magics
and shell commands) become ``pass`` at the same indentation, so line numbers stay those of the
cell; markdown cells and stored outputs are ignored. Each cell is compiled under its own file
name, ``hw4.ipynb, cell 3``, and registered with ``linecache``, so a traceback points at the
cell and line the student sees in Jupyter, never at a generated file.

The format is read with ``json`` (nbformat 4: ``cells``, ``cell_type``, ``source``): the worker
imports as little as it can, and these three fields are all the grader needs of a notebook.
"""

from __future__ import annotations

import json
import linecache
import re
import types
from pathlib import Path

_MAGIC = re.compile(r"^(\s*)[%!]")


class NotebookError(Exception):
    """The file is not a notebook the grader can read; the message says why, for the student."""


def code_cells(path: Path) -> list[tuple[int, str]]:
    """(cell number counted from 1 over all cells, as Jupyter shows them, source) of each code cell."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name} is not a text file; save the notebook from Jupyter (File > Save)") from None
    return parse_cells(text, path.name)


def parse_cells(text: str, name: str) -> list[tuple[int, str]]:
    """``code_cells`` of a notebook's text; ``name`` is the file's, for messages."""
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(f"{name} is not a valid notebook: it is not JSON ({error.msg} at line "
                            f"{error.lineno}); save it again from Jupyter, or hand in a .py file") from None
    except RecursionError:
        raise NotebookError(f"{name} is not a valid notebook: it is nested too deeply") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        version = notebook.get("nbformat") if isinstance(notebook, dict) else None
        raise NotebookError(f"{name} is not a Jupyter notebook of format 4 (it has no list of cells"
                            + (f"; nbformat {version!r}" if version is not None else "") + ")")
    cells = []
    for number, cell in enumerate(notebook["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        cells.append((number, str(source)))
    return cells


def without_magics(source: str) -> str:
    """``%magic`` and ``!shell`` lines replaced by ``pass``, keeping indentation and line numbers."""
    return "\n".join(_MAGIC.sub(r"\1pass  # ", line, count=1) if _MAGIC.match(line) else line
                     for line in source.split("\n"))


def load(path: Path, module: types.ModuleType) -> None:
    """Run the notebook's code cells in ``module``'s namespace (the module is already registered)."""
    for number, source in code_cells(path):
        filename = f"{path}, cell {number}"
        code = without_magics(source)
        linecache.cache[filename] = (len(code), None, [line + "\n" for line in code.split("\n")], filename)
        exec(compile(code, filename, "exec"), module.__dict__)  # noqa: S102 - the student's own code, in the worker
