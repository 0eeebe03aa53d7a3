"""The only format in which data crosses between the grader and a worker process.

A message is a length-prefixed JSON header followed by raw ``.npy`` blobs. Values are trees of
arrays, numbers, strings, tuples, lists and dicts; arrays travel as ``.npy`` bytes. Nothing is ever
pickled: the trusted side reads arrays with ``allow_pickle=False``, refuses object and structured
dtypes, and caps sizes before reading data.

This module is imported by the worker before any student code, so it depends on numpy and the
standard library only. The worker encodes what the student's code returned, in the student's own
process: a student can change how their own results are encoded, which is no more than returning
other results. What protects the verdict is the other side: everything is validated on arrival.
"""

from __future__ import annotations

import io
import json
import os
import struct
import threading
from typing import Any

import numpy as np

_HEADER = struct.Struct("<I")
MAX_HEADER_BYTES = 1024 * 1024
"""A message's JSON header: its values' structure and small scalars (arrays travel as blobs)."""
MAX_NPY_HEADER_BYTES = 16 * 1024
"""An .npy header names a dtype and a shape of at most 64 dimensions: a few hundred bytes."""
ALLOWED_KINDS = "biuf"
"""Array dtype kinds accepted from a worker: bool, signed and unsigned int, float."""

# Bound now: student code runs later in the same process and may replace module attributes.
_dumps = json.dumps
_loads = json.loads
_ndarray = np.ndarray
_copy = np.ndarray.copy
_tobytes = np.ndarray.tobytes
_write = os.write
_read = os.read


AST_LOCK = threading.Lock()
"""numpy parses a .npy header with ``ast.literal_eval``; CPython 3.11's AST conversion keeps its
recursion depth per interpreter, not per thread, so two threads reading replies at once can fail
with "AST constructor recursion depth mismatch" and turn a right answer into a malformed reply.
One header at a time (a few microseconds each) rules that out; the grader's other AST work done
while replies may arrive (reading submissions' imports) takes the same lock."""

MAX_DEPTH = 16
MAX_STRING = 10_000
INT64 = (-(2**63), 2**63 - 1)


class WireError(Exception):
    """A message is malformed, too large, or holds a value that may not cross."""


class TensorArg:
    """A torch tensor argument as plain data: its array and whether it tracks gradients.

    The grader describes tensor inputs without importing torch; the side that runs the code under
    test turns them into tensors (``grader.values.live``). Only requests carry them.
    """

    __slots__ = ("array", "requires_grad")

    def __init__(self, array: np.ndarray, requires_grad: bool = False) -> None:
        self.array = array
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor(shape={tuple(self.array.shape)}, dtype={self.array.dtype}{grad})"


class Unread:
    """A scenario read that raised, in place of its value: the part is wrong, and the others are
    still judged (a batchnorm that never stores ``running_mean`` keeps its outputs' credit).

    A worker sends it for a read of the student's objects; only the student can be harmed by one
    they forge, and its message is bounded like every string of a reply.
    """

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unread) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"<not read: {self.message}>"


UNREAD_CHARS = 300
"""Longest message an ``Unread`` keeps."""


# --- encoding (both sides) --------------------------------------------------------------------


def _npy_bytes(array: np.ndarray) -> bytes:
    """Serialise a plain, C-contiguous array as version 1.0 ``.npy`` bytes."""
    if not array.flags.c_contiguous:
        array = _copy(array, order="C")
    descr = array.dtype.str
    header = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (descr, tuple(array.shape))
    # Pad so that the data starts on a 64-byte boundary, as numpy's own writer does.
    total = 10 + len(header) + 1
    header = header + " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + _tobytes(array)


