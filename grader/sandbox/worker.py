"""The child side of the sandbox: the only module that imports and calls student code.

A worker serves requests from the grader over a pipe, one at a time: import a student module,
call a function with given arguments, or evaluate/train an MNIST model. Every answer is plain data
(see ``wire``); the worker never decides whether an answer is right. It knows nothing of specs,
references or expected values, and none of those are ever sent to it.
"""

from __future__ import annotations

import gc
import importlib
import importlib.abc
import importlib.util
import os
import sys
import time
import traceback
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader import interpreter, wire
from grader.sandbox import notebook
from grader.values import live, to_plain


MAX_TEXT = 4000
"""Longest exception message or traceback sent back, in characters."""

BLOCKED_PACKAGES = ("grader", "reference", "problems")
"""Top-level names a submission may not import: the grader's internals and the instructor's files."""

_perf_counter = time.perf_counter
_tobytes = np.ndarray.tobytes
_isinstance = isinstance


class _BlockedImports(importlib.abc.MetaPathFinder):
    """Refuse imports of the grader and the instructor's packages with a clear message.

    The real guarantee is that those files are not visible to the worker (see ``isolation``);
    this finder makes the failure readable for a curious student.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] in BLOCKED_PACKAGES:
            raise ImportError(f"importing {fullname!r} is not allowed in a submission")
        return None


def _trim(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 40] + f"\n... ({len(text) - limit + 40} more characters)"


class Worker:
    """Serves one submission; created in the forked child after isolation is in place."""

    def __init__(self, submission_dir: Path, *, max_return_bytes: int, contain_finalizers: bool = False,
                 links: tuple[str, ...] = ()) -> None:
        self.submission_dir = submission_dir
        self.links = frozenset(links)
        """The submission's symbolic links (relative paths), which were not copied."""
        self.max_return_bytes = max_return_bytes
        # Collect a scenario's objects before answering, so a student's __del__ runs within the
        # request that made them: worth its cost only in a sandboxed worker.
        self.contain_finalizers = contain_finalizers
        self.modules: dict[str, types.ModuleType] = {}
        self.modelrun: types.ModuleType | None = None
        self.sandboxed = False
        self.import_errors: dict[str, dict[str, Any]] = {}
        self.notebooks: dict[str, notebook.Loaded] = {}
        """What became of the cells of each module handed in as a notebook."""

    # --- setup ------------------------------------------------------------------------------

    def prepare_interpreter(self) -> None:
        """Make the submission folder the import root and hide the grader's own modules."""
        grader_root = str(Path(__file__).resolve().parents[2])
        # The fork server's working folder ("/") and the grader's own root are not import roots
        # for student code.
        sys.path[:] = [str(self.submission_dir)] + [
            entry for entry in sys.path if entry not in ("", "/") and os.path.abspath(entry) != grader_root
        ]
        # Kept by reference: once hidden from sys.modules it cannot be imported again.
        self.modelrun = sys.modules.get("grader.sandbox.modelrun")
        self.sandboxed = True
        for name in list(sys.modules):
            if name.split(".")[0] in BLOCKED_PACKAGES:
                # Keep our own modules alive through references, but out of the student's reach.
                del sys.modules[name]
        sys.meta_path.insert(0, _BlockedImports())
        sys.dont_write_bytecode = True
        sys.argv = ["submission"]

    # --- requests ---------------------------------------------------------------------------

    def handle(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        op = header.get("op")
        handler: Callable[[dict[str, Any], list[bytes]], tuple[dict[str, Any], list[bytes]]] | None = {
            "import": self.import_module,
            "call": self.call,
            "scenario": self.scenario,
            "evaluate_model": self.evaluate_model,
            "train_model": self.train_model,
        }.get(str(op))
        if handler is None:
            return {"status": "error", "message": f"unknown request {op!r}"}, []
        return handler(header, blobs)

    def import_module(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        name = str(header["module"])
        if name in self.modules:
            return {"status": "ok"}, []
        if name in self.import_errors:
            return self.import_errors[name], []
        path = self.submission_dir / f"{name}.py"
        notebook_path = self.submission_dir / f"{name}.ipynb"
        reply: dict[str, Any]
        linked = [f"{name}{suffix}" for suffix in (".py", ".ipynb") if f"{name}{suffix}" in self.links]
        if linked and not path.is_file():
            reply = {"status": "import_error",
                     "message": f"{linked[0]} is a symbolic link; submissions may not contain links"}
            self.import_errors[name] = reply
            return reply, []
        if not path.is_file() and not notebook_path.is_file():
            reply = {"status": "missing_module",
                     "message": f"{name}.py is missing from the submission (a notebook, {name}.ipynb, is accepted too)"}
            self.import_errors[name] = reply
            return reply, []
        start = _perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.modules[name] = (importlib.import_module(name) if path.is_file()
                                      else self._import_notebook(name, notebook_path))
        except notebook.NotebookError as error:
            reply = {"status": "import_error", "message": str(error), "seconds": _perf_counter() - start}
            self.import_errors[name] = reply
            return reply, []
        except BaseException as error:  # noqa: BLE001 - SystemExit at import is a student error too
            reply = {
                "status": "import_error",
                "message": _trim(f"called sys.exit({error.code!r}) while importing"
                                 if isinstance(error, SystemExit) else _last_line(error)),
                "traceback": self.student_traceback(error),
                "seconds": _perf_counter() - start,
            }
            self.import_errors[name] = reply
            return reply, []
        reply = {"status": "ok", "seconds": _perf_counter() - start}
        if name in self.notebooks:
            reply["notes"] = self.notebooks[name].notes()
        return reply, []

    def _import_notebook(self, name: str, path: Path) -> types.ModuleType:
        """A notebook's code cells run as the module ``name`` (``hw4.ipynb`` stands for ``hw4.py``),
        cell by cell: a failing cell is remembered for the feedback, not raised."""
        module = types.ModuleType(name)
        module.__file__ = str(path)
        sys.modules[name] = module
        try:
            self.notebooks[name] = notebook.load(path, module, self._explain)
        except BaseException:
            del sys.modules[name]
            raise
        return module

    def _source_name(self, module_name: str) -> str:
        """The file the student handed in for a module: ``hw4.ipynb`` or ``hw4.py``."""
        return f"{module_name}.ipynb" if module_name in self.notebooks else f"{module_name}.py"

    def _not_defined(self, module_name: str, name: str) -> dict[str, Any]:
        loaded = self.notebooks.get(module_name)
        why = loaded.why_undefined(name) if loaded is not None else ""
        return {"status": "not_defined",
                "message": _trim(f"`{name}` is not defined in {self._source_name(module_name)}"
                                 + (f": {why}" if why else ""), 1000)}

    def _function(self, module_name: str, function: str) -> Callable[..., Any] | dict[str, Any]:
        reply, _ = self.import_module({"module": module_name}, [])
        if reply["status"] != "ok":
            return reply
        target = getattr(self.modules[module_name], function, None)
        if target is None:
            return self._not_defined(module_name, function)
        if not callable(target):
            return {"status": "not_defined",
                    "message": f"`{function}` in {self._source_name(module_name)} is not a function"}
        return target

    def call(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        target = self._function(str(header["module"]), str(header["function"]))
        if isinstance(target, dict):
            return target, []
        arrays = [wire.load_array(blob, max_bytes=len(blob)) for blob in blobs]
        args = live(wire.decode(header["args"], arrays, tensors=True))
        before = [(_tobytes(arg), arg.shape) if _isinstance(arg, np.ndarray) else None for arg in args]
        start = _perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                # Underflow to 0 is the correctly rounded result, not instability.
                with np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
                    value = target(*args)
            except BaseException as error:  # noqa: BLE001 - sys.exit in a call is the student's error
                return self._error_reply(error, _perf_counter() - start), []
        seconds = _perf_counter() - start
        modified = [
            index
            for index, (arg, saved) in enumerate(zip(args, before))
            if saved is not None and (_tobytes(arg) != saved[0] or arg.shape != saved[1])
        ]
        return self._value_reply(value, seconds, caught, modified)

    def scenario(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        """Run a scenario plan (``grader.interpreter``) against the student's module; only the
        values it reads come back, every object it made stays (and dies) here."""
        module_name = str(header["module"])
        reply, _ = self.import_module({"module": module_name}, [])
        if reply["status"] != "ok":
            return reply, []
        module = self.modules[module_name]

        def lookup(name: str) -> Any:
            target = getattr(module, name, None)
            if target is None:
                raise interpreter.NameNotDefined(name)
            return target

        arrays = [wire.load_array(blob, max_bytes=len(blob)) for blob in blobs]
        (args,) = wire.decode(header["args"], arrays, tensors=True)
        # The case's arrays as they came, to tell which ones the scenario wrote into.
        before = [(_tobytes(arg), arg.shape) if _isinstance(arg, np.ndarray) else None for arg in args.values()]
        start = _perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
                    numgrad = header.get("numgrad")
                    if isinstance(numgrad, dict):
                        # A gradient check `through: student`: the numerical gradient of the student's
                        # own forward, which their backward is graded against.
                        value = interpreter.plan_gradient(
                            header["plan"], lookup, args, list(numgrad["wrt"]),
                            None if numgrad.get("upstream") is None else str(numgrad["upstream"]),
                            float(numgrad["eps"]), collect=self.contain_finalizers)
                    else:
                        value = interpreter.run(
                            header["plan"], lookup, args, collect=self.contain_finalizers,
                            unreadable=lambda error: interpreter.unread(error, self._describe))
            except interpreter.NameNotDefined as missing:
                return self._not_defined(module_name, missing.name), []
            except interpreter.StepFailed as failed:
                return self._error_reply(failed.__cause__ or failed, _perf_counter() - start,
                                         where=str(failed)), []
            except BaseException as error:  # noqa: BLE001 - e.g. a __del__ that exits while collected
                return self._error_reply(error, _perf_counter() - start), []
        modified = [index for index, (arg, saved) in enumerate(zip(args.values(), before))
                    if saved is not None and (_tobytes(arg) != saved[0] or arg.shape != saved[1])]
        return self._value_reply(value, _perf_counter() - start, caught, modified,
                                 reads=not isinstance(numgrad, dict))

    def _value_reply(self, value: Any, seconds: float, caught: list[warnings.WarningMessage],
                     modified: list[int], *, reads: bool = False) -> tuple[dict[str, Any], list[bytes]]:
        floating = [
            _trim(f"{w.category.__name__}: {w.message}", 300)
            for w in caught
            if issubclass(w.category, RuntimeWarning)
        ][:10]
        out_blobs: list[bytes] = []
        try:
            # The size is checked before anything is serialised, so a huge array costs no copy.
            node = (self._encode_reads(value, out_blobs) if reads
                    else wire.encode(to_plain(value), out_blobs, max_bytes=self.max_return_bytes))
        except wire.WireError as error:
            return {"status": "bad_return", "message": str(error), "seconds": seconds}, []
        except RecursionError:
            return {"status": "bad_return", "message": "returned a value nested too deeply", "seconds": seconds}, []
        except MemoryError:
            return {"status": "bad_return", "message": "returned a value too large to send", "seconds": seconds}, []
        return {
            "status": "ok",
            "value": node,
            "seconds": seconds,
            "modified_args": modified,
            "warnings": floating,
        }, out_blobs

    def _encode_reads(self, reads: tuple[Any, ...], out_blobs: list[bytes]) -> dict[str, Any]:
        """A scenario's reads, each on its own: one whose value may not cross (an object, a nesting too
        deep, past the size limit) is sent as ``wire.Unread`` and costs only its part."""
        items = []
        for read in reads:
            mark = len(out_blobs)
            try:
                items.append(wire.encode(to_plain(read), out_blobs, max_bytes=self.max_return_bytes))
            except Exception as error:  # noqa: BLE001 - whatever the student's value did, its part says so
                del out_blobs[mark:]
                reason = str(error) if isinstance(error, wire.WireError) else self._describe(error)
                items.append(wire.encode(wire.Unread(_trim(f"could not be sent: {reason}", 300)), out_blobs))
        return {"t": "tuple", "items": items}

    def evaluate_model(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:

        images = wire.load_array(blobs[0], max_bytes=len(blobs[0]))
        target = self._function(str(header["module"]), "build_model")
        if isinstance(target, dict):
            return target, []
        modelrun = self._modelrun()
        if modelrun is None:
            return _NO_MODELRUN, []
        return modelrun.evaluate_submitted(
            target,
            self.submission_dir / str(header["weights"]),
            images,
            batch_size=int(header["batch_size"]),
            report_error=self._error_reply,
        )

    def train_model(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:

        train_images, train_labels, eval_images = (wire.load_array(blob, max_bytes=len(blob)) for blob in blobs)
        build = self._function(str(header["module"]), "build_model")
        if isinstance(build, dict):
            return build, []
        train = self._function(str(header["module"]), "train")
        if isinstance(train, dict):
            return train, []
        modelrun = self._modelrun()
        if modelrun is None:
            return _NO_MODELRUN, []
        return modelrun.train_and_evaluate(
            build,
            train,
            train_images,
            train_labels,
            eval_images,
            seed=int(header["seed"]),
            batch_size=int(header["batch_size"]),
            report_error=self._error_reply,
        )

    def _modelrun(self) -> types.ModuleType | None:
        """The model runner: preloaded with torch by the fork server of a run that grades models
        (``preload``), imported here only in the grader's own process (the spec self-test); a
        sandboxed worker cannot import the grader's modules any more."""
        if self.modelrun is None and not self.sandboxed:
            self.modelrun = importlib.import_module("grader.sandbox.modelrun")
        return self.modelrun

    # --- errors -----------------------------------------------------------------------------

    def _error_reply(self, error: BaseException, seconds: float, *, where: str = "") -> dict[str, Any]:
        if isinstance(error, interpreter.ScenarioMismatch):
            # Not an exception of the student's code: what it returned did not fit the step.
            return {"status": "error", "message": _trim(f"{where}: {error}", 1000), "exception": "ScenarioMismatch",
                    "traceback": "", "seconds": seconds}
        message = self._describe(error)
        hint = self._name_hint(error)
        if hint:
            message = f"{message} ({hint})"
        return {
            "status": "error",
            "message": _trim(f"{where}: {message}" if where else message, 1000),
            "exception": type(error).__name__,
            "traceback": self.student_traceback(error),
            "seconds": seconds,
        }

    @staticmethod
    def _describe(error: BaseException) -> str:
        if isinstance(error, SystemExit):
            return f"called sys.exit({error.code!r})"
        if isinstance(error, MemoryError):
            return "MemoryError: ran out of memory (the sandbox's memory limit)"
        return _last_line(error)

    def _explain(self, error: BaseException) -> tuple[str, str]:
        """A notebook cell's error, for the feedback: one line and the trimmed traceback."""
        return _trim(self._describe(error), 500), self.student_traceback(error)

    def _name_hint(self, error: BaseException) -> str:
        """For a NameError in a notebook: the failed cell that would have defined the name, or the
        other tool's line that bound it and was not run."""
        try:
            name = getattr(error, "name", None) if _isinstance(error, NameError) else None
        except Exception:  # noqa: BLE001 - a NameError subclass of the student's, whose `name` raises
            return ""
        if not _isinstance(name, str):
            return ""
        for loaded in self.notebooks.values():
            why = loaded.why_undefined(name)
            if why:
                return f"{loaded.name}: {why}"
        return ""

    def student_traceback(self, error: BaseException) -> str:
        """The traceback trimmed to frames in the submission's own files."""
        root = str(self.submission_dir)
        if _isinstance(error, SyntaxError) and _isinstance(error.filename, str) and error.filename.startswith(root):
            error.filename = os.path.relpath(error.filename, root)
        frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.startswith(root)]
        for frame in frames:
            frame.filename = os.path.relpath(frame.filename, root)
        lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
        return _trim("".join(lines))


_NO_MODELRUN = {"status": "error", "message": "the grader did not load torch for this run, so no model can be "
                "evaluated (a fault of the grader's set-up, not of your code: tell your instructor)"}


def _last_line(error: BaseException) -> str:
    lines = traceback.format_exception_only(type(error), error)
    return lines[-1].strip() if lines else type(error).__name__


def serve(control_in: int, control_out: int, submission_dir: Path, *, max_return_bytes: int,
          links: tuple[str, ...] = ()) -> None:
    """Answer requests until the grader closes the channel."""
    worker = Worker(submission_dir, max_return_bytes=max_return_bytes, contain_finalizers=True, links=links)
    worker.prepare_interpreter()
    # Everything alive now (numpy, torch, the grader) is never garbage: keep it out of the collector's
    # way, so that collecting a scenario's objects costs what they cost, not a walk over torch.
    gc.freeze()
    wire.send(control_out, {"status": "ready"})
    while True:
        try:
            header, blobs = wire.receive(control_in)
        except EOFError:
            return
        try:
            reply, reply_blobs = worker.handle(header, blobs)
            message = wire.pack(reply, reply_blobs)
        except Exception as error:  # noqa: BLE001 - whatever the student's value did, answer
            reply = {"status": "bad_return", "message": _trim(f"the returned value could not be sent: "
                                                             f"{type(error).__name__}: {error}", 500)}
            message = wire.pack(reply, [])
        wire.send_packed(control_out, message)
