"""Similarity on a Dask cluster: tokenizing and comparing run as tasks on the workers, the hashes in
the client, and the report is the one a run on this machine writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.similarity.run import SimilaritySettings, find_similarity
from grader.spec import load_spec

from conftest import ROOT

distributed = pytest.importorskip("distributed", reason="Dask is an optional extra: pip install 'dl-grader[dask]'")

DATA = ROOT / "tests" / "data" / "similarity"


def test_a_run_on_dask_writes_the_report_of_a_local_run(tmp_path: Path) -> None:
    assignment = load_spec(DATA / "similarity.yaml")
    find_similarity(assignment, DATA / "class", tmp_path / "here", SimilaritySettings(), reports={})
    # Workers as threads of this process keep the test short; the tasks are the same as on a real cluster
    # (run by hand on a cluster of worker processes, whose string hashes differ: the same report).
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, distributed.get_task_stream(client) as tasks:
        find_similarity(assignment, DATA / "class", tmp_path / "there",
                        SimilaritySettings(scheduler=cluster.scheduler_address), reports={})
    ran = {task["key"].split("-")[0] for task in tasks.data}
    assert {"tokenize_block", "compare_block"} <= ran
    for name in ("similarity.json", "similarity.html"):
        assert (tmp_path / "there" / name).read_text() == (tmp_path / "here" / name).read_text()
    assert '"a": "fay"' in (tmp_path / "there" / "similarity.json").read_text()