def encode(value: Any, blobs: list[bytes], *, path: str = "", max_bytes: int | None = None) -> Any:
    """Turn a value tree into JSON-able nodes, appending array bytes to ``blobs``.

    Raises:
        WireError: for values that may not cross (objects, ndarray subclasses, complex or object
            arrays), naming where in the tree they are.
    """
    where = f" at {path!r}" if path else ""
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int) and type(value) is int:
        if not INT64[0] <= value <= INT64[1]:
            raise WireError(f"returned an integer too large for int64{where}")
        return {"t": "int", "v": value}
    if isinstance(value, float) and type(value) is float:
        return {"t": "float", "v": value}
    if type(value) is str:
        return {"t": "str", "v": value}
    if isinstance(value, np.generic) and value.dtype.kind in ALLOWED_KINDS:
        return encode(np.asarray(value), blobs, path=path, max_bytes=max_bytes)
    if isinstance(value, _ndarray):
        if type(value) is not _ndarray:
            raise WireError(
                f"returned an ndarray subclass ({type(value).__name__}){where}; return a plain numpy array"
            )
        if value.dtype.kind not in ALLOWED_KINDS:
            raise WireError(f"returned an array of dtype {value.dtype}{where}; only numeric arrays are accepted")
        if max_bytes is not None and sum(map(len, blobs)) + value.nbytes > max_bytes:
            raise WireError(f"returned more than the limit of {max_bytes} bytes of arrays{where}")
        blobs.append(_npy_bytes(value))
        return {"t": "array", "i": len(blobs) - 1}
    if type(value) is Unread:
        return {"t": "unread", "v": value.message[:UNREAD_CHARS]}
    if type(value) is TensorArg:
        return {"t": "tensor", "g": bool(value.requires_grad),
                "a": encode(value.array, blobs, path=path, max_bytes=max_bytes)}
    if type(value) in (tuple, list):
        tag = "tuple" if type(value) is tuple else "list"
        return {"t": tag, "items": [encode(item, blobs, path=f"{path}.{i}".lstrip("."), max_bytes=max_bytes)
                                    for i, item in enumerate(value)]}
    if type(value) is dict:
        items = []
        for key, item in value.items():
            if type(key) is not str:
                raise WireError(f"returned a dict with a non-string key {key!r}{where}")
            items.append([key, encode(item, blobs, path=f"{path}.{key}".lstrip("."), max_bytes=max_bytes)])
        return {"t": "dict", "items": items}
    raise WireError(f"returned a value of type {type(value).__module__}.{type(value).__qualname__}{where}")


def clean_text(text: str) -> str:
    """A string from a worker made safe to print and write: lone surrogates become '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


def clip(text: str, limit: int) -> str:
    """A string from a worker cut to ``limit`` characters (saying how much was cut), made safe."""
    if len(text) > limit:
        text = f"{text[:limit]}... [{len(text) - limit} more characters not kept]"
    return clean_text(text)


def _decode_scalar(tag: str, value: Any) -> Any:
    if tag == "bool" and type(value) is bool:
        return value
    if tag in ("int", "float") and type(value) is int:
        if not INT64[0] <= value <= INT64[1]:
            raise WireError(f"returned a number too large for {'int64' if tag == 'int' else 'float64'}")
        return value if tag == "int" else float(value)
    if tag == "float" and type(value) is float:
        return value
    if tag == "str" and type(value) is str:
        if len(value) > MAX_STRING:
            raise WireError(f"returned a string of {len(value)} characters, more than {MAX_STRING}")
        return clean_text(value)
    raise WireError(f"value node of type {tag} holds {type(value).__name__}")


def decode(node: Any, blobs: list[np.ndarray], *, depth: int = 0, tensors: bool = False) -> Any:
    """Rebuild a value tree from untrusted nodes and already-validated arrays.

    ``tensors``: accept ``TensorArg`` nodes (a worker reading its request); replies may not hold them.

    Raises:
        WireError: for anything malformed: unknown tags, nesting deeper than MAX_DEPTH, integers
            outside int64, strings longer than MAX_STRING.
    """
    if depth > MAX_DEPTH:
        raise WireError(f"the returned value is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(node, dict) or "t" not in node:
        raise WireError(f"malformed value node {str(node)[:80]!r}")
    tag = node["t"]
    if tag == "none":
        return None
    if tag in ("bool", "int", "float", "str"):
        return _decode_scalar(tag, node.get("v"))
    if tag == "array":
        index = node.get("i")
        if type(index) is not int or not 0 <= index < len(blobs):
            raise WireError("array node points to no blob")
        return blobs[index]
    if tag == "unread":
        message = node.get("v")
        if type(message) is not str:
            raise WireError("malformed unread node")
        return Unread(clip(message, UNREAD_CHARS))
    if tag == "tensor" and tensors:
        array = decode(node.get("a"), blobs, depth=depth + 1)
        if not isinstance(array, np.ndarray):
            raise WireError("tensor node holds no array")
        return TensorArg(array, bool(node.get("g")))
    if tag in ("tuple", "list"):
        items = [decode(item, blobs, depth=depth + 1, tensors=tensors) for item in node.get("items", [])]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict":
        result: dict[str, Any] = {}
        for pair in node.get("items", []):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise WireError("malformed dict node")
            result[pair[0]] = decode(pair[1], blobs, depth=depth + 1, tensors=tensors)
        return result
    raise WireError(f"unknown value node type {tag!r}")


def load_array(data: bytes, *, max_bytes: int) -> np.ndarray:
    """Read one ``.npy`` blob from an untrusted source, refusing pickles and odd dtypes."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise WireError(f"unsupported .npy version {version}")
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        with AST_LOCK:
            shape, fortran, dtype = read_header(stream, max_header_size=MAX_NPY_HEADER_BYTES)
    except WireError:
        raise
    except Exception as error:  # numpy raises ValueError or others for garbage headers
        # numpy's message quotes the header, which the sender wrote: cut short, never a report's bulk.
        raise WireError(f"not a valid .npy array: {clip(str(error), 200)}") from None
    if dtype.hasobject or dtype.kind not in ALLOWED_KINDS or dtype.fields is not None:
        raise WireError(f"array of dtype {dtype} refused; only numeric arrays are accepted")
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size > max_bytes:
        raise WireError(f"array of {size} bytes exceeds the limit of {max_bytes} bytes")
    body = data[stream.tell():]
    if len(body) != size:
        raise WireError(f"array data is {len(body)} bytes, its header says {size}")
    array = np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return np.array(array)  # a private, writable, C-ordered copy


