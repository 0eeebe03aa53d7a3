"""Load YAML problem specs and validate them into frozen models.

A spec is data, never code: it is read with ``yaml.safe_load`` and validated with pydantic, whose
models give every field a type, a default and a description, refuse unknown keys, and report the
exact location of a bad value. That location becomes a ``SpecError`` naming the file, the problem
and the field, raised before anything is graded.

pydantic rather than jsonschema: the validated spec is used as typed, immutable Python objects
throughout the grader, so one declaration gives both the schema and the objects.
"""

from __future__ import annotations

import difflib
import functools
import math
from pathlib import Path
from functools import cached_property
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator,
                      model_validator)
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypeAliasType

from grader.errors import SpecError
from grader.scenarios import Scenario, ScenarioSyntaxError, Target, gradient_scenario, locate, parse, targets

SCHEMA_VERSION = 1
"""The spec format this grader reads; specs say which one they were written for."""

PROBLEMS_DIR = Path(__file__).resolve().parent.parent / "problems"
"""Where ``grader grade hw1`` looks for ``hw1.yaml`` when run from a source checkout."""


RESERVED_IDS = frozenset({"id", "total", "max"})
"""Problem ids that would clash with the gradebook's own columns."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _non_negative(value: float | None, name: str) -> float | None:
    if value is not None and (math.isnan(value) or value < 0):
        raise ValueError(f"{name} must be a non-negative number, got {value}")
    return value


class Limits(_Model):
    """Sandbox limits; set per assignment and overridden per problem."""

    call_timeout: float = Field(10.0, gt=0, description="CPU seconds for one call (wall clock: 3x + 10 s).")
    import_timeout: float = Field(20.0, gt=0, description="CPU seconds to import a module (wall clock: 3x + 10 s).")
    submission_timeout: float = Field(600.0, gt=0, description="Seconds for a whole submission (wall clock: 3x + 10 s).")
    cpu_seconds: int = Field(300, gt=0, description="CPU seconds for one worker process.")
    memory_mb: int = Field(2048, gt=0, description="Address space the student may add, in MiB.")
    processes: int = Field(16, gt=0, description="Processes and threads a worker may start.")
    file_size_mb: int = Field(16, gt=0, description="Largest file the student may write, in MiB.")
    output_kb: int = Field(64, gt=0, description="Captured stdout+stderr kept per worker, in KiB.")
    return_mb: int = Field(64, gt=0, description="Largest total size of one call's returned arrays, in MiB.")


class LimitsOverride(_Model):
    """The same fields as ``Limits``, each optional."""

    call_timeout: float | None = Field(None, gt=0)
    import_timeout: float | None = Field(None, gt=0)
    submission_timeout: float | None = Field(None, gt=0)
    cpu_seconds: int | None = Field(None, gt=0)
    memory_mb: int | None = Field(None, gt=0)
    processes: int | None = Field(None, gt=0)
    file_size_mb: int | None = Field(None, gt=0)
    output_kb: int | None = Field(None, gt=0)
    return_mb: int | None = Field(None, gt=0)

    def apply(self, base: Limits) -> Limits:
        return base.model_copy(update=self.model_dump(exclude_none=True))


# --- values -----------------------------------------------------------------------------------

NUMERIC_DTYPES = ("float64", "float32", "int64", "int32", "uint8", "bool")


DType = Literal["float64", "float32", "int64", "int32", "uint8", "bool"]


class _ArrayOptions(_Model):
    # The JSON Schema says what _grad_needs_tensor checks: requires_grad true needs tensor true.
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"requires_grad": {"const": True}}, "required": ["requires_grad"]},
        "then": {"properties": {"tensor": {"const": True}}, "required": ["tensor"]},
    })

    tensor: bool = Field(False, description="Pass a torch tensor of this dtype instead of a numpy array.")
    requires_grad: bool = Field(False, description="With tensor: track gradients, for grad() in a scenario.")

    @model_validator(mode="after")
    def _grad_needs_tensor(self) -> "_ArrayOptions":
        if self.requires_grad and not self.tensor:
            raise ValueError("requires_grad needs tensor: true")
        return self


class ArrayValue(_ArrayOptions):
    """An explicit array with a dtype, for integer labels, masks or float32 inputs."""

    array: list[Any] = Field(description="Nested lists of numbers.")
    dtype: DType = Field("float64", description="Element type.")


class LinspaceValue(_ArrayOptions):
    """``np.linspace(start, stop, num=prod(shape)).reshape(shape)``, as CS231n's worked values are built."""

    linspace: tuple[float, float] = Field(description="[start, stop], both included.")
    shape: list[Annotated[int, Field(ge=0)]] = Field(description="Shape of the array.")
    dtype: DType = Field("float64", description="Element type.")


