"""Turn the inputs written in a spec into the values a function is called with.

Lists become float64 arrays (the handout's convention), explicit arrays keep their dtype, and
random inputs are drawn from numpy's ``default_rng(seed)``, so that every run, on every machine,
calls every function with the same numbers. Mappings become dicts of such values. An array marked
``tensor: true`` becomes a ``TensorArg``: plain data that crosses to a worker like any array and
becomes a torch tensor only where the code under test runs (``grader.values.live``), so the
grader's own process needs no torch to describe it.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from grader.spec import ArrayValue, Case, LinspaceValue, RandomValue
from grader.wire import TensorArg


def materialize(value: Any) -> Any:
    """One spec value -> a Python scalar, a string, a numpy array (or tensor), or a dict of those."""
    if isinstance(value, (ArrayValue, LinspaceValue, RandomValue)):
        if isinstance(value, ArrayValue):
            array = np.array(value.array, dtype=value.dtype)
        elif isinstance(value, LinspaceValue):
            count = math.prod(value.shape)
            array = np.linspace(*value.linspace, num=count).reshape(value.shape).astype(value.dtype)
        else:
            array = draw(value)
        return TensorArg(array, value.requires_grad) if value.tensor else array
    if isinstance(value, list):
        return np.array(value, dtype=np.float64)
    if isinstance(value, dict):
        return {key: materialize(item) for key, item in value.items()}
    return value


def draw(spec: RandomValue) -> np.ndarray:
    """A seeded random array of the declared distribution and shape."""
    rng = np.random.default_rng(spec.seed)
    shape = tuple(spec.shape)
    array: np.ndarray
    if spec.random == "normal":
        array = rng.normal(spec.loc, spec.scale, size=shape)
    elif spec.random == "uniform":
        array = rng.uniform(spec.low, spec.high, size=shape)
    elif spec.random == "integers":
        array = rng.integers(int(spec.low), int(spec.high), size=shape)
        return array.astype(spec.dtype or "int64")
    elif spec.random == "dirichlet":
        array = rng.dirichlet(np.full(shape[-1], spec.alpha), size=shape[:-1] or None)
    else:  # affinity: symmetric, zero diagonal, sums to one, like SNE's P
        raw = rng.uniform(0.0, 1.0, size=shape)
        array = raw + raw.T
        np.fill_diagonal(array, 0.0)
        array /= array.sum()
    return array.astype(spec.dtype or "float64")


_materialized: dict[int, tuple[Case, tuple[Any, ...]]] = {}


def case_args(case: Case) -> tuple[Any, ...]:
    """The positional arguments of a case, in the order the spec writes them.

    Drawn once per case object and kept: a class of hundreds of submissions reuses them. Callers
    that hand them to code which might modify them use ``copy_args``.
    """
    cached = _materialized.get(id(case))
    if cached is None or cached[0] is not case:
        cached = (case, tuple(materialize(value) for value in case.args.values()))
        _materialized[id(case)] = cached
    return cached[1]


def copy_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Fresh copies, so that no call can change the inputs another call sees (dicts included:
    batch norm and optimisers write their state into them)."""
    return tuple(arg.copy() if isinstance(arg, np.ndarray) else copy.deepcopy(arg) if isinstance(arg, dict) else arg
                 for arg in args)


def named_args(case: Case) -> dict[str, Any]:
    """A case's arguments by name, freshly copied: what a scenario starts from."""
    return dict(zip(case.args, copy_args(case_args(case))))
