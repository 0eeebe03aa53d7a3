"""Reports: what results look like to people and to other systems; they read results, never run code.

``render`` fills the Jinja templates in ``templates/`` (feedback page, class summary, with ``plots``);
``summary`` aggregates a class; ``terminal`` and ``text`` print a report, a run's summary and
errors; ``progress`` shows a class being graded; ``junit``, ``gradescope`` and ``gradebook`` write
JUnit XML, results.json and LMS grade files.
"""
