"""Sessions: run a problem's calls for one submission and return their outcomes.

``SandboxSession`` runs them in isolated workers (the only way student code is ever run by
``grader grade``/``check``/``ci``): one worker per submission, replaced after a limit is hit, with
the rest of that problem's calls skipped so that a hanging function costs one timeout, not one per
case. ``InProcessSession`` runs trusted code (the reference and its declared mistakes, for the
spec self-test) and the benchmark's no-isolation floor through the very same request handler.
"""

from __future__ import annotations

import dataclasses
import time
import types
from pathlib import Path
from typing import Any

from grader import wire
from grader.calls import LIMIT_STATUSES, Call, CallOutcome, CallStatus, wall_clock_net
from grader.sandbox.interface import Reply, SandboxBackend, WorkerHandle
from grader.sandbox.weights import Unmeasured, count_parameters
from grader.sandbox.worker import Worker
from grader.spec import Limits

_SPAWN_FIELDS = ("memory_mb", "cpu_seconds", "processes", "file_size_mb", "return_mb", "output_kb")
MAX_NOTES = 12
MAX_NOTE_CHARS = 3000
"""Bounds on what an import's notes (a notebook's failed cells...) add to the report."""
MAX_IMPORT_OUTPUT = 2000
"""Characters of what a module printed while imported that the report shows."""


def import_notes(module: str, header: dict[str, Any], printed: str) -> tuple[str, ...]:
    """The notes of a successful import, from the worker's reply (plain text, bounded here whatever
    the worker sent), then what the module printed while imported."""
    sent = header.get("notes")
    notes = [wire.clean_text(str(note)[:MAX_NOTE_CHARS]) for note in sent[:MAX_NOTES]] if isinstance(sent, list) else []
    printed = printed.strip("\n")
    if printed.strip():
        cut = len(printed) - MAX_IMPORT_OUTPUT
        notes.append(f"While {module} was imported, your code printed:\n{printed[:MAX_IMPORT_OUTPUT]}"
                     + (f"\n[... {cut} more characters not shown]" if cut > 0 else ""))
    return tuple(notes)


HIDDEN_OUTPUT_NOTE = "[output printed during hidden cases is not shown]"
MESSAGE_CHARS = 2000
TRACEBACK_CHARS = 5000
WARNING_CHARS = 300
DETAIL_CHARS = 500
"""Bounds on every string of a worker's reply, applied before it is stored: a student's exception
message, traceback, warning or malformed reply cannot make a report large."""


def encode_request(call: Call) -> tuple[dict[str, Any], list[bytes]]:
    blobs: list[bytes] = []
    header: dict[str, Any] = {"op": call.op, "module": call.module, "function": call.function, **call.options}
    if call.op in ("call", "scenario"):
        header["args"] = wire.encode(tuple(call.args), blobs)
    else:
        for array in call.arrays:
            wire.encode(array, blobs)
    return header, blobs


def outcome_from_message(call: Call, header: dict[str, Any], arrays: list[Any], seconds: float) -> CallOutcome:
    """Validate a worker's reply and turn it into an outcome; anything odd is a protocol error."""
    status = header.get("status")
    try:
        if status == "ok":
            value = wire.decode(header.get("value"), arrays)
            modified = tuple(int(i) for i in header.get("modified_args", []))
            warnings = tuple(wire.clip(str(w), WARNING_CHARS) for w in header.get("warnings", [])[:10])
            return CallOutcome(key=call.key, status="ok", value=value, modified_args=modified,
                               warnings=warnings, seconds=float(header.get("seconds", seconds)))
        if status in ("error", "not_defined", "missing_module", "import_error", "bad_return", "bad_weights"):
            exception = str(header.get("exception", ""))
            return CallOutcome(key=call.key, status=status,
                               message=wire.clip(str(header.get("message", "")), MESSAGE_CHARS),
                               traceback=wire.clip(str(header.get("traceback", "")), TRACEBACK_CHARS),
                               exception=exception if exception.isidentifier() and len(exception) <= 60 else "",
                               seconds=float(header.get("seconds", seconds)))
    except (wire.WireError, TypeError, ValueError, RecursionError) as error:
        return CallOutcome(key=call.key, status="protocol",
                           message=f"malformed reply from the worker: {wire.clip(str(error), DETAIL_CHARS)}")
    return CallOutcome(key=call.key, status="protocol", message=f"unexpected reply status {str(status)[:40]!r}")


