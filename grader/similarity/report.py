"""The similarity report: ``similarity.json`` (every ranked pair) and ``similarity.html`` (the top ones).

The HTML shows, for each of the top pairs, the two submissions' code side by side with the matched
regions marked, and the rare wrong answers they share. Student code is hostile text: the template
is autoescaped and nothing is marked safe; the matched regions are passed as plain (text, marked)
segments, never as HTML built here.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from grader import __version__
from grader.similarity.documents import Document
from grader.similarity.pairs import NOTICE, Pair, pair_json

ENVIRONMENT = Environment(
    loader=PackageLoader("grader.similarity", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TABLE_ROWS = 200
"""Pairs listed in the HTML table (the JSON has them all)."""


@dataclass(frozen=True)
class SimilarityReport:
    """What a run found, ready to write."""

    assignment: str
    submissions: int
    pairs: list[Pair]
    documents: dict[str, Document]
    settings: dict[str, Any]
    notes: tuple[str, ...] = ()
    behaviour_compared: int = 0
    """Submissions whose grading results were there to compare their wrong answers."""


def to_json(report: SimilarityReport) -> dict[str, Any]:
    return {
        "notice": NOTICE,
        "assignment": report.assignment,
        "grader": __version__,
        "submissions": report.submissions,
        "behaviour_compared": report.behaviour_compared,
        "settings": report.settings,
        "notes": list(report.notes),
        "pairs": [pair_json(pair, report.documents) for pair in report.pairs],
    }


def segments(text: str, regions: tuple[tuple[int, int], ...]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, matched) segments by ``regions`` (merged where they overlap)."""
    found: list[tuple[str, bool]] = []
    position = 0
    for start, end in sorted(regions):
        start, end = max(start, position), min(end, len(text))
        if end <= start:
            continue
        if start > position:
            found.append((text[position:start], False))
        found.append((text[start:end], True))
        position = end
    if position < len(text):
        found.append((text[position:], False))
    return found


def _detail(rank: int, pair: Pair, documents: dict[str, Document]) -> dict[str, Any]:
    record = pair_json(pair, documents)
    sides = []
    code = record["code"] or {}
    for side, name, regions in (("a", pair.a, pair.code.regions_a if pair.code else ()),
                                ("b", pair.b, pair.code.regions_b if pair.code else ())):
        document = documents.get(name)
        sides.append({"name": name, "share": f"{100 * code.get(f'share_{side}', 0.0):.0f}%",
                      "lines": code.get(f"regions_{side}", []),
                      "segments": segments(document.text, regions) if document else [("(no code)", False)]})
    return {"rank": rank, "record": record, "sides": sides}


def render_html(report: SimilarityReport, top: int) -> str:
    shown = report.pairs[:TABLE_ROWS]
    return ENVIRONMENT.get_template("similarity.html.j2").render(
        notice=NOTICE,
        assignment=report.assignment,
        submissions=report.submissions,
        behaviour_compared=report.behaviour_compared,
        settings=report.settings,
        notes=report.notes,
        version=__version__,
        rows=[{"rank": rank, **pair_json(pair, {})} for rank, pair in enumerate(shown, start=1)],
        total=len(report.pairs),
        details=[_detail(rank, pair, report.documents) for rank, pair in enumerate(report.pairs[:top], start=1)],
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def write_report(report: SimilarityReport, out: Path, *, top: int) -> tuple[Path, Path]:
    """Write ``out/similarity.json`` and ``out/similarity.html``; return their paths."""
    json_path, html_path = out / "similarity.json", out / "similarity.html"
    _write(json_path, json.dumps(to_json(report), indent=1) + "\n")
    _write(html_path, render_html(report, top))
    return json_path, html_path
