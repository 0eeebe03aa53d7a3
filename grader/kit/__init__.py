"""The student side: kits, self-checks, CI workflows and the pytest plugin.

``bundle`` builds a student kit (public spec, expected outputs, a conftest); ``selfcheck`` checks
one submission on the public cases, sandboxed like the instructor's run; ``checker`` does the same
from a notebook and shows the result inline; ``workflows`` writes the CI files that run it;
``pytest_plugin`` turns a kit's problems into pytest tests (loaded through
``grader.pytest_plugin``). ``autograder`` builds a Gradescope autograder package and grades a
submission the way it runs on Gradescope.
"""
