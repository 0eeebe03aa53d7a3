"""The pytest plugin's entry point, named by every kit's ``conftest.py``.

A kit says ``pytest_plugins = ["grader.pytest_plugin"]``; pytest registers the hooks it finds in
this module, which are implemented in ``grader.kit.pytest_plugin``.
"""

from __future__ import annotations

from grader.kit.pytest_plugin import pytest_addoption, pytest_collect_file, pytest_configure

__all__ = ["pytest_addoption", "pytest_collect_file", "pytest_configure"]
