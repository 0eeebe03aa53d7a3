"""Attack: read the instructor's files and import the grader.

probe.json (written by the test) names absolute paths to try: the spec's reference and the spec,
problems/hw1.yaml, reference/hw1.py and grader/spec.py of the project. Also tries the same paths
through /proc/1/root and the fork server's root, a symlink to the reference placed in the
submission (leak.py), `import reference`, `import grader.spec`, and loading grader/spec.py by
path. Raises `PROBE {...}` with, for each, what happened.
"""

import importlib
import importlib.util
import json
import os


def _probe() -> dict:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.json")) as stream:
        return json.load(stream)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        return "missing"
    except PermissionError:
        return "denied"
    except OSError as error:
        return f"error{error.errno}"
    return f"read{len(data)}" if data else "empty"


def double(x):
    probe = _probe()
    found = {name: _read(path) for name, path in probe["read"].items()}
    for root in ("/proc/1/root", f"/proc/{os.getppid()}/root"):
        found[f"{root}:reference"] = _read(root + probe["read"]["reference"])
    found["symlink"] = _read("leak.py")
    for name in ("reference", "reference.hw1", "grader", "grader.spec", "problems"):
        try:
            importlib.import_module(name)
            found[f"import {name}"] = "ok"
        except BaseException as error:  # noqa: BLE001
            found[f"import {name}"] = type(error).__name__
    try:
        spec = importlib.util.spec_from_file_location("stolen_spec", probe["read"]["grader_spec"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found["load grader/spec.py"] = "ok"
    except BaseException as error:  # noqa: BLE001
        found["load grader/spec.py"] = type(error).__name__
    raise Exception("PROBE " + json.dumps(found, separators=(",", ":")))


def honest_double(x):
    return 2 * x
