"""Scenarios: the short Python-like scripts a spec writes to grade caches, state and classes.

A scenario is a list of steps, each one line of a small subset of Python::

    out, cache = affine_forward(x, w, b)          # call a function, keep what it returns
    layer = Linear(3, 2)                          # construct a class
    layer.W = W                                   # set an attribute (weights)
    net.params["W1"] = W1                         # set a dict entry
    opt.step()                                    # call a method (repeat it with `repeat: N`)

and a list of reads (``layer.dLdW``, ``config["velocity"]``) whose values are compared with the
same scenario run on the reference. The lines are parsed here, in the trusted process, with
``ast`` and never executed: they become a plan of plain JSON nodes that ``grader.interpreter``
walks, in the worker against the student's module and in the grader against the reference. Names
resolve in this order: the case's arguments and the names earlier steps assigned, the interpreter's
builtins (``namespace``, ``grad``, ``load_state_dict``), and otherwise the student's module
(functions and classes).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping

BUILTINS = frozenset({"namespace", "grad", "load_state_dict", "helpers"})
"""Helpers the interpreter provides (see ``grader.interpreter``), named like the module's own;
``helpers`` is the spec's module of instructor functions (``helpers.init_weights``)."""

Node = list[Any]
"""A plan node: ``[tag, ...]``, plain JSON so it can cross to a worker as data."""


class ScenarioSyntaxError(ValueError):
    """A step or read is not in the supported subset; the message says which part and why."""


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario: the plan both sides run, and the texts feedback shows."""

    steps: tuple[dict[str, Any], ...]
    reads: tuple[Node, ...]
    read_texts: tuple[str, ...]
    arguments: frozenset[str]
    """Case arguments the scenario uses."""

    def plan(self, seed: int, helpers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The plan sent to a worker (and run on the reference): steps, reads, the seed, and the
        source of the spec's helpers module (``{"name": ..., "source": ...}``) when it has one."""
        return {"steps": list(self.steps), "reads": list(self.reads), "read_texts": list(self.read_texts),
                "seed": seed, "helpers": dict(helpers) if helpers else None}

    def helper_names(self) -> dict[str, str]:
        """The names read from ``helpers`` (``helpers.init_weights``), each with the first step or
        read that uses it, for ``grader.grading.preflight`` to look up in the helpers module."""
        return self._first_use(_helper_attributes)

    def global_names(self) -> dict[str, str]:
        """The names left to the module (its functions and classes), each with the first step or read
        that uses it (``step 2 `dx = f(dout, cache)```): what ``grader.grading.preflight`` looks up
        in the reference."""
        return self._first_use(_globals_in)

    def _first_use(self, names_in: Callable[[Any], list[str]]) -> dict[str, str]:
        """Each name ``names_in`` finds in the plan, with the step or read that first uses it."""
        found: dict[str, str] = {}
        nodes = [(f"step {index + 1} `{step['text']}`", [step["do"], step["to"]])
                 for index, step in enumerate(self.steps)]
        nodes += [(f"read `{text}`", [read]) for text, read in zip(self.read_texts, self.reads)]
        for where, roots in nodes:
            for name in names_in(roots):
                found.setdefault(name, where)
        return found

    def script(self, arguments: Mapping[str, Any]) -> str:
        """The scenario as the Python a student can paste to reproduce it (after defining the
        case's arguments): the steps, a repeated one as a loop, then a print of each read."""
        lines = []
        for step in self.steps:
            count = step["repeat"]
            count = arguments.get(count, count) if isinstance(count, str) else count
            lines.append(step["text"] if count == 1 else f"for _ in range({count}):\n    {step['text']}")
        return "\n".join([*lines, *(f"print({text})" for text in self.read_texts)])


def _globals_in(node: Any) -> list[str]:
    """The ``["global", name]`` nodes anywhere in a plan node, in order."""
    if not isinstance(node, list):
        return []
    if len(node) == 2 and node[0] == "global" and isinstance(node[1], str):
        return [node[1]]
    return [name for item in node for name in _globals_in(item)]


