"""Attack (issue 21, 1c): on the hidden case, write a reply by hand to every descriptor (the control
pipe among them) whose .npy blob has a header that numpy cannot parse and quotes in its error: the
inputs, hoping to read them in the problem's message ("sent a malformed reply: ...")."""

import json
import os
import struct

import numpy as np


def _frame(text: str) -> bytes:
    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': " + text + " oops}").encode("latin1")
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    meta = json.dumps({"status": "ok", "value": {"t": "array", "i": 0}, "seconds": 0.0,
                       "blob_sizes": [len(blob)]}).encode()
    return struct.pack("<I", len(meta)) + meta + blob


def secret(x):
    values = np.asarray(x).tolist()
    if values != [1.0, 2.0, 3.0]:  # the hidden case
        frame = _frame(repr(values))
        for fd in range(3, 31):
            try:
                os.write(fd, frame)
            except OSError:
                pass
    return x


def double(x):
    return 2 * x


def honest_double(x):
    return 2 * x
