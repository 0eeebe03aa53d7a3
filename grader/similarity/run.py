"""A class's similarity run: read every submission, compare code and behaviour, write the report.

Behaviour comes from grading: the wrong-answer fingerprints in each submission's results, handed
over by ``grader grade --similarity`` or read from the results.json files of an earlier ``grader
grade`` into the same output folder. Code is read from the submissions folder. Its tokenizing,
the costly part, runs in blocks of ``TOKENIZE_BLOCK`` documents: in spawned processes on this
machine, or as Dask tasks given a scheduler; the hashes are made here, on the client (see
``code``); the pairwise comparison runs here or, given a scheduler, as Dask tasks of ``BLOCK``
pairs each (each task carries only the fingerprints its pairs name).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

from grader.batch.submissions import discover
from grader import __version__
from grader.errors import GraderError, UsageError
from grader.reports.gradescope import from_results_json
from grader.results import GradeReport
from grader.similarity.behaviour import compare_behaviour
from grader.similarity.code import (COMMON, NOISE, CodeMatch, CodePrint, Tokens, boilerplate_hashes,
                                    candidate_pairs, common_hashes, compare_block, fingerprint, tokenize_block)
from grader.similarity.documents import REFERENCE, boilerplate_texts, reference_document, submission_document
from grader.similarity.pairs import rank_pairs
from grader.similarity.report import SimilarityReport, write_report
from grader.spec import Assignment

BLOCK = 2000
"""Pairs compared per Dask task."""
TOKENIZE_BLOCK = 50
"""Documents tokenized per task (a spawned process or a Dask task)."""
SPAWN_FROM = 200
"""Documents from which tokenizing them in spawned processes pays for starting those (a second or
two each: they import numpy, pygments and copydetect's matplotlib)."""
MINIMUM_CODE = 0.05
"""Code shares below this are noise: such a pair's code evidence is reported as none."""
MINIMUM_SCORE = 0.2
"""Pairs scoring below this are left out of the report: between independent solutions of short
functions, shared idioms alone reach 0.1 to 0.4 (the tests' class)."""


@dataclass(frozen=True)
class SimilaritySettings:
    """The options of a similarity run (``grader similarity``, ``grader grade --similarity``)."""

    boilerplate: tuple[Path, ...] = ()
    """Student kit folders and other code handed out: ignored as boilerplate."""
    common: int | None = None
    """A passage or wrong answer found in more than this many submissions is not evidence; None:
    ``default_common`` of the class's size."""
    top: int = 20
    """Pairs shown in detail in similarity.html."""
    scheduler: str | None = None
    """A Dask scheduler to tokenize and compare on (tcp://host:8786); none: on this machine."""
    workers: int = 1
    """Processes tokenizing the code on this machine (without a scheduler)."""


def default_common(submissions: int) -> int:
    """MOSS's 10 for a class of 50 or more; a fifth of a smaller class, at least 3. In a small class
    a passage everyone writes (the starter's skeleton of another year, an idiom) is in fewer than
    10 submissions, and would pass for evidence (measured on eight public CS231n layers.py: pairs
    score 0.5-0.6 with 10, at most 0.3 with 3)."""
    return COMMON if submissions >= 50 else max(3, submissions // 5)


def read_reports(out: Path, ids: Iterable[str], assignment: str) -> dict[str, GradeReport]:
    """The grading results of ``ids`` found in ``out`` (``out/<id>/results.json``) for ``assignment``."""
    found = {}
    for sid in ids:
        try:
            report = from_results_json(json.loads((out / sid / "results.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if report.assignment == assignment:
            found[sid] = report
    return found


def _blocks(prints: dict[str, CodePrint], pairs: Sequence[tuple[str, str]]) -> Iterator[tuple[dict[str, CodePrint], list[tuple[str, str]]]]:
    for start in range(0, len(pairs), BLOCK):
        block = list(pairs[start:start + BLOCK])
        names = {name for pair in block for name in pair}
        yield {name: prints[name] for name in names}, block


MapBlocks = Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]
"""Runs a function on each tuple of arguments (one block of work each), returning the results in order."""


@contextmanager
def block_runner(scheduler: str | None, workers: int, *, blocks: int) -> Iterator[MapBlocks]:
    """Where blocks of work run: Dask tasks on ``scheduler``; else, when there are several blocks,
    ``workers`` spawned processes (a fresh interpreter each: the grader's process may hold torch,
    which forking would copy); else this process."""
    if scheduler is not None:
        from grader.batch.dask import import_distributed

        distributed = import_distributed()
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as error:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        def run_on_dask(function: Callable[..., Any], arguments: list[tuple[Any, ...]]) -> list[Any]:
            try:
                return list(client.gather([client.submit(function, *item, pure=False) for item in arguments]))
            except Exception as error:  # noqa: BLE001 - a worker without this grader, a lost cluster
                raise GraderError(f"the similarity tasks failed on the Dask cluster at {scheduler} "
                                  f"({type(error).__name__}: {error}); every worker needs this grader version "
                                  f"({__version__}) installed") from None

        with client:
            yield run_on_dask
        return
    if workers > 1 and blocks > 1:
        with ProcessPoolExecutor(max_workers=min(workers, blocks), mp_context=get_context("spawn")) as pool:
            yield lambda function, arguments: [future.result() for future in
                                               [pool.submit(function, *item) for item in arguments]]
        return
    yield lambda function, arguments: [function(*item) for item in arguments]


def tokenize_all(codes: dict[str, str], scheduler: str | None, workers: int) -> dict[str, Tokens]:
    """The token text of every document, tokenized in blocks of ``TOKENIZE_BLOCK``."""
    names = list(codes)
    chunks = [names[start:start + TOKENIZE_BLOCK] for start in range(0, len(names), TOKENIZE_BLOCK)]
    with block_runner(scheduler, workers if len(names) >= SPAWN_FROM else 1, blocks=len(chunks)) as run_blocks:
        results = run_blocks(tokenize_block, [([codes[name] for name in chunk],) for chunk in chunks])
    return {name: tokens for chunk, found in zip(chunks, results) for name, tokens in zip(chunk, found)}


def compare_pairs(groups: list[tuple[dict[str, CodePrint], list[tuple[str, str]]]],
                  scheduler: str | None) -> list[CodeMatch]:
    """Compare every group's pairs with that group's prints: here, or as Dask tasks on ``scheduler``
    (on one machine the comparison costs far less than the tokenizing, and shipping prints to
    other processes would cost more than it saves)."""
    blocks = [(prints, pairs, MINIMUM_CODE) for group in groups for prints, pairs in _blocks(*group)]
    with block_runner(scheduler, 1, blocks=len(blocks)) as run_blocks:
        return [match for found in run_blocks(compare_block, blocks) for match in found]


def find_similarity(assignment: Assignment, submissions: Path, out: Path, settings: SimilaritySettings,
                    reports: dict[str, GradeReport] | None = None) -> tuple[SimilarityReport, tuple[Path, Path]]:
    """Compare every submission of ``submissions`` with the others and with the reference; write
    ``out/similarity.json`` and ``out/similarity.html``.

    ``reports`` are the class's grading results (id -> report); none: read from ``out``.
    """
    entries = discover(submissions)
    documents = {entry.id: submission_document(entry) for entry in entries}
    reference = reference_document(assignment)
    if reports is None:
        reports = read_reports(out, documents, assignment.assignment)

    texts = boilerplate_texts(assignment, settings.boilerplate)
    boilerplate = boilerplate_hashes(texts)
    all_documents = {**documents, **({REFERENCE: reference} if reference is not None else {})}
    tokens = tokenize_all({sid: document.text for sid, document in all_documents.items()},
                          settings.scheduler, settings.workers)
    prints = {sid: fingerprint(sid, tokens[sid], boilerplate) for sid in documents}
    limit = settings.common if settings.common is not None else default_common(len(documents))
    common = common_hashes(prints.values(), limit)
    reduced = {sid: print_.without(common) for sid, print_ in prints.items()}
    groups = [(reduced, candidate_pairs(list(reduced.values())))]
    if reference is not None:
        # Against the reference every passage counts, common ones included: a leak copied by many.
        reference_print = fingerprint(REFERENCE, tokens[REFERENCE], boilerplate)
        copied = [(sid, REFERENCE) for sid, print_ in prints.items() if print_.hashes & reference_print.hashes]
        groups.append(({**prints, REFERENCE: reference_print}, copied))
    code = compare_pairs(groups, settings.scheduler)

    behaviour = compare_behaviour(assignment, (reports[sid] for sid in documents if sid in reports),
                                  common=limit)
    notes = [f"{sid}: {note}" for sid, document in documents.items() for note in document.notes]
    missing = [sid for sid in documents if sid not in reports]
    if missing:
        notes.append(f"{len(missing)} submission(s) have no grading results and were compared by code only "
                     f"({', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}): grade them into this "
                     "folder (grader grade ... --out, or grader grade --similarity) to compare their wrong answers")
    if reference is None:
        notes.append("the spec names no reference: submissions were not compared with it")
    settings_json: dict[str, Any] = {
        "noise": NOISE, "common": limit, "boilerplate_files": len(texts),
        "reference": reference is not None, "minimum_score": MINIMUM_SCORE, "minimum_code_share": MINIMUM_CODE,
    }
    report = SimilarityReport(assignment=assignment.assignment, submissions=len(documents),
                              pairs=rank_pairs(code, behaviour, minimum=MINIMUM_SCORE), documents=all_documents,
                              settings=settings_json, notes=tuple(notes),
                              behaviour_compared=sum(1 for sid in documents if sid in reports))
    return report, write_report(report, out, top=settings.top)