def measured(call: Call, outcome: CallOutcome, folder: Path) -> CallOutcome:
    """An evaluated model's outcome with its parameter count, measured here from the submitted
    weights file (``sandbox.weights``): a worker's own count is the student's word."""
    if call.op != "evaluate_model" or not outcome.ok:
        return outcome
    try:
        parameters = count_parameters(folder / str(call.options["weights"]))
    except Unmeasured as error:
        return CallOutcome(key=call.key, status="bad_weights", message=str(error), seconds=outcome.seconds)
    return dataclasses.replace(outcome, extra={**outcome.extra, "parameters": parameters})


def outcome_from_failure(call: Call, reply: Reply, what: str) -> CallOutcome:
    reply = Reply(kind=reply.kind, detail=wire.clip(reply.detail, DETAIL_CHARS), seconds=reply.seconds)
    if reply.kind == "timeout":
        message = f"{what} stopped: {reply.detail}"
    elif reply.kind == "died":
        message = f"{what} crashed: {reply.detail}"
    else:
        message = f"{what} sent a malformed reply: {reply.detail}"
    status: CallStatus = "timeout" if reply.kind == "timeout" else "died" if reply.kind == "died" else "protocol"
    return CallOutcome(key=call.key, status=status, message=message, seconds=reply.seconds)


def skip_rest(calls: list[Call], start: int, message: str, outcomes: dict[str, CallOutcome]) -> None:
    for call in calls[start:]:
        outcomes.setdefault(call.key, CallOutcome(key=call.key, status="skipped", message=message))


