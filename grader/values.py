"""Values between plain data and the code under test: tensors made plain, and made live again.

Used on both sides of the sandbox: by the worker before a value crosses the pipe, and by the
reference expectations in the grader's own process, so that both compare the same kind of data
and call their code with the same kind of arguments.
"""

from __future__ import annotations

import sys
from typing import Any

from grader.wire import TensorArg, Unread

_isinstance = isinstance  # bound at import, like the worker's own references to builtins


def to_plain(value: Any) -> Any:
    """Convert torch tensors and numpy scalars in a returned value to plain numpy data."""
    # A tensor can only exist if torch was imported: the grader's own process need not import it.
    torch = sys.modules.get("torch")
    if torch is not None and _isinstance(value, torch.Tensor):
        return torch.Tensor.numpy(torch.Tensor.cpu(torch.Tensor.detach(value))).copy()
    if _isinstance(value, tuple) and type(value) is not tuple:  # named tuples
        return tuple(to_plain(item) for item in value)
    if type(value) in (tuple, list):
        return type(value)(to_plain(item) for item in value)
    if type(value) is dict:
        return {key: to_plain(item) for key, item in value.items()}
    return value


def live(value: Any) -> Any:
    """Arguments as the code under test receives them: each ``TensorArg`` (in dicts and lists too)
    becomes a torch tensor of its own, imported only then."""
    if type(value) is TensorArg:
        import torch

        tensor = torch.from_numpy(value.array.copy())
        return tensor.requires_grad_(True) if value.requires_grad else tensor
    if type(value) is dict:
        return {key: live(item) for key, item in value.items()}
    if type(value) in (tuple, list):
        return type(value)(live(item) for item in value)
    return value


def select(value: Any, path: list[str | int]) -> Any:
    """The part of a plain value at a path of tuple indices and dict keys (``[2, "W1"]``).

    Raises:
        KeyError: the value has no such part (a student's dict without the key, a short tuple).
    """
    for part in path:
        if type(part) is int and isinstance(value, (tuple, list)) and 0 <= part < len(value):
            value = value[part]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(part)
    return value


def first_unread(value: Any) -> Unread | None:
    """The first part of a value that could not be read (``wire.Unread``), if any: a check that
    judges the value as a whole (a property, an instructor's judge) fails with its message."""
    if isinstance(value, Unread):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else ()
    return next((found for found in map(first_unread, items) if found is not None), None)
