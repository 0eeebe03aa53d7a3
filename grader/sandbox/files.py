"""A submission's files, read without ever following a link, and written into a worker's folder.

Both kinds of worker start from a copy: the fork server's child reads the submission before it
isolates itself (``isolation.enter``), the portable sandbox copies it into a fresh temporary folder
(``portable``), so that what the student's code writes never touches the submission itself.
Standard library only, and nothing POSIX-specific: it runs on Windows too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_SUBMISSION_FILES = 500
MAX_SUBMISSION_BYTES = 64 * 1024 * 1024
"""A submission larger than this is read only in part; the rest is not visible to the worker."""


def read_submission(folder: Path) -> dict[str, bytes]:
    """The submission's regular files, relative path -> bytes; links are never followed."""
    files: dict[str, bytes] = {}
    total = 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(names):
            path = Path(root) / name
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            if len(files) >= MAX_SUBMISSION_FILES or total + info.st_size > MAX_SUBMISSION_BYTES:
                return files
            files[str(path.relative_to(folder))] = path.read_bytes()
            total += info.st_size
    return files


def submission_links(folder: Path) -> tuple[str, ...]:
    """Relative paths of the symbolic links in a submission: refused, never followed."""
    links = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        links += [str((Path(root) / name).relative_to(folder)) for name in sorted(names + dirs)
                  if (Path(root) / name).is_symlink()]
        if len(links) >= MAX_SUBMISSION_FILES:
            break
    return tuple(links[:MAX_SUBMISSION_FILES])


def write_submission(files: dict[str, bytes], workdir: Path) -> None:
    """Write files read by ``read_submission`` under ``workdir`` (created)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for relative, data in files.items():
        target = workdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
