"""Run ``python docker_seccomp.py PROGRAM ARGS...`` as in a default Docker container (Gradescope's).

Installs a seccomp filter that refuses what Docker's default profile refuses of namespaces:
``unshare``, ``setns`` and ``mount`` fail with EPERM, ``clone`` with EPERM when it asks for a new
namespace, and ``clone3`` with ENOSYS (so that the C library falls back to ``clone``); then execs
PROGRAM, which inherits the filter with all its children. Not a test module: a launcher (needs
pyseccomp, ctypes bindings to the system's libseccomp).
"""

import errno
import os
import sys

import pyseccomp as seccomp

CLONE_NEW = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
"""CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET."""

rules = seccomp.SyscallFilter(seccomp.ALLOW)
for name in ("unshare", "setns", "mount"):
    rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
for flag in CLONE_NEW:
    rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
rules.load()
os.execv(sys.argv[1], sys.argv[1:])
