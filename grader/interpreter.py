"""Run a scenario plan (``grader.scenarios``) against a module: the worker's and the grader's side.

The plan is plain data; this module walks it: it calls the module's functions and classes, sets
attributes and dict entries, keeps every intermediate object (a cache, an instance, a config dict)
in a private namespace, and returns only the values the plan reads. In the worker that module is
the student's and the objects never leave the process; in the grader it is the reference, run the
same way so that both sides mean the same thing by every step.

Imported by the worker before any student code: numpy and the standard library only; torch is
imported lazily, by the builtins that need it.
"""

from __future__ import annotations

import copy
import gc
import itertools
import random
import sys
import traceback
import types
from typing import Any, Callable

import numpy as np

from grader.values import live, to_plain
from grader.wire import Unread

Lookup = Callable[[str], Any]
"""Resolves a global name (a function or class of the module); raises ``NameNotDefined``."""


class NameNotDefined(Exception):
    """The module has no such function or class."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class StepFailed(Exception):
    """A step (or a read) raised; ``__cause__`` is what the code under test raised."""

    def __init__(self, where: str, text: str) -> None:
        super().__init__(f"{where} `{text}`")
        self.where = where


class ScenarioMismatch(Exception):
    """The code returned something the scenario cannot use (unpacking the wrong number of values)."""


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's legacy global and (when loaded) torch's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _grad(outputs: Any, inputs: Any, grad_outputs: Any = None) -> tuple[Any, ...]:
    """``torch.autograd.grad``: the gradients of ``outputs`` (weighted by ``grad_outputs``) w.r.t. ``inputs``."""
    import torch

    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if grad_outputs is None:
        grad_outputs = torch.ones_like(outputs)
    # retain_graph: the grader may differentiate the same output again (a gradient check's `of`);
    # an input the output does not depend on (detached by the code) has a zero gradient.
    return tuple(torch.autograd.grad(outputs, inputs, grad_outputs=grad_outputs.to(outputs.dtype), retain_graph=True,
                                     allow_unused=True, materialize_grads=True))


def load_state_dict(module: Any, state: dict[str, Any]) -> None:
    """Load ``state`` strictly, explaining a mismatch by submodule and parameter name."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(module).__name__}")
    own = module.state_dict()
    problems = []
    for key, value in state.items():
        if key not in own:
            # `fc.weight` is missing because `fc` is, or because `fc` has no `weight`; a key with no
            # dot is a parameter (or buffer) of the module itself, never a submodule.
            owner = key.rsplit(".", 1)[0] if "." in key else ""
            has_owner = any(name == owner for name, _ in module.named_modules())
            problems.append(f"your module has no parameter `{key}`" if has_owner
                            else f"your module has no submodule `{owner}`")
        elif tuple(own[key].shape) != tuple(value.shape):
            problems.append(f"`{key}` has shape {tuple(own[key].shape)}, expected {tuple(value.shape)}")
    problems += [f"your module has an extra parameter `{key}` the handout does not ask for"
                 for key in own if key not in state]
    if problems:
        raise ValueError("; ".join(problems))
    module.load_state_dict(state, strict=True)


BUILTINS: dict[str, Callable[..., Any]] = {
    "namespace": types.SimpleNamespace,
    "grad": _grad,
    "load_state_dict": load_state_dict,
}


_helper_modules: dict[str, types.ModuleType] = {}
"""The spec's helpers modules made so far in this process, by source."""


def helpers_module(code: dict[str, str] | None) -> types.ModuleType | None:
    """The spec's helpers module, made from its source once per process (the instructor's code:
    in a worker it runs in the sandbox, in the grader as the reference does)."""
    if not code:
        return None
    source = str(code["source"])
    if source not in _helper_modules:
        module = types.ModuleType(str(code.get("name") or "helpers"))
        module.__file__ = str(code.get("name") or "helpers") + ".py"
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - the instructor's helpers
        _helper_modules[source] = module
    return _helper_modules[source]