# --- framing ----------------------------------------------------------------------------------


def pack(header: dict[str, Any], blobs: list[bytes]) -> bytes:
    """Frame a message: header length, header JSON (with blob sizes), then the blobs."""
    header = dict(header, blob_sizes=[len(blob) for blob in blobs])
    raw = _dumps(header, allow_nan=True).encode("utf-8")
    return _HEADER.pack(len(raw)) + raw + b"".join(blobs)


def send(fd: int, header: dict[str, Any], blobs: list[bytes] = []) -> None:  # noqa: B006 - never mutated
    """Write one whole message to a file descriptor (blocking)."""
    send_packed(fd, pack(header, blobs))


def send_packed(fd: int, message: bytes) -> None:
    """Write an already framed message (see ``pack``) to a file descriptor (blocking)."""
    view = memoryview(message)
    while view:
        written = _write(fd, view)
        view = view[written:]


def _read_exact(fd: int, count: int) -> bytes:
    chunks = []
    while count:
        chunk = _read(fd, min(count, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> tuple[dict[str, Any], list[bytes]]:
    """Read one whole message (blocking); used by the worker for its requests."""
    (length,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    header = _loads(_read_exact(fd, length))
    blobs = [_read_exact(fd, size) for size in header.get("blob_sizes", [])]
    return header, blobs


class FrameReader:
    """Incrementally parse messages from untrusted bytes, enforcing size caps.

    The trusted side feeds whatever ``os.read`` returned; ``next_message`` yields a complete
    message once all of its bytes have arrived.
    """

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._pending: tuple[dict[str, Any], int] | None = None
        """The current message's header and total length, once its header has arrived: parsed
        once, however slowly the blobs that follow arrive."""

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self.max_bytes + MAX_HEADER_BYTES:
            raise WireError(f"the worker sent more than {self.max_bytes} bytes in one message")

    def next_message(self) -> tuple[dict[str, Any], list[bytes]] | None:
        buffer = self._buffer
        if self._pending is None:
            self._pending = self._read_header()
            if self._pending is None:
                return None
        header, end = self._pending
        if len(buffer) < end:
            return None
        blobs, offset = [], _HEADER.size + _HEADER.unpack_from(buffer)[0]
        for size in header["blob_sizes"]:
            blobs.append(bytes(buffer[offset:offset + size]))
            offset += size
        del buffer[:end]
        self._pending = None
        return header, blobs

    def _read_header(self) -> tuple[dict[str, Any], int] | None:
        """The next message's header and total length, once the header is all there."""
        buffer = self._buffer
        if len(buffer) < _HEADER.size:
            return None
        (length,) = _HEADER.unpack_from(buffer)
        if length > MAX_HEADER_BYTES:
            raise WireError(f"message header of {length} bytes is larger than {MAX_HEADER_BYTES}")
        if len(buffer) < _HEADER.size + length:
            return None
        try:
            header = json.loads(bytes(buffer[_HEADER.size:_HEADER.size + length]))
        except (ValueError, RecursionError) as error:
            raise WireError(f"message header is not JSON: {clip(str(error), 200)}") from None
        sizes = header.get("blob_sizes", []) if isinstance(header, dict) else None
        if not isinstance(sizes, list) or not all(type(size) is int and size >= 0 for size in sizes):
            raise WireError("message header has no valid blob sizes")
        if sum(sizes) > self.max_bytes:
            raise WireError(f"message of {sum(sizes)} bytes exceeds the limit of {self.max_bytes} bytes")
        header["blob_sizes"] = sizes
        return header, _HEADER.size + length + sum(sizes)