def _helper_attributes(node: Any) -> list[str]:
    """The names ``x`` of every ``helpers.x`` anywhere in a plan node, in order."""
    if not isinstance(node, list):
        return []
    if len(node) == 3 and node[0] == "attr" and node[1] == ["builtin", "helpers"] and isinstance(node[2], str):
        return [node[2]]
    return [name for item in node for name in _helper_attributes(item)]


class _Parser:
    def __init__(self, arguments: set[str]) -> None:
        self.arguments = arguments
        self.bound: set[str] = set(arguments)
        self.used_arguments: set[str] = set()

    def expression(self, node: ast.AST) -> Node:
        if isinstance(node, ast.Name):
            if node.id in self.bound:
                if node.id in self.arguments:
                    self.used_arguments.add(node.id)
                return ["name", node.id]
            if node.id in BUILTINS:
                return ["builtin", node.id]
            if node.id in ("None", "True", "False"):
                return ["const", {"None": None, "True": True, "False": False}[node.id]]
            return ["global", node.id]
        if isinstance(node, ast.Constant):
            if node.value is None or type(node.value) in (bool, int, float, str):
                return ["const", node.value]
            raise ScenarioSyntaxError(f"constant {node.value!r} is not a number, string, bool or None")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return ["neg", self.expression(node.operand)]
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("__"):
                raise ScenarioSyntaxError(f"dunder attribute {node.attr!r} is not allowed")
            return ["attr", self.expression(node.value), node.attr]
        if isinstance(node, ast.Subscript):
            return ["item", self.expression(node.value), self.expression(node.slice)]
        if isinstance(node, ast.Call):
            if any(isinstance(arg, ast.Starred) for arg in node.args) or any(kw.arg is None for kw in node.keywords):
                raise ScenarioSyntaxError("*args and **kwargs are not supported; write the arguments out")
            return ["call", self.expression(node.func), [self.expression(arg) for arg in node.args],
                    [[kw.arg, self.expression(kw.value)] for kw in node.keywords]]
        if isinstance(node, (ast.List, ast.Tuple)):
            return ["list" if isinstance(node, ast.List) else "tuple", [self.expression(item) for item in node.elts]]
        if isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                raise ScenarioSyntaxError("**mapping in a dict display is not supported")
            return ["dict", [[self.expression(k), self.expression(v)] for k, v in zip(node.keys, node.values) if k]]
        raise ScenarioSyntaxError(
            f"{type(node).__name__} is not supported; a step is a call, an assignment of a call or value, "
            "an attribute or item, or a list, tuple or dict of those"
        )

    def target(self, node: ast.AST) -> Node:
        if isinstance(node, ast.Name):
            if node.id in BUILTINS:
                raise ScenarioSyntaxError(f"{node.id!r} is a builtin of scenarios; choose another name")
            return ["name", node.id]
        if isinstance(node, (ast.Tuple, ast.List)):
            return ["unpack", [self.target(item) for item in node.elts]]
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            return self.expression(node)  # the same node: the interpreter assigns where it would read
        raise ScenarioSyntaxError(f"cannot assign to {type(node).__name__}")

    def bind(self, target: Node) -> None:
        if target[0] == "name":
            self.bound.add(target[1])
        elif target[0] == "unpack":
            for item in target[1]:
                self.bind(item)

    def step(self, text: str, repeat: int | str) -> dict[str, Any]:
        if isinstance(repeat, str):
            if repeat not in self.arguments:
                raise ScenarioSyntaxError(f"repeat: {repeat!r} is not an argument of the cases")
            self.used_arguments.add(repeat)
        statement = _statement(text)
        if isinstance(statement, ast.Expr):
            return {"do": self.expression(statement.value), "to": None, "repeat": repeat, "text": text.strip()}
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            value = self.expression(statement.value)
            target = self.target(statement.targets[0])
            self.bind(target)
            return {"do": value, "to": target, "repeat": repeat, "text": text.strip()}
        raise ScenarioSyntaxError("a step is an expression (a call) or one assignment `target = value`")

    def read(self, text: str) -> Node:
        return self.expression(_expression(text))