class RandomValue(_ArrayOptions):
    """An input drawn from a named distribution with a fixed seed, so every run sees the same."""

    random: Literal["normal", "uniform", "integers", "dirichlet", "affinity"] = Field(
        description="normal(loc, scale), uniform(low, high), integers in [low, high), "
        "dirichlet(alpha) over the last axis, or affinity: a symmetric matrix with zero "
        "diagonal summing to 1 (SNE's P), of shape [n, n]."
    )
    shape: list[Annotated[int, Field(ge=0)]] = Field(description="Shape of the array.")
    seed: int = Field(ge=0, description="Seed of numpy's default_rng.")
    loc: float = Field(0.0, description="normal: the mean.")
    scale: float = Field(1.0, ge=0, description="normal: the standard deviation.")
    low: float = Field(0.0, description="uniform and integers: the lowest value (included).")
    high: float = Field(1.0, description="uniform and integers: the upper bound (excluded).")
    alpha: float = Field(1.0, gt=0, description="dirichlet: the concentration.")
    dtype: DType | None = Field(None, description="Element type; default float64 (int64 for integers).")

    @model_validator(mode="after")
    def _check(self) -> "RandomValue":
        if self.random in ("uniform", "integers") and not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be greater than low ({self.low})")
        if self.random == "affinity" and (len(self.shape) != 2 or self.shape[0] != self.shape[1]):
            raise ValueError(f"affinity needs a square shape [n, n], got {self.shape}")
        if self.random == "dirichlet" and not self.shape:
            raise ValueError("dirichlet needs at least one axis")
        return self


_VALUE_KEYS = ("random", "array", "linspace")


def _value_kind(value: Any) -> str:
    """Which kind of value a spec entry is: a mapping with one of the keys above is that kind of
    array (so a typo inside it is reported, not taken for a dict), any other mapping is a dict."""
    if isinstance(value, dict):
        return next((key for key in _VALUE_KEYS if key in value), "mapping")
    for kind, model in (("array", ArrayValue), ("linspace", LinspaceValue), ("random", RandomValue)):
        if isinstance(value, model):
            return kind
    return "plain"


Value = TypeAliasType(  # type: ignore[misc]
    "Value",
    Annotated[
        Union[
            Annotated[ArrayValue, Tag("array")],
            Annotated[LinspaceValue, Tag("linspace")],
            Annotated[RandomValue, Tag("random")],
            Annotated[dict[str, "Value"], Tag("mapping")],  # type: ignore[misc]  # recursive, for pydantic
            Annotated[Union[bool, int, float, str, list[Any], None], Tag("plain")],
        ],
        Discriminator(_value_kind),
    ],
)
"""A case argument: a number, string, bool or null; a list (a float64 array); an explicit,
linspace or random array (optionally a torch tensor); or a mapping of names to values (a dict)."""


class Case(_Model):
    """One input of a problem: arguments passed positionally, in the order written."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Unique within the problem.")
    visibility: Literal["public", "hidden"] = Field(
        "hidden", description="Public cases are shown to students and shipped in the kit."
    )
    args: dict[str, Value] = Field(description="Argument name to value, in call order.")
    hint: str = Field("", description="Shown to the student when a hidden case fails.")
    raises: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The exception the handout asks for on these "
        "arguments (IndexError for an index past the table): the reference must raise it, and a student passes "
        "the case by raising an exception of that class (or of a built-in subclass of it). Value checks only.")
    note: str = Field("", description="Why this case exists (instructor-facing).")


# --- checks -----------------------------------------------------------------------------------


class _CheckBase(_Model):
    name: str | None = Field(None, description="Shown in feedback; defaults to the kind.")
    weight: float = Field(1.0, gt=0, description="Share of the problem's points.")
    cases: list[str] | None = Field(None, description="Case names; default: every case.")
    success_message: str = Field("", description="Shown when the check passes, in place of the default.")
    failure_message: str = Field("", description="Shown before the details when the check fails.")


class ValueCheck(_CheckBase):
    """The student's output equals the reference's on each case, within a tolerance."""

    kind: Literal["value"] = Field(description="This kind of check.")
    parts: list[str] | None = Field(
        None, description="Only these parts: reads of a scenario (or entries of one), or names in `returns`."
    )
    rtol: float | None = Field(None, description="Relative tolerance; default by dtype.",
                               json_schema_extra={"minimum": 0})
    atol: float | None = Field(None, description="Absolute tolerance; default by dtype.",
                               json_schema_extra={"minimum": 0})
    nan: Literal["fail", "equal"] = Field(
        "fail", description="'equal': NaN where the reference has NaN matches; 'fail': any NaN fails."
    )
    shape_credit: float = Field(0.0, ge=0, le=1, description="Credit of a part whose values are right in a shape "
                                "that differs only by dimensions of size 1 ((1, D) where (D,) is asked).")

    _rtol = field_validator("rtol")(lambda v: _non_negative(v, "rtol"))
    _atol = field_validator("atol")(lambda v: _non_negative(v, "atol"))


class GradientCheck(_CheckBase):
    """The student's analytic derivative against a numerical one of the reference."""

    kind: Literal["gradient"] = Field(description="This kind of check.")
    function: str | None = Field(
        None, description="Reference function differentiated; takes the problem's arguments, in order."
    )
    of: str | None = Field(
        None, description="Instead of `function`: an expression differentiated, evaluated on the reference "
        "after the problem's scenario (`out`, `loss`), or a call (`softmax_loss(x, y)[0]`)."
    )
    upstream: str | None = Field(
        None, description="An argument holding dL/d(of): the gradient is that of sum(of * upstream), "
        "as CS231n's eval_numerical_gradient_array. Default: `of` is a scalar."
    )
    wrt: dict[str, str] = Field(
        description="What is differentiated -> the part of the student's output holding the derivative. "
        "The key is an argument name or, with `of`, where a value lives (`layer.W`, `net.params[\"W1\"]`, "
        "`net.fc.weight`): moved as the case gives it when in an argument, else just before the step that "
        "computes `of`. The part is a read of the scenario (`dx`, `grads[\"W1\"]`, `layer.dLdW`), a name "
        "in `returns`, or a path ('' the whole output, '1' a tuple element, '1.W1' a dict entry inside it)."
    )
    method: Literal["finite_difference", "autograd"] = Field(
        "finite_difference",
        description="Central differences in float64, or torch autograd on the reference function.",
    )
    through: Literal["reference", "student"] = Field(
        "reference", description="Whose forward is differentiated: the reference's, or the student's own "
        "(finite differences of the scenario run in the student's worker, as CS231n's notebooks check a "
        "backward against its own forward): a backward consistent with a wrong forward then keeps its "
        "credit, the forward losing its own; a derivative equal to the reference's passes too. Needs `of`; a "
        "gradient that is all zeros, all ones or an input handed back where the reference's is not never passes.")
    eps: float = Field(1e-6, gt=0, description="Finite-difference step.")
    rtol: float = Field(1e-4, ge=0, description="Relative tolerance, as in torch.autograd.gradcheck.")
    atol: float = Field(1e-6, ge=0, description="Absolute tolerance, as in torch.autograd.gradcheck.")
    shape_credit: float = Field(0.0, ge=0, le=1, description="Credit of a gradient whose values are right in a "
                                "shape that differs only by dimensions of size 1 ((1, D) where (D,) is asked).")


