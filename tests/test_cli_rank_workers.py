"""End-to-end tests of `crowdmix rank-workers` and `crowdmix aggregate --experts` on files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crowdmix.cli import main
from crowdmix.datasets import make_one_coin_crowd
from crowdmix.mutual_information import pairwise_mutual_information, rank_workers


@pytest.fixture(scope="module")
def crowd():
    return make_one_coin_crowd(n_tasks=200, n_workers=12, n_classes=3, answers_per_task=5,
                               random_state=0)


@pytest.fixture()
def answers_csv(tmp_path, crowd):
    path = tmp_path / "answers.csv"
    crowd.answers.to_csv(path, index=False)
    return path


def test_rank_workers_writes_the_ranking(tmp_path, answers_csv, crowd):
    out = tmp_path / "ranking.csv"
    assert main(["rank-workers", str(answers_csv), "-o", str(out)]) == 0
    table = pd.read_csv(out, dtype={"worker": str})
    assert list(table.columns) == ["worker", "score", "rank", "n_answers", "n_partners",
                                   "support", "skill", "sum_mi", "pooled_mi"]
    # the same as the library call on the same data (CSV labels are read as strings)
    expected = rank_workers(crowd.answers.astype({"label": str}))
    assert list(table["worker"]) == list(expected.index)
    np.testing.assert_allclose(table["score"], expected["score"])
    assert table["worker"].iloc[-1] in {"w01", "w02"}  # the random guessers rank last


def test_rank_workers_options_and_matrix(tmp_path, answers_csv):
    out = tmp_path / "ranking.tsv"
    mat = tmp_path / "mi.csv"
    code = main(["rank-workers", str(answers_csv), "-o", str(out), "--score", "sum",
                 "--correction", "none", "--min-overlap", "3", "--matrix", str(mat)])
    assert code == 0
    table = pd.read_csv(out, sep="\t")
    np.testing.assert_array_equal(table["score"], table["sum_mi"])
    matrix = pd.read_csv(mat, index_col=0)
    assert matrix.shape == (12, 12)
    df = pd.read_csv(answers_csv, dtype=str)
    expected = pairwise_mutual_information(df, correction="none", min_overlap=3)
    np.testing.assert_allclose(matrix.to_numpy(), expected.to_numpy())


def test_rank_workers_refuses_to_overwrite_input(answers_csv, capsys):
    before = answers_csv.read_bytes()
    assert main(["rank-workers", str(answers_csv), "-o", str(answers_csv)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert answers_csv.read_bytes() == before


def test_rank_workers_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("item,annotator,answer\n1,a,x\n")
    assert main(["rank-workers", str(bad), "-o", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("crowdmix rank-workers: error:") and "missing column" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()
    assert main(["rank-workers", str(bad), "-o", str(tmp_path / "o.csv"), "--min-overlap", "0"]) == 2


def test_rank_workers_custom_columns(tmp_path, crowd):
    path = tmp_path / "answers.csv"
    crowd.answers.rename(columns={"task": "item", "worker": "annotator"}).to_csv(path, index=False)
    out = tmp_path / "r.csv"
    assert main(["rank-workers", str(path), "-o", str(out), "--task-col", "item",
                 "--worker-col", "annotator"]) == 0
    assert len(pd.read_csv(out)) == 12


def test_aggregate_with_experts(tmp_path, answers_csv):
    out = tmp_path / "labels.csv"
    workers = tmp_path / "workers.csv"
    assert main(["aggregate", str(answers_csv), "-o", str(out), "--experts", "4",
                 "--workers", str(workers)]) == 0
    labels = pd.read_csv(out)
    assert len(labels) == 200 and labels["label"].notna().all()
    assert len(pd.read_csv(workers)) == 12  # every worker still gets a reliability estimate
    assert main(["aggregate", str(answers_csv), "-o", str(out), "--experts", "0.5"]) == 0


def test_aggregate_experts_errors(tmp_path, answers_csv, capsys):
    out = str(tmp_path / "labels.csv")
    assert main(["aggregate", str(answers_csv), "-o", out, "--experts", "many"]) == 2
    assert "--experts" in capsys.readouterr().err
    assert main(["aggregate", str(answers_csv), "-o", out, "--experts", "3", "--method", "mv"]) == 2
    assert "Dawid-Skene" in capsys.readouterr().err
    assert main(["aggregate", str(answers_csv), "-o", out, "--experts", "99"]) == 2
