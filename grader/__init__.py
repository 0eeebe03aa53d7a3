"""An auto-grader for deep-learning assignments: YAML specs, reference implementations,
sandboxed student code, numeric, gradient and accuracy checks, and feedback that teaches.

The public surface is listed in ``__all__``; it is imported lazily, so that the sandbox's fork
server, which imports ``grader.sandbox.worker``, does not load the grading machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "Assignment",
    "Checker",
    "GradeReport",
    "GraderError",
    "Sandbox",
    "SpecError",
    "__version__",
    "grade_submission",
    "load_spec",
]

_LOCATIONS = {
    "Checker": "grader.kit.checker",
    "Assignment": "grader.spec",
    "load_spec": "grader.spec",
    "GradeReport": "grader.results",
    "GraderError": "grader.errors",
    "SpecError": "grader.errors",
    "Sandbox": "grader.sandbox.server",
    "grade_submission": "grader.grading.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
