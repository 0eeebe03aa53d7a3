"""Each mutation operator makes the mistake it is named for, in the code it is given, and only there."""

from __future__ import annotations

import ast
import types

import numpy as np
import pytest

from grader.grading.mutants import BY_NAME, helpers_of, mutants_of


def mutated(source: str, operator: str, names: tuple[str, ...] = ("f",)) -> list[str]:
    """What each of the operator's mutants has in place of the original code."""
    tree = ast.parse(source)
    return [mutant.mutated for mutant in mutants_of(tree, set(names), (BY_NAME[operator],))]


@pytest.mark.parametrize(("operator", "source", "expected"), [
    ("slice_unpad", "def f(d, pad, H):\n    return d[:, pad:pad + H]", ["pad:-pad"]),
    ("slice_unpad", "def f(d, pad, H):\n    return d[:, pad:H + pad]", ["pad:-pad"]),
    ("off_by_one", "def f(x, n):\n    return x[:n]", [":n - 1", ":n + 1"]),
    ("off_by_one", "def f(n):\n    return [i for i in range(1, n)]", ["range(1, n - 1)", "range(1, n + 1)"]),
    ("strictness", "def f(x, g):\n    return np.where(x > 0, g, 0.0)", ["x >= 0"]),
    ("sum_mean", "def f(x):\n    return x.sum(axis=0)", ["x.mean(axis=0)"]),
    ("sum_mean", "def f(x):\n    return np.mean(x)", ["np.sum(x)"]),
    ("axis", "def f(x):\n    return x.sum(axis=0)", ["x.sum(axis=1)", "x.sum()"]),
    ("keepdims", "def f(x):\n    return x.sum(axis=0)", ["x.sum(axis=0, keepdims=True)"]),
    ("keepdims", "def f(x):\n    return x.sum(axis=0, keepdims=True)", ["x.sum(axis=0)"]),
    ("transpose", "def f(g, a):\n    return g.T @ a", ["a.T @ g", "g"]),
    ("sign", "def f(a, b):\n    return a - b", ["b - a"]),
    ("sign", "def f(a):\n    return -a * 2", ["a"]),
    ("dropped_term", "def f(dw, reg, w):\n    return dw + reg * w", ["dw", "reg * w"]),
    ("dropped_term", "def f(s, n):\n    return s / n", ["s"]),
    ("dropped_term", "def f(r, w):\n    return 0.5 * r * w", ["r"]),  # in place of 0.5 * r
    ("sign", "def f(s, mask):\n    return s.masked_fill(~mask, 0)", ["mask"]),
    ("transpose", "def f(q, k):\n    return q @ k.transpose(-2, -1)", ["k"]),
    ("in_place", "def f(x, m):\n    y = x - m\n    return y", ["x -= m; y = x"]),
    ("in_place", "def f(x, m):\n    x = x / m\n    return x", ["x /= m"]),
    ("shared_mask", "def f(x, p):\n    return np.random.rand(*x.shape) < p", ["np.random.rand(*x.shape[1:])"]),
    ("shared_mask", "def f(x, p):\n    return rng.uniform(size=x.shape) < p", ["rng.uniform(size=x.shape[1:])"]),
    ("no_max_shift", "def f(x):\n    return np.exp(x - x.max(axis=1, keepdims=True))", ["x"]),
    ("log_of_softmax", "def f(s):\n    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))",
     ["np.log(np.exp(s) / np.exp(s).sum(axis=1, keepdims=True))"]),
    ("softmax_from_exp", "def f(s):\n    return torch.softmax(s, dim=-1)",
     ["torch.exp(s) / torch.exp(s).sum(dim=-1, keepdim=True)"]),
    ("tanh_from_exp", "def f(z):\n    return np.tanh(z)", ["(np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))"]),
    ("naive_sigmoid", "def f(z):\n    return expit(z)", ["1 / (1 + np.exp(-z))"]),
    ("naive_sigmoid", "def f(z):\n    e = np.exp(-np.abs(z))\n    return e", ["np.exp(-z)"]),
])
def test_each_operator_makes_its_mistake(operator: str, source: str, expected: list[str]) -> None:
    assert mutated(source, operator) == expected


def test_a_gradient_is_accumulated_in_methods_but_not_in_the_constructor() -> None:
    source = ("class Layer:\n    def __init__(self):\n        self.dW = 0\n"
              "    def backward(self, g):\n        self.dW = g * 2\n        self.out = g\n        return g\n")
    tree = ast.parse(source)
    mutants = mutants_of(tree, {"Layer"}, (BY_NAME["accumulate"],))
    assert [(m.id, m.mutated) for m in mutants] == [
        ("Layer.backward:accumulate:1", "self.dW = getattr(self, 'dW', 0) + g * 2")]


def test_nothing_is_mutated_outside_the_functions_named() -> None:
    source = "def f(a, b):\n    return a - b\n\ndef g(a, b):\n    return a - b\n"
    assert mutated(source, "sign", ("g",)) == ["b - a"]
    assert mutated(source, "sign", ("h",)) == []


def test_ids_count_sites_in_source_order_and_duplicates_are_dropped() -> None:
    # `x - x.max()` dropped as a term and as a max shift is the same code: reported once, under
    # the more telling operator.
    source = "def f(x, y):\n    a = x - x.max()\n    return a - y\n"
    mutants = mutants_of(ast.parse(source), {"f"})
    ids = [mutant.id for mutant in mutants]
    assert ids[0] == "f:no_max_shift:1"
    assert "f:sign:1" in ids and "f:sign:2" in ids
    assert [m.mutated for m in mutants].count("x") == 1
    assert {m.line for m in mutants if m.id.startswith("f:sign")} == {2, 3}


def test_a_mutant_module_runs_the_mutated_code() -> None:
    source = "import numpy as np\n\ndef unpad(d, pad):\n    return d[pad:pad + (d.shape[0] - 2 * pad)]\n"
    tree = ast.parse(source)
    reference = types.ModuleType("ref")
    exec(compile(tree, "ref.py", "exec"), reference.__dict__)
    (mutant,) = mutants_of(tree, {"unpad"}, (BY_NAME["slice_unpad"],))
    module = mutant.module(reference, "ref.py")
    d = np.arange(6.0)
    assert np.array_equal(module.unpad(d, 1), reference.unpad(d, 1))  # right for pad > 0
    assert module.unpad(d, 0).size == 0 and reference.unpad(d, 0).size == 6  # empty at pad = 0


def test_private_helpers_are_mutated_with_their_caller_but_not_other_problems() -> None:
    source = ("def _shift(x):\n    return x\n\ndef other(x):\n    return x\n\n"
              "def f(x):\n    return _shift(x) + other(x)\n")
    assert helpers_of(ast.parse(source), {"f"}, {"other"}) == {"f", "_shift"}
