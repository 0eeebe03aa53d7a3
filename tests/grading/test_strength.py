"""The spec-strength report on a tiny spec (tests/data/strength): the survivors of a weak case set
are listed with their line and operator, a case that exercises the mistake kills them, and a
declared survivor is accepted with its reason, or reported when stale or unknown."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.cli import main
from grader.grading.selftest import Finding
from grader.grading.probes import timed
from grader.grading.strength import run_strength
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

DATA = Path(__file__).resolve().parents[1] / "data" / "strength"


def spec_with(tmp_path: Path, change: Any = None) -> Path:
    """weak.yaml (and its reference) in tmp_path, after ``change`` edited its problems by id."""
    for module in ("reference.py", "mistakes.py"):
        shutil.copy(DATA / module, tmp_path / module)
    raw = yaml.safe_load((DATA / "weak.yaml").read_text())
    if change is not None:
        change({problem["id"]: problem for problem in raw["problems"]})
    path = tmp_path / "strength.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def report(path: Path) -> dict[str, list[Finding]]:
    by_problem: dict[str, list[Finding]] = {}
    for finding in run_strength(load_spec(path), session_for=InProcessSession):
        by_problem.setdefault(finding.problem, []).append(finding)
    return by_problem


def failures(findings: list[Finding]) -> list[str]:
    return [finding.what for finding in findings if not finding.ok]


def test_a_weak_spec_shows_its_survivors_with_line_operator_and_the_probe_that_kills_them(tmp_path: Path) -> None:
    findings = report(spec_with(tmp_path))
    unpad = {finding.what: finding for finding in findings["unpad"]}
    survivor = unpad["mutant unpad:slice_unpad:1 survives"]
    assert not survivor.ok
    assert "reference.py:11 `return dx_padded[..., pad:pad + H, pad:pad + W]`" in survivor.detail
    assert "`pad:pad + H` -> `pad:-pad`" in survivor.detail and "slice bounds" in survivor.detail
    assert survivor.detail.endswith("on case 'pad1' with pad = 0")
    assert unpad["no case takes pad = 0"].warning and unpad["no case takes pad = 0"].ok

    softmax = {finding.what: finding for finding in findings["softmax"]}
    assert "NaN or inf where the reference is finite" in softmax["mutant softmax:no_max_shift:1 survives"].detail
    assert any(what.startswith("no case has an input above magnitude") for what in softmax)

    scale = {finding.what: finding for finding in findings["Scale"]}
    assert scale["mutant Scale.backward:accumulate:1 survives"].detail.endswith("with every step run twice")


def test_an_equivalent_mutant_is_counted_but_not_reported(tmp_path: Path) -> None:
    (summary, *rest) = report(spec_with(tmp_path))["sqdist"]
    assert summary.ok and summary.detail.endswith(", 1 equivalent")  # (b - a)**2 is (a - b)**2
    assert rest == []


def test_a_case_that_exercises_each_mistake_kills_it(tmp_path: Path) -> None:
    def strengthen(problems: dict[str, Any]) -> None:
        pad0 = {"name": "pad0", "visibility": "public",
                "args": {"dx_padded": {"random": "normal", "shape": [2, 3, 4, 5], "seed": 5}, "pad": 0}}
        problems["unpad"]["cases"].append(pad0)
        huge = {"name": "huge", "visibility": "public",
                "args": {"x": {"random": "uniform", "low": -1e4, "high": 1e4, "shape": [3, 4], "seed": 6}}}
        problems["softmax"]["cases"].append(huge)
        problems["Scale"]["scenario"].append({"do": "dx = layer.backward(g)", "repeat": 2})

    findings = report(spec_with(tmp_path, strengthen))
    for problem in ("unpad", "softmax", "Scale"):
        assert failures(findings[problem]) == [], problem
        assert not any(finding.warning for finding in findings[problem]), problem
    assert findings["unpad"][0].detail.endswith(" killed, 0 survive, 0 equivalent")


def test_declared_survivors_are_accepted_and_stale_or_unknown_ones_fail(tmp_path: Path) -> None:
    def declare(problems: dict[str, Any]) -> None:
        problems["unpad"]["survivors"] = [
            {"mutant": "unpad:slice_unpad:1", "reason": "the handout promises pad >= 1"},
            {"mutant": "unpad:slice_unpad:2", "reason": "the handout promises pad >= 1"},
        ]
        problems["softmax"]["survivors"] = [{"mutant": "softmax:sign:1", "reason": "stale"},
                                            {"mutant": "softmax:sign:9", "reason": "a typo"}]

    findings = report(spec_with(tmp_path, declare))
    assert failures(findings["unpad"]) == []
    accepted = [f for f in findings["unpad"] if f.what == "mutant unpad:slice_unpad:1 survives, declared"]
    assert accepted and accepted[0].detail.startswith("the handout promises pad >= 1 [")
    softmax = {finding.what: finding for finding in findings["softmax"] if not finding.ok}
    stale = softmax["declared survivor softmax:sign:1 still survives"]
    assert "problem softmax, field survivors.0.mutant: it is killed now" in stale.detail
    assert "field survivors.1.mutant: no such mutant" in softmax["declared survivor softmax:sign:9 is a mutant of the reference"].detail


def test_lint_fails_on_an_undeclared_survivor_and_no_strength_skips_the_report(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = str(spec_with(tmp_path))
    assert main(["lint", path]) == 1
    assert "[FAIL] unpad: mutant unpad:slice_unpad:1 survives" in capsys.readouterr().out
    assert main(["lint", path, "--no-strength"]) == 0
    assert "mutant" not in capsys.readouterr().out
    assert main(["lint", path, "--problem", "Scale"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] Scale: mutant Scale.backward:accumulate:1 survives" in out and "unpad" not in out
    assert main(["lint", path, "--problem", "nope"]) == 2


def test_a_mutant_that_loops_is_stopped_by_its_time_limit() -> None:
    def loop() -> None:
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001 - code under test swallowing what it can
                pass

    start = time.monotonic()
    assert timed(0.2, loop) == (None, True)
    assert time.monotonic() - start < 2
    assert timed(1.0, lambda: 7) == (7, False)


def test_a_state_dict_of_tensors_does_not_tell_an_equivalent_module_apart(tmp_path: Path) -> None:
    """Two runs copy the case's state dict of tensors afresh: equal arrays, not the same objects,
    are not a write into the argument (which made every surviving mutant look non-equivalent)."""
    pytest.importorskip("torch")
    import types

    from grader.grading.probes import Probing

    source = "import torch\n\ndef squash(state, x):\n    return torch.tanh(x * state['w'])\n"
    (tmp_path / "ref.py").write_text(source)
    tensor = {"random": "normal", "shape": [3], "dtype": "float32", "tensor": True}
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", "problems": [{
        "id": "squash", "points": 1, "scenario": ["out = squash(state, x)"], "read": ["out"],
        "cases": [{"name": "pub", "visibility": "public",
                   "args": {"state": {"w": {**tensor, "seed": 1}}, "x": {**tensor, "seed": 2}}}],
        "checks": [{"kind": "value"}]}]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec))
    problem = load_spec(tmp_path / "t.yaml").problems[0]
    reference, same = types.ModuleType("ref"), types.ModuleType("same")
    exec(source, reference.__dict__)  # noqa: S102 - trusted test code
    exec(source, same.__dict__)  # noqa: S102
    probing = Probing(problem, reference, time_limit=5.0)
    assert probing.differs(same) == ""
    naive = types.ModuleType("naive")
    exec(source.replace("torch.tanh(x * state['w'])", "(torch.exp(2 * x * state['w']) - 1) / (torch.exp(2 * x * state['w']) + 1)"),
         naive.__dict__)  # noqa: S102
    assert "NaN or inf" in probing.differs(naive)


def test_the_overflow_blind_spot_is_measured_in_the_inputs_precision(tmp_path: Path) -> None:
    """exp overflows past 709.78 in float64 but past 88.72 in float32: for float32 inputs the
    warning names 89, where a naive softmax of them already overflows."""
    def in_float32(problems: dict[str, Any]) -> None:
        problems["softmax"]["cases"][0]["args"]["x"]["dtype"] = "float32"

    warnings = {finding.what for finding in report(spec_with(tmp_path))["softmax"] if finding.warning}
    assert "no case has an input above magnitude 710" in warnings
    warnings = {finding.what for finding in report(spec_with(tmp_path, in_float32))["softmax"] if finding.warning}
    assert "no case has an input above magnitude 89" in warnings


def test_a_declared_overflow_survivor_silences_the_blind_spot_it_explains(tmp_path: Path) -> None:
    def declared(problems: dict[str, Any]) -> None:
        problems["softmax"]["survivors"] = [{"mutant": "softmax:no_max_shift:1",
                                             "reason": "the handout promises inputs below 10"}]

    findings = report(spec_with(tmp_path, declared))["softmax"]
    assert "mutant softmax:no_max_shift:1 survives, declared" in {finding.what for finding in findings}
    assert not any(finding.what.startswith("no case has an input above magnitude") for finding in findings)
