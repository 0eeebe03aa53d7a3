"""Tests of grader.datasets: IDX parsing, checksums, the search order and fetching from mirrors.

Fetching is tested against HTTP servers on 127.0.0.1 only; the internet is never touched.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from grader import datasets
from grader.datasets import KnownFile, fetch_mnist, find_split, load_mnist, read_idx
from grader.errors import DataError

SHIPPED = datasets.packaged_data_dir()
TEST_IMAGES = SHIPPED / "t10k-images-idx3-ubyte.gz"
TEST_LABELS = SHIPPED / "t10k-labels-idx1-ubyte.gz"
CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def gz(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No real cache, no GRADER_DATA_DIR, no proxy, and an empty in-process cache for each test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(datasets.ENV_DATA_DIR, raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    datasets.clear_cache()
    yield
    datasets.clear_cache()


@dataclass
class FakeMnist:
    """Small, valid MNIST-shaped files registered in a patched ``KNOWN_FILES`` table."""

    contents: dict[str, bytes]  # .gz name -> gzip bytes
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def write(
        self, folder: Path, names: tuple[str, ...] = TRAIN_NAMES, plain: bool = False
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            if plain:
                content = gzip.decompress(self.contents[name])
                (folder / name.removesuffix(".gz")).write_bytes(content)
            else:
                (folder / name).write_bytes(self.contents[name])


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMnist:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 12, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    contents = {name: gz(idx_bytes(array)) for name, array in arrays.items()}
    table = {
        name: KnownFile(
            name,
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(gzip.decompress(data)).hexdigest(),
        )
        for name, data in contents.items()
    }
    monkeypatch.setattr(datasets, "KNOWN_FILES", table)
    return FakeMnist(contents, arrays)


# --------------------------------------------------------------------------------------------------
# read_idx


def test_read_idx_on_shipped_files() -> None:
    images = read_idx(TEST_IMAGES)
    labels = read_idx(TEST_LABELS)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == CLASS_COUNTS
    assert images.max() == 255 and images.min() == 0


def test_read_idx_plain_equals_gz(tmp_path: Path) -> None:
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress(TEST_LABELS.read_bytes()))
    assert np.array_equal(read_idx(plain), read_idx(TEST_LABELS))


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_roundtrip(tmp_path: Path, compress: bool) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(array)
    path = tmp_path / "x.idx"
    path.write_bytes(gz(data) if compress else data)
    result = read_idx(path)
    assert result.dtype == np.uint8 and np.array_equal(result, array)


GOOD = idx_bytes(np.zeros((2, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "not an IDX file"),
        (b"\x12\x34" + GOOD[2:], "magic"),
        (GOOD[:2] + b"\x0d" + GOOD[3:], "element type 0x0d"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (GOOD[:6], "truncated IDX header"),
        (GOOD[:-1], "truncated IDX file"),
        (GOOD + b"\x00", "trailing bytes"),
        (gz(GOOD)[:-6], "corrupt gzip"),
    ],
    ids=[
        "short", "bad-magic", "float-type", "no-dims", "short-header", "truncated", "trailing",
        "bad-gz",
    ],
)
def test_read_idx_rejects_corrupt_files(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_shipped_file(tmp_path: Path) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(gzip.decompress(TEST_IMAGES.read_bytes())[:-100])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope.gz")


# --------------------------------------------------------------------------------------------------
# load_mnist: checksums


def test_load_test_split_from_package() -> None:
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == CLASS_COUNTS
    again = load_mnist("test")
    assert again[0] is images and again[1] is labels  # cached in-process
    assert not images.flags.writeable and not labels.flags.writeable


def test_load_accepts_decompressed_and_recompressed_copies(tmp_path: Path) -> None:
    reference = load_mnist("test")
    plain_dir, regz_dir = tmp_path / "plain", tmp_path / "regz"
    plain_dir.mkdir()
    regz_dir.mkdir()
    for source in (TEST_IMAGES, TEST_LABELS):
        content = gzip.decompress(source.read_bytes())
        (plain_dir / source.name.removesuffix(".gz")).write_bytes(content)
        (regz_dir / source.name).write_bytes(gz(content, level=1))  # other sha256, same md5
    for folder in (plain_dir, regz_dir):
        images, labels = load_mnist("test", data_dir=folder)
        assert np.array_equal(images, reference[0]) and np.array_equal(labels, reference[1])


def test_checksum_mismatch_gz(tmp_path: Path) -> None:
    labels = gzip.decompress(TEST_LABELS.read_bytes())
    altered = labels[:-1] + bytes([(labels[-1] + 1) % 10])  # still a valid IDX file
    (tmp_path / TEST_IMAGES.name).write_bytes(TEST_IMAGES.read_bytes())
    (tmp_path / TEST_LABELS.name).write_bytes(gz(altered))
    with pytest.raises(DataError) as info:
        load_mnist("test", data_dir=tmp_path)
    message = str(info.value)
    known = datasets.KNOWN_FILES[TEST_LABELS.name]
    assert "checksum mismatch" in message and TEST_LABELS.name in message
    assert known.sha256 in message and hashlib.sha256(gz(altered)).hexdigest() in message


def test_checksum_mismatch_plain(tmp_path: Path) -> None:
    images = bytearray(gzip.decompress(TEST_IMAGES.read_bytes()))
    images[1000] ^= 0xFF
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(images)
    (tmp_path / TEST_LABELS.name).write_bytes(TEST_LABELS.read_bytes())
    with pytest.raises(DataError) as info:
        load_mnist("test", data_dir=tmp_path)
    message = str(info.value)
    known = datasets.KNOWN_FILES[TEST_IMAGES.name]
    assert "t10k-images-idx3-ubyte" in message
    assert known.md5 in message and hashlib.md5(images).hexdigest() in message


def test_cache_notices_replaced_file(tmp_path: Path, fake: FakeMnist) -> None:
    fake.write(tmp_path)
    load_mnist("train", data_dir=tmp_path)
    (tmp_path / TRAIN_NAMES[1]).write_bytes(gz(b"\x00\x00\x08\x01\x00\x00\x00\x00"))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_mnist("train", data_dir=tmp_path)


def test_unknown_split() -> None:
    with pytest.raises(ValueError, match="unknown MNIST split"):
        load_mnist("validation")


# --------------------------------------------------------------------------------------------------
# load_mnist: search order


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert datasets.default_cache_dir() == tmp_path / "xdg-cache" / "grader" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.default_cache_dir() == tmp_path / "home" / ".cache" / "grader" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert datasets.default_cache_dir() == tmp_path / "home" / ".cache" / "grader" / "mnist"


def test_search_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeMnist) -> None:
    explicit, env, cache = tmp_path / "explicit", tmp_path / "env", datasets.default_cache_dir()
    names = tuple(fake.contents)
    for folder in (explicit, env, cache):
        fake.write(folder, names)
    monkeypatch.setenv(datasets.ENV_DATA_DIR, str(env))

    assert find_split("test", explicit)[0].parent == explicit
    assert find_split("test")[0].parent == env
    monkeypatch.delenv(datasets.ENV_DATA_DIR)
    assert find_split("test")[0].parent == cache
    for name in names:
        (cache / name).unlink()
    assert find_split("test") == (SHIPPED / names[2], SHIPPED / names[3])
    assert datasets.search_dirs("train") == [cache]  # the train split is never shipped


def test_load_train_via_env_var(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeMnist
) -> None:
    fake.write(tmp_path / "env", plain=True)
    monkeypatch.setenv(datasets.ENV_DATA_DIR, str(tmp_path / "env"))
    images, labels = load_mnist("train")
    assert np.array_equal(images, fake.arrays[TRAIN_NAMES[0]])
    assert np.array_equal(labels, fake.arrays[TRAIN_NAMES[1]])


def test_folder_with_one_file_is_skipped(tmp_path: Path, fake: FakeMnist) -> None:
    fake.write(tmp_path / "half", TRAIN_NAMES[:1])
    fake.write(datasets.default_cache_dir())
    images_path, labels_path = find_split("train", tmp_path / "half")
    assert images_path.parent == labels_path.parent == datasets.default_cache_dir()


def test_corrupt_explicit_copy_is_an_error_not_skipped(tmp_path: Path, fake: FakeMnist) -> None:
    fake.write(datasets.default_cache_dir())
    fake.write(tmp_path / "explicit")
    (tmp_path / "explicit" / TRAIN_NAMES[0]).write_bytes(gz(b"garbage"))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_mnist("train", data_dir=tmp_path / "explicit")


def test_missing_train_split_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(datasets.ENV_DATA_DIR, str(tmp_path / "env"))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / TRAIN_NAMES[0]).write_bytes(b"")
    with pytest.raises(DataError) as info:
        load_mnist("train", data_dir=tmp_path / "half")
    message = str(info.value)
    assert "train split not found" in message
    assert "grader data fetch mnist" in message and "--data-dir" in message
    assert datasets.ENV_DATA_DIR in message
    for folder in (tmp_path / "half", tmp_path / "env", datasets.default_cache_dir()):
        assert str(folder) in message
    assert f"has only {TRAIN_NAMES[0]}" in message


# --------------------------------------------------------------------------------------------------
# fetch_mnist against local HTTP servers


class Mirror:
    """An HTTP server on 127.0.0.1 serving ``routes`` (URL path -> body); 404 for anything else."""

    def __init__(self, routes: dict[str, bytes]) -> None:
        self.routes = routes
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                mirror.requests.append(self.path)
                body = mirror.routes.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{prefix}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def mirror(fake: FakeMnist) -> Iterator[Mirror]:
    routes = {f"/good/{name}": data for name, data in fake.contents.items()}
    for name, data in fake.contents.items():
        routes[f"/bad/{name}"] = data[:-1] + bytes([data[-1] ^ 1])  # one bit flipped
    server = Mirror(routes)
    yield server
    server.close()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".part")]


def test_fetch_success_then_skip(tmp_path: Path, fake: FakeMnist, mirror: Mirror) -> None:
    dest = tmp_path / "dest"
    lines: list[str] = []
    paths = fetch_mnist(dest, mirrors=[mirror.url("good")], timeout=5, log=lines.append)
    assert paths == [dest / name for name in fake.contents]
    for name, data in fake.contents.items():
        assert (dest / name).read_bytes() == data
    assert len(mirror.requests) == 4 and len(lines) == 4 and no_leftovers(dest)
    images, labels = load_mnist("train", data_dir=dest)
    assert np.array_equal(images, fake.arrays[TRAIN_NAMES[0]])
    assert np.array_equal(labels, fake.arrays[TRAIN_NAMES[1]])

    # Everything present and valid: nothing is downloaded again.
    assert fetch_mnist(dest, mirrors=[mirror.url("good")], timeout=5) == paths
    assert len(mirror.requests) == 4


def test_fetch_falls_back_after_404(tmp_path: Path, fake: FakeMnist, mirror: Mirror) -> None:
    lines: list[str] = []
    mirrors = [mirror.url("missing"), mirror.url("good")]
    paths = fetch_mnist(tmp_path, mirrors=mirrors, timeout=5, log=lines.append)
    assert [p.read_bytes() for p in paths] == list(fake.contents.values())
    assert mirror.requests.count(f"/missing/{TRAIN_NAMES[0]}") == 1
    assert all("after 1 failed mirror" in line for line in lines)


def test_fetch_rejects_bad_checksum(tmp_path: Path, fake: FakeMnist, mirror: Mirror) -> None:
    paths = fetch_mnist(tmp_path / "a", mirrors=[mirror.url("bad"), mirror.url("good")], timeout=5)
    assert [p.read_bytes() for p in paths] == list(fake.contents.values())

    dest = tmp_path / "b"
    with pytest.raises(DataError) as info:
        fetch_mnist(dest, mirrors=[mirror.url("bad")], timeout=5)
    message = str(info.value)
    assert "checksum mismatch" in message and mirror.url("bad") in message
    assert datasets.KNOWN_FILES[TRAIN_NAMES[0]].sha256 in message
    assert list(dest.iterdir()) == []  # nothing written, no temporary file left


def test_fetch_replaces_invalid_existing_file(
    tmp_path: Path, fake: FakeMnist, mirror: Mirror
) -> None:
    fake.write(tmp_path, tuple(fake.contents))
    (tmp_path / TRAIN_NAMES[1]).write_bytes(b"corrupt")
    fetch_mnist(tmp_path, mirrors=[mirror.url("good")], timeout=5)
    assert mirror.requests == [f"/good/{TRAIN_NAMES[1]}"]
    assert (tmp_path / TRAIN_NAMES[1]).read_bytes() == fake.contents[TRAIN_NAMES[1]]


def test_fetch_without_network(tmp_path: Path, fake: FakeMnist) -> None:
    port = closed_port()
    mirrors = [f"http://127.0.0.1:{port}/one/", f"http://127.0.0.1:{port}/two/"]
    with pytest.raises(DataError) as info:
        fetch_mnist(tmp_path, mirrors=mirrors, timeout=2)
    message = str(info.value)
    assert f"could not download {TRAIN_NAMES[0]} from any mirror" in message
    assert message.count("no network") == 2
    for url in mirrors:
        assert url + TRAIN_NAMES[0] in message
    assert "--data-dir" in message
    assert no_leftovers(tmp_path)
