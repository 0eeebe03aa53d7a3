"""Attack: write files into the project (the grader's source tree) and the submission's source folder.

probe.json names the project root and the folder the submission was read from. Raises
`PROBE {...}` saying, for each target, whether the write worked. (A real attack would drop a
sitecustomize.py or overwrite grader code; this one writes a file with an unmistakable name that
the test removes if the sandbox ever lets it through.)
"""

import json
import os

NAME = "PWNED_by_write_project.txt"


def _probe() -> dict:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.json")) as stream:
        return json.load(stream)


def _write(path: str, mode: str = "x") -> str:
    try:
        with open(path, mode) as stream:
            stream.write("pwned\n")
    except FileNotFoundError:
        return "missing"
    except FileExistsError:
        return "exists"
    except PermissionError:
        return "denied"
    except OSError as error:
        return f"error{error.errno}"
    return "written"


def double(x):
    probe = _probe()
    found = {
        "project": _write(os.path.join(probe["project"], NAME)),
        "project_grader": _write(os.path.join(probe["project"], "grader", NAME)),
        "source": _write(os.path.join(probe["source"], NAME)),
        "source_attack": _write(os.path.join(probe["source"], "attack.py"), "a"),
        "cwd": _write(NAME),
    }
    raise Exception("PROBE " + json.dumps(found, separators=(",", ":")))


def honest_double(x):
    return 2 * x
