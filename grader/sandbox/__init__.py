"""The sandbox: the only place student code runs.

``server`` starts workers through the fork server (``zygote``) and talks to them under time limits;
``isolation`` is what a worker does to itself before serving (users, namespaces, limits); ``worker``
imports and calls the student's code, ``modelrun`` trains and evaluates their models; ``session``
runs a problem's calls in those workers (or, for trusted code, in-process). Where the fork server
cannot run (Windows, macOS), ``portable`` spawns a fresh Python per submission (``spawned``, its
child side) for a student's self-check; ``choice`` picks between them, and ``interface``,
``monitor`` and ``files`` hold what both share.

Kept to this docstring: the fork server imports ``grader.sandbox.worker``, and importing this
package must stay light.
"""
