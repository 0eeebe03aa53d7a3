"""Values returned by student or reference code, made plain: numpy data instead of tensors.

Used on both sides of the sandbox: by the worker before a value crosses the pipe, and by the
reference expectations in the grader's own process, so that both compare the same kind of data.
"""

from __future__ import annotations

import sys
from typing import Any

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
