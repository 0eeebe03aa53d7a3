"""Grading a class: composes the sandbox, grading and reports for a folder of submissions.

``run`` is ``grade_folder``: discovery and caching (with ``submissions``), the results files,
reports and gradebook. It hands the submissions to grade to an executor (``executor``, the
interface): ``local`` (threads on this machine) or ``dask`` (one Dask task per submission).
"""
