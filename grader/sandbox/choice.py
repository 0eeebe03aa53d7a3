"""Which sandbox runs a student's code on this machine: the fork server, or the portable worker.

The fork server (``server.Sandbox``) needs ``os.fork`` and ``resource`` (and, for its full
isolation, Linux namespaces); where it cannot run (Windows, macOS) a self-check uses the portable
worker (``portable.PortableSandbox``) and says so in its output. Grading a class is another matter:
the instructor's run keeps the fork server's guarantees and refuses to grade without them, unless
``--isolation none`` asks for no isolation, in which case the portable worker is what applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

from grader.errors import GraderError
from grader.sandbox.interface import SandboxBackend
from grader.sandbox.launch import platform_without_fork_server
from grader.sandbox.portable import PortableSandbox

IsolationChoice = Literal["auto", "full", "none", "portable"]
"""``auto``/``full``/``none`` as for the fork server; ``portable``: the portable worker, even where
the fork server could run (a student's self-check only)."""

Purpose = Literal["check", "grade"]


def open_sandbox(isolation: IsolationChoice, *, hide: list[Path], purpose: Purpose,
                 preload: tuple[str, ...] = ()) -> SandboxBackend:
    """The sandbox for a run (not started yet; use it as a context manager).

    Args:
        isolation: what the command line asked for.
        hide: folders the workers must not see (only the fork server can hide them).
        purpose: ``check`` (a student's own code on their own machine: the portable worker is
            enough where the fork server cannot run) or ``grade`` (the instructor's run: refused
            without the fork server, unless ``isolation`` is ``none``).
        preload: what workers import before the student's code (``preload.modules_to_preload``);
            more can be asked for later with the sandbox's ``preload``.

    Raises:
        GraderError: the fork server cannot run here and the purpose or isolation requires it.
    """
    missing = platform_without_fork_server()
    if isolation == "portable":
        if purpose == "grade":
            raise GraderError("--isolation portable is for a student's self-check; grading a class uses the "
                              "sandbox's fork server (or, where it cannot run, --isolation none)")
        return PortableSandbox(hide=hide, preload_torch="torch" in preload, reason="--isolation portable")
    if missing:
        if isolation == "full":
            raise GraderError(f"--isolation full was asked for, but {missing}")
        if purpose == "grade" and isolation != "none":
            raise GraderError(
                f"grading needs the sandbox's fork server (no network, instructor files hidden, limits), but "
                f"{missing}: grade on Linux, or pass --isolation none to grade with the portable worker "
                f"(time limits and crash containment only; student code can read your files)")
        return PortableSandbox(hide=hide, preload_torch="torch" in preload, reason=missing)
    from grader.sandbox.server import Isolation, Sandbox

    return Sandbox(isolation=cast(Isolation, isolation), hide=hide, preload=preload)
