"""Import a Jupyter notebook as a module, cell by cell, as Jupyter (and otter-grader) runs it.

Runs in the worker, on the student's file. Each code cell is compiled and run on its own in the
module's namespace: a cell that fails (a syntax error, an exception, even ``sys.exit`` or
``KeyboardInterrupt`` raised by the cell) stops only itself; what it defined before the failing line
and everything the other cells define is graded. Each failure is kept (``CellFailure``) for the
feedback, which names the cell, the line and the error.

Lines meant for Jupyter, Colab or another grader are not run, and the feedback lists them
(``Neutralised``):

- IPython magics and shell lines are not Python, so they are found the way IPython finds them,
  by line: a cell that parses as Python is left as it is; otherwise a line starting with ``%`` or
  ``!`` becomes ``pass`` at the same indentation (``%time stmt`` keeps its statement), so line
  numbers stay those of the cell. A cell magic (``%%bash``...) makes the whole cell not Python and
  it is skipped, except ``%%capture`` and ``%%time``, whose body is Python and runs.
- Another grader's or Colab's statements are removed from the parsed cell (``ast``), never by text:
  an ``import`` of ``otter`` or ``google.colab`` is dropped and the names it binds are marked; then
  a statement whose expression starts from a marked name (``grader = otter.Notebook(...)``,
  ``grader.check("q1")``, ``drive.mount(...)``) is dropped, and the names it assigns are marked in
  turn. Any other module-level binding of a marked name (the student's own ``grader = ...``) unmarks
  it, so the student's own code is never touched. The rest of the cell runs: a cell mixing
  ``import numpy as np`` and ``drive.mount(...)`` keeps its numpy import. Jupyter's own modules
  (``IPython.display``, ``ipywidgets``) are treated so only where they are not installed.

Each cell is compiled under its own file name, ``hw4.ipynb, cell 3`` (its position among all cells,
as counted from the top of the notebook), and registered with ``linecache``, so a traceback points
at the cell and line the student sees, never at a generated file.

The format is read with ``json`` (nbformat 4: ``cells``, ``cell_type``, ``source``): the worker
imports as little as it can, and these three fields are all the grader needs of a notebook.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import linecache
import re
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

_MAGIC = re.compile(r"^(\s*)[%!]")
_LINE_MAGIC = re.compile(r"^(\s*)(%{1,2}|!{1,2})\s*([\w.-]*)(.*)$")

TOOL_MODULES = {"otter": "otter-grader", "google.colab": "Colab"}
"""Modules of other tools that a notebook imports to be graded or run elsewhere: not run here."""
JUPYTER_MODULES = {"IPython": "Jupyter's display", "ipywidgets": "Jupyter's widgets"}
"""Jupyter's own modules: run where they are installed, else treated as ``TOOL_MODULES`` (a cell's
``from IPython.display import display`` must not cost the rest of the cell)."""

PYTHON_CELL_MAGICS = frozenset({"capture", "time"})
"""Cell magics whose body is Python that Jupyter runs once in the notebook's namespace."""

QUIET_MAGICS = frozenset({"matplotlib", "load_ext", "reload_ext", "autoreload", "aimport", "config",
                          "precision", "time", "pylab"})
"""Line magics about the notebook's display or reloading: skipped without a word in the feedback."""

MAX_SHOWN = 70
"""Longest snippet of a neutralised line quoted in the feedback, in characters."""
MAX_FAILURES_SHOWN = 10
MAX_TRACEBACK = 1500
MAX_NEUTRALISED_SHOWN = 20
"""How many failed cells and neutralised lines the feedback lists, and how much of each traceback."""


class NotebookError(Exception):
    """The file is not a notebook the grader can read; the message says why, for the student."""


@dataclass(frozen=True)
class Neutralised:
    """A line of a cell that was not run because it belongs to another tool."""

    cell: int
    line: int
    text: str
    """The line as written (first line of the statement), cut to ``MAX_SHOWN`` characters."""
    tool: str
    """Whose it is: 'otter-grader', 'Colab', 'a package install', 'a shell command', 'IPython'."""