class _Run:
    def __init__(self, lookup: Lookup, env: dict[str, Any], helpers: types.ModuleType | None = None) -> None:
        self.lookup = lookup
        self.env = env
        self.helpers = helpers

    def value(self, node: list[Any]) -> Any:
        tag = node[0]
        if tag == "name":
            return self.env[node[1]]
        if tag == "global":
            return self.lookup(node[1])
        if tag == "builtin":
            if node[1] == "helpers":
                if self.helpers is None:
                    raise ValueError("`helpers` names the spec's helpers module, and this spec has none")
                return self.helpers
            return BUILTINS[node[1]]
        if tag == "const":
            return node[1]
        if tag == "neg":
            return -self.value(node[1])
        if tag == "attr":
            return getattr(self.value(node[1]), node[2])
        if tag == "item":
            return self.value(node[1])[self.value(node[2])]
        if tag == "call":
            function = self.value(node[1])
            args = [self.value(arg) for arg in node[2]]
            kwargs = {name: self.value(arg) for name, arg in node[3]}
            return function(*args, **kwargs)
        if tag == "list":
            return [self.value(item) for item in node[1]]
        if tag == "tuple":
            return tuple(self.value(item) for item in node[1])
        if tag == "dict":
            return {self.value(key): self.value(item) for key, item in node[1]}
        raise ValueError(f"unknown plan node {tag!r}")

    def assign(self, target: list[Any], value: Any) -> None:
        tag = target[0]
        if tag == "name":
            self.env[target[1]] = value
        elif tag == "attr":
            setattr(self.value(target[1]), target[2], value)
        elif tag == "item":
            self.value(target[1])[self.value(target[2])] = value
        elif tag == "unpack":
            names = target[1]
            if isinstance(value, (dict, str)) or not hasattr(value, "__iter__"):
                raise ScenarioMismatch(f"returned {_kind(value)}, but the step unpacks {len(names)} values")
            # One more than needed, to tell "too many" without exhausting an endless iterator.
            items = list(itertools.islice(iter(value), len(names) + 1))
            if len(items) > len(names):
                raise ScenarioMismatch(f"returned more than {len(names)} values, but the step unpacks {len(names)}")
            if len(items) < len(names):
                raise ScenarioMismatch(f"returned {len(items)} value{'s' * (len(items) != 1)}, "
                                       f"but the step unpacks {len(names)}")
            for item_target, item in zip(names, items):
                self.assign(item_target, item)
        else:
            raise ValueError(f"unknown plan target {tag!r}")


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


Before = Callable[[int, "_Run"], None]
"""Called before each step (with its index) and before the reads (``len(steps)``): where a
gradient moves a value in an object the steps made (``Target.at``)."""


Unreadable = Callable[[BaseException], Any]
"""Turns the exception a read raised into the value read in its place (``unread``)."""


def unread(error: BaseException, describe: Callable[[BaseException], str]) -> Unread:
    """What a read that raised leaves in its place: an ``Unread`` saying that the value does not
    exist (the interpreter's own lookup failed: an attribute never set, a key never stored) or
    what reading it raised (the code's own property or ``__getitem__``). Feedback puts the read's
    name before it, as before every part's message."""
    frames = traceback.extract_tb(error.__traceback__)
    if isinstance(error, (AttributeError, KeyError, IndexError)) and frames and frames[-1].filename == __file__:
        return Unread(f"does not exist after the steps: your code never set it ({describe(error)})")
    return Unread(f"reading it raised {describe(error)}")


def run(plan: dict[str, Any], lookup: Lookup, args: dict[str, Any], *, collect: bool = False,
        before: Before | None = None, unreadable: Unreadable | None = None) -> tuple[Any, ...]:
    """Run every step, then return the reads, in order.

    Each step runs with every generator seeded from ``plan["seed"]`` and its position, so a
    constructor's random weights and a seeded dropout mask are the same in every run. The
    namespace, and every object the steps made, are released before this returns; with
    ``collect`` (the worker) unreachable cycles are collected too, so a student's ``__del__`` runs
    within the request that made the object and its misbehaviour is charged to that problem.

    With ``unreadable``, a read that raises is replaced by what it makes of the exception, and the
    other reads are still returned; without, it raises as a step does.

    Raises:
        StepFailed: from the exception a step or read raised (``__cause__``).
        NameNotDefined: a function or class the plan needs is not in the module.
    """
    runner = _Run(lookup, {name: live(value) for name, value in args.items()}, helpers_module(plan.get("helpers")))
    try:
        for index, step in enumerate(plan["steps"]):
            if before is not None:
                before(index, runner)
            seed_everything(int(plan["seed"]) + index)
            count = step.get("repeat", 1)
            # A count may name an argument of the case (one scenario, 1 step public, 3 hidden).
            for _ in range(int(runner.env[count] if isinstance(count, str) else count)):
                try:
                    value = runner.value(step["do"])
                    if step["to"] is not None:
                        runner.assign(step["to"], value)
                except NameNotDefined:
                    raise
                except BaseException as error:
                    raise StepFailed(f"step {index + 1}", step["text"]) from error
        if before is not None:
            before(len(plan["steps"]), runner)
        reads = []
        for index, node in enumerate(plan["reads"]):
            try:
                reads.append(runner.value(node))
            except NameNotDefined:
                raise
            except BaseException as error:
                if unreadable is not None:
                    reads.append(unreadable(error))
                    continue
                texts = plan.get("read_texts") or []
                raise StepFailed("reading", str(texts[index]) if index < len(texts) else f"#{index + 1}") from error
        return tuple(reads)
    finally:
        runner.env.clear()
        del runner
        if collect:
            gc.collect()


