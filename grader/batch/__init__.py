"""Grading a class: composes the sandbox, grading and reports for a folder of submissions.

``run`` is ``grade_folder``: discovery, caching, the results files, reports and gradebook, with
submissions graded in local threads or, by ``dask``, as Dask tasks.
"""
