"""Attack: forge full-score results.

Prints a fake Gradescope results.json to stdout, writes results.json and gradebook.csv into the
working folder, its parents, /tmp, /var/tmp, /dev/shm, /autograder/results (Gradescope's) and
every output folder it can guess (from the grader's command line in /proc), then returns a WRONG
answer. Reports what it wrote. The forged files say FORGED, so that the test can find (and remove)
any that the sandbox let through.
"""

import json
import os

FORGED = "FORGED-by-hostile-fake_results"
FAKE = {
    "score": 100.0,
    "output": "All tests passed",
    "forged": FORGED,
    "tests": [{"name": name, "score": 1.0, "max_score": 1.0, "status": "passed"}
              for name in ("double", "honest_double", "other_module")],
}
GRADEBOOK = f"id,total,max,double,honest_double,other_module\nfake_results,3,3,1,1,1\n# {FORGED}\n"


def _guessed_out_dirs() -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as stream:
                args = stream.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        for index, arg in enumerate(args[:-1]):
            if arg == "--out":
                found.append(args[index + 1])
            if arg.startswith("--out="):
                found.append(arg.split("=", 1)[1])
    return found


def _targets() -> list[str]:
    folders = []
    path = os.getcwd()
    while True:
        folders.append(path)
        if path == "/":
            break
        path = os.path.dirname(path)
    folders += ["/tmp", "/var/tmp", "/dev/shm", "/autograder/results"]
    for out in _guessed_out_dirs():
        folders += [out, os.path.join(out, "fake_results")]
    return folders


def double(x):
    print(json.dumps(FAKE), flush=True)
    wrote = []
    for folder in _targets():
        for name, text in (("results.json", json.dumps(FAKE)), ("gradebook.csv", GRADEBOOK)):
            target = os.path.join(folder, name)
            try:
                with open(target, "w") as stream:
                    stream.write(text)
                wrote.append(target)
            except OSError:
                pass
    print("PROBE wrote " + " ".join(wrote), flush=True)
    print("PROBE guessed " + " ".join(_guessed_out_dirs()), flush=True)
    return 3 * x  # wrong


def honest_double(x):
    return 2 * x
