"""MNIST data for the grader: IDX parsing, checksummed loading and downloading.

The grader ships the 10,000-image MNIST *test* split inside the package (``grader/data/mnist``, see
the README there); the 60,000-image *train* split is too large to ship and is fetched on demand with
``grader data fetch mnist`` (:func:`fetch_mnist`) into ``~/.cache/grader/mnist``.

* :func:`read_idx` parses one IDX file (gzip-compressed or plain) into a ``uint8`` array, checking
  the header against the payload. It checks no checksum.
* :func:`load_mnist` finds a split (see its docstring for the search order), verifies every file
  against :data:`KNOWN_FILES` and returns ``(images, labels)``. Decoded arrays are cached
  in-process, so grading many submissions reads and hashes each file once; the arrays are read-only
  for that reason (copy them before modifying).
* :func:`perturb` adds the faint noise, drawn from a secret of the grader's, with which evaluation
  images are sent to a student's model, so that the public test set cannot be looked up by hash.
* :func:`fetch_mnist` downloads the four files from a list of mirrors, verifying sha256, with
  atomic writes.

Every failure is a :class:`grader.errors.DataError` whose message names the file and says what to
do.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import socket
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.errors import DataError

__all__ = [
    "DEFAULT_MIRRORS",
    "ENV_DATA_DIR",
    "KNOWN_FILES",
    "SPLITS",
    "KnownFile",
    "clear_cache",
    "default_cache_dir",
    "fetch_mnist",
    "find_split",
    "load_mnist",
    "packaged_data_dir",
    "perturb",
    "read_idx",
    "search_dirs",
    "verify_file",
]

GZIP_MAGIC = b"\x1f\x8b"
"""First two bytes of every gzip stream; how :func:`read_idx` tells compressed files apart."""

IDX_UBYTE = 0x08
"""IDX element-type code of unsigned bytes, the only type MNIST uses."""

ENV_DATA_DIR = "GRADER_DATA_DIR"
"""Environment variable naming a folder searched for data files (after an explicit ``data_dir``)."""

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
"""Base URLs tried in order by :func:`fetch_mnist`; each serves the four ``*.gz`` files."""

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
"""A response larger than this is not MNIST (the largest file is about 9.5 MiB) and is abandoned."""

_CHUNK = 1 << 16


@dataclass(frozen=True)
class KnownFile:
    """One data file and its checksums.

    ``name`` is the gzip file name as published (``train-images-idx3-ubyte.gz``); ``sha256`` hashes
    that compressed file and ``md5`` its decompressed content, so a copy stored either way can be
    verified.
    """

    name: str
    sha256: str
    md5: str

    @property
    def plain_name(self) -> str:
        """File name of the decompressed copy (``name`` without ``.gz``)."""
        return self.name.removesuffix(".gz")


KNOWN_FILES: Mapping[str, KnownFile] = {
    known.name: known
    for known in (
        KnownFile(
            "train-images-idx3-ubyte.gz",
            sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        KnownFile(
            "train-labels-idx1-ubyte.gz",
            sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            md5="d53e105ee54ea40749a09fcbcd1e9432",
        ),
        KnownFile(
            "t10k-images-idx3-ubyte.gz",
            sha256="167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
            md5="2646ac647ad5339dbf082846283269ea",
        ),
        KnownFile(
            "t10k-labels-idx1-ubyte.gz",
            sha256="fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
            md5="27ae3e4e09519cfbb04c329615203637",
        ),
    )
}
"""Every file the grader knows, keyed by its published ``.gz`` name."""

SPLITS: Mapping[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
"""Split name -> (images file, labels file), names as in :data:`KNOWN_FILES`."""

_SHIPPED_SPLITS = frozenset({"test"})
_FETCH_HINT = (
    "Download it with `grader data fetch mnist` (saved to {cache}), or point the grader at a "
    "folder holding {files} with `--data-dir DIR` or the {env} environment variable."
)


# --------------------------------------------------------------------------------------------------
# IDX parsing


def _decompress(raw: bytes, source: str) -> bytes:
    """Return ``raw`` gunzipped if it starts with the gzip magic, else unchanged."""
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: corrupt gzip data ({exc or type(exc).__name__})") from exc


def _decode_idx(data: bytes, source: str) -> np.ndarray:
    """Parse decompressed IDX bytes; ``source`` names the file in error messages."""
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file (only {len(data)} bytes, the header needs 4)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{source}: not an IDX file (magic starts with {data[:2].hex()}, expected 0000)"
        )
    type_code, ndim = data[2], data[3]
    if type_code != IDX_UBYTE:
        raise DataError(
            f"{source}: unsupported IDX element type 0x{type_code:02x} "
            f"(only unsigned bytes, 0x{IDX_UBYTE:02x}, are supported)"
        )
    if ndim == 0:
        raise DataError(f"{source}: IDX header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"{source}: truncated IDX header ({ndim} dimensions need {header_size} bytes, "
            f"the file has {len(data)})"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    count = 1
    for d in dims:
        count *= d
    expected = header_size + count
    shape_text = " x ".join(map(str, dims))
    if len(data) < expected:
        raise DataError(
            f"{source}: truncated IDX file (header says {shape_text} = {count} bytes of data, "
            f"found {len(data) - header_size})"
        )
    if len(data) > expected:
        raise DataError(
            f"{source}: {len(data) - expected} unexpected trailing bytes after the "
            f"{shape_text} IDX data"
        )
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=header_size).reshape(dims)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file, gzip-compressed or plain (told apart by the gzip magic ``1f8b``).

    The header (magic ``00 00 08 ndim``, then ``ndim`` big-endian ``uint32`` sizes) is validated
    against the payload size: a truncated file, trailing bytes, a bad magic or an element type other
    than unsigned byte raise :class:`DataError`. Returns a read-only ``uint8`` array of the declared
    shape. No checksum is checked here; :func:`load_mnist` does that.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return _decode_idx(_decompress(raw, str(path)), str(path))


# --------------------------------------------------------------------------------------------------
# Checksums


def _known_for(path: Path) -> KnownFile:
    name = path.name
    for known in KNOWN_FILES.values():
        if name in (known.name, known.plain_name):
            return known
    raise DataError(f"{path}: not a known data file (known: {', '.join(sorted(KNOWN_FILES))})")


def _check_bytes(raw: bytes, path: Path, known: KnownFile) -> bytes:
    """Verify ``raw`` (the file's bytes) against ``known``; return the decompressed content.

    A gzip file is accepted when its sha256 matches, or, failing that, when its decompressed md5
    does (a copy recompressed with other settings holds the same data). A plain file must match md5.
    """
    if raw.startswith(GZIP_MAGIC):
        sha256 = hashlib.sha256(raw).hexdigest()
        try:
            content = _decompress(raw, str(path))
        except DataError as exc:
            raise DataError(
                f"{path}: checksum mismatch for {known.name}: sha256 expected {known.sha256}, "
                f"got {sha256} ({exc})"
            ) from exc
        if sha256 == known.sha256:
            return content
        md5 = hashlib.md5(content).hexdigest()
        if md5 == known.md5:
            return content
        raise DataError(
            f"{path}: checksum mismatch for {known.name}: sha256 expected {known.sha256}, "
            f"got {sha256} (decompressed md5 expected {known.md5}, got {md5}). "
            "Delete the file and fetch it again (`grader data fetch mnist`)."
        )
    md5 = hashlib.md5(raw).hexdigest()
    if md5 != known.md5:
        raise DataError(
            f"{path}: checksum mismatch for {known.plain_name} (decompressed): md5 expected "
            f"{known.md5}, got {md5}. "
            "Delete the file and fetch it again (`grader data fetch mnist`)."
        )
    return raw


def verify_file(path: Path) -> bytes:
    """The decompressed content of ``path`` (gzip or plain); :class:`DataError` unless it
    matches :data:`KNOWN_FILES`."""
    path = Path(path)
    known = _known_for(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return _check_bytes(raw, path, known)


@functools.lru_cache(maxsize=16)
def _load_verified(resolved: str, mtime_ns: int, size: int) -> np.ndarray:
    """Verify and decode one file. Keyed on the file's resolved path, mtime and size, so a file
    replaced on disk is read again."""
    return _decode_idx(verify_file(Path(resolved)), resolved)


def _load_file(path: Path) -> np.ndarray:
    resolved = path.resolve()
    try:
        stat = resolved.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return _load_verified(str(resolved), stat.st_mtime_ns, stat.st_size)


def clear_cache() -> None:
    """Forget every decoded array (for tests, or after replacing files in place)."""
    _load_verified.cache_clear()


# --------------------------------------------------------------------------------------------------
# Locating files


def default_cache_dir() -> Path:
    """Where :func:`fetch_mnist` saves files: ``$XDG_CACHE_HOME/grader/mnist`` when that variable
    holds an absolute path, else ``~/.cache/grader/mnist``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "grader" / "mnist"


def packaged_data_dir() -> Path:
    """The folder of MNIST files shipped inside the package (test split only)."""
    return Path(__file__).resolve().parent / "data" / "mnist"


def search_dirs(split: str, data_dir: Path | None = None) -> list[Path]:
    """The folders :func:`load_mnist` searches for ``split``, in order (see there)."""
    _check_split(split)
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    env = os.environ.get(ENV_DATA_DIR, "")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(default_cache_dir())
    if split in _SHIPPED_SPLITS:
        dirs.append(packaged_data_dir())
    return dirs


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r} (expected one of {', '.join(SPLITS)})")


