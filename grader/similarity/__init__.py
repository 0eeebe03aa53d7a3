"""Similarity across a class: copied code and identical rare wrong answers, ranked for a person to review.

``documents`` reads each submission's code (Python files, notebooks' code cells), the reference and
the boilerplate; ``code`` fingerprints it with copydetect and compares pairs; ``behaviour`` weighs
the wrong answers two submissions share on hidden cases by their rarity in the class; ``pairs``
combines the two into ranked pairs; ``report`` writes ``similarity.json`` and ``similarity.html``;
``run`` does all of it for a folder of submissions, on this machine or a Dask cluster.
"""