PropertyName = Literal["sums_to_one", "shift_invariant", "symmetric", "does_not_modify_inputs", "in_range", "finite"]


class PropertyCheck(_CheckBase):
    """An invariant of the student's output; its credit counts only on cases whose values are right."""

    kind: Literal["property"] = Field(description="This kind of check.")
    property: PropertyName = Field(description="The invariant: sums_to_one, shift_invariant, symmetric, "
                                   "does_not_modify_inputs, in_range or finite (no NaN or inf).")
    part: str | None = Field(None, description="On a scenario: the read the property is about (`out`, "
                             "`layer.dLdW`); does_not_modify_inputs is about the case's arrays and takes none.")
    axis: int = Field(-1, description="sums_to_one: axis that sums to 1.")
    arg: str | None = Field(None, description="shift_invariant: the argument shifted.")
    shift: float = Field(0.0, description="shift_invariant: constant added to the argument.")
    low: float | None = Field(None, description="in_range: smallest allowed value.")
    high: float | None = Field(None, description="in_range: largest allowed value.")
    rtol: float = Field(1e-6, ge=0, description="Relative tolerance of the comparison the property makes.")
    atol: float = Field(1e-9, ge=0, description="Absolute tolerance of the comparison the property makes.")

    @model_validator(mode="after")
    def _params_fit_property(self) -> "PropertyCheck":
        if self.property == "shift_invariant" and (self.arg is None or self.shift == 0.0):
            raise ValueError("shift_invariant needs 'arg' and a non-zero 'shift'")
        if self.property == "in_range" and self.low is None and self.high is None:
            raise ValueError("in_range needs 'low', 'high' or both")
        return self


class StabilityCheck(_CheckBase):
    """Finite output, no floating-point warnings (overflow, invalid, divide) and the reference's values
    (under the problem's value tolerance) on each case."""

    kind: Literal["stability"] = Field(description="This kind of check.")


class CustomCheck(_CheckBase):
    """The instructor's own judge of plain values, for what the built-in kinds do not say."""

    kind: Literal["custom"] = Field(description="This kind of check.")
    judge: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="A function of the spec's `checks_module` (or an installed `dl_grader.checks` entry point) "
        "called as judge(value, expected, args, **options) in the grader's process: the student's output, the "
        "reference's, the case's arguments, all plain data (arrays, numbers, dicts, tuples). It returns True or "
        "False, or (passed, message).")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments passed to the judge.")


class AccuracyCheck(_CheckBase):
    """A trained model's classification accuracy on MNIST images it never saw."""

    kind: Literal["accuracy"] = Field(description="This kind of check.")
    split: Literal["test", "train"] = Field("test", description="The MNIST split evaluated.")
    images: tuple[int, int] = Field((0, 10000), description="Half-open range [start, stop) evaluated.")
    target: float = Field(gt=0, le=1, description="Accuracy for full credit.")
    floor: float = Field(ge=0, lt=1, description="Accuracy at or below which the credit is zero.")
    curve: Literal["linear", "step"] = Field(
        "linear", description="linear: credit grows linearly from floor to target; step: all or nothing."
    )
    max_parameters: int = Field(1_000_000, gt=0, description="Most parameters the model may have.")
    time_limit: float = Field(60.0, gt=0, description="Seconds for evaluating every image.")
    batch_size: int = Field(1000, gt=0, description="Images per forward pass.")
    weights: str = Field("mnist_model.pt", description="State-dict file in the submission.")
    retrain: "Retrain | None" = Field(None, description="Also retrain with the student's train().")

    @model_validator(mode="after")
    def _check(self) -> "AccuracyCheck":
        if not self.floor < self.target:
            raise ValueError(f"floor ({self.floor}) must be below target ({self.target})")
        if not 0 <= self.images[0] < self.images[1]:
            raise ValueError(f"images must be [start, stop) with 0 <= start < stop, got {list(self.images)}")
        return self


