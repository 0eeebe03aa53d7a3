"""Locate and import the instructor's trusted modules: references and declared mistakes.

These run in the grader's own process (they are the instructor's code), never in a worker, and
their files are hidden from workers by the sandbox.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from pathlib import Path

from grader.errors import ReferenceImplementationError

_loaded: dict[Path, types.ModuleType] = {}


def load_module(path: Path) -> types.ModuleType:
    """Import a module from a file path, once per path, under a private name."""
    path = path.resolve()
    if path in _loaded:
        return _loaded[path]
    name = "_grader_trusted_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ReferenceImplementationError(f"{path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ReferenceImplementationError(f"{path} failed to import: {type(error).__name__}: {error}") from error
    _loaded[path] = module
    return module


def function_of(module: types.ModuleType, name: str, *, what: str) -> types.FunctionType:
    target = getattr(module, name, None)
    if not callable(target):
        raise ReferenceImplementationError(f"{module.__file__}: {what} {name!r} is not defined")
    return target  # type: ignore[return-value]
