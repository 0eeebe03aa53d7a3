"""Starter code from the reference: every graded name with its signature and docstring, no line of
the solution, marked solution blocks replaced, the same as a notebook; a starter scores nothing."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

from grader.cli import main
from grader.kit.starter import TODO, graded_names, starter_notebook, starter_source, write_starter
from grader.spec import load_spec

from conftest import ASSIGNMENTS


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level functions, and methods as Class.method."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found[node.name] = node
            found.update({f"{node.name}.{item.name}": item for item in node.body if isinstance(item, ast.FunctionDef)})
    return found


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_graded_name_keeps_its_signature_and_nothing_of_its_body(name: str, tmp_path: Path) -> None:
    assignment = load_spec(name)
    written = write_starter(assignment, tmp_path)
    assert {path.name for path in written} == {f"{assignment.module}.py", f"{assignment.module}.ipynb"}
    starter = ast.parse((tmp_path / f"{assignment.module}.py").read_text())
    reference = ast.parse(assignment.reference_path.read_text())
    ours, theirs = _definitions(starter), _definitions(reference)
    assert graded_names(assignment, assignment.module) <= set(ours)
    for key, node in ours.items():
        if isinstance(node, ast.FunctionDef):
            assert ast.dump(node.args) == ast.dump(theirs[key].args), key
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            assert [ast.unparse(statement) for statement in body] == ["raise NotImplementedError"], key
            assert ast.get_docstring(node) == ast.get_docstring(theirs[key]), key


def test_marked_solution_blocks_are_replaced_and_the_rest_kept() -> None:
    reference = textwrap.dedent('''\
        """The solution."""
        import numpy as np

        EPS = 1e-8


        def _helper(x):
            return x * 2


        class Linear:
            def __init__(self, n, m):
                self.W = np.zeros((n, m))
                ### BEGIN SOLUTION
                self.dLdW = np.zeros((n, m))
                ### END SOLUTION

            def _cache(self):
                return 1

            def forward(self, A):
                """A @ W."""
                self.A = A
                # BEGIN SOLUTION
                return A @ self.W
                # END SOLUTION


        def relu(x): return np.maximum(x, 0)
        ''')
    starter = starter_source(reference, {"Linear", "relu"}, "hw9")
    assert "The solution" not in starter and "_helper" not in starter and "_cache" not in starter
    assert "EPS = 1e-8" in starter and "self.W = np.zeros((n, m))" in starter
    assert "self.dLdW" not in starter and f"        {TODO}" in starter
    assert '"""A @ W."""' in starter and "self.A = A" in starter and "A @ self.W" not in starter
    assert "np.maximum" not in starter
    namespace: dict = {}
    exec(compile(starter, "hw9.py", "exec"), namespace)  # noqa: S102 - our own generated text
    layer = object.__new__(namespace["Linear"])
    with pytest.raises(NotImplementedError):
        layer.forward(1)
    assert layer.A == 1  # the unmarked line before the block ran
    for call in (lambda: namespace["Linear"](2, 3), lambda: namespace["relu"](1)):
        with pytest.raises(NotImplementedError):
            call()


def test_the_notebook_holds_the_same_code_cell_by_cell() -> None:
    source = starter_source("import numpy as np\n\ndef f(x):\n    return x\n\n\nclass A:\n    pass\n", {"f", "A"}, "t")
    notebook = json.loads(starter_notebook(source, "t"))
    assert notebook["nbformat"] == 4 and notebook["cells"][0]["cell_type"] == "markdown"
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code == ["import numpy as np", f"def f(x):\n    {TODO}", "class A:\n    pass"]


def test_a_starter_checks_cleanly_and_scores_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["starter", "hw2", "--out", str(tmp_path / "student")]) == 0
    (tmp_path / "student" / "hw2.ipynb").unlink()  # one of the two: the module
    assert main(["check", "hw2", str(tmp_path / "student"), "--json", str(tmp_path / "results.json")]) == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == 0 and results["tests"]
    assert "NotImplementedError" in capsys.readouterr().out
