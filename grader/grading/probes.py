"""Probes: a problem's cases changed along documented lines, to tell a mutant from the reference.

A mutant of the reference that keeps full marks (``grader.grading.strength``) is either a mistake
the cases cannot see or no mistake at all (``-(a - b)**2``). To tell which, both are run on
probes: the cases themselves; each case with every scenario step run twice (state kept across
calls: a gradient accumulated, never reset); with one integer hyper-parameter at 0 and at 1 (an
int argument, or an int in a dict argument such as ``conv_param["pad"]``); with one float input
rounded to integers (exact zeros and ties, where ``x > 0`` and ``x >= 0`` part); and with one
float input scaled to magnitudes 1e3 and 1e4 (where a naive ``exp`` overflows). A changed case
counts only where the reference accepts it and is finite: its answer there is known right.

Inputs are changed only along these lines: redrawing them at random would break what the problem
assumes of them (a symmetric affinity matrix, probabilities), and would report mutants that
differ only on inputs no student is asked to handle.

Mutants are the instructor's code, so they run in this process; one can still loop (an
off-by-one range) or take long, so every run is under a wall-clock alarm (``timed``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import signal
import threading
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from grader import interpreter
from grader.cases import case_args, copy_args
from grader.compare import tolerances
from grader.spec import GradientCheck, Problem, ValueCheck
from grader.values import live, to_plain
from grader.wire import TensorArg

MAGNITUDES = (1e3, 1e4)
"""Float inputs are scaled to these magnitudes in probes: past where exp overflows (~709.78), and
where a softmax shifted by the wrong maximum underflows a whole row."""


@dataclass(frozen=True, kw_only=True)
class Probe:
    """Arguments a mutant and the reference are both run on, to tell an equivalent mutant."""

    case: str
    """``case 'pad1'``."""
    change: str
    """What is changed from the case (``conv_param["pad"] = 0``), or "" for the case itself."""
    args: dict[str, Any]
    twice: bool = False
    """Run every step of the scenario twice in a row (call the function twice): state kept across
    calls (a gradient accumulated, never reset) shows only then."""

    @property
    def label(self) -> str:
        return f"{self.case} with {self.change}" if self.change else self.case


class _Timeout(BaseException):
    """The alarm of a mutant's time limit (a BaseException: code under test catching Exception
    does not swallow it)."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise ``_Timeout`` in this thread after ``seconds``, and again every 50 ms until the block
    ends (in case the code under test catches the first). Only in the main thread; elsewhere no limit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        while True:  # an alarm may fire during the clean-up itself: clean up again
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                break
            except _Timeout:
                continue


def timed(seconds: float, work: Callable[[], Any]) -> tuple[Any, bool]:
    """``(work(), False)``, or ``(None, True)`` when it ran out of time."""
    try:
        with _alarm(seconds):
            return work(), False
    except _Timeout:
        return None, True


# --------------------------------------------------------------------------- probes


def int_paths(problem: Problem, args: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], int]]:
    """Integer hyper-parameters of a case: top-level ints and ints in dict arguments; not seeds,
    nor the count of a repeated scenario step (the grader's choice, not the code's input)."""
    counts = {step.repeat for step in problem.scenario or () if not isinstance(step, str)}
    for name, value in args.items():
        if type(value) is int and "seed" not in name and name not in counts:
            yield (name,), value
        elif isinstance(value, dict):
            for key, item in value.items():
                if type(item) is int and "seed" not in str(key):
                    yield (name, key), item


def path_text(path: tuple[str, ...]) -> str:
    return path[0] + "".join(f'["{key}"]' for key in path[1:])