@dataclass(frozen=True)
class CellFailure:
    """A cell that failed: where, and the error as the worker's ``explain`` worded it."""

    cell: int
    line: int
    syntax: bool
    """A syntax error: nothing of the cell ran. Otherwise the cell ran up to ``line``."""
    message: str
    traceback: str
    missing: frozenset[str] = frozenset()
    """Names the cell binds at module level that are not defined after it failed."""
    source: str = field(default="", repr=False)

    def mentions(self, name: str) -> bool:
        """Whether the cell would have defined ``name``: known for a cell that parsed; for one that
        did not, whether its text has the name as a word (the feedback says "mentions")."""
        if name in self.missing:
            return True
        return self.syntax and re.search(rf"(?<![\w.]){re.escape(name)}\b", self.source) is not None


@dataclass(frozen=True)
class Loaded:
    """What became of a notebook's cells once run."""

    name: str
    """The notebook's file name, as the student knows it (``hw4.ipynb``)."""
    failures: tuple[CellFailure, ...] = ()
    neutralised: tuple[Neutralised, ...] = ()
    marked: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Names left bound to another tool's objects (which were not made), with the cell and tool."""

    def failure_defining(self, name: str) -> CellFailure | None:
        """The failed cell that would have defined ``name``, if one did."""
        return next((failure for failure in self.failures if failure.mentions(name)), None)

    def why_undefined(self, name: str) -> str:
        """Why ``name`` may be missing from the module, in one clause, or ''."""
        failure = self.failure_defining(name)
        if failure is not None:
            if failure.syntax:
                return f"cell {failure.cell}, which mentions it, could not run ({failure.message})"
            at = f" at line {failure.line}" if failure.line else ""
            return f"cell {failure.cell} failed{at} before defining it ({failure.message})"
        if name in self.marked:
            cell, tool = self.marked[name]
            return f"it is {tool}'s, from cell {cell}, which is not run here"
        return ""


    def notes(self) -> list[str]:
        """The feedback on the cells, one note per failed cell and one for the lines not run, bounded
        in number and size (the grader bounds them again on its side)."""
        notes = []
        for failure in self.failures[:MAX_FAILURES_SHOWN]:
            where = f" (line {failure.line})" if failure.line else ""
            if failure.syntax:
                head = (f"{self.name}, cell {failure.cell} could not run: {failure.message}{where}. Nothing "
                        "in it is graded; the other cells are.")
            elif failure.line:
                head = (f"{self.name}, cell {failure.cell} stopped at line {failure.line}: {failure.message}. "
                        "What it defined before that line is graded, as are the other cells.")
            else:
                head = (f"{self.name}, cell {failure.cell} stopped: {failure.message}. What it defined before "
                        "is graded, as are the other cells.")
            trace = failure.traceback if len(failure.traceback) <= MAX_TRACEBACK else \
                "..." + failure.traceback[-MAX_TRACEBACK:]
            notes.append(head + (f"\n{trace.rstrip()}" if trace.strip() else ""))
        if len(self.failures) > MAX_FAILURES_SHOWN:
            notes.append(f"{self.name}: {len(self.failures) - MAX_FAILURES_SHOWN} more cells failed too.")
        if self.neutralised:
            cells: dict[int, list[tuple[str, list[str]]]] = {}
            for item in self.neutralised[:MAX_NEUTRALISED_SHOWN]:
                groups = cells.setdefault(item.cell, [])
                if groups and groups[-1][0] == item.tool:
                    groups[-1][1].append(f"`{item.text}`")
                else:
                    groups.append((item.tool, [f"`{item.text}`"]))
            listed = "; ".join(f"cell {cell}: " + ", ".join(f"{', '.join(texts)} ({tool})" for tool, texts in groups)
                               for cell, groups in cells.items())
            more = len(self.neutralised) - MAX_NEUTRALISED_SHOWN
            notes.append(f"{self.name}: lines for another tool were not run (they do nothing here): {listed}"
                         + (f"; and {more} more" if more > 0 else "") + ".")
        return notes


