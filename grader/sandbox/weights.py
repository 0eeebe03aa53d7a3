"""A submitted model's size, measured by the grader: the elements of its weights file, read in the
trusted process.

The worker could report how many parameters a model has, but a worker runs the student's code, and
a model can override ``parameters()`` (or the worker's own counting) to hide any number of them. The
weights file is what the worker loads with ``load_state_dict(strict=True)``, so its tensors are
exactly the model's state: the grader reads it itself with ``torch.load(weights_only=True)``,
torch's loader for untrusted files, which builds tensors and plain containers only and runs no code
of the file (nothing else is ever unpickled here). torch is imported only when a model is measured,
and the file is memory-mapped: its tensors' shapes are read, their data never loaded.

What the budget cannot see: values the model computes from its code rather than its weights (a
tensor built in ``build_model``, a table in the source). The accuracy check's perturbed images
(``grader.datasets.perturb``) are what stops a model from looking answers up.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

MAX_WEIGHTS_BYTES = 1 << 30
"""Larger files are not measured (the worker's file-size and memory limits refuse them anyway)."""


class Unmeasured(Exception):
    """The weights file could not be measured; the message says why, in the grader's words."""


def count_parameters(path: Path) -> int:
    """The number of tensor elements in the state dict saved at ``path``.

    Raises:
        Unmeasured: the file is missing, a link, too large, not a state dict of tensors, or refused
            by torch's safe loader. The reason never quotes the file (a student wrote it).
    """
    try:
        info = path.lstat()
    except OSError:
        raise Unmeasured(f"{path.name} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise Unmeasured(f"{path.name} is not a regular file")
    if info.st_size > MAX_WEIGHTS_BYTES:
        raise Unmeasured(f"{path.name} is larger than {MAX_WEIGHTS_BYTES >> 20} MiB")
    import torch  # only where a model is graded: a numpy class never pays for it

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - whatever the file holds, it is not a readable state dict
        raise Unmeasured(f"{path.name} could not be read by torch.load(weights_only=True); save it with "
                         "torch.save(model.state_dict(), path)") from None
    if not isinstance(state, Mapping) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise Unmeasured(f"{path.name} is not a state dict of tensors")
    return sum(int(value.numel()) for value in state.values())