def moved(plan: dict[str, Any], target: dict[str, Any], value: Callable[[Any], Any]) -> Before:
    """A hook for ``run`` that replaces the value at ``target`` (a ``scenarios.Target.wire()``) by
    ``value(current)`` (unless that is None) just before the step the target names.

    Raises (from ``run``):
        StepFailed: the location cannot be read or set at that point (``__cause__`` says why).
    """

    def hook(index: int, runner: _Run) -> None:
        if index != target["at"]:
            return
        try:
            new = value(runner.value(target["node"]))
            if new is not None:
                runner.assign(target["node"], new)
        except _Stop:
            raise
        except BaseException as error:
            if index == len(plan["steps"]):
                raise StepFailed(f"moving `{target['text']}` before reading", str(plan["read_texts"][-1])) from error
            raise StepFailed(f"moving `{target['text']}` before step {index + 1}",
                             plan["steps"][index]["text"]) from error

    return hook


class _Stop(Exception):
    """Ends a run once the value a gradient starts from has been read."""


def plan_gradient(plan: dict[str, Any], lookup: Lookup, args: dict[str, Any], targets: list[dict[str, Any]],
                  upstream: str | None, eps: float, *, collect: bool = False) -> dict[str, np.ndarray]:
    """d sum(of * upstream) / d target, for each target (``scenarios.Target.wire()``: a case
    argument, or a value in an object the steps made, ``layer.W``), by central differences in float64,
    ``of`` being the plan's last read (CS231n's eval_numerical_gradient_array).

    One implementation for both sides: the grader differentiates the reference's scenario with it,
    and, for a gradient check ``through: student``, the worker differentiates the student's own
    forward (whose backward is then graded against it). Every evaluation runs the whole plan on
    fresh copies of the arguments, seeded as always, so a seeded dropout mask (and a constructor's
    random weights) are the same each time; the target's value is replaced by a moved float64 copy
    just before the step its ``at`` names.

    Raises:
        StepFailed, NameNotDefined: as ``run``.
        TypeError: the target holds a torch tensor, which finite differences in float32 cannot
            measure (the check should use ``method: autograd``).
    """
    weights = 1.0 if upstream is None else np.asarray(to_plain(live(args[upstream])), dtype=np.float64)

    def evaluate(target: dict[str, Any], value: Callable[[Any], Any]) -> Any:
        return run(plan, lookup, copy.deepcopy(args), collect=collect, before=moved(plan, target, value))

    gradients = {}
    for target in targets:
        start: list[np.ndarray] = []

        def capture(current: Any) -> None:
            if type(current).__module__.startswith("torch") and not target["argument"]:
                raise TypeError(f"`{target['text']}` holds a torch tensor: finite differences are taken in float64 "
                                "of numpy arrays and numbers (a module's float32 parameters cannot be moved by "
                                "eps); use method: autograd")
            start.append(np.array(to_plain(live(current)), dtype=np.float64))
            raise _Stop

        try:
            evaluate(target, capture)
        except _Stop:
            pass
        point = start[0]
        gradient = np.zeros_like(point)
        for flat in range(point.size):
            position = np.unravel_index(flat, point.shape)
            sides = []
            for step in (eps, -eps):
                shifted = point.copy()
                shifted[position] += step
                reads = evaluate(target, lambda _, shifted=shifted: shifted)
                sides.append(float(np.sum(np.asarray(to_plain(reads[-1]), dtype=np.float64) * weights)))
            gradient[position] = (sides[0] - sides[1]) / (2 * eps)
        gradients[target["text"]] = gradient
    return gradients

