"""Attack (issue 21, 6): a hand-written reply whose .npy header (format 2.0, 3 MB) numpy would quote
in full in its error, hoping for a results.json and a feedback page of tens of megabytes."""

import json
import os
import struct


def _frame() -> bytes:
    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': (" + "A" * 3_000_000 + ")}").encode("latin1")
    blob = b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header
    meta = json.dumps({"status": "ok", "value": {"t": "array", "i": 0}, "seconds": 0.0,
                       "blob_sizes": [len(blob)]}).encode()
    return struct.pack("<I", len(meta)) + meta + blob


def double(x):
    frame = _frame()
    for fd in range(3, 31):
        try:
            os.write(fd, frame)
        except OSError:
            pass
    return 2 * x


def honest_double(x):
    return 2 * x
