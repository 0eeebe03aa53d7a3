"""The check kinds: numeric (values, properties, stability), gradient, custom and accuracy.

Each kind module registers its kinds in ``registry.REGISTRY`` when imported. This file imports
them all by name, so the whole list is in one place, and the registry is full as soon as anything
of this package is imported.
"""

from __future__ import annotations

# The whole list of check kinds, imported for their registrations.
from grader.grading.checks import numeric, gradient, custom, accuracy  # noqa: F401
from grader.grading.checks.registry import REGISTRY, CheckKind, Context, register

__all__ = ["REGISTRY", "CheckKind", "Context", "register"]