Explain = Callable[[BaseException], tuple[str, str]]
"""The worker's wording of a cell's error: (one-line message, trimmed traceback)."""


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


def _shown(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _magic_tool(marker: str, name: str, rest: str = "") -> str:
    if name in ("pip", "pip3", "conda", "mamba", "apt", "apt-get") and rest.split()[:1] == ["install"]:
        return "a package install"
    if marker.startswith("!") or (marker == "%%" and name in ("bash", "sh", "script", "system")):
        return "a shell command"
    return "IPython"


def python_of(cell: int, source: str) -> tuple[str, list[Neutralised]]:
    """The Python a cell runs, as many lines as the cell, and the magic lines that were dropped."""
    lines = source.split("\n")
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        magic = _LINE_MAGIC.match(lines[first])
        name = magic.group(3) if magic else ""
        if name not in PYTHON_CELL_MAGICS:
            # The body is a shell script, HTML, a file to write...: none of it is Python.
            return "", [Neutralised(cell, first + 1, _shown(lines[first]), _magic_tool("%%", name))]
        quiet = name in QUIET_MAGICS
        dropped = [] if quiet else [Neutralised(cell, first + 1, _shown(lines[first]), "IPython")]
        lines[first] = "pass"
        source = "\n".join(lines)
        body, more = python_of(cell, source)
        return body, dropped + more
    try:
        ast.parse(source)
        return source, []
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass  # magics, or a real error that ``load`` meets again and reports
    dropped = []
    for index, line in enumerate(lines):
        magic = _LINE_MAGIC.match(line) if _MAGIC.match(line) else None
        if magic is None:
            continue
        indent, marker, name, rest = magic.groups()
        if marker == "%" and name == "time" and rest.strip():
            lines[index] = indent + rest.strip()  # %time stmt runs stmt, as in Jupyter
            continue
        lines[index] = indent + "pass"
        if not (marker == "%" and name in QUIET_MAGICS):
            dropped.append(Neutralised(cell, index + 1, _shown(line), _magic_tool(marker, name, rest)))
    return "\n".join(lines), dropped


def _tool_of(module: str, tools: dict[str, str]) -> str | None:
    for prefix, tool in tools.items():
        if module == prefix or module.startswith(prefix + "."):
            return tool
    return None


def _root_name(node: ast.expr) -> str | None:
    """The name an expression starts from: ``grader`` of ``grader.check("q1").x[0]()``."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def bound_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Names the statements bind in the module's namespace (not those of the functions they define)."""
    names: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            stack.extend(node.decorator_list)
            continue
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name != "*"}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return names


