"""Run ``python no_fork.py -m MODULE ARGS...`` as on a platform without ``os.fork`` and ``resource``.

The portable worker's tests start its child through this, so that a child that forked or set a
resource limit would fail there as it would on Windows. Not a test module: a launcher.
"""

import os
import runpy
import sys

for name in ("fork", "forkpty"):
    if hasattr(os, name):
        delattr(os, name)
sys.modules["resource"] = None  # type: ignore[assignment]  # import resource now raises ImportError

if sys.argv[1:2] != ["-m"]:
    raise SystemExit("usage: no_fork.py -m MODULE [ARGS...]")
module = sys.argv[2]
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
