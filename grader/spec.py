"""Load YAML problem specs and validate them into frozen models.

A spec is data, never code: it is read with ``yaml.safe_load`` and validated with pydantic, whose
models give every field a type, a default and a description, refuse unknown keys, and report the
exact location of a bad value. That location becomes a ``SpecError`` naming the file, the problem
and the field, raised before anything is graded.

pydantic rather than jsonschema: the validated spec is used as typed, immutable Python objects
throughout the grader, so one declaration gives both the schema and the objects.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grader.errors import SpecError

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

    call_timeout: float = Field(10.0, gt=0, description="Wall-clock seconds for one call.")
    import_timeout: float = Field(20.0, gt=0, description="Wall-clock seconds to import a module.")
    submission_timeout: float = Field(600.0, gt=0, description="Wall-clock seconds for a whole submission.")
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


class ArrayValue(_Model):
    """An explicit array with a dtype, for integer labels or float32 inputs."""

    array: list[Any] = Field(description="Nested lists of numbers.")
    dtype: Literal["float64", "float32", "int64", "int32", "uint8", "bool"] = "float64"


class RandomValue(_Model):
    """An input drawn from a named distribution with a fixed seed, so every run sees the same."""

    random: Literal["normal", "uniform", "integers", "dirichlet", "affinity"] = Field(
        description="normal(loc, scale), uniform(low, high), integers in [low, high), "
        "dirichlet(alpha) over the last axis, or affinity: a symmetric matrix with zero "
        "diagonal summing to 1 (SNE's P), of shape [n, n]."
    )
    shape: list[Annotated[int, Field(ge=0)]] = Field(description="Shape of the array.")
    seed: int = Field(ge=0, description="Seed of numpy's default_rng.")
    loc: float = 0.0
    scale: float = Field(1.0, ge=0)
    low: float = 0.0
    high: float = 1.0
    alpha: float = Field(1.0, gt=0)
    dtype: Literal["float64", "float32", "int64", "int32", "uint8", "bool"] | None = None

    @model_validator(mode="after")
    def _check(self) -> "RandomValue":
        if self.random in ("uniform", "integers") and not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be greater than low ({self.low})")
        if self.random == "affinity" and (len(self.shape) != 2 or self.shape[0] != self.shape[1]):
            raise ValueError(f"affinity needs a square shape [n, n], got {self.shape}")
        if self.random == "dirichlet" and not self.shape:
            raise ValueError("dirichlet needs at least one axis")
        return self


Value = Union[bool, int, float, str, list[Any], ArrayValue, RandomValue, None]


class Case(_Model):
    """One input of a problem: arguments passed positionally, in the order written."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Unique within the problem.")
    visibility: Literal["public", "hidden"] = Field(
        "hidden", description="Public cases are shown to students and shipped in the kit."
    )
    args: dict[str, Value] = Field(description="Argument name to value, in call order.")
    hint: str = Field("", description="Shown to the student when a hidden case fails.")
    note: str = Field("", description="Why this case exists (instructor-facing).")


# --- checks -----------------------------------------------------------------------------------


class _CheckBase(_Model):
    name: str | None = Field(None, description="Shown in feedback; defaults to the kind.")
    weight: float = Field(1.0, gt=0, description="Share of the problem's points.")
    cases: list[str] | None = Field(None, description="Case names; default: every case.")
    success_message: str = ""
    failure_message: str = ""


class ValueCheck(_CheckBase):
    """The student's output equals the reference's on each case, within a tolerance."""

    kind: Literal["value"]
    rtol: float | None = Field(None, description="Relative tolerance; default by dtype.")
    atol: float | None = Field(None, description="Absolute tolerance; default by dtype.")
    nan: Literal["fail", "equal"] = Field(
        "fail", description="'equal': NaN where the reference has NaN matches; 'fail': any NaN fails."
    )

    _rtol = field_validator("rtol")(lambda v: _non_negative(v, "rtol"))
    _atol = field_validator("atol")(lambda v: _non_negative(v, "atol"))


