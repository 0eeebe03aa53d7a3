"""What the checks compare against: reference outputs, numerical gradients, mistakes, labels.

``ReferenceExpectations`` computes them in the trusted process from the instructor's reference
and mistakes modules, once per case for a whole class (they do not depend on the submission).
``KitExpectations`` reads the public part of them from a student kit, where no reference exists.
Both answer the same questions, so checks never know which one they talk to.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import warnings
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader import datasets, interpreter, reference
from grader.cases import case_args, copy_args, named_args
from grader.errors import ReferenceImplementationError
from grader.grading.checks.gradient import autograd_gradient, numerical_gradient
from grader.scenarios import Scenario, Target
from grader.spec import Assignment, Case, GradientCheck, Mistake, Problem
from grader.values import live, to_plain


def _moment(plan: dict[str, Any], target: Target) -> str:
    """When a target is moved, in the words of the spec: "moved before step 4 `Z = layer.forward(A)`"."""
    if target.at == 0:  # a case argument, or a value in one
        return "moved as the case gives it"
    if target.at == len(plan["steps"]):
        return "moved after the last step"
    return f"moved before step {target.at + 1} `{plan['steps'][target.at]['text']}`"


def _unreadable(error: BaseException) -> Any:
    return interpreter.unread(error, lambda raised: f"{type(raised).__name__}: {raised}")


def _loaded_into(plan: dict[str, Any], target: Target) -> str:
    """The module parameter a state-dict entry is loaded into (``state["fc.weight"]`` loaded by
    ``load_state_dict(net, state)`` is ``net.fc.weight``), or an example of one."""
    node = target.node
    if node[0] == "item" and node[1][0] == "name" and node[2][0] == "const":
        for step in plan["steps"]:
            call = step["do"]
            if call[0] == "call" and call[1] == ["builtin", "load_state_dict"] and len(call[2]) == 2 \
                    and call[2][1] == node[1] and call[2][0][0] == "name":
                return f"{call[2][0][1]}.{node[2][1]}"
    return "net.fc.weight"


class Unavailable(Exception):
    """The expectation is not known here (a hidden case asked of a kit)."""


class ReferenceRaised(ReferenceImplementationError):
    """The reference raised on a case: the case (or the reference) is wrong, never the student."""

    def __init__(self, what: str, case: str, reason: str) -> None:
        super().__init__(f"{what} raised on case {case!r}: {reason}")
        self.case = case
        self.reason = reason


class MistakeRaised:
    """A declared mistake raised on a case: a student who raises there may be making it."""

    def __init__(self, message: str) -> None:
        self.message = message


class _Cache:
    """Each expectation computed once, one at a time.

    One at a time because the reference runs in this process with numpy's, Python's and torch's
    global generators seeded before every scenario step: two threads grading two submissions must
    not interleave their draws (a dropout mask drawn between another thread's seed and its draw
    is a different mask).
    """

    def __init__(self) -> None:
        self._values: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.RLock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._values:
                self._values[key] = compute()
            return self._values[key]


IMAGE_SECRET_ENV = "GRADER_IMAGE_SECRET"
"""Where an instructor may set the seed of the MNIST images' noise (see ``image_secret``)."""