class Retrain(_Model):
    """Run the student's ``train(images, labels, seed)`` and evaluate what it returns."""

    split: Literal["test", "train"] = Field("train", description="The MNIST split trained on.")
    images: tuple[int, int] = Field((0, 60000), description="Half-open range [start, stop) trained on.")
    seed: int = Field(0, description="Passed to train().")
    time_limit: float = Field(600.0, gt=0, description="Seconds for training.")


AccuracyCheck.model_rebuild()

class Step(_Model):
    """A scenario step written as a mapping, to repeat it."""

    do: str = Field(description="The step, one line of Python: a call or an assignment.")
    repeat: int | str = Field(1, description="How many times: a number, or an argument of the case holding it.",
                              json_schema_extra={"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string"}]})

    @field_validator("repeat")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"repeat must be at least 1, got {value}")
        return value


CheckSpec = Annotated[
    Union[ValueCheck, GradientCheck, PropertyCheck, StabilityCheck, CustomCheck, AccuracyCheck],
    Field(discriminator="kind"),
]


class Mistake(_Model):
    """A known wrong answer: a function in the mistakes module, named in plain words."""

    id: str = Field(pattern=r"^[A-Za-z0-9_]+$", description="Names the mistake in reports and in "
                    "the mistakes module's function `<function>__<id>`.")
    implementation: str | None = Field(
        None, description="Function in the mistakes module; default '<function>__<id>', <function> being "
        "the one it replaces."
    )
    message: str | None = Field(None, description="Told to the student; default the docstring.")
    replaces: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The function or class of the student's module "
        "the variant stands in for; default the problem's own. On a scenario, another that its steps call: "
        "a forward's mistake on a problem graded on its backward (`replaces: rnn_step_forward`).")


class Survivor(_Model):
    """A mutant of the reference that keeps full marks on the cases, accepted by the instructor."""

    mutant: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[a-z_]+:[0-9]+$",
                        description="The mutant's id as `grader lint` prints it (`Linear.backward:accumulate:1`).")
    reason: str = Field(min_length=1, description="Why no case kills it (an equivalent change, a convention the handout leaves open).")


class Problem(_Model):
    """One graded function (or model) of an assignment."""

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The graded function's (or class's) "
                    "name, unless `function` says otherwise; unique in the spec.")
    points: float = Field(gt=0, description="What the problem is worth; its checks share them by weight.")
    function: str | None = Field(None, description="Student function; default the problem id.")
    module: str | None = Field(None, description="Student module; default the assignment's.")
    description: str = Field("", description="One line shown to students above the problem's results.")
    returns: list[str] | None = Field(
        None, description="Names of the parts of a returned tuple, for feedback (grad_x, grad_W, ...)."
    )
    scenario: list[Annotated[Union[Annotated[str, Tag("line")], Annotated[Step, Tag("step")]],
                             Discriminator(lambda item: "line" if isinstance(item, str) else "step")]] | None = Field(
        None, description="Steps run in one worker, in order: calls, constructions, attribute and item "
        "assignments, method calls. Names are the case's arguments, names earlier steps assigned, "
        "the builtins namespace/grad/load_state_dict, and otherwise the student module's functions and classes."
    )
    read: list[str] | None = Field(
        None, description="With a scenario: the values read back after its steps (`dx`, `layer.dLdW`, "
        "`config[\"velocity\"]`), compared with the same scenario run on the reference."
    )
    seed: int = Field(0, ge=0, description="Seeds Python's, numpy's and torch's generators before each step.")
    cases: list[Case] = Field(default_factory=list, description="The inputs the checks run on.")
    checks: list[CheckSpec] = Field(min_length=1, description="What is graded, each with a `kind`.")
    mistakes: list[Mistake] = Field(default_factory=list, description="Typical wrong answers the feedback names.")
    survivors: list[Survivor] = Field(
        default_factory=list, description="Mutants of the reference the cases are known not to kill, each with the "
        "reason; `grader lint` fails on any other survivor, and on a declared one the cases do kill.")
    no_typical_mistake: str | None = Field(
        None, description="Why the problem declares fewer than two mistakes (`W[x]` has no typical wrong "
        "variant but an off-by-one): `grader lint` then accepts it, and still requires degenerate answers "
        "to score 0.", json_schema_extra={"minLength": 1})
    limits: LimitsOverride = Field(default_factory=LimitsOverride, description="Overrides of the assignment's limits.")

    @field_validator("scenario", mode="before")
    @classmethod
    def _steps_read_as_mappings(cls, value: Any) -> Any:
        # An unquoted step holding ": " (a dict display, a keyword's annotation) is a mapping to YAML;
        # say so, quoting the step as it was written, rather than "do: field required".
        for index, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, dict) and "do" not in item and len(item) == 1:
                key, rest = next(iter(item.items()))
                text = f"{key}: {yaml.safe_dump(rest, default_flow_style=True).strip().removesuffix('...').strip()}"
                quoted = yaml.safe_dump(text, default_style="'", width=1000).strip().removesuffix("...").strip()
                raise ValueError(f"step {index + 1} was read by YAML as a mapping, because it holds ': '; "
                                 f"quote it: - {quoted}")
        return value

    @field_validator("mistakes", mode="before")
    @classmethod
    def _mistake_shorthand(cls, value: Any) -> Any:
        # `mistakes: [sign_flipped]` reads better than a list of one-key mappings.
        if isinstance(value, list):
            return [{"id": item} if isinstance(item, str) else item for item in value]
        return value

    @property
    def function_name(self) -> str:
        return self.function or self.id

    @property
    def argument_names(self) -> list[str]:
        """The arguments of the problem's cases (a scenario's cases all have the same ones)."""
        return list(dict.fromkeys(name for case in self.cases for name in case.args))

    @cached_property
    def steps(self) -> Scenario | None:
        """The parsed scenario, or None for a plain function problem."""
        if self.scenario is None:
            return None
        return parse(self._step_sources(), tuple(self.read or ()), frozenset(self.argument_names))

    def _step_sources(self) -> tuple[tuple[str, int | str], ...]:
        return tuple((step, 1) if isinstance(step, str) else (step.do, step.repeat) for step in self.scenario or ())

    @property
    def part_names(self) -> tuple[str, ...]:
        """Names of the parts of the output, for feedback: a scenario's reads, or `returns`."""
        return self.steps.read_texts if self.steps is not None else tuple(self.returns or ())

    def part_path(self, text: str) -> list[str | int]:
        """Where a part named in a check is in the output (see ``GradientCheck.wrt``)."""
        if self.steps is not None:
            return list(locate(text, self.steps.read_texts))
        # The path syntax of plain problems: '' the whole output, '1.W1', or 'grad_W' named in `returns`.
        parts: list[str | int] = [int(part) if part.isdigit() else part for part in text.split(".") if part]
        names = list(self.returns or ())
        if parts and parts[0] in names:
            parts[0] = names.index(str(parts[0]))
        return parts

    def replaced_by(self, mistake: Mistake) -> str:
        """The name a declared mistake stands in for: its ``replaces``, or the problem's function."""
        return mistake.replaces or self.function_name

    def gradient_of(self, check: "GradientCheck") -> Scenario | None:
        """A gradient check's `of`, as a scenario whose only read is the value
        (``scenarios.gradient_scenario``)."""
        if check.of is None:
            return None
        return gradient_scenario(self._step_sources(), check.of, frozenset(self.argument_names))

    def gradient_targets(self, check: "GradientCheck") -> tuple[Target, ...]:
        """What a gradient check moves, one target per key of its ``wrt`` (``scenarios.targets``);
        without ``of`` (a reference ``function``), the keys are arguments, moved as given."""
        if check.of is None:
            return tuple(Target(key, ["name", key], 0) for key in check.wrt)
        return targets(self._step_sources(), check.of, frozenset(self.argument_names), tuple(check.wrt))

    def case(self, name: str) -> Case:
        return next(case for case in self.cases if case.name == name)

    def check_cases(self, check: _CheckBase) -> list[Case]:
        """The cases a check runs on, in spec order."""
        if check.cases is None:
            return list(self.cases)
        return [self.case(name) for name in check.cases]

    def check_name(self, index: int) -> str:
        check = self.checks[index]
        return check.name or f"{check.kind} #{index + 1}"