class GradientCheck(_CheckBase):
    """The student's analytic derivative against a numerical one of a reference function."""

    kind: Literal["gradient"]
    function: str = Field(
        description="Reference function differentiated numerically; takes the problem's arguments."
    )
    wrt: dict[str, str] = Field(
        description="Argument name -> path of the student's output holding d function / d argument "
        "('' the whole output, '1' a tuple element, '1.W1' a dict entry inside it)."
    )
    method: Literal["finite_difference", "autograd"] = Field(
        "finite_difference",
        description="Central differences in float64, or torch autograd on the reference function.",
    )
    eps: float = Field(1e-6, gt=0, description="Finite-difference step.")
    rtol: float = Field(1e-4, ge=0, description="Relative tolerance, as in torch.autograd.gradcheck.")
    atol: float = Field(1e-6, ge=0, description="Absolute tolerance, as in torch.autograd.gradcheck.")


PropertyName = Literal["sums_to_one", "shift_invariant", "symmetric", "does_not_modify_inputs", "in_range"]


class PropertyCheck(_CheckBase):
    """An invariant of the student's output that needs no reference."""

    kind: Literal["property"]
    property: PropertyName
    axis: int = Field(-1, description="sums_to_one: axis that sums to 1.")
    arg: str | None = Field(None, description="shift_invariant: the argument shifted.")
    shift: float = Field(0.0, description="shift_invariant: constant added to the argument.")
    low: float | None = Field(None, description="in_range: smallest allowed value.")
    high: float | None = Field(None, description="in_range: largest allowed value.")
    rtol: float = Field(1e-6, ge=0)
    atol: float = Field(1e-9, ge=0)

    @model_validator(mode="after")
    def _params_fit_property(self) -> "PropertyCheck":
        if self.property == "shift_invariant" and (self.arg is None or self.shift == 0.0):
            raise ValueError("shift_invariant needs 'arg' and a non-zero 'shift'")
        if self.property == "in_range" and self.low is None and self.high is None:
            raise ValueError("in_range needs 'low', 'high' or both")
        return self


class StabilityCheck(_CheckBase):
    """Finite output and no floating-point warnings (overflow, invalid, divide) on each case."""

    kind: Literal["stability"]


class AccuracyCheck(_CheckBase):
    """A trained model's classification accuracy on MNIST images it never saw."""

    kind: Literal["accuracy"]
    split: Literal["test", "train"] = "test"
    images: tuple[int, int] = Field((0, 10000), description="Half-open range [start, stop) evaluated.")
    target: float = Field(gt=0, le=1, description="Accuracy for full credit.")
    floor: float = Field(ge=0, lt=1, description="Accuracy at or below which the credit is zero.")
    curve: Literal["linear", "step"] = Field(
        "linear", description="linear: credit grows linearly from floor to target; step: all or nothing."
    )
    max_parameters: int = Field(1_000_000, gt=0)
    time_limit: float = Field(60.0, gt=0, description="Seconds for evaluating every image.")
    batch_size: int = Field(1000, gt=0)
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

    split: Literal["test", "train"] = "train"
    images: tuple[int, int] = (0, 60000)
    seed: int = 0
    time_limit: float = Field(600.0, gt=0)


AccuracyCheck.model_rebuild()

CheckSpec = Annotated[
    Union[ValueCheck, GradientCheck, PropertyCheck, StabilityCheck, AccuracyCheck],
    Field(discriminator="kind"),
]


class Mistake(_Model):
    """A known wrong answer: a function in the mistakes module, named in plain words."""

    id: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    implementation: str | None = Field(
        None, description="Function in the mistakes module; default '<function>__<id>'."
    )
    message: str | None = Field(None, description="Told to the student; default the docstring.")


class Problem(_Model):
    """One graded function (or model) of an assignment."""

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    points: float = Field(gt=0)
    function: str | None = Field(None, description="Student function; default the problem id.")
    module: str | None = Field(None, description="Student module; default the assignment's.")
    description: str = ""
    returns: list[str] | None = Field(
        None, description="Names of the parts of a returned tuple, for feedback (grad_x, grad_W, ...)."
    )
    cases: list[Case] = Field(default_factory=list)
    checks: list[CheckSpec] = Field(min_length=1)
    mistakes: list[Mistake] = Field(default_factory=list)
    limits: LimitsOverride = Field(default_factory=LimitsOverride)

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


