"""Mutants of a reference: the instructor's code with one realistic deep-learning mistake made in it.

Each operator models a mistake real students make in this kind of code (unpadding written
``pad:-pad``, ``sum`` for ``mean``, a dropped ``.T``, ``dLdW`` accumulated across calls, ``exp``
without its max shift...), not a generic one. ``grader.grading.strength`` grades every mutant with
the problem's own checks: a mutant that keeps full marks shows a mistake the cases cannot see.

Why ``ast`` and not ``mutmut`` or ``cosmic-ray``: both mutate generically (every ``+`` to ``-``,
every constant to another) and judge a mutant by running a test suite in a subprocess per mutant.
Here the "test suite" is the spec's cases and checks, run in-process on a module object, and the
mutations must be the few that mean something in deep-learning code (a slice bound written
``a:-a``, ``keepdims=True`` left in a returned value, ``tanh`` from exponentials), which neither
library has. So the operators below rewrite the reference's syntax tree, and only inside the code
a problem grades (its function, or its class's methods, and the private helpers they call).

A mutant's id is ``<function or Class.method>:<operator>:<n>``, ``n`` counting that operator's
sites in that function in source order, so it does not change when other code is edited; a spec
names accepted survivors by it.
"""

from __future__ import annotations

import ast
import copy
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

Replacement = ast.AST | list[ast.stmt]
"""What a mutated node becomes: a node of the same kind, or (for a statement) several statements."""

REDUCTIONS = frozenset({"sum", "mean", "max", "min", "var", "std", "amax", "amin", "prod", "argmax", "argmin",
                        "nansum", "nanmean", "logsumexp"})
"""Method or function names that reduce over an axis."""


@dataclass(frozen=True)
class Scope:
    """What an operator may need to know about the function a node is in."""

    function: str
    """``affine_backward`` or ``Linear.backward``."""
    parameters: frozenset[str]
    """The function's parameter names (``self`` excluded): its inputs."""
    is_method: bool
    numpy: str
    """The name numpy is imported as in the module (``np``)."""


@dataclass(frozen=True)
class Operator:
    name: str
    family: str
    """The kind of mistake, as the report says it: "slice bounds", "overflow"..."""
    mutate: Callable[[ast.AST, Scope], list[Replacement]]
    """The node's mutants (often none)."""


@dataclass(frozen=True, kw_only=True)
class Mutant:
    id: str
    operator: Operator
    function: str
    """Where: ``conv_backward_naive`` or ``Linear.backward``."""
    line: int
    """Line of the mutated node in the reference file."""
    original: str
    """The reference's code at that node (``ast.unparse``)."""
    mutated: str
    """What the mutant has there instead."""
    tree: ast.Module = field(repr=False, compare=False)
    """The whole module with this one change."""

    def module(self, like: types.ModuleType, filename: str) -> types.ModuleType:
        """The mutated module, executed fresh; named like the reference (so that annotations and
        dataclasses resolve against it) but never registered in ``sys.modules``."""
        module = types.ModuleType(like.__name__)
        module.__file__ = filename
        exec(compile(self.tree, filename, "exec"), module.__dict__)  # noqa: S102 - the instructor's own code, mutated
        return module


# --------------------------------------------------------------------------- helpers


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False)


def _call_name(node: ast.AST) -> str | None:
    """``np.sum(...)``, ``x.sum(...)`` and ``sum(...)`` are all ``sum``."""
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
        if isinstance(node.func, ast.Name):
            return node.func.id
    return None