class Environment(_Model):
    """The package versions a course grades with: the kit, CI and Gradescope install exactly these,
    and every run says so when the versions it runs with differ."""

    numpy: str = Field(pattern=r"^\d+\.\d+\.\d+$", description="NumPy release, e.g. 2.4.6.")
    torch: str | None = Field(None, pattern=r"^\d+\.\d+\.\d+$",
                              description="torch release, installed as the CPU build, e.g. 2.13.0.")


class Assignment(_Model):
    """A whole spec file: one student module per assignment, one problem per graded function."""

    schema_version: int = Field(json_schema_extra={"const": SCHEMA_VERSION},
                                description="The spec format written for; this grader reads 1.")
    assignment: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="The assignment's name (hw1), in reports.")
    title: str = Field("", description="Shown in reports and the kit.")
    module: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Student module, e.g. hw1.")
    reference: str | None = Field(None, description="Reference module file, relative to the spec.")
    mistakes_module: str | None = Field(None, description="Module of known mistakes, relative to the spec.")
    helpers: str | None = Field(
        None, description="Module of the instructor's functions a scenario may call as `helpers.name` (a weight "
        "initialiser passed as an argument, `weight_init_fn=helpers.init_weights`), relative to the spec. It "
        "runs beside the student's code in the worker, and is shipped in the student kit.")
    checks_module: str | None = Field(
        None, description="Module of the instructor's judges for `kind: custom` checks, relative to the spec "
        "(shipped in the student kit, so public custom checks run there too).")
    handout: str | None = Field(None, description="Student handout (Markdown), relative to the spec.")
    limits: Limits = Field(default_factory=Limits, description="Sandbox limits of every problem.")
    environment: Environment | None = Field(
        None, description="NumPy and torch versions the course grades with (grader.grading.environment)."
    )
    single_element_scalars: bool = Field(
        False, description="Where the reference returns a scalar, accept an array holding one element "
        "(a handout that says 'a float, or the (1, 1) result of a matrix product')."
    )
    problems: list[Problem] = Field(min_length=1, description="The graded functions, classes and models.")

    # Set by load_spec: where the file lives, so relative paths resolve.
    source: SkipJsonSchema[Path] = Field(Path("."), exclude=True)

    @field_validator("schema_version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value < SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is too old; this grader reads {SCHEMA_VERSION}")
        if value > SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {value} is too new; this grader reads {SCHEMA_VERSION} (upgrade the grader)"
            )
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> "Assignment":
        seen: set[str] = set()
        for p_index, problem in enumerate(self.problems):
            where = f"problems.{p_index}"
            if problem.id in seen:
                raise _FieldError(f"{where}.id", f"duplicate problem id {problem.id!r}")
            if problem.id in RESERVED_IDS:
                raise _FieldError(f"{where}.id", f"{problem.id!r} is reserved (a gradebook column); rename the problem")
            seen.add(problem.id)
            _check_scenario(problem, where)
            names = [case.name for case in problem.cases]
            for c_index, name in enumerate(names):
                if name in names[:c_index]:
                    raise _FieldError(f"{where}.cases.{c_index}.name", f"duplicate case name {name!r}")
            for k_index, check in enumerate(problem.checks):
                for name in check.cases or ():
                    if name not in names:
                        raise _FieldError(
                            f"{where}.checks.{k_index}.cases",
                            f"unknown case {name!r}; the problem's cases are {names}",
                        )
                if check.kind != "accuracy" and not problem.check_cases(check):
                    raise _FieldError(f"{where}.checks.{k_index}.cases", "the check has no case to run on")
                raising = [case.name for case in problem.check_cases(check) if case.raises] if check.kind != "accuracy" else []
                if raising and not isinstance(check, ValueCheck):
                    raise _FieldError(f"{where}.checks.{k_index}.cases", f"case(s) {raising} expect an exception: only "
                                      "value checks run on them (give this check `cases:` without them)")
                arg_names = {name for case in problem.cases for name in case.args}
                if isinstance(check, GradientCheck):
                    _check_gradient(problem, check, arg_names, f"{where}.checks.{k_index}")
                if isinstance(check, ValueCheck) and check.parts is not None:
                    for part in check.parts:
                        _check_part(problem, part, f"{where}.checks.{k_index}.parts")
                if isinstance(check, PropertyCheck):
                    _check_property(problem, check, f"{where}.checks.{k_index}")
                if isinstance(check, PropertyCheck) and check.arg is not None and check.arg not in arg_names:
                    raise _FieldError(
                        f"{where}.checks.{k_index}.arg",
                        f"unknown argument {check.arg!r}; arguments are {sorted(arg_names)}",
                    )
            ids = [mistake.id for mistake in problem.mistakes]
            for m_index, mistake_id in enumerate(ids):
                if mistake_id in ids[:m_index]:
                    raise _FieldError(f"{where}.mistakes.{m_index}.id", f"duplicate mistake {mistake_id!r}")
            called = set(problem.steps.global_names()) if problem.steps is not None else {problem.function_name}
            for m_index, mistake in enumerate(problem.mistakes):
                if mistake.replaces is not None and mistake.replaces not in called:
                    raise _FieldError(f"{where}.mistakes.{m_index}.replaces",
                                      f"{mistake.replaces!r} is not called by the problem; it calls {sorted(called)}")
            declared = [survivor.mutant for survivor in problem.survivors]
            for s_index, mutant_id in enumerate(declared):
                if mutant_id in declared[:s_index]:
                    raise _FieldError(f"{where}.survivors.{s_index}.mutant", f"mutant {mutant_id!r} is declared twice")
            # A kit (reference: null) carries its mistakes' outputs as data instead of a module.
            if problem.mistakes and self.mistakes_module is None and self.reference is not None:
                raise _FieldError(f"{where}.mistakes", "mistakes are declared but the spec has no mistakes_module")
        return self

    # --- derived ---------------------------------------------------------------------------

    def resolve(self, relative: str) -> Path:
        return (self.source.parent / relative).resolve()

    @property
    def reference_path(self) -> Path | None:
        return self.resolve(self.reference) if self.reference else None

    @property
    def mistakes_path(self) -> Path | None:
        return self.resolve(self.mistakes_module) if self.mistakes_module else None

    def helpers_code(self) -> dict[str, str] | None:
        """The helpers module as a scenario plan carries it to the worker: its name and source."""
        if not self.helpers:
            return None
        path = self.resolve(self.helpers)
        return {"name": path.stem, "source": _read_text(path)}

    @property
    def checks_path(self) -> Path | None:
        return self.resolve(self.checks_module) if self.checks_module else None

    def instructor_files(self) -> list[Path]:
        """Every file of the instructor's a grade depends on: the spec, and the reference, mistakes,
        helpers and checks modules it names."""
        named = (self.reference, self.mistakes_module, self.helpers, self.checks_module)
        return [self.source, *(self.resolve(relative) for relative in named if relative)]

    def problem(self, problem_id: str) -> Problem:
        return next(problem for problem in self.problems if problem.id == problem_id)

    def module_of(self, problem: Problem) -> str:
        return problem.module or self.module

    def limits_of(self, problem: Problem) -> Limits:
        return problem.limits.apply(self.limits)

    @property
    def max_score(self) -> float:
        return sum(problem.points for problem in self.problems)


