"""``grader new hwN``: a commented skeleton of a new assignment that lints clean.

Four files, in the layout the example course uses (``problems/`` beside ``reference/``): the spec,
the reference, the mistakes module and the handout. The skeleton grades the two shapes most
assignments are made of, a plain function (a row-wise softmax) and a forward/backward pair
through a cache (an affine layer, as CS231n writes it), each with a public and a hidden case, value
and gradient checks and two declared mistakes; the comments say what each line is for and point to
``docs/authoring.md``. An instructor replaces the problems with their own and keeps the shape.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.errors import UsageError

SPEC = '''\
# {name}: a new assignment. Every field is described in docs/authoring.md (and by `grader schema`,
# which editors read through yaml-language-server for completion). Check it with `grader lint {name}`:
# the reference must pass every check, each declared mistake must lose points and be named, and
# degenerate answers (zeros, the input echoed...) must score 0.
schema_version: 1
assignment: {name}
title: "{name}: a softmax and an affine layer"
module: {name}                           # students hand in {name}.py (or {name}.ipynb)
reference: ../reference/{name}.py        # the instructor's solution, relative to this file
mistakes_module: ../reference/{name}_mistakes.py
handout: handout-{name}.md              # the student contract; `grader bundle` puts it in the kit
limits: {{call_timeout: 10}}              # CPU seconds per call; see docs/authoring.md for the others

problems:
  # A plain function: called on each case's arguments (positionally, in the order written); what
  # it returns is compared with what the reference returns on the same arguments.
  - id: softmax                          # the student's function of that name
    points: 10
    description: "Row-wise softmax of an (N, C) array of scores."
    cases:
      - name: worked
        visibility: public               # shown to students and shipped in their kit
        note: "The handout's worked example."
        args: {{x: [[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]}}
      - name: hidden_large               # cases are hidden unless said otherwise
        hint: "scores up to 1e3 in magnitude"   # what the case exercises, never how to fix it
        args: {{x: {{random: uniform, low: -1000, high: 1000, shape: [4, 5], seed: 1}}}}
    checks:                              # weights share the points (default 1 each)
      - {{kind: value, name: "values on the public case", cases: [worked]}}
      - {{kind: value, name: "values on the hidden case", cases: [hidden_large]}}
      - {{kind: property, property: does_not_modify_inputs}}   # `x -= x.max(...)` writes into the caller's x
    mistakes: [no_max_shift, wrong_axis]  # softmax__no_max_shift etc. in the mistakes module

  # A forward/backward pair through a cache: a scenario runs steps in the student's worker
  # (the cache never leaves it) and reads values back, compared with the same steps on the reference.
  - id: affine_backward
    points: 10
    description: "(dx, dw, db) from dout and the cache of affine_forward."
    scenario:
      - out, cache = affine_forward(x, w, b)
      - dx, dw, db = affine_backward(dout, cache)
    read: [dx, dw, db]
    cases:
      - name: small
        visibility: public
        args:
          x: {{random: normal, shape: [2, 3, 4], seed: 11}}
          w: {{random: normal, shape: [12, 5], seed: 12}}
          b: {{random: normal, shape: [5], seed: 13}}
          dout: {{random: normal, shape: [2, 5], seed: 14}}
      - name: hidden_batch
        hint: "a batch of 6 with inputs of shape (2, 2)"
        args:
          x: {{random: normal, shape: [6, 2, 2], seed: 15}}
          w: {{random: normal, shape: [4, 3], seed: 16}}
          b: {{random: normal, shape: [3], seed: 17}}
          dout: {{random: normal, shape: [6, 3], seed: 18}}
    checks:
      - {{kind: value, name: "gradients on the public case", cases: [small]}}
      - {{kind: value, name: "gradients on the hidden case", cases: [hidden_batch]}}
      # Each gradient also against central differences of the reference forward, contracted with
      # dout (CS231n's eval_numerical_gradient_array).
      - kind: gradient
        name: "matches the numerical gradient"
        of: out
        upstream: dout
        wrt: {{x: dx, w: dw, b: db}}
    mistakes: [db_mean, dx_not_reshaped]
'''

REFERENCE = '''\
"""Reference implementation of {name}: the instructor's solution, never shown to students.