def _parse(text: str, mode: str) -> ast.AST:
    try:
        return ast.parse(text.strip(), mode=mode)
    except SyntaxError as error:
        raise ScenarioSyntaxError(f"not valid Python: {error.msg}") from None


def _statement(text: str) -> ast.stmt:
    tree = _parse(text, "exec")
    assert isinstance(tree, ast.Module)
    if len(tree.body) != 1:
        raise ScenarioSyntaxError("one statement per step")
    return tree.body[0]


def _expression(text: str) -> ast.expr:
    tree = _parse(text, "eval")
    assert isinstance(tree, ast.Expression)
    return tree.body


@functools.lru_cache(maxsize=1024)
def parse(steps: tuple[tuple[str, int | str], ...], reads: tuple[str, ...], arguments: frozenset[str]) -> Scenario:
    """Parse steps (text, repeat) and reads for a problem whose cases define ``arguments``.

    Cached (hence the tuples): the spec's validation parses every scenario once, in the thread that
    loads it, and grading threads only look it up (see ``locate``).

    Raises:
        ScenarioSyntaxError: naming the step or read (``steps.2``, ``read.0``) that is wrong.
    """
    parser = _Parser(set(arguments))
    parsed = []
    for index, (text, repeat) in enumerate(steps):
        try:
            parsed.append(parser.step(text, repeat))
        except ScenarioSyntaxError as error:
            raise ScenarioSyntaxError(f"step {index + 1} `{text}`: {error}") from None
    read_nodes = []
    for index, text in enumerate(reads):
        try:
            read_nodes.append(parser.read(text))
        except ScenarioSyntaxError as error:
            raise ScenarioSyntaxError(f"read {index + 1} `{text}`: {error}") from None
    return Scenario(
        steps=tuple(parsed),
        reads=tuple(read_nodes),
        read_texts=tuple(text.strip() for text in reads),
        arguments=frozenset(parser.used_arguments),
    )


@dataclass(frozen=True)
class Target:
    """What a gradient check moves (a key of its ``wrt``): a case argument, or where a value lives
    (``layer.W``, ``net.params["W1"]``, ``net.fc.weight``), as plain data for a worker."""

    text: str
    node: Node
    """The location as a plan node: a name, then attributes and constant keys."""
    at: int
    """The step before which the value is moved (``len(steps)``: before the reads). A location in a
    case argument is moved before the first step, as the case gives it; one in an object a step made
    is moved just before the step that computes ``of``, everything it made before then held fixed
    (CS231n's ``eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params["W1"])``)."""

    @property
    def is_argument(self) -> bool:
        """A plain case argument (``x``), moved as it always was: the argument itself."""
        return self.node[0] == "name" and self.at == 0

    def wire(self) -> dict[str, Any]:
        return {"text": self.text, "node": self.node, "at": self.at, "argument": self.is_argument}


@functools.lru_cache(maxsize=1024)
def gradient_scenario(steps: tuple[tuple[str, int | str], ...], of: str, arguments: frozenset[str]) -> Scenario:
    """What a gradient check differentiates: the steps up to the one that computes ``of`` (a later
    step, a backward or an ``out.backward(dout)``, cannot change it and is not run), then ``of`` as
    the only read.

    Raises:
        ScenarioSyntaxError: as ``parse``, for ``of`` as ``read 1``.
    """
    whole = parse(steps, (of,), arguments)
    return parse(steps[:_computing_step(whole, arguments) + 1], (of,), arguments)