class Assignment(_Model):
    """A whole spec file: one student module per assignment, one problem per graded function."""

    schema_version: int
    assignment: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    title: str = ""
    module: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Student module, e.g. hw1.")
    reference: str | None = Field(None, description="Reference module file, relative to the spec.")
    mistakes_module: str | None = Field(None, description="Module of known mistakes, relative to the spec.")
    handout: str | None = Field(None, description="Student handout (Markdown), relative to the spec.")
    limits: Limits = Field(default_factory=Limits)
    problems: list[Problem] = Field(min_length=1)

    # Set by load_spec: where the file lives, so relative paths resolve.
    source: Path = Field(Path("."), exclude=True)

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
                arg_names = {name for case in problem.cases for name in case.args}
                if isinstance(check, GradientCheck):
                    unknown = set(check.wrt) - arg_names
                    if unknown:
                        raise _FieldError(
                            f"{where}.checks.{k_index}.wrt",
                            f"unknown argument(s) {sorted(unknown)}; arguments are {sorted(arg_names)}",
                        )
                if isinstance(check, PropertyCheck) and check.arg is not None and check.arg not in arg_names:
                    raise _FieldError(
                        f"{where}.checks.{k_index}.arg",
                        f"unknown argument {check.arg!r}; arguments are {sorted(arg_names)}",
                    )
            ids = [mistake.id for mistake in problem.mistakes]
            for m_index, mistake_id in enumerate(ids):
                if mistake_id in ids[:m_index]:
                    raise _FieldError(f"{where}.mistakes.{m_index}.id", f"duplicate mistake {mistake_id!r}")
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

    def problem(self, problem_id: str) -> Problem:
        return next(problem for problem in self.problems if problem.id == problem_id)

    def module_of(self, problem: Problem) -> str:
        return problem.module or self.module

    def limits_of(self, problem: Problem) -> Limits:
        return problem.limits.apply(self.limits)

    @property
    def max_score(self) -> float:
        return sum(problem.points for problem in self.problems)


class _FieldError(ValueError):
    """A cross-reference error that knows its location, turned into a SpecError by load_spec."""

    def __init__(self, loc: str, message: str) -> None:
        super().__init__(message)
        self.loc = loc


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


def load_spec(name_or_path: str | Path, *, check_files: bool = True) -> Assignment:
    """Read and validate a spec; every error names the file, the problem and the field.

    Args:
        name_or_path: an assignment name in ``problems/`` or a path to a YAML file.
        check_files: also require the reference and mistakes modules to exist (off for kits,
            which ship without them).
    """
    path = find_spec(str(name_or_path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SpecError(f"not valid YAML: {error}", file=str(path)) from None
    if not isinstance(raw, dict):
        raise SpecError("the spec must be a mapping at the top level", file=str(path))
    try:
        spec = Assignment.model_validate({**raw, "source": path})
    except ValidationError as error:
        raise _spec_error(path, raw, error) from None
    if check_files:
        for field in ("reference", "mistakes_module", "handout"):
            relative = getattr(spec, field)
            if relative and not spec.resolve(relative).is_file():
                raise SpecError(f"file {relative!r} does not exist (resolved to {spec.resolve(relative)})",
                                file=str(path), field=field)
    return spec


def _spec_error(path: Path, raw: dict[str, Any], error: ValidationError) -> SpecError:
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    message = first["msg"]
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _FieldError):
        loc = ctx_error.loc.split(".")
        message = str(ctx_error)
    elif first["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
    elif first["type"] == "union_tag_invalid":
        message = f"unknown check kind; valid kinds are {', '.join(sorted(_CHECK_KINDS))}"
    problem = ""
    if len(loc) >= 2 and loc[0] == "problems" and loc[1].isdigit():
        index = int(loc[1])
        problems = raw.get("problems") or []
        entry = problems[index] if index < len(problems) else None
        problem = str(entry.get("id")) if isinstance(entry, dict) and entry.get("id") else f"#{index + 1}"
        loc = loc[2:]
    # Pydantic adds the union member's tag to the location ("checks.0.value.rtol"); drop it.
    loc = [part for part in loc if part not in _CHECK_KINDS and not part.startswith("function-")]
    return SpecError(message.removeprefix("Value error, "), file=str(path), problem=problem, field=".".join(loc))


_CHECK_KINDS = {"value", "gradient", "property", "stability", "accuracy"}