`grader starter {name}` makes the students' {name}.py and {name}.ipynb from this file: signatures and
docstrings are kept, bodies become `raise NotImplementedError` (or only the lines between
`# BEGIN SOLUTION` and `# END SOLUTION`, where a body has them).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (N, C) array of scores."""
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """out = x.reshape(N, D) @ w + b, and a cache for the backward pass."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dw, db): dx has the shape of the original x."""
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
'''

MISTAKES = '''\
"""Typical wrong answers to {name}: the feedback names one when a student's answers behave like it.

Each `<function>__<mistake id>` has the graded function's signature and makes one realistic
mistake; its docstring is the sentence shown to the student, so it describes what the answer does
(true of every student whose answers behave this way), not a cause they may not have. A backward
mistake receives the reference forward's cache (the grader runs the problem's scenario with this
function swapped into the reference); a class mistake is a subclass overriding one method.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np


def _load_reference() -> Any:
    # The mistakes build on the reference, loaded from beside this file as the grader loads it.
    spec = importlib.util.spec_from_file_location("_{name}_reference", Path(__file__).with_name("{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


def softmax__no_max_shift(x):
    """Your softmax is not finite for large scores: exp overflows unless each row is shifted first."""
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def softmax__wrong_axis(x):
    """Your probabilities sum to 1 down each column; each row (one sample's scores) must sum to 1."""
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def affine_backward__db_mean(dout, cache):
    """Your bias gradient is the mean of dout over the batch; the bias is added to every sample, so it is the sum."""
    dx, dw, db = ref.affine_backward(dout, cache)
    return dx, dw, db / dout.shape[0]


def affine_backward__dx_not_reshaped(dout, cache):
    """Your dx has shape (N, D); it must have the shape of the original x, (N, d_1, ..., d_k)."""
    dx, dw, db = ref.affine_backward(dout, cache)
    return dx.reshape(dx.shape[0], -1), dw, db
'''

HANDOUT = '''\
# {name}

Hand in `{name}.py` (or a notebook `{name}.ipynb`) defining:

| function | returns | notes |
|---|---|---|
| `softmax(x)` | `(N, C)` array | row-wise softmax of scores `x (N, C)`; finite for scores of any magnitude |
| `affine_forward(x, w, b)` | `(out, cache)` | `x (N, d_1, ..., d_k)`, `w (D, M)`, `b (M,)`; `out = x.reshape(N, D) @ w + b` |
| `affine_backward(dout, cache)` | `(dx, dw, db)` | gradients for the cache of `affine_forward`; `dx` has the shape of `x` |

Worked example: `softmax([[1, 2, 3], [1, 1, 1]])` is
`[[0.0900, 0.2447, 0.6652], [0.3333, 0.3333, 0.3333]]`.
'''

FILES = {
    "problems/{name}.yaml": SPEC,
    "reference/{name}.py": REFERENCE,
    "reference/{name}_mistakes.py": MISTAKES,
    "problems/handout-{name}.md": HANDOUT,
}


def write_skeleton(name: str, root: Path) -> list[Path]:
    """Write the new assignment ``name``'s four files under ``root``; refuse to overwrite any.

    Raises:
        UsageError: ``name`` is not a module name, or one of the files exists.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"{name!r} is not a valid assignment name: students import it as a module (hw5)")
    paths = {root / relative.format(name=name): text.format(name=name) for relative, text in FILES.items()}
    existing = [str(path) for path in paths if path.exists()]
    if existing:
        raise UsageError(f"not overwriting {', '.join(existing)}")
    for path, text in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(paths)