@functools.lru_cache(maxsize=16)
def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _check_scenario(problem: Problem, where: str) -> None:
    if (problem.scenario is None) != (problem.read is None):
        field = "read" if problem.read is None else "scenario"
        raise _FieldError(f"{where}.{field}", "a scenario needs both `scenario` (its steps) and `read` (the values compared)")
    if problem.scenario is None:
        return
    if not problem.scenario:
        raise _FieldError(f"{where}.scenario", "a scenario needs at least one step")
    if not problem.read:
        raise _FieldError(f"{where}.read", "read at least one value")
    if problem.returns is not None:
        raise _FieldError(f"{where}.returns", "a scenario's parts are named by its reads; drop `returns`")
    names = list(problem.cases[0].args) if problem.cases else []
    for c_index, case in enumerate(problem.cases):
        if list(case.args) != names:
            raise _FieldError(f"{where}.cases.{c_index}.args",
                              f"every case of a scenario gives the same arguments, in order: {names}")
    try:
        scenario = problem.steps
    except ScenarioSyntaxError as error:
        field = "read" if str(error).startswith("read") else "scenario"
        raise _FieldError(f"{where}.{field}", str(error)) from None
    assert scenario is not None
    counts = {step.repeat for step in problem.scenario if isinstance(step, Step) and isinstance(step.repeat, str)}
    for count in counts:
        if count not in names:
            raise _FieldError(f"{where}.scenario", f"repeat: {count!r} is not an argument of the cases ({names})")
        for c_index, case in enumerate(problem.cases):
            value = case.args[count]
            if type(value) is not int or value < 1:
                raise _FieldError(f"{where}.cases.{c_index}.args.{count}",
                                  f"{count} is a repeat count: a whole number of at least 1, got {value!r}")
    unused = [name for name in names if name not in scenario.arguments and name not in counts]
    if unused:
        raise _FieldError(f"{where}.cases", f"argument(s) {unused} are not used by the scenario (a typo?)")