def _namespace_of(call: ast.Call, scope: Scope) -> str:
    """The library a call comes from (``torch`` for ``torch.tanh``), numpy by default."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("torch", "math"):
        return func.value.id
    return scope.numpy


def _fn(namespace: str, name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Attribute(value=ast.Name(id=namespace, ctx=ast.Load()), attr=name, ctx=ast.Load()),
                    args=list(args), keywords=[])


def _plus(node: ast.expr, amount: int) -> ast.expr:
    op: ast.operator = ast.Add() if amount > 0 else ast.Sub()
    return ast.BinOp(left=copy.deepcopy(node), op=op, right=ast.Constant(abs(amount)))


def _keyword(call: ast.Call, name: str) -> ast.keyword | None:
    return next((kw for kw in call.keywords if kw.arg == name), None)


def _with_keywords(call: ast.Call, keywords: list[ast.keyword]) -> ast.Call:
    return ast.Call(func=call.func, args=call.args, keywords=keywords)


# --------------------------------------------------------------------------- operators


def _slice_unpad(node: ast.AST, scope: Scope) -> list[Replacement]:
    # dx_pad[:, :, pad:pad + H] written dx_pad[:, :, pad:-pad]: right for pad > 0, empty at pad = 0.
    if isinstance(node, ast.Slice) and node.lower is not None and isinstance(node.upper, ast.BinOp) \
            and isinstance(node.upper.op, ast.Add):
        lower = _dump(node.lower)
        if lower in (_dump(node.upper.left), _dump(node.upper.right)) and not isinstance(node.lower, ast.Constant):
            return [ast.Slice(lower=node.lower, upper=ast.UnaryOp(op=ast.USub(), operand=copy.deepcopy(node.lower)),
                              step=node.step)]
    return []


def _off_by_one(node: ast.AST, scope: Scope) -> list[Replacement]:
    if isinstance(node, ast.Slice) and node.upper is not None:
        return [ast.Slice(lower=node.lower, upper=_plus(node.upper, amount), step=node.step) for amount in (-1, 1)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and node.args \
            and not any(isinstance(arg, ast.Starred) for arg in node.args):
        stop = 0 if len(node.args) == 1 else 1
        mutants = []
        for amount in (-1, 1):
            args = list(node.args)
            args[stop] = _plus(args[stop], amount)
            mutants.append(ast.Call(func=node.func, args=args, keywords=node.keywords))
        return mutants
    return []


_STRICTNESS: dict[type, type] = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt}


def _strictness(node: ast.AST, scope: Scope) -> list[Replacement]:
    # `x > 0` written `x >= 0`: ReLU's gradient at exactly 0, a threshold's edge.
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _STRICTNESS:
        return [ast.Compare(left=node.left, ops=[_STRICTNESS[type(node.ops[0])]()], comparators=node.comparators)]
    return []


def _sum_mean(node: ast.AST, scope: Scope) -> list[Replacement]:
    name = _call_name(node)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and name in ("sum", "mean"):
        func = ast.Attribute(value=node.func.value, attr="mean" if name == "sum" else "sum", ctx=ast.Load())
        return [ast.Call(func=func, args=node.args, keywords=node.keywords)]
    return []


def _axis(node: ast.AST, scope: Scope) -> list[Replacement]:
    if not (isinstance(node, ast.Call) and _call_name(node) in REDUCTIONS):
        return []
    axis = _keyword(node, "axis")
    if axis is None:
        return []
    others = [kw for kw in node.keywords if kw is not axis]
    mutants: list[Replacement] = [_with_keywords(node, others)]  # the axis forgotten: a reduction over everything
    if isinstance(axis.value, ast.Constant) and axis.value.value in (0, 1):
        swapped = ast.keyword(arg="axis", value=ast.Constant(1 - axis.value.value))
        mutants.insert(0, _with_keywords(node, [swapped if kw is axis else kw for kw in node.keywords]))
    return mutants


def _keepdims(node: ast.AST, scope: Scope) -> list[Replacement]:
    # A (1, D) where (D,) is asked, and the other way round.
    if not (isinstance(node, ast.Call) and _call_name(node) in REDUCTIONS and _call_name(node) not in ("argmax", "argmin")):
        return []
    keepdims = _keyword(node, "keepdims")
    if keepdims is not None:
        return [_with_keywords(node, [kw for kw in node.keywords if kw is not keepdims])]
    if _keyword(node, "axis") is not None:
        return [_with_keywords(node, [*node.keywords, ast.keyword(arg="keepdims", value=ast.Constant(True))])]
    return []


def _transpose(node: ast.AST, scope: Scope) -> list[Replacement]:
    if isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
        return [node.value]  # a .T forgotten
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("transpose", "mT") \
            and len(node.args) == 2:
        return [node.func.value]  # k.transpose(-2, -1) forgotten
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        # X.T @ Y written Y.T @ X: the transposed result (dLdW of shape (in, out) for (out, in)).
        left, right = node.left, node.right
        if isinstance(left, ast.Attribute) and left.attr == "T":
            return [ast.BinOp(left=ast.Attribute(value=right, attr="T", ctx=ast.Load()), op=ast.MatMult(), right=left.value)]
        if isinstance(right, ast.Attribute) and right.attr == "T":
            return [ast.BinOp(left=right.value, op=ast.MatMult(), right=ast.Attribute(value=left, attr="T", ctx=ast.Load()))]
    return []


def _sign(node: ast.AST, scope: Scope) -> list[Replacement]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        return [ast.BinOp(left=node.right, op=ast.Sub(), right=node.left)]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Invert, ast.Not)) \
            and not isinstance(node.operand, ast.Constant):
        return [node.operand]  # a minus dropped, a mask not inverted
    if isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub)):
        return [ast.AugAssign(target=node.target, op=ast.Sub() if isinstance(node.op, ast.Add) else ast.Add(),
                              value=node.value)]
    return []


def _dropped_term(node: ast.AST, scope: Scope) -> list[Replacement]:
    # `+ reg * W` forgotten, a bias left out, one of batchnorm's three terms missing; a `/ N`, a
    # `/ sqrt(d)` or a constant factor (the 0.5 of an L2 penalty) forgotten.
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [node.left, node.right]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Sub, ast.Div)):
        return [node.left]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return [side for side, factor in ((node.right, node.left), (node.left, node.right))
                if isinstance(factor, ast.Constant)]
    return []


def _gradient_like(name: str) -> bool:
    return name.startswith(("d", "grad")) and len(name) > 1


def _accumulate(node: ast.AST, scope: Scope) -> list[Replacement]:
    # A student who set self.dLdW = zeros in __init__ and writes `self.dLdW += ...`: right on the
    # first backward, wrong on every later one.
    if scope.is_method and not scope.function.endswith(".__init__") and isinstance(node, ast.Assign) \
            and len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute) \
            and isinstance(node.targets[0].value, ast.Name) and node.targets[0].value.id == "self" \
            and _gradient_like(node.targets[0].attr):
        attr = node.targets[0].attr
        previous = ast.Call(func=ast.Name(id="getattr", ctx=ast.Load()),
                            args=[ast.Name(id="self", ctx=ast.Load()), ast.Constant(attr), ast.Constant(0)], keywords=[])
        return [ast.Assign(targets=node.targets, value=ast.BinOp(left=previous, op=ast.Add(), right=node.value))]
    return []


def _in_place(node: ast.AST, scope: Scope) -> list[Replacement]:
    # `x = x - m` written `x -= m`, `y = x * s` written `x *= s; y = x`: the caller's array changes.
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
            and isinstance(node.value, ast.BinOp) and isinstance(node.value.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)) \
            and isinstance(node.value.left, ast.Name) and node.value.left.id in scope.parameters:
        written = node.value.left.id
        update = ast.AugAssign(target=ast.Name(id=written, ctx=ast.Store()), op=node.value.op, value=node.value.right)
        if node.targets[0].id == written:
            return [[update]]
        return [[update, ast.Assign(targets=node.targets, value=ast.Name(id=written, ctx=ast.Load()))]]
    return []


def _first_row(shape: ast.expr) -> ast.expr:
    return ast.Subscript(value=shape, slice=ast.Slice(lower=ast.Constant(1)), ctx=ast.Load())


def _is_shape(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "shape"


def _shared_mask(node: ast.AST, scope: Scope) -> list[Replacement]:
    # np.random.rand(*x.shape) drawn for x.shape[1:]: one mask broadcast over the whole batch.
    name = _call_name(node)
    if not isinstance(node, ast.Call) or name not in ("rand", "randn", "random", "random_sample", "uniform",
                                                      "binomial", "normal", "bernoulli"):
        return []
    args = list(node.args)
    for index, arg in enumerate(args):
        if isinstance(arg, ast.Starred) and _is_shape(arg.value):
            args[index] = ast.Starred(value=_first_row(arg.value), ctx=ast.Load())
            return [ast.Call(func=node.func, args=args, keywords=node.keywords)]
        if _is_shape(arg):
            args[index] = _first_row(arg)
            return [ast.Call(func=node.func, args=args, keywords=node.keywords)]
    size = _keyword(node, "size")
    if size is not None and _is_shape(size.value):
        keywords = [ast.keyword(arg="size", value=_first_row(size.value)) if kw is size else kw for kw in node.keywords]
        return [_with_keywords(node, keywords)]
    return []


def _no_max_shift(node: ast.AST, scope: Scope) -> list[Replacement]:
    # softmax without `- x.max(axis=1, keepdims=True)`: exp overflows for scores above ~709.
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and _call_name(node.right) in ("max", "amax"):
        return [node.left]
    return []


def _log_of_softmax(node: ast.AST, scope: Scope) -> list[Replacement]:
    # s - log(sum(exp(s))) written log(exp(s) / sum(exp(s))): -inf where a probability underflows.
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and _call_name(node.right) == "log" \
            and isinstance(node.right, ast.Call) and len(node.right.args) == 1:
        inner = node.right.args[0]
        exps = [call for call in ast.walk(inner) if isinstance(call, ast.Call) and _call_name(call) == "exp"
                and len(call.args) == 1 and _dump(call.args[0]) == _dump(node.left)]
        if exps:
            log = node.right
            return [ast.Call(func=log.func, args=[ast.BinOp(left=exps[0], op=ast.Div(), right=inner)], keywords=[])]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "log_softmax" \
            and _namespace_of(node, scope) == "torch":
        softmax = ast.Call(func=ast.Attribute(value=node.func.value, attr="softmax", ctx=ast.Load()),
                           args=node.args, keywords=node.keywords)
        return [_fn("torch", "log", softmax)]
    return []


def _softmax_from_exp(node: ast.AST, scope: Scope) -> list[Replacement]:
    # torch.softmax(s, dim=-1) written exp(s) / exp(s).sum(dim=-1, keepdim=True): no max shift.
    if not (isinstance(node, ast.Call) and _call_name(node) == "softmax" and node.args):
        return []
    namespace = _namespace_of(node, scope)
    axis = node.args[1] if len(node.args) > 1 else next(
        (kw.value for kw in node.keywords if kw.arg in ("dim", "axis")), None)
    if axis is None:
        return []
    torch = namespace == "torch"
    total = ast.Call(func=ast.Attribute(value=_fn(namespace, "exp", node.args[0]), attr="sum", ctx=ast.Load()), args=[],
                     keywords=[ast.keyword(arg="dim" if torch else "axis", value=axis),
                               ast.keyword(arg="keepdim" if torch else "keepdims", value=ast.Constant(True))])
    return [ast.BinOp(left=_fn(namespace, "exp", node.args[0]), op=ast.Div(), right=total)]


def _tanh_from_exp(node: ast.AST, scope: Scope) -> list[Replacement]:
    # (e^z - e^-z) / (e^z + e^-z): inf / inf = NaN above |z| of about 710.
    if isinstance(node, ast.Call) and _call_name(node) == "tanh" and len(node.args) == 1 and not node.keywords:
        namespace, z = _namespace_of(node, scope), node.args[0]

        def exp(sign: int) -> ast.expr:
            return _fn(namespace, "exp", copy.deepcopy(z) if sign > 0 else ast.UnaryOp(op=ast.USub(), operand=copy.deepcopy(z)))

        return [ast.BinOp(left=ast.BinOp(left=exp(1), op=ast.Sub(), right=exp(-1)), op=ast.Div(),
                          right=ast.BinOp(left=exp(1), op=ast.Add(), right=exp(-1)))]
    return []


def _naive_sigmoid(node: ast.AST, scope: Scope) -> list[Replacement]:
    # 1 / (1 + exp(-x)) for a stable sigmoid; and exp(-|x|), the stable form's trick, written exp(-x).
    name = _call_name(node)
    if isinstance(node, ast.Call) and name in ("sigmoid", "expit", "_sigmoid") and len(node.args) == 1:
        z = ast.UnaryOp(op=ast.USub(), operand=node.args[0])
        return [ast.BinOp(left=ast.Constant(1), op=ast.Div(),
                          right=ast.BinOp(left=ast.Constant(1), op=ast.Add(), right=_fn(_namespace_of(node, scope), "exp", z)))]
    if isinstance(node, ast.Call) and name == "exp" and len(node.args) == 1:
        absolutes = [call for call in ast.walk(node.args[0]) if isinstance(call, ast.Call)
                     and _call_name(call) in ("abs", "absolute") and len(call.args) == 1]
        if absolutes:
            return [_replace(node, absolutes[0], absolutes[0].args[0])]
    return []


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> ast.AST:
    """A copy of ``tree`` (node by node, the original untouched) with the node ``old`` replaced by ``new``."""
    if tree is old:
        return new
    clone = copy.copy(tree)
    for name, value in ast.iter_fields(tree):
        if isinstance(value, list):
            setattr(clone, name, [_replace(item, old, new) if isinstance(item, ast.AST) else item for item in value])
        elif isinstance(value, ast.AST):
            setattr(clone, name, _replace(value, old, new))
    return clone


OPERATORS: tuple[Operator, ...] = (
    # The overflow family first: where two operators make the same code, the more telling name wins.
    Operator("no_max_shift", "overflow: exp without the max shift", _no_max_shift),
    Operator("log_of_softmax", "overflow: log of a softmax instead of log-sum-exp", _log_of_softmax),
    Operator("softmax_from_exp", "overflow: softmax written exp(s) / sum(exp(s)), without the max shift",
             _softmax_from_exp),
    Operator("tanh_from_exp", "overflow: tanh written (e^z - e^-z) / (e^z + e^-z)", _tanh_from_exp),
    Operator("naive_sigmoid", "overflow: 1 / (1 + exp(-x)) for a stable sigmoid", _naive_sigmoid),
    Operator("slice_unpad", "slice bounds: unpadding a:a+n written a:-a (empty when a = 0)", _slice_unpad),
    Operator("off_by_one", "slice bounds: a slice or range bound off by one", _off_by_one),
    Operator("strictness", "slice bounds: a comparison's edge (> for >=, < for <=)", _strictness),
    Operator("sum_mean", "reductions: sum for mean or mean for sum", _sum_mean),
    Operator("axis", "reductions: the other axis, or no axis", _axis),
    Operator("keepdims", "shapes: keepdims added or dropped ((1, D) for (D,) or back)", _keepdims),
    Operator("transpose", "transposes: a .T dropped, or the product transposed", _transpose),
    Operator("accumulate", "state: a gradient accumulated across calls (+= never reset)", _accumulate),
    Operator("in_place", "state: an input array written in place", _in_place),
    Operator("shared_mask", "randomness: one random mask shared across the batch", _shared_mask),
    Operator("sign", "signs: a - b flipped, a unary minus dropped, a mask not inverted", _sign),
    Operator("dropped_term", "dropped terms: one term of a sum, a divisor or a constant factor left out", _dropped_term),
)
BY_NAME = {operator.name: operator for operator in OPERATORS}


# --------------------------------------------------------------------------- finding and applying mutants


def _numpy_name(tree: ast.Module) -> str:
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "numpy":
                    return alias.asname or "numpy"
    return "np"


def _functions(tree: ast.Module, names: set[str]) -> Iterator[tuple[str, ast.stmt, ast.FunctionDef]]:
    """(qualified name, top-level definition, function) of every function named, and of every
    method of every class named, at the module's top level."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            yield node.name, node, node
        elif isinstance(node, ast.ClassDef) and node.name in names:
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    yield f"{node.name}.{item.name}", node, item