class _Neutraliser:
    """Removes other tools' statements from the cells, in order; ``marked`` persists across cells."""

    def __init__(self, tools: dict[str, str]) -> None:
        self.tools = tools
        self.marked: dict[str, tuple[int, str]] = {}
        self.dropped: list[Neutralised] = []
        self._cell = 0
        self._lines: list[str] = []

    def cell(self, number: int, tree: ast.Module, source: str) -> None:
        self._cell = number
        self._lines = source.split("\n")
        tree.body = self._body(tree.body)

    def _drop(self, statement: ast.stmt, tool: str) -> None:
        line = self._lines[statement.lineno - 1] if 0 < statement.lineno <= len(self._lines) else ""
        self.dropped.append(Neutralised(self._cell, statement.lineno, _shown(line), tool))

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        kept = [statement for statement in (self._statement(item) for item in body) if statement is not None]
        if body and not kept:
            kept = [ast.copy_location(ast.Pass(), body[0])]
        return kept

    def _statement(self, statement: ast.stmt) -> ast.stmt | None:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            return self._import(statement)
        value = getattr(statement, "value", None)
        if isinstance(statement, (ast.Expr, ast.Assign, ast.AnnAssign)) and isinstance(value, ast.expr):
            root = _root_name(value)
            if root in self.marked:
                tool = self.marked[root][1]
                self._drop(statement, tool)
                for name in bound_names([statement]):
                    self.marked[name] = (self._cell, tool)
                return None
        if isinstance(statement, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)) \
                or type(statement).__name__ == "TryStar":
            # Module-level blocks: their headers bind before their bodies run.
            headers = [getattr(statement, name) for name in ("target", "items") if hasattr(statement, name)]
            self._unmark(bound_names(node for header in headers
                                     for node in (header if isinstance(header, list) else [header])))
            for name in ("body", "orelse", "finalbody"):
                if getattr(statement, name, None):
                    setattr(statement, name, self._body(getattr(statement, name)))
            for handler in getattr(statement, "handlers", []):
                if handler.name:
                    self._unmark({handler.name})
                handler.body = self._body(handler.body)
            return statement
        self._unmark(bound_names([statement]))
        return statement

    def _import(self, statement: ast.Import | ast.ImportFrom) -> ast.stmt | None:
        kept, tools = [], []
        for alias in statement.names:
            if isinstance(statement, ast.ImportFrom):
                module = "." if statement.level else (statement.module or "")
                tool = _tool_of(module, self.tools) or _tool_of(f"{module}.{alias.name}", self.tools)
            else:
                tool = _tool_of(alias.name, self.tools)
            bound = alias.asname or alias.name.split(".")[0]
            if tool is None:
                kept.append(alias)
                if alias.name != "*":
                    self.marked.pop(bound, None)
            else:
                tools.append(tool)
                self.marked[bound] = (self._cell, tool)
        if not tools:
            return statement
        self._drop(statement, tools[0])
        if not kept:
            return None
        statement.names = kept
        return statement

    def _unmark(self, names: set[str]) -> None:
        for name in names:
            self.marked.pop(name, None)


def _failed_line(error: BaseException, filename: str, *, compiling: bool) -> int:
    """The cell's line where ``error`` was raised (the last frame in the cell), or 0."""
    if compiling:
        line = getattr(error, "lineno", 0)
        return line if type(line) is int else 0
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == filename]
    return (frames[-1].lineno or 0) if frames else 0


def _explained(explain: Explain, error: BaseException) -> tuple[str, str]:
    """``explain``'s wording, or the exception's class name should the error's own code (a
    ``__str__``, the ``repr`` of a ``sys.exit`` code) fail while it is worded."""
    try:
        return explain(error)
    except BaseException:  # noqa: BLE001 - the student's exception object, at work in its methods
        return type(error).__name__, ""


def load(path: Path, module: types.ModuleType, explain: Explain) -> Loaded:
    """Run the notebook's code cells in ``module``'s namespace (the module is already registered),
    each on its own; a cell's failure is recorded, worded by ``explain``, and the next cell runs."""
    failures: list[CellFailure] = []
    magics: list[Neutralised] = []
    absent = {name: tool for name, tool in JUPYTER_MODULES.items() if importlib.util.find_spec(name) is None}
    neutraliser = _Neutraliser({**TOOL_MODULES, **absent})
    namespace = module.__dict__
    for number, source in code_cells(path):
        filename = f"{path}, cell {number}"
        code, dropped = python_of(number, source)
        magics += dropped
        linecache.cache[filename] = (len(code), None, [line + "\n" for line in code.split("\n")], filename)
        tree: ast.Module | None = None
        running = False
        try:
            tree = ast.parse(code, filename)
            neutraliser.cell(number, tree, code)
            compiled = compile(tree, filename, "exec")
            running = True
            exec(compiled, namespace)  # noqa: S102 - the student's own code, in the worker
        except BaseException as error:  # noqa: BLE001 - a cell's sys.exit or KeyboardInterrupt stops only the cell
            message, trace = _explained(explain, error)
            wanted = bound_names(tree.body) if tree is not None else set()
            failures.append(CellFailure(
                cell=number, line=_failed_line(error, filename, compiling=not running), syntax=not running,
                message=message,
                traceback=trace, missing=frozenset(name for name in wanted if name not in namespace),
                source=code))
    return Loaded(name=path.name, failures=tuple(failures),
                  neutralised=tuple(sorted(magics + neutraliser.dropped, key=lambda item: (item.cell, item.line))),
                  marked=dict(neutraliser.marked))