def _check_property(problem: Problem, check: PropertyCheck, where: str) -> None:
    about_output = check.property != "does_not_modify_inputs"
    if problem.scenario is None:
        if check.part is not None:
            raise _FieldError(f"{where}.part", "`part` names a read of a scenario; this problem has none")
        return
    if check.property == "shift_invariant":
        raise _FieldError(f"{where}.property", "shift_invariant calls a plain function again with a shifted "
                          "argument; a scenario's reads are graded with value checks")
    if about_output and check.part is None:
        raise _FieldError(f"{where}.part", f"on a scenario, say which read {check.property} is about: part: "
                          f"{problem.read[0] if problem.read else 'out'}")
    if not about_output and check.part is not None:
        raise _FieldError(f"{where}.part", "does_not_modify_inputs is about the case's arrays, not a read")
    if check.part is not None:
        _check_part(problem, check.part, f"{where}.part")


def _check_part(problem: Problem, text: str, loc: str) -> None:
    try:
        path = problem.part_path(text)
    except ScenarioSyntaxError as error:
        raise _FieldError(loc, str(error)) from None
    if problem.steps is None and path and isinstance(path[0], str):
        raise _FieldError(loc, f"unknown part {text!r}; name a part in `returns` ({problem.returns}) or give a path "
                          "such as '1' or '1.W1'")


def _check_gradient(problem: Problem, check: GradientCheck, arg_names: set[str], where: str) -> None:
    if (check.function is None) == (check.of is None):
        raise _FieldError(f"{where}.of", "give either `function` (a reference function) or `of` (an expression)")
    if problem.scenario is not None and check.function is not None:
        raise _FieldError(f"{where}.function", "a scenario's gradient check differentiates `of`, a read of the scenario")
    unknown = set(check.wrt) - arg_names
    if unknown and check.of is None:
        raise _FieldError(f"{where}.wrt", f"unknown argument(s) {sorted(unknown)}; arguments are {sorted(arg_names)} "
                          "(give `of` to differentiate with respect to an attribute or an entry)")
    if check.upstream is not None and check.upstream not in arg_names:
        raise _FieldError(f"{where}.upstream", f"unknown argument {check.upstream!r}; arguments are {sorted(arg_names)}")
    if check.upstream is not None and check.of is None:
        raise _FieldError(f"{where}.upstream", "upstream weights `of`; give `of`")
    if check.through == "student" and (check.of is None or check.method != "finite_difference"):
        raise _FieldError(f"{where}.through", "through: student takes finite differences of the scenario's `of` "
                          "in the student's worker: give `of`, with method finite_difference")
    try:
        problem.gradient_of(check)
    except ScenarioSyntaxError as error:
        raise _FieldError(f"{where}.of", str(error).removeprefix("read ").split(" ", 1)[-1]) from None
    try:
        problem.gradient_targets(check)
    except ScenarioSyntaxError as error:
        raise _FieldError(f"{where}.wrt", str(error)) from None
    for part in check.wrt.values():
        if part:
            _check_part(problem, part, f"{where}.wrt")


class _FieldError(ValueError):
    """A cross-reference error that knows its location, turned into a SpecError by load_spec."""

    def __init__(self, loc: str, message: str) -> None:
        super().__init__(message)
        self.loc = loc


SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE = Path(__file__).resolve().parent / "data" / "spec.schema.json"
"""The schema shipped in the package (``grader schema --out`` writes it; a test keeps it current)."""


