"""The code a similarity run compares: one document per submission, the reference, the boilerplate.

A submission's document is its Python files and its notebooks' code cells, in file-name order, each
under a ``# file: NAME`` line (a comment, so the tokenizer drops it; it is there for the reader of
the report). Notebooks are read as the sandbox reads them (``sandbox.notebook``): code cells only,
``%magic`` and ``!shell`` lines blanked. Files are read as text, never run; a zip is read without
unpacking and links are never followed (``batch.submissions.sources``).

Boilerplate is what students were given and may all hand back: the files of the student kit and of
any ``--boilerplate`` path (``.py``, notebooks' code cells, the fenced Python of Markdown files such
as the handout), and the spec's own handout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.batch.submissions import Submission, sources
from grader.sandbox.notebook import NotebookError, parse_cells, without_magics
from grader.sandbox.preload import MAX_SOURCE_BYTES, MAX_SOURCE_FILES
from grader.spec import Assignment

REFERENCE = "reference"
"""The id under which the instructor's reference is listed among the sources."""
MAX_DOCUMENT_CHARS = 1_000_000
"""Code past this many characters of a submission is not compared (a pasted data file, say)."""

_FENCE = re.compile(r"^```[ \t]*(?:python|py|ipython3?)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Document:
    """The code of one submission (or of the reference), as one text."""

    id: str
    text: str
    notes: tuple[str, ...] = ()
    """What could not be read, for the report (a notebook that is not JSON, say)."""
    files: tuple[tuple[int, str], ...] = ()
    """(offset in ``text`` of its first line of code, name) of each file, in order."""

    def place(self, offset: int) -> tuple[str, int]:
        """The file and line (from 1; a notebook's code cells counted as one text) of ``offset``."""
        start, name = 0, ""
        for file_start, file_name in self.files:
            if file_start > offset:
                break
            start, name = file_start, file_name
        return name, self.text.count("\n", start, offset) + 1


def code_of(name: str, text: str) -> tuple[str, str]:
    """The Python code in a file's text (``.py`` as is, a notebook's code cells, a Markdown file's
    fenced Python), and a note when none could be read ('' when all went well)."""
    if name.endswith(".ipynb"):
        try:
            return "\n\n".join(without_magics(source) for _, source in parse_cells(text, name)), ""
        except NotebookError as error:
            return "", str(error)
    if name.endswith(".md"):
        return "\n\n".join(match.group(1) for match in _FENCE.finditer(text)), ""
    return text, ""


def join_files(document_id: str, files: Iterable[tuple[str, str]]) -> Document:
    """One document of the code of ``files`` ((name, text)), in name order, and what could not be read."""
    text = ""
    notes: list[str] = []
    starts: list[tuple[int, str]] = []
    for name, content in sorted(files):
        code, note = code_of(name, content)
        if note:
            notes.append(note)
        if code.strip():
            text += ("\n" if text else "") + f"# file: {name}\n"
            starts.append((len(text), name))
            text += code.rstrip() + "\n"
    if len(text) > MAX_DOCUMENT_CHARS:
        notes.append(f"only the first {MAX_DOCUMENT_CHARS:,} characters of code were compared")
        text = text[:MAX_DOCUMENT_CHARS]
    return Document(document_id, text, tuple(notes), tuple(starts))


def submission_document(submission: Submission) -> Document:
    """The code of one submission: its ``.py`` files and notebooks (zips read in place)."""
    return join_files(submission.id, sources(submission))


def reference_document(assignment: Assignment) -> Document | None:
    """The instructor's reference, a source a submission may have copied; None when the spec has none."""
    path = assignment.reference_path
    if path is None or not path.is_file():
        return None
    return join_files(REFERENCE, [(path.name, path.read_text(encoding="utf-8", errors="replace"))])


def _files_under(path: Path) -> Iterator[tuple[str, str]]:
    """(name, text) of the code-bearing files at ``path``: a file, or a folder searched recursively."""
    if path.is_file():
        candidates = [path]
    elif path.is_dir():
        candidates = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())[:MAX_SOURCE_FILES]
    else:
        return
    for file in candidates:
        if file.suffix in (".py", ".ipynb", ".md") and file.stat().st_size <= MAX_SOURCE_BYTES:
            yield str(file), file.read_text(encoding="utf-8", errors="replace")


def boilerplate_texts(assignment: Assignment, paths: Iterable[Path]) -> list[str]:
    """The code students were handed: the spec's handout, and each kit or ``--boilerplate`` path."""
    texts = []
    handout = assignment.resolve(assignment.handout) if assignment.handout else None
    for path in [*([handout] if handout else []), *paths]:
        for name, text in _files_under(path):
            code, _ = code_of(name, text)
            if code.strip():
                texts.append(code)
    return texts
