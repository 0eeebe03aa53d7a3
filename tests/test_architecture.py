"""The package's architecture, as a test: the import graph of ``grader/`` has no cycle and points one way.

The base (spec, cases, comparison, results, calls, the wire format...) imports only the base. The
sandbox, grading and reports each import only themselves and the base, so reports never touch the
sandbox. batch composes those three, kit composes them and batch, and the entry points (cli,
``__main__``, the pytest plugin's entry module) sit on top: nothing below imports them.

The graph is read with ``ast`` from every ``import grader...`` and ``from grader... import``,
function-local ones included. Module paths given as strings (``importlib.import_module``, the lazy
``grader.__getattr__``) are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "grader"

BASE = frozenset({
    "calls", "cases", "compare", "datasets", "errors", "interpreter", "reference", "results", "scenarios", "spec",
    "spec_guide", "values", "wire",
})
"""Top-level modules that every layer may import."""
ENTRY_POINTS = frozenset({"__main__", "cli", "pytest_plugin"})
"""Top-level modules that may import anything and that nothing else imports (but each other)."""
SUBPACKAGES = ("sandbox", "grading", "reports", "batch", "kit")

ALLOWED = {
    "base": {"base"},
    "sandbox": {"base", "sandbox"},
    "grading": {"base", "grading"},
    "reports": {"base", "reports"},
    "batch": {"base", "sandbox", "grading", "reports", "batch"},
    "kit": {"base", "sandbox", "grading", "reports", "batch", "kit"},
    "entry": {"base", "sandbox", "grading", "reports", "batch", "kit", "entry"},
}
"""Layer -> the layers its modules may import."""


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of ``package`` (a package's ``__init__.py`` by the package's name)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(package: Path) -> dict[str, set[str]]:
    """Every module of ``package`` -> the modules of ``package`` it imports anywhere in its code."""
    modules = module_names(package)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        imported: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                imported += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package, one level up per extra dot
                    origin = module if path.name == "__init__.py" else module.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        origin = origin.rpartition(".")[0]
                    base = f"{origin}.{base}" if base else origin
                # ``from grader import wire`` imports the module grader.wire, ``from grader import
                # __version__`` the package grader itself.
                imported += [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                             for alias in node.names]
        targets = set()
        for name in imported:
            if name.split(".")[0] != package.name:
                continue
            while name not in modules and "." in name:  # import grader.x.function: the module grader.x
                name = name.rpartition(".")[0]
            if name in modules and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in BASE:  # the package itself: the lazy public API
        return "base"
    if parts[1] in SUBPACKAGES:
        return parts[1]
    if parts[1] in ENTRY_POINTS:
        return "entry"
    return "unclassified"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return None
        path.append(module)
        for target in sorted(graph.get(module, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def violations(package: Path) -> list[str]:
    """Every breach of the layering in ``package``, one line each; empty when it is sound."""
    graph = import_graph(package)
    found = [f"{module} is in no layer: add it to BASE or ENTRY_POINTS, or move it into a subpackage"
             for module in sorted(graph) if layer_of(module) == "unclassified"]
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) not in ALLOWED.get(layer_of(module), set()):
                found.append(f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})")
    cycle = find_cycle(graph)
    if cycle:
        found.append("import cycle: " + " -> ".join(cycle))
    return found


# -- the real package ----------------------------------------------------------------------------


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle(import_graph(PACKAGE)) is None


def test_every_module_imports_only_what_its_layer_may() -> None:
    assert violations(PACKAGE) == []


def test_reports_never_import_the_sandbox() -> None:
    graph = import_graph(PACKAGE)
    assert {(module, target) for module, targets in graph.items() for target in targets
            if layer_of(module) == "reports" and layer_of(target) == "sandbox"} == set()


def test_the_graph_sees_imports_inside_functions() -> None:
    """cli imports its commands' modules only when they run: those are edges too."""
    graph = import_graph(PACKAGE)
    assert {"grader.batch.run", "grader.kit.selfcheck", "grader.grading.selftest"} <= graph["grader.cli"]
    assert "grader.batch.dask" in graph["grader.batch.run"]


# -- the checker itself, on a small fake package -------------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "grader" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "grader"


SOUND = {
    "__init__.py": "",
    "spec.py": "",
    "results.py": "from grader.spec import Limits\n",
    "sandbox/__init__.py": "",
    "sandbox/server.py": "from grader import spec\n",
    "reports/__init__.py": "",
    "reports/render.py": "from grader.results import GradeReport\n",
    "batch/__init__.py": "",
    "batch/run.py": "from grader.reports.render import render\nfrom grader.sandbox import server\n",
    "cli.py": "def main():\n    from grader.batch.run import grade_folder\n",
}


def test_a_sound_fake_package_has_no_violation(tmp_path: Path) -> None:
    assert violations(write_tree(tmp_path, SOUND)) == []


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("reports/render.py", "def render():\n    from grader.sandbox.server import Sandbox\n",
     "grader.reports.render (reports) imports grader.sandbox.server (sandbox)"),
    ("spec.py", "import grader.reports.render\n", "grader.spec (base) imports grader.reports.render (reports)"),
    ("batch/run.py", "from grader import cli\n", "grader.batch.run (batch) imports grader.cli (entry)"),
    ("spec.py", "from grader.results import Comparison\n",
     "import cycle: grader.results -> grader.spec -> grader.results"),
    ("utils.py", "", "grader.utils is in no layer: add it to BASE or ENTRY_POINTS, or move it into a subpackage"),
])
def test_a_forbidden_import_is_a_violation(tmp_path: Path, name: str, text: str, expected: str) -> None:
    package = write_tree(tmp_path, {**SOUND, name: text})
    assert expected in violations(package)