def _file_in(folder: Path, known: KnownFile) -> Path | None:
    """The copy of ``known`` in ``folder``: the ``.gz`` one if present, else the plain one."""
    for name in (known.name, known.plain_name):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def find_split(split: str, data_dir: Path | None = None) -> tuple[Path, Path]:
    """Return the (images, labels) files of ``split`` from the first folder holding both.

    Both files always come from the same folder; a folder holding only one of them is skipped.
    Raises :class:`DataError` listing the folders searched when none has the split.
    """
    dirs = search_dirs(split, data_dir)
    knowns = [KNOWN_FILES[name] for name in SPLITS[split]]
    notes: list[str] = []
    for folder in dirs:
        found = [_file_in(folder, known) for known in knowns]
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
        present = [known.name for known, hit in zip(knowns, found) if hit is not None]
        notes.append(f"{folder} (has only {present[0]})" if present else str(folder))
    files = " and ".join(SPLITS[split])
    message = f"MNIST {split} split not found; looked in: {'; '.join(notes)}."
    if split in _SHIPPED_SPLITS:
        message += (
            f" The copy shipped in {packaged_data_dir()} is missing: reinstall the grader, or "
            f"pass `--data-dir DIR` / set {ENV_DATA_DIR} to a folder holding {files}."
        )
    else:
        hint = _FETCH_HINT.format(cache=default_cache_dir(), files=files, env=ENV_DATA_DIR)
        message += " " + hint
    raise DataError(message)