def _with(args: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = dict(args)
    if len(path) == 1:
        changed[path[0]] = value
    else:
        changed[path[0]] = {**changed[path[0]], path[1]: value}
    return changed


def float_array(value: Any) -> np.ndarray | None:
    """A float input (an array, a tensor's array, or a float) as an array; None for anything else."""
    array = value.array if isinstance(value, TensorArg) else np.asarray(value) if type(value) is float else value
    if isinstance(array, np.ndarray) and array.dtype.kind == "f" and array.size:
        return array
    return None


def _rewrap(original: Any, array: np.ndarray) -> Any:
    if isinstance(original, TensorArg):
        return TensorArg(array.astype(original.array.dtype), original.requires_grad)
    return float(array) if type(original) is float else array.astype(original.dtype)


def peak(array: np.ndarray) -> float:
    return float(np.max(np.abs(array[np.isfinite(array)]), initial=0.0))


def probes_of(problem: Problem) -> list[Probe]:
    """The cases, then each case with every step run twice, with one integer hyper-parameter at 0
    or 1, with one float input rounded to integers, and with one scaled to magnitudes 1e3 and 1e4."""
    probes = []
    for case in problem.cases:
        base = dict(zip(case.args, case_args(case)))
        name = f"case {case.name!r}"
        probes.append(Probe(case=name, change="", args=base))
        probes.append(Probe(case=name, change="every step run twice" if problem.steps else "the function called twice",
                            args=base, twice=True))
        for path, value in int_paths(problem, base):
            for boundary in (0, 1):
                if boundary != value:
                    probes.append(Probe(case=name, change=f"{path_text(path)} = {boundary}",
                                        args=_with(base, path, boundary)))
        for arg, value in base.items():
            # Exact zeros and ties: where `x > 0` and `x >= 0` part, and random floats never go.
            array = float_array(value)
            if array is not None and not np.array_equal(np.round(array), array):
                probes.append(Probe(case=name, change=f"{arg} rounded to integers",
                                    args=_with(base, (arg,), _rewrap(value, np.round(array)))))
        for magnitude in MAGNITUDES:
            for arg, value in base.items():
                array = float_array(value)
                largest = 0.0 if array is None else peak(array)
                if 0 < largest < magnitude:
                    probes.append(Probe(case=name, change=f"{arg} scaled to magnitude {magnitude:.0e}",
                                        args=_with(base, (arg,), _rewrap(value, array * (magnitude / largest)))))
    return probes


def _fresh(args: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(args, copy_args(tuple(args.values()))))


def _lookup(module: types.ModuleType) -> interpreter.Lookup:
    def lookup(name: str) -> Any:
        if not hasattr(module, name):
            raise interpreter.NameNotDefined(name)
        return getattr(module, name)

    return lookup


def run(problem: Problem, module: types.ModuleType, args: dict[str, Any], twice: bool = False) -> Any:
    """What the module returns on the arguments, and the arguments afterwards (an input written
    in place is a difference too)."""
    lookup = _lookup(module)
    args = _fresh(args)
    with np.errstate(all="ignore"), contextlib.redirect_stderr(io.StringIO()):
        if problem.steps is not None:
            plan = problem.steps.plan(problem.seed)
            if twice:
                plan["steps"] = [step for step in plan["steps"] for _ in range(2)]
            value = interpreter.run(plan, lookup, args)
        else:
            for _ in range(2 if twice else 1):
                interpreter.seed_everything(problem.seed)
                value = lookup(problem.function_name)(*live(list(args.values())))
    return to_plain(value), {name: _arrays(item) for name, item in args.items()}


def _arrays(value: Any) -> Any:
    """An argument after a run, its tensors as their arrays (in dicts and lists too: two runs' copies
    of one state dict are equal when their arrays are)."""
    if isinstance(value, TensorArg):
        return value.array
    if type(value) is dict:
        return {key: _arrays(item) for key, item in value.items()}
    if type(value) in (tuple, list):
        return type(value)(_arrays(item) for item in value)
    return value


def _upstream_fitted(problem: Problem, reference: types.ModuleType, args: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments with each gradient check's upstream gradient (``dout``) redrawn in the shape
    the reference's forward now has (``pad = 0`` shrinks ``out``), or None when nothing changed."""
    if problem.steps is None:
        return None
    fitted, changed = dict(args), False
    for check in problem.checks:
        if not isinstance(check, GradientCheck) or check.upstream is None or check.of is None \
                or float_array(args.get(check.upstream)) is None:
            continue
        upstream, of = check.upstream, problem.gradient_of(check)
        assert of is not None
        plan = of.plan(problem.seed)
        for stop in range(1, len(plan["steps"]) + 1):
            try:
                with np.errstate(all="ignore"):
                    value = to_plain(interpreter.run({**plan, "steps": plan["steps"][:stop], "reads": plan["reads"][-1:]},
                                                     _lookup(reference), _fresh(args))[0])
            except Exception:  # noqa: BLE001 - the forward has not run yet at this step
                continue
            shape = np.shape(value)
            if shape != np.shape(float_array(args[upstream])):
                draw = np.random.default_rng(21).standard_normal(shape)
                fitted[upstream], changed = _rewrap(args[upstream], draw), True
            break
    return fitted if changed else None


def difference(expected: Any, obtained: Any, rtol: float | None = None, atol: float | None = None) -> str:
    """How ``obtained`` differs from ``expected`` beyond the tolerance (the grader's default by
    dtype when None), or "" when it does not, in a few words."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(obtained, (tuple, list)) or len(obtained) != len(expected):
            return "returns a different structure"
        return next((d for d in (difference(e, o, rtol, atol) for e, o in zip(expected, obtained)) if d), "")
    if isinstance(expected, dict):
        if not isinstance(obtained, dict) or set(obtained) != set(expected):
            return "returns different keys"
        return next((d for d in (difference(expected[k], obtained[k], rtol, atol) for k in expected) if d), "")
    if isinstance(expected, (np.ndarray, np.number, int, float, bool)) and not isinstance(expected, str):
        a, b = np.asarray(expected), np.asarray(obtained) if not isinstance(obtained, str) else None
        if b is None or b.dtype == object or a.dtype == object:
            return "" if expected is obtained else "returns a different kind of value"
        if a.shape != b.shape:
            return f"returns shape {b.shape} where the reference's is {a.shape}"
        if a.dtype.kind in "biufc" and b.dtype.kind in "biufc":
            rtol, atol = tolerances(a, rtol, atol)
            if np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True):
                return ""
            if np.all(np.isfinite(a)) and not np.all(np.isfinite(b)):
                return "returns NaN or inf where the reference is finite"
            return "returns other values"
        return "" if np.array_equal(a, b) else "returns other values"
    try:
        return "" if bool(expected == obtained) else "returns other values"
    except Exception:  # noqa: BLE001 - objects without a usable ==
        return ""


def _finite(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(map(_finite, value))
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    if isinstance(value, (np.ndarray, float, np.floating)):
        array = np.asarray(value)
        return array.dtype.kind not in "fc" or bool(np.all(np.isfinite(array)))
    return True


class Probing:
    """The reference's outputs on a problem's probes, computed once, and a mutant compared on them."""

    def __init__(self, problem: Problem, reference: types.ModuleType, time_limit: float) -> None:
        self.problem = problem
        self.time_limit = time_limit
        # The tightest tolerance the problem's value checks use: a mutant within it cannot be told apart.
        values = [check for check in problem.checks if isinstance(check, ValueCheck)]
        self.rtol = min((check.rtol for check in values if check.rtol is not None), default=None)
        self.atol = min((check.atol for check in values if check.atol is not None), default=None)
        self.expected: list[tuple[Probe, Any]] = []
        for probe in probes_of(problem):
            try:
                output, _ = timed(time_limit, lambda: run(problem, reference, probe.args, probe.twice))
            except Exception:  # noqa: BLE001 - the reference does not accept this probe
                fitted = _upstream_fitted(problem, reference, probe.args) if probe.change else None
                if fitted is None:
                    continue
                probe = dataclasses.replace(probe, args=fitted)
                try:
                    output, _ = timed(time_limit, lambda: run(problem, reference, probe.args, probe.twice))
                except Exception:  # noqa: BLE001 - nor with the upstream gradient refitted
                    continue
            # A changed case counts only where the reference is finite: its answer there is known right.
            if output is not None and (not probe.change or _finite(output)):
                self.expected.append((probe, output))

    def differs(self, module: types.ModuleType) -> str:
        """Where and how the module differs from the reference, or "" when it never does."""
        for probe, expected in self.expected:
            try:
                obtained, late = timed(self.time_limit, lambda: run(self.problem, module, probe.args, probe.twice))
            except Exception as error:  # noqa: BLE001 - a mutant may raise
                return f"raises {type(error).__name__} on {probe.label}"
            if late:
                return f"runs out of time on {probe.label}"
            how = difference(expected[0], obtained[0], self.rtol, self.atol)
            if how:
                return f"{how} on {probe.label}"
            written = [name for name in expected[1]
                       if difference(expected[1][name], obtained[1][name], self.rtol, self.atol)]
            if written:
                return f"writes into its argument {written[0]} on {probe.label}"
        return ""