class SandboxSession:
    """Runs one submission's calls in sandboxed workers, from either kind of sandbox."""

    def __init__(self, sandbox: SandboxBackend, submission: Path, *, deadline: float) -> None:
        self.sandbox = sandbox
        self.submission = submission
        self.deadline = deadline
        self._worker: WorkerHandle | None = None
        self._worker_limits: tuple[Any, ...] | None = None
        self._import_failures: dict[str, CallOutcome] = {}
        self._imported: set[str] = set()
        """Modules the current worker has imported: one round trip per module, not per call."""
        self._notes: dict[str, tuple[str, ...]] = {}
        """Each module's import notes, from its first import (a new worker imports it again)."""
        self._seen_hidden = False
        """The current worker has run a call on a hidden case: it may keep those inputs (a global, a
        thread that prints later), so it answers no more public calls and nothing it prints is shown."""
        self._hidden_printed = False
        """Something printed during this run's hidden calls was dropped (and the output says so)."""

    def _ensure_worker(self, limits: Limits) -> WorkerHandle | Reply:
        key = tuple(getattr(limits, name) for name in _SPAWN_FIELDS)
        if self._worker is not None and (not self._worker.alive or key != self._worker_limits):
            self._retire()
        if self._worker is None:
            self._worker = self.sandbox.spawn(self.submission, limits)
            self._worker_limits = key
            ready = self._worker.wait_ready(min(30.0, self._remaining()))
            if not ready.ok:
                return ready
        return self._worker

    def _retire(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self._imported.clear()
        self._seen_hidden = False

    def _remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def _new_output(self) -> str:
        """What the worker printed since the last call; nothing once it has seen a hidden input."""
        if self._worker is None:
            return ""
        text = self._worker.take_output()
        if self._seen_hidden and text.strip():
            self._hidden_printed = True
            return ""
        return text

    def _import(self, worker: WorkerHandle, module: str, limits: Limits) -> CallOutcome | None:
        """Import a module once per worker; a failure is remembered for the whole submission."""
        if module in self._import_failures:
            return self._import_failures[module]
        if module in self._imported:
            return None
        probe = Call(key=f"import:{module}", module=module, function="")
        reply = worker.request({"op": "import", "module": module}, [], limits.import_timeout,
                               wall_timeout=min(wall_clock_net(limits.import_timeout), self._remaining()))
        if not reply.ok:
            failure = outcome_from_failure(probe, reply, f"importing {module}.py")
            failure = CallOutcome(key=probe.key, status="import_error", message=failure.message)
            self._import_failures[module] = failure
            return failure
        outcome = outcome_from_message(probe, reply.header, reply.arrays, reply.seconds)
        if outcome.status in ("import_error", "missing_module"):
            self._import_failures[module] = outcome
            return outcome
        # What the import printed is the import's, not the first problem's.
        printed = self._new_output()
        self._notes.setdefault(module, import_notes(module, reply.header, printed))
        self._imported.add(module)
        return None

    def notes(self) -> tuple[str, ...]:
        return tuple(note for notes in self._notes.values() for note in notes)

    def run(self, calls: list[Call], limits: Limits) -> tuple[dict[str, CallOutcome], str]:
        outcomes: dict[str, CallOutcome] = {}
        printed: list[str] = []
        self._hidden_printed = False
        for index, call in enumerate(calls):
            if self._seen_hidden and (not call.hidden or call.module not in self._imported):
                # A public call, or an import (whose failure is shown), never runs where hidden inputs have been.
                printed.append(self._new_output())
                self._retire()
            if self._remaining() <= 0:
                skip_rest(calls, index, f"not run: the submission's time limit of {limits.submission_timeout:g} s was reached", outcomes)
                break
            if call.module in self._import_failures:
                failure = self._import_failures[call.module]
                outcomes[call.key] = CallOutcome(key=call.key, status=failure.status, message=failure.message,
                                                 traceback=failure.traceback)
                continue
            worker = self._ensure_worker(limits)
            if isinstance(worker, Reply):
                printed.append(self._new_output())
                failure = outcome_from_failure(call, worker, "starting the worker")
                outcomes[call.key] = CallOutcome(key=call.key, status=failure.status,
                                                 message=f"{failure.message} {printed[-1].strip()[-500:]}".strip())
                self._retire()
                skip_rest(calls, index + 1, "not run: the worker could not start", outcomes)
                break
            failed_import = self._import(worker, call.module, limits)
            if failed_import is not None:
                outcomes[call.key] = CallOutcome(key=call.key, status=failed_import.status,
                                                 message=failed_import.message, traceback=failed_import.traceback)
                printed.append(self._new_output())
                continue
            header, blobs = encode_request(call)
            if call.hidden:
                printed.append(self._new_output())  # what was printed before the hidden inputs arrive
                self._seen_hidden = True
            # The limit counts the worker's CPU time: a loaded machine slows the answer, not the verdict.
            timeout = call.timeout or limits.call_timeout
            reply = worker.request(header, blobs, timeout, wall_timeout=min(wall_clock_net(timeout), self._remaining()))
            printed.append(self._new_output())
            if reply.ok:
                outcomes[call.key] = measured(call, outcome_from_message(call, reply.header, reply.arrays,
                                                                         reply.seconds), self.submission)
            else:
                outcomes[call.key] = outcome_from_failure(call, reply, f"`{call.function}`")
            if outcomes[call.key].status in LIMIT_STATUSES:
                self._retire()
                skip_rest(calls, index + 1, "not run: an earlier call of this problem hit a limit", outcomes)
                break
        printed.append(self._new_output())
        if self._hidden_printed:
            printed.append(f"\n{HIDDEN_OUTPUT_NOTE}\n")
        return outcomes, "".join(printed)

    def close(self) -> None:
        self._retire()


class InProcessSession:
    """Runs trusted functions (or, for the benchmark floor, unisolated student modules) in-process."""

    def __init__(self, modules: dict[str, types.ModuleType], root: Path | None = None) -> None:
        self.root = root or Path.cwd()
        self.worker = Worker(self.root, max_return_bytes=1 << 62)
        self.worker.modules.update(modules)

    def run(self, calls: list[Call], limits: Limits) -> tuple[dict[str, CallOutcome], str]:
        outcomes = {}
        for call in calls:
            header, blobs = encode_request(call)
            start = time.perf_counter()
            reply, reply_blobs = self.worker.handle(header, blobs)
            try:
                arrays = [wire.load_array(blob, max_bytes=len(blob)) for blob in reply_blobs]
            except wire.WireError as error:
                outcomes[call.key] = CallOutcome(key=call.key, status="protocol", message=str(error))
                continue
            outcomes[call.key] = measured(call, outcome_from_message(call, reply, arrays, time.perf_counter() - start),
                                          self.root)
        return outcomes, ""

    def notes(self) -> tuple[str, ...]:
        return tuple(note for loaded in self.worker.notebooks.values() for note in loaded.notes())

    def close(self) -> None:
        pass