def load_mnist(split: str, data_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST ``split`` (``"test"`` or ``"train"``) as ``(images, labels)``.

    ``images`` is ``uint8`` of shape ``(N, 28, 28)``, ``labels`` ``uint8`` of shape ``(N,)`` with
    values 0-9; both are read-only and shared between calls (copy them before modifying).

    Folders are searched in this order, and the first one holding both files of the split is used
    (each file gzip-compressed or plain):

    1. ``data_dir``, when given;
    2. the folder named by the ``GRADER_DATA_DIR`` environment variable, when set;
    3. the download cache, :func:`default_cache_dir` (``~/.cache/grader/mnist``);
    4. for the test split only, the copy shipped in the package (:func:`packaged_data_dir`).

    Every file is verified against :data:`KNOWN_FILES`; a mismatch raises :class:`DataError` naming
    the file and both hashes. Decoded arrays are cached in-process per file.
    """
    images_path, labels_path = find_split(split, data_dir)
    images = _load_file(images_path)
    labels = _load_file(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: expected images of shape (N, 28, 28), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected labels of shape (N,), got {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    if labels.size and int(labels.max()) > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} out of range 0-9")
    return images, labels


# --------------------------------------------------------------------------------------------------
# Downloading


def _download(url: str, target: Path, known: KnownFile, timeout: float) -> str | None:
    """Download ``url`` to ``target`` atomically if its sha256 matches ``known``.

    Returns ``None`` on success, else the reason of the failure (the target is left untouched).
    """
    request = urllib.request.Request(url, headers={"User-Agent": "grader-mnist-fetch/1"})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{known.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    return f"response larger than {MAX_DOWNLOAD_BYTES} bytes, not an MNIST file"
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha256 = digest.hexdigest()
        if sha256 != known.sha256:
            return f"checksum mismatch (sha256 expected {known.sha256}, got {sha256}, {size} bytes)"
        os.replace(tmp, target)
        return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return f"timed out after {timeout:g} s"
        detail = getattr(reason, "strerror", None) or str(reason)
        return f"no network or host unreachable ({detail})"
    except (TimeoutError, socket.timeout):
        return f"timed out after {timeout:g} s"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        tmp.unlink(missing_ok=True)


def _valid_copy(folder: Path, known: KnownFile) -> Path | None:
    """An existing copy of ``known`` in ``folder`` that passes its checksum, if any."""
    for name in (known.name, known.plain_name):
        candidate = folder / name
        if candidate.is_file():
            try:
                verify_file(candidate)
            except DataError:
                continue
            return candidate
    return None


def fetch_mnist(
    dest: Path | None = None,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    timeout: float = 30,
    *,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Download the MNIST files of :data:`KNOWN_FILES` into ``dest`` and return their paths.

    ``dest`` defaults to :func:`default_cache_dir`, where :func:`load_mnist` looks. A file already
    present and valid (gzip or plain) is kept. Otherwise each mirror is tried in order
    (``mirror + file name``): the response is written to a temporary file beside the target,
    its sha256 checked, and only then renamed into place, so an interrupted or corrupt download
    never leaves a bad file. A mirror failing (HTTP error, no network, timeout, wrong checksum) is
    skipped with its reason recorded; when no mirror delivers a file, :class:`DataError` lists each
    mirror's failure. ``log`` receives one line per file.
    """
    folder = Path(dest).expanduser() if dest is not None else default_cache_dir()
    if not mirrors:
        raise DataError("cannot fetch MNIST: no mirror given")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {folder} ({exc.strerror or exc})") from exc
    paths: list[Path] = []
    for known in KNOWN_FILES.values():
        existing = _valid_copy(folder, known)
        if existing is not None:
            if log:
                log(f"{known.name}: already present and valid ({existing})")
            paths.append(existing)
            continue
        target = folder / known.name
        failures: list[str] = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + known.name
            try:
                reason = _download(url, target, known, timeout)
            except OSError as exc:  # e.g. the temporary file cannot be created
                raise DataError(f"cannot write into {folder} ({exc.strerror or exc})") from exc
            except ValueError as exc:  # malformed URL
                reason = f"invalid URL ({exc})"
            if reason is None:
                break
            failures.append(f"  {url}: {reason}")
        else:
            raise DataError(
                f"could not download {known.name} from any mirror:\n"
                + "\n".join(failures)
                + f"\nCopy the file by hand into {folder}, or pass `--data-dir DIR` to a folder "
                "holding it."
            )
        if log:
            via = f" (after {len(failures)} failed mirror(s))" if failures else ""
            log(f"{known.name}: downloaded from {url}{via}")
        paths.append(target)
    return paths


PERTURB_LEVEL = 3
"""The largest change :func:`perturb` makes to a pixel, out of 255: invisible to a model (about 1%
of the intensity range), but every image's bytes change, so none matches a stored copy exactly."""


def perturb(images: np.ndarray, secret: int) -> np.ndarray:
    """``images`` (uint8) with every pixel moved by an integer drawn uniformly from
    [-PERTURB_LEVEL, PERTURB_LEVEL] by a generator seeded with ``secret``, clipped to [0, 255].

    The secret is the grader's (drawn per run in the trusted process, see
    ``grader.grading.checks.accuracy``): a student who has the public images cannot know which bytes
    their model will see. It stops a model that looks images up exactly (by a hash of their bytes);
    a model that matches them approximately (a nearest neighbour over the stored test set) is not
    stopped: instructor-held images (``--data-dir``) are the answer to that.
    """
    rng = np.random.default_rng(secret)
    noise = rng.integers(-PERTURB_LEVEL, PERTURB_LEVEL + 1, size=images.shape, dtype=np.int16)
    return np.clip(images.astype(np.int16) + noise, 0, 255).astype(np.uint8)