def _scope(qualname: str, function: ast.FunctionDef, is_method: bool, numpy: str) -> Scope:
    arguments = function.args
    names = [arg.arg for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]
    if is_method and names:
        names = names[1:]
    return Scope(qualname, frozenset(names), is_method, numpy)


def _preorder(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes in the order ``ast.NodeTransformer`` visits them (so an index finds the same node in a copy)."""
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _preorder(child)


def helpers_of(tree: ast.Module, names: set[str], exclude: set[str]) -> set[str]:
    """``names`` and the module's top-level functions they call, transitively, but for those in
    ``exclude`` (other problems' functions, mutated where they are graded)."""
    defined = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    found, todo = set(), [name for name in names if name in defined]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for node in ast.walk(defined[name]):
            if isinstance(node, ast.Name) and node.id in defined and isinstance(defined[node.id], ast.FunctionDef) \
                    and node.id not in exclude and node.id not in found:
                todo.append(node.id)
    return found


def mutants_of(tree: ast.Module, names: set[str], operators: tuple[Operator, ...] = OPERATORS) -> list[Mutant]:
    """Every mutant of the functions and classes ``names`` of a module's tree, without duplicates
    (two operators giving the same code) and without no-ops."""
    numpy = _numpy_name(tree)
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for qualname, top, function in _functions(tree, names):
        scope = _scope(qualname, function, top is not function, numpy)
        counts: dict[str, int] = {}
        original = ast.unparse(function)
        seen.add(original)
        nodes = list(_preorder(function))
        for operator in operators:
            for index, node in enumerate(nodes):
                if node is function:
                    continue
                for choice, replacement in enumerate(operator.mutate(node, scope)):
                    counts[operator.name] = counts.get(operator.name, 0) + 1
                    mutant_tree, changed = _apply(tree, top, function, index, operator, choice, scope)
                    text = ast.unparse(changed)
                    if text in seen:
                        continue
                    seen.add(text)
                    shown = ast.fix_missing_locations(ast.Module(
                        body=replacement if isinstance(replacement, list) else [ast.Expr(replacement)], type_ignores=[]))
                    mutants.append(Mutant(
                        id=f"{qualname}:{operator.name}:{counts[operator.name]}", operator=operator, function=qualname,
                        line=getattr(node, "lineno", function.lineno), original=ast.unparse(node),
                        mutated=ast.unparse(shown).strip().replace("\n", "; "), tree=mutant_tree))
    return mutants


def _apply(tree: ast.Module, top: ast.stmt, function: ast.FunctionDef, index: int, operator: Operator, choice: int,
           scope: Scope) -> tuple[ast.Module, ast.FunctionDef]:
    """The module with the ``index``-th node of ``function`` replaced by its ``choice``-th mutant:
    only the top-level definition holding it is copied, the rest of the module is shared."""
    top_copy = copy.deepcopy(top)
    copied = top_copy if top is function else top_copy.body[top.body.index(function)]  # type: ignore[attr-defined]
    assert isinstance(copied, ast.FunctionDef)

    class Swap(ast.NodeTransformer):
        count = 0

        def visit(self, node: ast.AST) -> ast.AST | list[ast.stmt]:
            here, self.count = self.count, self.count + 1
            if here == index:
                return operator.mutate(node, scope)[choice]
            return self.generic_visit(node)

    Swap().visit(copied)
    ast.fix_missing_locations(top_copy)
    return ast.Module(body=[top_copy if node is top else node for node in tree.body], type_ignores=[]), copied


def parse_reference(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))