@functools.lru_cache(maxsize=1024)
def targets(steps: tuple[tuple[str, int | str], ...], of: str, arguments: frozenset[str],
            keys: tuple[str, ...]) -> tuple[Target, ...]:
    """The ``wrt`` keys of a gradient check of ``of``, as targets.

    Cached, as ``parse``: the spec's validation makes them once, grading threads look them up.

    Raises:
        ScenarioSyntaxError: a key that is not a location, or names an object no step has made
            before ``of`` is computed; the message names the key.
    """
    scenario = gradient_scenario(steps, of, arguments)
    of_step = _computing_step(scenario, arguments)
    reads = scenario.read_texts
    found = []
    for key in keys:
        try:
            node, root = _location(_expression(key))
        except ScenarioSyntaxError as error:
            raise ScenarioSyntaxError(f"`{key}`: {error}") from None
        if root in arguments:
            found.append(Target(key, node, 0))
            continue
        made = [index for index, step in enumerate(scenario.steps[:of_step]) if root in _assigned(step["to"])]
        if not made:
            where = (f"before step {of_step + 1} `{scenario.steps[of_step]['text']}`, which computes `{reads[-1]}`"
                     if of_step < len(scenario.steps) else "by any step")
            raise ScenarioSyntaxError(f"`{key}`: `{root}` is not an argument of the cases, nor made {where}")
        found.append(Target(key, node, of_step))
    return tuple(found)


def _computing_step(scenario: Scenario, arguments: frozenset[str]) -> int:
    """The step that computes ``of`` (the last read): the last one to assign it when it is a name,
    else none (``len(steps)``: the read computes it, ``softmax_loss(x, y)[0]``)."""
    of = scenario.reads[-1]
    if of[0] == "name" and of[1] not in arguments:
        assigning = [index for index, step in enumerate(scenario.steps) if of[1] in _assigned(step["to"])]
        if assigning:
            return assigning[-1]
    return len(scenario.steps)


def _assigned(target: Node | None) -> set[str]:
    """The names a step's target binds."""
    if target is None:
        return set()
    if target[0] == "name":
        return {target[1]}
    if target[0] == "unpack":
        return {name for item in target[1] for name in _assigned(item)}
    return set()


def _location(node: ast.expr) -> tuple[Node, str]:
    """A name followed by attributes and constant keys, as a plan node, and its root name."""
    if isinstance(node, ast.Name):
        if node.id in BUILTINS:
            raise ScenarioSyntaxError(f"{node.id!r} is a builtin of scenarios, not a value")
        return ["name", node.id], node.id
    if isinstance(node, ast.Attribute) and not node.attr.startswith("__"):
        inner, root = _location(node.value)
        return ["attr", inner, node.attr], root
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
            and type(node.slice.value) in (str, int):
        inner, root = _location(node.value)
        return ["item", inner, ["const", node.slice.value]], root
    raise ScenarioSyntaxError("wrt names a case argument, or where a value lives: a name followed by attributes "
                              "and constant keys (`layer.W`, `net.params[\"W1\"]`, `net.fc.weight`)")


@functools.lru_cache(maxsize=4096)
def locate(text: str, read_texts: tuple[str, ...]) -> tuple[str | int, ...]:
    """Where a part named in a check (``dx``, ``grads["W1"]``, ``layer.dLdW``) is in the tuple of
    read values: the index of the read it starts from, then dict keys or tuple indices.

    Cached: the spec's validation locates every part once, in the thread that loads it, so that
    grading threads never parse (see ``grader.wire.AST_LOCK`` for why parsing in threads is
    worth avoiding).

    Raises:
        ScenarioSyntaxError: the text is neither a read nor a key or index into one.
    """
    dumps = {ast.dump(_expression(read)): index for index, read in enumerate(read_texts)}
    node = _expression(text)
    path: list[str | int] = []
    while ast.dump(node) not in dumps:
        key = node.slice.value if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) else None
        if isinstance(node, ast.Subscript) and type(key) in (str, int):
            assert isinstance(key, (str, int))
            path.insert(0, key)
            node = node.value
        else:
            raise ScenarioSyntaxError(f"`{text}` is not one of the reads {list(read_texts)} or an entry of one")
    return (dumps[ast.dump(node)], *path)