def json_schema() -> dict[str, Any]:
    """The spec format as JSON Schema (draft 2020-12), generated from the models above.

    What the models check in Python is said in the schema where JSON Schema can say it (fields'
    ``json_schema_extra``). Two parts are written here: a ``Value``'s kind is chosen by a function
    (``_value_kind``), which pydantic renders as a plain ``oneOf`` that an explicit array would match
    twice (as itself and as a mapping), so the schema below makes the choice the function makes; and
    a mistake may be written as its id alone (``Problem._mistake_shorthand``). Cross-references (case names, scenario arguments, floor below target...) stay the loader's.
    """
    schema = Assignment.model_json_schema()
    defs = schema["$defs"]
    kinds = [{"$ref": f"#/$defs/{model.__name__}"} for model in (RandomValue, ArrayValue, LinspaceValue)]
    defs["Value"] = {
        "description": "A case argument: a number, string, bool or null; a list (a float64 array); an explicit, "
                       "linspace or random array (optionally a torch tensor); or a mapping of names to values.",
        "anyOf": [
            *kinds,
            {"type": "object", "additionalProperties": {"$ref": "#/$defs/Value"},
             "not": {"anyOf": [{"required": [key]} for key in _VALUE_KEYS]}},
            {"type": ["boolean", "integer", "number", "string", "array", "null"]},
        ],
    }
    mistakes = defs["Problem"]["properties"]["mistakes"]
    mistakes["items"] = {"anyOf": [mistakes["items"], {**defs["Mistake"]["properties"]["id"], "title": "Mistake id"}]}
    return {"$schema": SCHEMA_URI, **schema, "title": "dl-grader problem spec"}


def find_spec(name_or_path: str, problems_dir: Path | None = None) -> Path:
    """Resolve ``hw1`` to ``problems/hw1.yaml``, or return an existing spec path as given."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise SpecError("no such spec file", file=str(path))
        return path.resolve()
    for folder in (problems_dir, Path.cwd() / "problems", PROBLEMS_DIR):
        if folder is not None:
            for suffix in (".yaml", ".yml"):
                candidate = folder / f"{name_or_path}{suffix}"
                if candidate.is_file():
                    return candidate.resolve()
    raise SpecError(
        f"no assignment named {name_or_path!r}: expected problems/{name_or_path}.yaml or a path to a spec file"
    )


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (ten times faster), else PyYAML's own."""


def load_spec(name_or_path: str | Path, *, check_files: bool = True) -> Assignment:
    """Read and validate a spec; every error names the file, the problem and the field.

    Args:
        name_or_path: an assignment name in ``problems/`` or a path to a YAML file.
        check_files: also require the reference and mistakes modules to exist (off for kits,
            which ship without them).
    """
    path = find_spec(str(name_or_path))
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        raise SpecError(f"not valid YAML: {error}", file=str(path)) from None
    if not isinstance(raw, dict):
        raise SpecError("the spec must be a mapping at the top level", file=str(path))
    try:
        spec = Assignment.model_validate({**raw, "source": path})
    except ValidationError as error:
        raise _spec_error(path, raw, error) from None
    if check_files:
        for field in ("reference", "mistakes_module", "checks_module", "helpers", "handout"):
            relative = getattr(spec, field)
            if relative and not spec.resolve(relative).is_file():
                raise SpecError(f"file {relative!r} does not exist (resolved to {spec.resolve(relative)})",
                                file=str(path), field=field)
    return spec


def _spec_error(path: Path, raw: dict[str, Any], error: ValidationError) -> SpecError:
    errors = error.errors()
    first = errors[0]
    # A misspelt key (`sed:`) is both an unknown key and a missing one (`seed`): name the key the
    # instructor wrote, and what they meant.
    missing = [e["loc"][-1] for e in errors if e["type"] == "missing" and e["loc"][:-1] == first["loc"][:-1]]
    unknown = [e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == first["loc"][:-1]]
    if first["type"] == "missing" and unknown:
        first = unknown[0]
    loc = [str(part) for part in first["loc"]]
    message = first["msg"]
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _FieldError):
        loc = ctx_error.loc.split(".")
        message = str(ctx_error)
    elif first["type"] == "extra_forbidden":
        meant = difflib.get_close_matches(loc[-1], [str(name) for name in missing], n=1)
        message = f"unknown key {loc[-1]!r}" + (f" (did you mean {meant[0]!r}?)" if meant else "")
    elif first["type"] == "union_tag_invalid":
        message = f"unknown check kind; valid kinds are {', '.join(sorted(_CHECK_KINDS))}"
    problem = ""
    if len(loc) >= 2 and loc[0] == "problems" and loc[1].isdigit():
        index = int(loc[1])
        problems = raw.get("problems") or []
        entry = problems[index] if index < len(problems) else None
        problem = str(entry.get("id")) if isinstance(entry, dict) and entry.get("id") else f"#{index + 1}"
        loc = loc[2:]
    # Pydantic adds the union member's tag to the location ("checks.0.value.rtol"); drop it (a
    # location the grader wrote itself has none: "checks.0.property" is the field `property`).
    if not isinstance(ctx_error, _FieldError):
        loc = [part for part in loc if part not in _CHECK_KINDS and part not in _VALUE_TAGS
               and not part.startswith("function-")]
    return SpecError(message.removeprefix("Value error, "), file=str(path), problem=problem, field=".".join(loc))


_CHECK_KINDS = {"value", "gradient", "property", "stability", "custom", "accuracy"}
_VALUE_TAGS = {*_VALUE_KEYS, "mapping", "plain", "line", "step"}