class ReferenceExpectations:
    """Expectations computed from the instructor's modules (``grader grade``, ``lint``, ``bundle``)."""

    def __init__(self, assignment: Assignment, *, data_dir: Path | None = None) -> None:
        self.assignment = assignment
        self.data_dir = data_dir
        self._reference = (
            reference.load_module(assignment.reference_path) if assignment.reference_path else None
        )
        self._mistakes = reference.load_module(assignment.mistakes_path) if assignment.mistakes_path else None
        self._cache = _Cache()

    @property
    def reference_module(self) -> types.ModuleType | None:
        return self._reference

    @functools.cached_property
    def image_secret(self) -> int | None:
        """The seed of the noise on the MNIST images sent to a student's model (``datasets.perturb``):
        ``$GRADER_IMAGE_SECRET``, else a digest of the instructor's files (spec, reference, mistakes),
        which students never see, so that every run of the same instructor files (a local run, Dask,
        Gradescope) sends the same images; None without a reference (a random seed per process)."""
        if os.environ.get(IMAGE_SECRET_ENV):
            return int(hashlib.sha256(os.environ[IMAGE_SECRET_ENV].encode()).hexdigest()[:15], 16)
        paths = [self.assignment.reference_path, self.assignment.mistakes_path]
        if paths[0] is None:
            return None
        digest = hashlib.sha256(self.assignment.source.read_bytes())
        for path in paths:
            if path is not None:
                digest.update(path.read_bytes())
        return int(digest.hexdigest()[:15], 16)

    def _reference_function(self, name: str) -> Callable[..., Any]:
        if self._reference is None:
            raise ReferenceImplementationError(f"{self.assignment.source}: the spec names no reference module")
        return reference.function_of(self._reference, name, what="reference function")

    def _lookup(self, problem: Problem, replaced: tuple[str, Callable[..., Any]] | None = None) -> interpreter.Lookup:
        """How a scenario on the reference finds its functions and classes (one of them, by name,
        replaced by a declared mistake, to compute what that mistake returns)."""

        def lookup(name: str) -> Any:
            if replaced is not None and name == replaced[0]:
                return replaced[1]
            return self._reference_function(name)

        return lookup

    def _run(self, problem: Problem, case: Case, what: str) -> Any:
        try:
            return to_plain(self._outcome(problem, case, self._lookup(problem)))
        except Exception as error:
            raise ReferenceRaised(what, case.name, _reason(error)) from error

    def _outcome(self, problem: Problem, case: Case, lookup: interpreter.Lookup,
                 unreadable: interpreter.Unreadable | None = None) -> Any:
        """What the problem's code returns on a case: its function's value, or its scenario's reads."""
        if problem.steps is not None:
            return interpreter.run(problem.steps.plan(problem.seed, self.assignment.helpers_code()), lookup,
                                   named_args(case), unreadable=unreadable)
        return lookup(problem.function_name)(*live(copy_args(case_args(case))))

    def expected(self, problem: Problem, case: Case) -> Any:
        def compute() -> Any:
            return self._run(problem, case, f"reference {problem.function_name}")

        return self._cache.get(("expected", problem.id, case.name), compute)

    def gradient(self, problem: Problem, check_index: int, case: Case) -> dict[str, np.ndarray]:
        check = problem.checks[check_index]
        assert isinstance(check, GradientCheck)

        def compute() -> dict[str, np.ndarray]:
            try:
                of = problem.gradient_of(check)
                if of is not None:
                    return self._gradient_of(problem, of, check, case)
                function = self._reference_function(check.function or "")
                args = copy_args(case_args(case))
                names = list(case.args)
                result = {}
                for arg in check.wrt:
                    index = names.index(arg)
                    if check.method == "autograd":
                        result[arg] = autograd_gradient(function, args, index)
                    else:
                        result[arg] = numerical_gradient(function, args, index, check.eps)
                return result
            except ReferenceImplementationError:
                raise
            except Exception as error:
                raise ReferenceRaised(f"differentiating {check.of or check.function}", case.name,
                                      _reason(error)) from error

        return self._cache.get(("gradient", problem.id, check_index, case.name), compute)

    def _gradient_of(self, problem: Problem, of: Scenario, check: GradientCheck, case: Case) -> dict[str, np.ndarray]:
        """d sum(of * upstream) / d target, for each target of ``wrt`` (``Problem.gradient_targets``):
        the problem's scenario (if any) run on the reference with that value moved, ``of`` its last read.

        A target in an object the steps made (``layer.W``) whose gradient is zero everywhere is the
        spec's mistake (the value is copied before ``of`` is computed, or ``of`` never reads it): a
        check against a zero gradient would teach nothing, so it is refused with the reason."""
        plan = of.plan(problem.seed, self.assignment.helpers_code())
        lookup = self._lookup(problem)
        targets = problem.gradient_targets(check)
        if check.method == "autograd":
            gradients = self._autograd_of(plan, lookup, check, case, targets)
        else:
            gradients = interpreter.plan_gradient(plan, lookup, dict(zip(case.args, case_args(case))),
                                                  [target.wire() for target in targets], check.upstream, check.eps)
        for target in targets:
            if not target.is_argument and not np.any(gradients[target.text]):
                raise ValueError(f"`{check.of}` does not change when `{target.text}` moves "
                                 f"({_moment(plan, target)}): name the value `{check.of}` is computed from")
        return gradients

    def _autograd_of(self, plan: dict[str, Any], lookup: interpreter.Lookup, check: GradientCheck, case: Case,
                     targets: tuple[Target, ...]) -> dict[str, np.ndarray]:
        """The same derivatives by torch autograd: each target's value becomes a leaf that requires
        its gradient where it is moved (a module's parameter already is one, and stays itself)."""
        import torch

        leaves: dict[str, Any] = {}

        def leaf(target: Target) -> Callable[[Any], Any]:
            def make(current: Any) -> Any:
                if isinstance(current, torch.nn.Parameter):
                    leaves[target.text] = current.requires_grad_(True)
                    return None
                tensor = current if isinstance(current, torch.Tensor) else torch.as_tensor(current, dtype=torch.float64)
                leaves[target.text] = tensor.detach().clone().requires_grad_(True)
                return leaves[target.text]
            return make

        hooks = [interpreter.moved(plan, target.wire(), leaf(target)) for target in targets]

        def before(index: int, runner: Any) -> None:
            for hook in hooks:
                hook(index, runner)

        args = live(named_args(case))
        value = interpreter.run(plan, lookup, args, before=before)[-1]
        weights = torch.ones_like(value) if check.upstream is None else torch.as_tensor(args[check.upstream])
        inputs = [leaves[target.text] for target in targets]
        grads = torch.autograd.grad((value * weights.to(value.dtype)).sum(), inputs, allow_unused=True)
        for target, grad in zip(targets, grads):
            if grad is None:
                raise ValueError(f"`{check.of}` does not depend on `{target.text}` through autograd "
                                 f"({_moment(plan, target)}): load_state_dict and copy_ keep no graph; name the "
                                 f"parameter the value is copied into (`{_loaded_into(plan, target)}`)")
        return {target.text: grad.detach().numpy().astype(np.float64) for target, grad in zip(targets, grads)}

    def mistake_function(self, problem: Problem, mistake: Mistake) -> Callable[..., Any]:
        if self._mistakes is None:
            raise ReferenceImplementationError(f"{self.assignment.source}: the spec names no mistakes module")
        name = mistake.implementation or f"{problem.replaced_by(mistake)}__{mistake.id}"
        return reference.function_of(self._mistakes, name, what=f"mistake of problem {problem.id!r}")

    def mistake_message(self, problem: Problem, mistake: Mistake) -> str:
        if mistake.message:
            return mistake.message
        doc = (self.mistake_function(problem, mistake).__doc__ or "").strip()
        return " ".join(doc.split()) or mistake.id.replace("_", " ")

    def mistake_output(self, problem: Problem, mistake: Mistake, case: Case) -> Any:
        def compute() -> Any:
            lookup = self._lookup(problem, replaced=(problem.replaced_by(mistake),
                                                     self.mistake_function(problem, mistake)))
            try:
                # A mistake may overflow on purpose; its warnings are not the instructor's concern.
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    # A read the variant cannot answer is left unread, as a student's is (``layer.dW``
                    # never set): the student who never sets it either behaves like it.
                    return to_plain(self._outcome(problem, case, lookup, unreadable=_unreadable))
            except Exception as error:  # noqa: BLE001 - a mistake may well raise
                return MistakeRaised(_reason(error))

        return self._cache.get(("mistake", problem.id, mistake.id, case.name), compute)

    def mnist(self, split: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        def compute() -> tuple[np.ndarray, np.ndarray]:
            images, labels = datasets.load_mnist(split, self.data_dir)
            if stop > len(images):
                raise ReferenceImplementationError(
                    f"the spec evaluates images [{start}, {stop}) of the MNIST {split} split, which has {len(images)}"
                )
            return images[start:stop], labels[start:stop]

        return self._cache.get(("mnist", split, start, stop), compute)


def _reason(error: BaseException) -> str:
    """An error of the instructor's code in one line, naming the scenario step when there is one."""
    if isinstance(error, interpreter.StepFailed) and error.__cause__ is not None:
        return f"{error}: {type(error.__cause__).__name__}: {error.__cause__}"
    return f"{type(error).__name__}: {error}"


class KitExpectations:
    """Public expectations stored in a student kit (``grader bundle``): no reference needed.

    The kit's ``expected.json`` indexes value trees (``grader.wire`` JSON nodes) whose arrays are
    in ``expected.npz``, read with ``allow_pickle=False``. Anything the kit does not hold (a hidden
    case) raises ``Unavailable``, and the check that asked for it is skipped.
    """

    FORMAT = 1
    """The expected.json layout this class reads (``grader.kit.bundle.KIT_FORMAT``)."""

    def __init__(self, folder: Path, *, data_dir: Path | None = None) -> None:
        from grader.errors import GraderError

        self.folder = folder
        self.data_dir = data_dir
        self._index: dict[str, Any] = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        if self._index.get("format") != self.FORMAT:
            raise GraderError(
                f"{folder}: kit format {self._index.get('format')!r}, this grader reads {self.FORMAT}; "
                "ask for a kit made by this grader version"
            )
        with np.load(folder / "expected.npz", allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        try:
            self._arrays = [arrays[f"a{i}"] for i in range(len(arrays))]
        except KeyError as error:
            raise GraderError(f"{folder}: expected.npz lacks array {error}") from None
        self._cache = _Cache()

    def _value(self, node: Any) -> Any:
        from grader import wire

        return wire.decode(node, self._arrays)

    def _lookup(self, *key: str) -> Any:
        node = self._index
        for part in key:
            if not isinstance(node, dict) or part not in node:
                raise Unavailable("/".join(key))
            node = node[part]
        return node

    def expected(self, problem: Problem, case: Case) -> Any:
        return self._value(self._lookup("expected", problem.id, case.name))

    def gradient(self, problem: Problem, check_index: int, case: Case) -> dict[str, np.ndarray]:
        return self._value(self._lookup("gradient", problem.id, str(check_index), case.name))

    def mistake_message(self, problem: Problem, mistake: Mistake) -> str:
        # The kit's spec carries each mistake's message; there is no mistakes module to ask.
        if mistake.message:
            return mistake.message
        raise Unavailable(f"message of mistake {problem.id}/{mistake.id}")

    def mistake_output(self, problem: Problem, mistake: Mistake, case: Case) -> Any:
        node = self._lookup("mistakes", problem.id, mistake.id, case.name)
        if isinstance(node, dict) and "raised" in node:
            return MistakeRaised(str(node["raised"]))
        return self._value(node)

    def mnist(self, split: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        def compute() -> tuple[np.ndarray, np.ndarray]:
            images, labels = datasets.load_mnist(split, self.data_dir)
            return images[start:stop], labels[start:stop]

        return self._cache.get(("mnist", split, start, stop), compute)
