"""A class's submissions: found in a folder, unpacked from zips, and hashed for the cache.

A submission is a subfolder or a .zip of the submissions folder, named by its id. Its results are
cached under a content hash of the submission, the spec, the reference and the grader's own files
(``grader_digest``, which a Dask worker also compares with the client's).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import __version__
from grader.errors import UsageError
from grader.sandbox.preload import MAX_SOURCE_BYTES, MAX_SOURCE_FILES, SOURCE_SUFFIXES, folder_sources
from grader.spec import Assignment

MAX_ZIP_BYTES = 64 * 1024 * 1024
MAX_ZIP_FILES = 500
MAX_LINK_BYTES = 4096


@dataclass(frozen=True)
class Submission:
    """One student's work: a folder, or a .zip to unpack."""

    id: str
    path: Path

    @property
    def is_zip(self) -> bool:
        return self.path.suffix.lower() == ".zip"


def discover(folder: Path) -> list[Submission]:
    """Every subfolder and .zip of ``folder``, sorted by id (the folder or file name)."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of submissions")
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir() or (entry.is_file() and entry.suffix.lower() == ".zip"):
            sid = entry.stem if entry.is_file() else entry.name
            if sid in found:
                raise UsageError(f"two submissions are called {sid!r} ({found[sid].path.name} and {entry.name})")
            found[sid] = Submission(sid, entry)
    return list(found.values())


@contextmanager
def unpacked(submission: Submission) -> Iterator[Path]:
    """The submission as a folder; a zip is unpacked safely (no paths outside, bounded size)."""
    if not submission.is_zip:
        yield submission.path
        return
    target = Path(tempfile.mkdtemp(prefix="grader-zip-"))
    try:
        try:
            with zipfile.ZipFile(submission.path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()][:MAX_ZIP_FILES]
                total = 0
                for member in members:
                    name = Path(member.filename)
                    if name.is_absolute() or ".." in name.parts or member.file_size > MAX_ZIP_BYTES:
                        continue
                    total += member.file_size
                    if total > MAX_ZIP_BYTES:
                        break
                    destination = target / name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    if _is_link(member):
                        # Kept a link (never followed), so that the worker refuses it by name.
                        with archive.open(member) as source:
                            link = source.read(MAX_LINK_BYTES).decode("utf-8", "replace").replace("\0", "")
                        os.symlink(link or "?", destination)
                        continue
                    with archive.open(member) as source, destination.open("wb") as sink:
                        shutil.copyfileobj(source, sink, MAX_ZIP_BYTES)
        except zipfile.BadZipFile:
            pass  # graded as an empty submission: every module is reported missing
        entries = [entry for entry in target.iterdir() if not entry.name.startswith((".", "__MACOSX"))]
        # A zip of a folder holds the files one level down.
        yield entries[0] if len(entries) == 1 and entries[0].is_dir() else target
    finally:
        shutil.rmtree(target, ignore_errors=True)


def sources(submission: Submission) -> Iterator[tuple[str, str]]:
    """(relative name, text) of the submission's Python files and notebooks, read without unpacking
    a zip and without following links; for deciding what the sandbox preloads, never for running."""
    if not submission.is_zip:
        yield from folder_sources(submission.path)
        return
    try:
        with zipfile.ZipFile(submission.path) as archive:
            for member in archive.infolist()[:MAX_SOURCE_FILES]:
                if (member.filename.endswith(SOURCE_SUFFIXES) and not _is_link(member)
                        and member.file_size <= MAX_SOURCE_BYTES):
                    with archive.open(member) as source:
                        yield member.filename, source.read(MAX_SOURCE_BYTES).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
        return  # an unreadable zip is graded as an empty submission


def _is_link(member: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(member.external_attr >> 16)


def _hash_tree(digest: Any, path: Path) -> None:
    if path.is_file():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return
    for file in sorted(p for p in path.rglob("*") if "__pycache__" not in p.parts):
        if file.is_symlink():  # its name and target, never what it points to
            digest.update(str(file.relative_to(path)).encode() + b"\0->" + os.readlink(file).encode() + b"\0")
        elif file.is_file():
            digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes() + b"\0")


@functools.cache
def grader_digest() -> str:
    """Content hash of the installed grader package: its version, code, templates and data."""
    digest = hashlib.sha256(f"grader {__version__}\0".encode())
    _hash_tree(digest, Path(__file__).resolve().parents[1])
    return digest.hexdigest()


def assignment_hash(assignment: Assignment, extra: str = "") -> str:
    """What every result of a run depends on besides the submission: the grader and every file of
    the instructor's (spec, reference, mistakes, helpers and checks modules)."""
    digest = hashlib.sha256(f"{grader_digest()}\0{extra}\0".encode())
    for path in assignment.instructor_files():
        _hash_tree(digest, path)
    return digest.hexdigest()


def submission_hash(submission: Submission, base: str) -> str:
    digest = hashlib.sha256(base.encode())
    _hash_tree(digest, submission.path)
    return digest.hexdigest()
