"""The child side of the portable worker: a fresh Python that serves one submission.

Started by ``portable.PortableSandbox`` as ``python -m grader.sandbox.spawned CONFIG`` (JSON) in a
copy of the submission, with a scrubbed environment. Its stdin and stdout are the control channel
(``wire`` framing, as from the fork server); stderr is the captured output. Before any student code
runs, the control pipes are moved to file descriptors of their own and fds 1 and 2 both point at
the output pipe, so that nothing the student prints can reach the channel. Then, where the platform
has ``resource``, the limits (address space where the kernel enforces it, CPU time, file size, no
core files), and ``worker.serve`` answers requests until the grader closes the channel.

Nothing here uses ``os.fork``, namespaces or users of its own: this is crash and hang containment
for a student checking their own code on their own machine, not a jail.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_SETUP_FAILED = 70
"""As from the fork server: the worker could not be set up (``monitor.describe_exit_code``)."""
TORCH_ADDRESS_SPACE = 768 * 1024 * 1024
"""About what importing torch adds to the address space (CPU build: ~500 MiB, with margin)."""


def take_control_channel() -> tuple[int, int]:
    """Move stdin/stdout (the control pipes) out of the way; point fds 1 and 2 at the output pipe."""
    control_in, control_out = os.dup(0), os.dup(1)
    if sys.platform == "win32":
        import msvcrt

        # Text mode would turn every \n of a .npy blob into \r\n.
        for fd in (control_in, control_out):
            msvcrt.setmode(fd, os.O_BINARY)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="replace")  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="replace")  # noqa: SIM115
    return control_in, control_out


def _vm_size_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def set_limits(config: dict[str, Any]) -> None:
    """The resource limits this platform has; none on Windows (no ``resource`` module)."""
    try:
        import resource
    except ImportError:
        return
    if sys.platform.startswith("linux"):
        # As in the fork server: what the student may add on top of Python, numpy (and torch).
        # macOS accepts RLIMIT_AS but does not enforce it, so it is not set there.
        base = _vm_size_bytes()
        if base is not None:
            # Without torch preloaded, leave the room it takes, should the student import it.
            room = 0 if "torch" in sys.modules else TORCH_ADDRESS_SPACE
            address_space = base + room + int(config["memory_mb"]) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    seconds = int(config["cpu_seconds"])
    limits = [(resource.RLIMIT_CPU, (seconds, seconds + 5)),
              (resource.RLIMIT_FSIZE, (int(config["file_size_mb"]) * 1024 * 1024,) * 2),
              (resource.RLIMIT_CORE, (0, 0))]
    for which, (soft, hard) in limits:
        current_hard = resource.getrlimit(which)[1]
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass  # a platform that refuses one limit still gets the others


def main(argv: list[str]) -> None:
    code = 0
    try:
        config = json.loads(argv[1])
        control_in, control_out = take_control_channel()
        # Imported before the student's code, as in the fork server: the worker keeps references
        # to them once the grader's modules are hidden. modelrun brings torch with it.
        from grader.sandbox import worker

        if config.get("preload_torch", True):
            from grader.sandbox import modelrun  # used by the worker for MNIST models

            sys.modules["torch"].set_num_threads(1)
            modelrun.warm_up()  # as the fork server does: no student's limit pays torch's lazy imports
        set_limits(config)
        workdir = Path(config["workdir"])
        os.chdir(workdir)
        for name in ("HOME", "USERPROFILE", "TMPDIR", "TEMP", "TMP"):
            os.environ[name] = str(workdir)
        worker.serve(control_in, control_out, workdir, max_return_bytes=int(config["max_return_bytes"]),
                     links=tuple(config["links"]))
    except BaseException as error:  # noqa: BLE001 - report set-up failures, then exit
        try:
            os.write(2, f"worker set-up failed: {type(error).__name__}: {error}\n".encode())
        except OSError:
            pass
        code = EXIT_SETUP_FAILED
    finally:
        # No atexit handler or finaliser of the student's runs after the grader is done with them.
        os._exit(code)


if __name__ == "__main__":
    main(sys.argv)
