"""The worker boundary: plain data round-trips; pickles, objects, subclasses and oversize refused."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from grader import wire


def roundtrip(value: object, max_bytes: int = 1 << 20) -> object:
    blobs: list[bytes] = []
    node = wire.encode(value, blobs)
    reader = wire.FrameReader(max_bytes=max_bytes)
    reader.feed(wire.pack({"value": node}, blobs))
    message = reader.next_message()
    assert message is not None
    header, raw = message
    return wire.decode(header["value"], [wire.load_array(blob, max_bytes=max_bytes) for blob in raw])


@pytest.mark.parametrize(
    "array",
    [np.arange(6.0).reshape(2, 3), np.array(2.5), np.zeros((0, 3), np.int32), np.array([True, False]),
     np.asfortranarray(np.ones((3, 2))), np.arange(10)[::3], np.ones(3, np.float32)],
)
def test_arrays_roundtrip_exactly(array: np.ndarray) -> None:
    back = roundtrip(array)
    assert isinstance(back, np.ndarray) and back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array)


def test_trees_roundtrip() -> None:
    value = (1.5, {"W1": np.ones(2), "b1": 3}, [np.int64(4)], "pq", None, float("nan"))
    back = roundtrip(value)
    assert back[0] == 1.5 and back[1]["b1"] == 3 and back[3] == "pq" and back[4] is None
    assert np.isnan(back[5]) and np.array_equal(back[1]["W1"], np.ones(2))


def test_npy_written_by_the_worker_is_standard() -> None:
    blobs: list[bytes] = []
    wire.encode(np.arange(5.0), blobs)
    assert np.array_equal(np.load(io.BytesIO(blobs[0]), allow_pickle=False), np.arange(5.0))


class Sneaky(np.ndarray):
    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return True


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.ones(2).view(Sneaky), "subclass"),
        (np.array([{"a": 1}], dtype=object), "dtype object"),
        (np.ones(2, dtype=complex), "complex"),
        (object(), "type builtins.object"),
        ({1: 2}, "non-string key"),
    ],
)
def test_values_that_may_not_cross_are_refused(value: object, words: str) -> None:
    with pytest.raises(wire.WireError, match=words):
        wire.encode(value, [])


def test_pickled_npy_is_refused_without_unpickling(tmp_path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # noqa: ANN204
            return (open, (str(marker), "w"))

    stream = io.BytesIO()
    np.save(stream, np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError, match="refused"):
        wire.load_array(stream.getvalue(), max_bytes=1 << 20)
    with pytest.raises(wire.WireError):
        wire.load_array(pickle.dumps(Payload()), max_bytes=1 << 20)
    assert not marker.exists()


def test_oversized_array_is_refused_before_reading() -> None:
    blobs: list[bytes] = []
    wire.encode(np.zeros(1000), blobs)
    with pytest.raises(wire.WireError, match="exceeds the limit"):
        wire.load_array(blobs[0], max_bytes=100)


def test_truncated_array_is_refused() -> None:
    blobs: list[bytes] = []
    wire.encode(np.zeros(10), blobs)
    with pytest.raises(wire.WireError, match="header says"):
        wire.load_array(blobs[0][:-8], max_bytes=1 << 20)


def test_frame_reader_caps_message_size() -> None:
    reader = wire.FrameReader(max_bytes=100)
    blobs: list[bytes] = []
    wire.encode(np.zeros(1000), blobs)
    reader.feed(wire.pack({}, blobs)[:200])
    with pytest.raises(wire.WireError, match="exceeds the limit"):
        reader.next_message()


def test_frame_reader_rejects_garbage_header() -> None:
    reader = wire.FrameReader(max_bytes=100)
    reader.feed(b"\x05\x00\x00\x00notjs")
    with pytest.raises(wire.WireError, match="not JSON"):
        reader.next_message()


@pytest.mark.parametrize(
    ("node", "words"),
    [
        ({"t": "int", "v": 10**30}, "too large for int64"),
        ({"t": "str", "v": "x" * 20_000}, "more than"),
        ({"t": "float", "v": "1.0"}, "holds str"),
        ({"t": "bogus"}, "unknown value node"),
        ({"t": "array", "i": 3}, "no blob"),
    ],
)
def test_untrusted_nodes_are_validated(node: dict, words: str) -> None:
    with pytest.raises(wire.WireError, match=words):
        wire.decode(node, [])


def test_deep_nesting_is_refused() -> None:
    node: dict = {"t": "none"}
    for _ in range(100):
        node = {"t": "list", "items": [node]}
    with pytest.raises(wire.WireError, match="nested"):
        wire.decode(node, [])


def test_lone_surrogates_from_a_worker_become_printable() -> None:
    text = wire.decode({"t": "str", "v": "bad \ud800 text"}, [])
    assert text == "bad ? text"
    text.encode("utf-8")  # no UnicodeEncodeError


def test_a_header_arriving_slowly_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A nested header trickled in small pieces, then blobs trickled too (issue 21, 6): the grader
    parses the header once, not once per piece."""
    parses = []
    real = wire.json.loads
    monkeypatch.setattr(wire.json, "loads", lambda data: parses.append(len(data)) or real(data))
    nested: object = 0
    for _ in range(200):
        nested = [nested]
    blob = wire._npy_bytes(np.arange(4.0))
    message = wire.pack({"status": "ok", "value": {"t": "array", "i": 0}, "junk": nested}, [blob])
    reader = wire.FrameReader(max_bytes=1 << 20)
    for start in range(0, len(message), 7):
        reader.feed(message[start:start + 7])
        result = reader.next_message()
    assert result is not None and np.array_equal(wire.load_array(result[1][0], max_bytes=64), np.arange(4.0))
    assert len(parses) == 1


def test_headers_are_capped_at_one_mebibyte() -> None:
    reader = wire.FrameReader(max_bytes=1 << 20)
    reader.feed(wire._HEADER.pack(wire.MAX_HEADER_BYTES + 1) + b"[" * 100)
    with pytest.raises(wire.WireError, match="larger than"):
        reader.next_message()


def test_an_npy_header_error_is_short_and_bounded() -> None:
    """numpy quotes a header it cannot parse: the sender's text, kept to a few hundred characters."""
    header = ("{'descr': '<f8', 'shape': (" + "7" * 60_000 + " oops}").encode("latin1")
    blob = b"\x93NUMPY\x01\x00" + wire.struct.pack("<H", len(header)) + header
    with pytest.raises(wire.WireError) as raised:
        wire.load_array(blob, max_bytes=1 << 20)
    assert len(str(raised.value)) < 400
    big = b"\x93NUMPY\x02\x00" + wire.struct.pack("<I", 3_000_000) + b"{" * 3_000_000
    with pytest.raises(wire.WireError) as raised:
        wire.load_array(big, max_bytes=1 << 22)
    assert len(str(raised.value)) < 400


def test_an_unread_part_crosses_with_its_message_bounded() -> None:
    """A read that raised travels as what it is, never as a value, and a forged one carries at most
    a short message."""
    blobs: list[bytes] = []
    node = wire.encode((1.0, wire.Unread("`layer.dW` does not exist after the steps")), blobs)
    assert wire.decode(node, []) == (1.0, wire.Unread("`layer.dW` does not exist after the steps"))
    forged = wire.decode({"t": "unread", "v": "x" * 100_000}, [])
    assert isinstance(forged, wire.Unread) and len(forged.message) < wire.UNREAD_CHARS + 100
    with pytest.raises(wire.WireError, match="malformed unread node"):
        wire.decode({"t": "unread", "v": ["not", "text"]}, [])
