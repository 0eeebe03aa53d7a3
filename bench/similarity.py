"""Benchmark: ``grader similarity`` on a synthetic class of N, in a temporary folder.

    python bench/similarity.py [--n 1000] [--scheduler tcp://host:8786]

Each synthetic student writes the eight functions of a small homework, each function one of five
independent variants (so independent students share whole functions, as real classes of short
functions do), with every name renamed at random and a line or two of their own per function;
1% of the students hand in a disguised copy of another's file (names renamed again, functions
reordered, comments changed). Behaviour: per student, wrong answers on two of four problems' three
hidden cases drawn from a few common clusters, and each copy pair shares a wrong answer of its own.
Prints the time of each phase, the number of pairs compared, and whether every planted copy pair
ranks above every pair of independent students.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.grading.fingerprint import value_fingerprint  # noqa: E402
from grader.results import GradeReport, ProblemResult  # noqa: E402
from grader.similarity import behaviour, code, run  # noqa: E402
from grader.spec import load_spec  # noqa: E402

SPEC = ROOT / "tests" / "data" / "similarity" / "similarity.yaml"

VARIANTS = {
    "softmax": [
        "s = {a} - np.max({a}, axis=-1, keepdims=True)\n    e = np.exp(s)\n    return e / np.sum(e, axis=-1, keepdims=True)",
        "m = {a}.max(-1)[..., None]\n    e = np.exp({a} - m)\n    return e / e.sum(-1)[..., None]",
        "out = np.empty_like({a})\n    for i in np.ndindex({a}.shape[:-1]):\n        r = np.exp({a}[i] - {a}[i].max())\n        out[i] = r / r.sum()\n    return out",
        "t = np.amax({a}, axis=-1, keepdims=True)\n    l = t + np.log(np.sum(np.exp({a} - t), axis=-1, keepdims=True))\n    return np.exp({a} - l)",
        "z = {a} - {a}.max(axis={a}.ndim - 1, keepdims=True)\n    np.exp(z, out=z)\n    z /= z.sum(axis=z.ndim - 1, keepdims=True)\n    return z",
    ],
    "relu": [
        "return np.maximum({a}, 0)", "return np.where({a} > 0, {a}, 0.0)", "return {a} * ({a} > 0)",
        "o = {a}.copy()\n    o[o < 0] = 0\n    return o", "return np.clip({a}, 0, None)",
    ],
    "mse": [
        "d = np.asarray({a}) - np.asarray({b})\n    return float(np.mean(d ** 2))",
        "return float(((np.array({a}) - np.array({b})) ** 2).mean())",
        "e = []\n    for p, t in zip(np.ravel({a}), np.ravel({b})):\n        e.append((p - t) ** 2)\n    return sum(e) / len(e)",
        "return np.linalg.norm(np.ravel({a}) - np.ravel({b})) ** 2 / np.size({a})",
        "return float(np.sum(np.square(np.subtract({a}, {b}))) / np.size({a}))",
    ],
    "accuracy": [
        "return float(np.mean(np.argmax({a}, axis=1) == {b}))",
        "c = 0\n    for r, l in zip({a}, {b}):\n        if np.argmax(r) == l:\n            c += 1\n    return c / len({b})",
        "return np.sum({a}.argmax(1) == {b}) / {b}.shape[0]",
        "return np.mean([np.argmax(r) == l for r, l in zip({a}, {b})])",
        "return float(np.count_nonzero(np.argmax({a}, axis=-1) == np.asarray({b}))) / len({b})",
    ],
    "affine": [
        "return {a}.reshape({a}.shape[0], -1) @ {b}",
        "n = {a}.shape[0]\n    flat = np.reshape({a}, (n, -1))\n    return flat.dot({b})",
        "return np.einsum('nd,dm->nm', {a}.reshape(len({a}), -1), {b})",
        "rows = [np.ravel(r) @ {b} for r in {a}]\n    return np.stack(rows)",
        "x2 = {a}.reshape({a}.shape[0], np.prod({a}.shape[1:]))\n    return np.dot(x2, {b})",
    ],
    "dropout": [
        "mask = (np.random.rand(*{a}.shape) < {b}) / {b}\n    return {a} * mask",
        "keep = np.random.binomial(1, {b}, size={a}.shape)\n    return {a} * keep / {b}",
        "m = np.random.uniform(size={a}.shape) < {b}\n    return np.where(m, {a} / {b}, 0)",
        "u = np.random.random({a}.shape)\n    return {a} * (u < {b}).astype({a}.dtype) / {b}",
        "out = {a}.copy()\n    out[np.random.rand(*{a}.shape) >= {b}] = 0\n    return out / {b}",
    ],
    "sgd": [
        "return {a} - {b} * 0.01", "lr = 0.01\n    {a} -= lr * {b}\n    return {a}",
        "step = 0.01 * np.asarray({b})\n    return np.asarray({a}) - step", "return np.subtract({a}, np.multiply(0.01, {b}))",
        "new = {a}.copy()\n    new -= 0.01 * {b}\n    return new",
    ],
    "l2": [
        "return 0.5 * {b} * np.sum({a} ** 2)", "return {b} * float(({a} * {a}).sum()) / 2",
        "return 0.5 * {b} * np.linalg.norm({a}) ** 2", "t = 0.0\n    for v in np.ravel({a}):\n        t += v * v\n    return 0.5 * {b} * t",
        "return {b} / 2 * np.dot(np.ravel({a}), np.ravel({a}))",
    ],
}
WORDS = "alpha beta gamma delta value arr data inp res tmp thing obj vec mat item src dst acc buf cur".split()


def name(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)}{rng.randrange(1000)}"


def student_code(rng: random.Random, choices: dict[str, int], order: list[str]) -> str:
    parts = ["import numpy as np\n"]
    for function in order:
        a, b = name(rng), name(rng)
        body = VARIANTS[function][choices[function]].format(a=a, b=b)
        own = f"    # {rng.choice(WORDS)} {rng.randrange(10**6)}\n    assert np.ndim({a}) >= {rng.randrange(3)}\n"
        parts.append(f"def {function}({a}, {b}=None):\n{own}    {body}\n")
    return "\n\n".join(parts)


def make_class(folder: Path, n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    copies = []
    plans: dict[str, tuple[dict[str, int], list[str]]] = {}
    for index in range(n):
        sid = f"s{index:04d}"
        if index % 100 == 99:  # a copy of an earlier student, disguised
            source = f"s{rng.randrange(index - 1):04d}"
            choices, order = plans[source]
            order = rng.sample(order, len(order))
            copies.append((source, sid))
            # the copier renames every name (random names again) but keeps the source's own lines
            text = student_code(random.Random(int(source[1:])), choices, order)
        else:
            choices = {function: rng.randrange(5) for function in VARIANTS}
            order = list(VARIANTS)
            text = student_code(random.Random(index), choices, order)
        plans[sid] = (choices, order)
        (folder / sid).mkdir(parents=True)
        (folder / sid / "work.py").write_text(text)
    return copies


def synthetic_reports(n: int, copies: list[tuple[str, str]], seed: int = 1) -> list[GradeReport]:
    rng = random.Random(seed)
    answers: dict[str, dict[str, str]] = {}
    for index in range(n):
        sid = f"s{index:04d}"
        answers[sid] = {case: f"cluster{rng.randrange(6)}-{case}" for case in ("rows", "large") if rng.random() < 0.3}
    for number, (a, b) in enumerate(copies):
        answers[a] = answers[b] = {"rows": f"rare{number}", "large": f"rare{number}-large"}
    return [GradeReport(submission=sid, assignment="similarity", problems=(ProblemResult(
                problem="softmax", points=1.0,
                wrong_answers=tuple(sorted((case, value_fingerprint(label)) for case, label in wrong.items()))),))
            for sid, wrong in answers.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--phases", action="store_true", help="then time each phase on its own")
    args = parser.parse_args()
    assignment = load_spec(SPEC)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "class"
        copies = make_class(folder, args.n)
        reports = {report.submission: report for report in synthetic_reports(args.n, copies)}
        start = time.perf_counter()
        report, paths = run.find_similarity(assignment, folder, Path(temporary) / "out",
                                            run.SimilaritySettings(scheduler=args.scheduler, workers=args.workers),
                                            reports=reports)
        whole = time.perf_counter() - start
        cpu = time.process_time()
        pairs = report.pairs
        docs = report.documents
        if args.phases:
            begin = time.perf_counter()
            texts = {sid: doc.text for sid, doc in docs.items()}
            tokens = run.tokenize_all(texts, args.scheduler, args.workers)
            tokenized = time.perf_counter()
            prints = {sid: code.fingerprint(sid, tokens[sid]) for sid in docs if sid != "reference"}
            common = code.common_hashes(prints.values())
            reduced = {sid: p.without(common) for sid, p in prints.items()}
            candidates = code.candidate_pairs(list(reduced.values()))
            indexed = time.perf_counter()
            run.compare_pairs([(reduced, candidates)], args.scheduler)
            compared = time.perf_counter()
            behaviour.compare_behaviour(assignment, reports.values(), common=10)
            print(f"  phases: tokenize {tokenized - begin:.1f} s, hash and index {indexed - tokenized:.1f} s "
                  f"({len(candidates)} candidate pairs of {args.n * (args.n - 1) // 2}), compare {compared - indexed:.1f} s, "
                  f"behaviour {time.perf_counter() - compared:.2f} s")
        planted = {(min(pair), max(pair)) for pair in copies}
        scores = {(p.a, p.b): p.score for p in pairs}
        lowest_copy = min((scores.get(pair, 0.0) for pair in planted), default=1.0)
        highest_other = max((s for pair, s in scores.items() if pair not in planted), default=0.0)
        print(f"class of {args.n} ({len(planted)} planted copy pairs), "
              f"{sum(len(d.text) for d in docs.values()) / len(docs):.0f} characters of code each: "
              f"{whole:.1f} s wall clock ({cpu:.1f} s CPU in this process), {len(pairs)} pairs reported, "
              f"HTML {paths[1].stat().st_size / 1e6:.1f} MB")
        print(f"  lowest planted copy pair {lowest_copy:.2f}, highest other pair {highest_other:.2f}: "
              f"{'every copy ranks above' if lowest_copy > highest_other else 'SOME COPY RANKS BELOW'}")


if __name__ == "__main__":
    main()
