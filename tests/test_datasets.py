"""Tests for crowdmix.datasets and the example-data script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdmix.datasets import (
    CrowdBenchmark,
    CrowdData,
    list_crowd_benchmarks,
    load_crowd_benchmark,
    make_crowd,
    make_one_coin_crowd,
    make_sparse_expert_crowd,
)

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = ["bird", "dog", "rte", "trec", "web"]


def _assert_columns_sum_to_one(confusions: np.ndarray) -> None:
    assert np.all(confusions >= 0)
    np.testing.assert_allclose(confusions.sum(axis=1), 1.0, atol=1e-12)


def _check_crowd(crowd: CrowdData, n_tasks: int, n_workers: int, k: int) -> None:
    ans = crowd.answers
    assert list(ans.columns) == ["task", "worker", "label"]
    assert crowd.confusions.shape == (n_workers, k, k)
    assert len(crowd.worker_ids) == len(crowd.worker_types) == n_workers
    assert crowd.class_prior.shape == (k,)
    assert crowd.n_tasks == n_tasks and crowd.n_workers == n_workers and crowd.n_classes == k
    assert crowd.truth.name == "label" and crowd.truth.index.name == "task"
    assert len(crowd.truth) == n_tasks and crowd.truth.index.is_unique
    assert ans["label"].dtype == np.int64 and crowd.truth.dtype == np.int64
    assert ans["label"].between(0, k - 1).all() and crowd.truth.between(0, k - 1).all()
    assert all(isinstance(v, str) for v in ans["task"].iloc[:5])
    assert all(isinstance(v, str) for v in ans["worker"].iloc[:5])
    assert set(ans["task"]) <= set(crowd.truth.index)
    assert set(ans["worker"]) <= set(crowd.worker_ids)
    assert not ans.duplicated(["task", "worker"]).any()
    # Sorted by task, then worker.
    order = ans.sort_values(["task", "worker"], kind="stable").index
    assert (order == ans.index).all()
    _assert_columns_sum_to_one(crowd.confusions)


# ------------------------------------------------------------------------------ make_crowd


def test_make_crowd_defaults():
    crowd = make_crowd(random_state=0)
    _check_crowd(crowd, 1000, 40, 3)
    assert crowd.truth.index[0] == "t0001" and crowd.truth.index[-1] == "t1000"
    assert crowd.worker_ids[0] == "w01" and crowd.worker_ids[-1] == "w40"
    per_task = crowd.answers.groupby("task").size()
    assert per_task.min() == 3 and per_task.max() == 7
    assert set(crowd.worker_types) == {"expert", "average", "biased", "spammer"}
    counts = pd.Series(crowd.worker_types).value_counts()
    assert counts.to_dict() == {"average": 20, "spammer": 8, "expert": 6, "biased": 6}
    np.testing.assert_allclose(crowd.class_prior, 1 / 3)
    assert "n_tasks=1000" in repr(crowd)


def test_make_crowd_is_deterministic():
    a = make_crowd(n_tasks=300, n_workers=15, random_state=7)
    b = make_crowd(n_tasks=300, n_workers=15, random_state=7)
    c = make_crowd(n_tasks=300, n_workers=15, random_state=8)
    pd.testing.assert_frame_equal(a.answers, b.answers)
    pd.testing.assert_series_equal(a.truth, b.truth)
    np.testing.assert_array_equal(a.confusions, b.confusions)
    assert a.worker_types == b.worker_types
    assert not a.answers.equals(c.answers)
    g = np.random.default_rng(3)
    d = make_crowd(n_tasks=50, n_workers=10, random_state=g)
    e = make_crowd(n_tasks=50, n_workers=10, random_state=np.random.default_rng(3))
    pd.testing.assert_frame_equal(d.answers, e.answers)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_make_crowd_worker_types_are_valid(k):
    crowd = make_crowd(n_tasks=20, n_workers=200, n_classes=k, random_state=k)
    _check_crowd(crowd, 20, 200, k)
    types = np.array(crowd.worker_types)
    conf = crowd.confusions
    diag = np.diagonal(conf, axis1=1, axis2=2)
    # Experts: one accuracy in [0.85, 0.97] on every class.
    experts = diag[types == "expert"]
    assert np.all((experts >= 0.85) & (experts <= 0.97))
    np.testing.assert_allclose(experts, experts[:, :1] * np.ones(k))
    # Average: per-class accuracy in [0.6, 0.8].
    average = diag[types == "average"]
    assert np.all((average >= 0.6) & (average <= 0.8))
    # Spammers: answers independent of truth, i.e. all columns equal.
    spam = conf[types == "spammer"]
    np.testing.assert_allclose(spam, spam[:, :, :1] * np.ones(k))
    # Biased: some wrong answer gets at least 20 % of a column.
    biased = conf[types == "biased"]
    off = biased * (1 - np.eye(k))
    assert np.all(off.max(axis=(1, 2)) >= 0.2 - 1e-12)


def test_make_crowd_shares_and_type_list():
    crowd = make_crowd(
        n_tasks=30, n_workers=10, worker_types={"expert": 1, "spammer": 1}, random_state=0
    )
    assert sorted(crowd.worker_types) == ["expert"] * 5 + ["spammer"] * 5
    types = ["expert"] * 4 + ["biased"] * 2
    crowd = make_crowd(
        n_tasks=30, n_workers=6, answers_per_task=3, worker_types=types, random_state=0
    )
    assert crowd.worker_types == types
    with pytest.raises(ValueError, match="unknown worker type"):
        make_crowd(worker_types={"genius": 1.0})
    with pytest.raises(ValueError, match="n_workers"):
        make_crowd(n_workers=5, worker_types=["expert"] * 4, answers_per_task=2)


def test_make_crowd_explicit_confusions():
    conf = np.array([[[0.9, 0.3], [0.1, 0.7]], [[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0], [0.0, 1.0]]])
    crowd = make_crowd(
        n_tasks=100, n_workers=3, n_classes=2, answers_per_task=3, worker_types=conf, random_state=1
    )
    np.testing.assert_allclose(crowd.confusions, conf)
    assert crowd.worker_types == ["custom"] * 3
    perfect = crowd.answers[crowd.answers["worker"] == "w03"].set_index("task")["label"]
    pd.testing.assert_series_equal(perfect, crowd.truth.loc[perfect.index], check_names=False)
    with pytest.raises(ValueError, match="n_workers=3, n_classes=2"):
        make_crowd(worker_types=conf)
    bad = conf.copy()
    bad[0, 0, 0] = 0.5
    with pytest.raises(ValueError, match="sum to one"):
        make_crowd(n_workers=3, n_classes=2, answers_per_task=2, worker_types=bad)


def test_make_crowd_design_options():
    crowd = make_crowd(n_tasks=50, n_workers=8, answers_per_task=None, random_state=0)
    assert len(crowd.answers) == 50 * 8
    crowd = make_crowd(n_tasks=50, n_workers=8, answers_per_task=4, random_state=0)
    assert (crowd.answers.groupby("task").size() == 4).all()
    crowd = make_crowd(n_tasks=300, n_workers=5, answers_per_task=(1, 5), random_state=0)
    per_task = crowd.answers.groupby("task").size()
    assert per_task.min() == 1 and per_task.max() == 5
    crowd = make_crowd(
        n_tasks=400, n_workers=10, answers_per_task=None, missing=0.6, random_state=0
    )
    per_task = crowd.answers.groupby("task").size()
    assert len(per_task) == 400 and per_task.min() >= 1
    assert abs(len(crowd.answers) / 4000 - 0.4) < 0.03
    prior = [0.7, 0.2, 0.1]
    crowd = make_crowd(
        n_tasks=3000, n_workers=5, answers_per_task=1, class_prior=prior, random_state=0
    )
    np.testing.assert_allclose(crowd.class_prior, prior)
    freq = crowd.truth.value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(freq, prior, atol=0.03)
    with pytest.raises(ValueError, match="answers_per_task"):
        make_crowd(n_workers=5, answers_per_task=(3, 7))
    with pytest.raises(ValueError, match="missing"):
        make_crowd(missing=1.0)


def test_worker_activity():
    activity = np.ones(10)
    activity[0] = 0.0
    activity[1] = 10.0
    crowd = make_crowd(
        n_tasks=2000, n_workers=10, answers_per_task=2, worker_activity=activity, random_state=0
    )
    per_worker = crowd.answers["worker"].value_counts()
    assert "w01" not in per_worker.index
    assert per_worker.idxmax() == "w02"
    # w02 is in a task's pair with probability 10/18 + 8/18 * 10/17 = 0.82.
    assert abs(per_worker["w02"] / 2000 - 0.817) < 0.04
    with pytest.raises(ValueError, match="worker_activity"):
        make_crowd(n_workers=10, worker_activity=np.ones(9))


def test_empirical_answers_match_confusion_matrix():
    crowd = make_crowd(
        n_tasks=9000,
        n_workers=3,
        n_classes=3,
        answers_per_task=3,
        worker_types={"average": 1.0},
        random_state=11,
    )
    ans = crowd.answers.merge(crowd.truth.rename("truth"), left_on="task", right_index=True)
    for j, worker in enumerate(crowd.worker_ids):
        mine = ans[ans["worker"] == worker]
        counts = (
            pd.crosstab(mine["label"], mine["truth"])
            .reindex(index=range(3), columns=range(3), fill_value=0)
            .to_numpy()
        )
        n_per_class = counts.sum(axis=0)
        empirical = counts / n_per_class
        p = crowd.confusions[j]
        se = np.sqrt(p * (1 - p) / n_per_class)
        assert np.all(np.abs(empirical - p) <= 5 * se + 1e-9)
        assert np.abs(empirical - p).max() < 0.03


# ------------------------------------------------------------------------------ one-coin


def test_make_one_coin_crowd():
    crowd = make_one_coin_crowd(200, 10, 3, random_state=0)
    _check_crowd(crowd, 200, 10, 3)
    acc = np.diagonal(crowd.confusions, axis1=1, axis2=2)
    np.testing.assert_allclose(acc[:, 0], np.linspace(1 / 3, 0.95, 10))
    np.testing.assert_allclose(crowd.confusions[:, 1, 0], (1 - acc[:, 0]) / 2)
    assert crowd.worker_types[0] == "spammer" and crowd.worker_types[1] == "one_coin"
    assert (crowd.answers.groupby("task").size() == 5).all()
    crowd = make_one_coin_crowd(
        100, 4, 2, accuracies=[0.6, 0.7, 0.8, 0.9], answers_per_task=2, random_state=1
    )
    np.testing.assert_allclose(crowd.confusions[:, 0, 0], [0.6, 0.7, 0.8, 0.9])
    a = make_one_coin_crowd(100, 6, 2, random_state=5)
    b = make_one_coin_crowd(100, 6, 2, random_state=5)
    pd.testing.assert_frame_equal(a.answers, b.answers)


# ------------------------------------------------------------------------------ sparse experts


def test_make_sparse_expert_crowd_dense():
    crowd = make_sparse_expert_crowd(n_tasks=200, n_workers=30, n_experts=4, random_state=0)
    _check_crowd(crowd, 200, 30, 2)
    assert len(crowd.answers) == 200 * 30
    types = np.array(crowd.worker_types)
    assert (types == "expert").sum() == 4 and (types == "spammer").sum() == 26
    acc = crowd.confusions[types == "expert", 0, 0]
    assert np.all((acc >= 0.6) & (acc <= 0.9))
    np.testing.assert_allclose(crowd.confusions[types == "spammer"], 0.5)


def test_make_sparse_expert_crowd_missing():
    crowd = make_sparse_expert_crowd(
        n_tasks=500,
        n_workers=20,
        n_experts=2,
        n_classes=3,
        expert_accuracy=0.8,
        missing=0.95,
        random_state=3,
    )
    per_task = crowd.answers.groupby("task").size()
    assert len(per_task) == 500 and per_task.min() >= 1
    assert 0.03 < len(crowd.answers) / (500 * 20) < 0.08
    types = np.array(crowd.worker_types)
    np.testing.assert_allclose(crowd.confusions[types == "expert", 2, 2], 0.8)
    with pytest.raises(ValueError, match="n_experts"):
        make_sparse_expert_crowd(n_workers=3, n_experts=4)


# ------------------------------------------------------------------------------ benchmarks


def _shared_root() -> Path:
    try:
        from crowdmix.datasets import _find_root

        return _find_root(None)
    except FileNotFoundError as exc:
        pytest.skip(f"shared crowd benchmark data not available: {exc}")


def test_list_and_load_benchmarks():
    root = _shared_root()
    assert set(BENCHMARKS) <= set(list_crowd_benchmarks())
    bench = load_crowd_benchmark("bird", root=root)
    assert isinstance(bench, CrowdBenchmark) and bench.name == "bird"
    assert list(bench.answers.columns) == ["task", "worker", "label"]
    assert bench.answers.shape == (4212, 3)
    assert all(isinstance(v, str) for v in bench.answers.iloc[0])
    assert len(bench.truth) == 108 and bench.truth.index.name == "task"
    assert isinstance(bench.truth.iloc[0], str) and isinstance(bench.truth.index[0], str)
    assert bench.n_classes == 2
    web = load_crowd_benchmark("web")
    assert len(web.truth) == 2653 and web.answers["task"].nunique() == 2665


def test_benchmark_root_resolution(tmp_path, monkeypatch):
    toy = tmp_path / "project" / "shared" / "data" / "crowd" / "toy"
    toy.mkdir(parents=True)
    (toy / "labels.csv").write_text("task,worker,label\n01,7,1\n01,8,2\n")
    (toy / "truth.csv").write_text("task,label\n01,2\n")
    nested = tmp_path / "project" / "work" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.delenv("CROWDMIX_SHARED_DATA", raising=False)
    monkeypatch.chdir(nested)
    assert list_crowd_benchmarks() == ["toy"]
    bench = load_crowd_benchmark("toy")
    assert bench.answers["task"].tolist() == ["01", "01"]  # leading zeros kept: read as str
    assert bench.truth.to_dict() == {"01": "2"}
    # Explicit root and env var, pointing at the crowd folder or at its parent.
    assert list_crowd_benchmarks(toy.parent) == ["toy"]
    assert list_crowd_benchmarks(toy.parent.parent) == ["toy"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CROWDMIX_SHARED_DATA", str(toy.parent))
    assert load_crowd_benchmark("toy").truth.tolist() == ["2"]
    with pytest.raises(FileNotFoundError, match="available: \\['toy'\\]"):
        load_crowd_benchmark("nope")
    with pytest.raises(FileNotFoundError, match="root="):
        load_crowd_benchmark("toy", root=tmp_path / "nowhere")


def test_benchmark_missing_root_message(tmp_path, monkeypatch):
    import crowdmix.datasets as ds

    monkeypatch.setenv("CROWDMIX_SHARED_DATA", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ds, "__file__", str(tmp_path / "pkg" / "datasets.py"))
    with pytest.raises(FileNotFoundError, match="CROWDMIX_SHARED_DATA") as info:
        ds.load_crowd_benchmark("bird")
    assert str(tmp_path / "shared" / "data" / "crowd") in str(info.value)


# ------------------------------------------------------------------------------ example data


def _load_script():
    path = REPO / "scripts" / "make_example_data.py"
    spec = importlib.util.spec_from_file_location("_make_example_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_data_is_reproducible(tmp_path):
    script = _load_script()
    written = script.write_example_data(tmp_path)
    for path in written:
        committed = REPO / "data" / path.name
        assert committed.exists(), f"{committed} missing: run python scripts/make_example_data.py"
        assert path.read_bytes() == committed.read_bytes(), (
            f"{path.name} differs from the committed data/{path.name}; "
            "regenerate with python scripts/make_example_data.py"
        )
    labels = pd.read_csv(REPO / "data" / "example_labels.csv", dtype=str)
    truth = pd.read_csv(REPO / "data" / "example_truth.csv", dtype=str)
    assert list(labels.columns) == ["task", "worker", "label"]
    assert list(truth.columns) == ["task", "label"]
    assert len(truth) == 1000 and labels["worker"].nunique() == 40
    assert set(labels["label"]) == set(truth["label"]) == {"cat", "dog", "fox"}
    per_task = labels.groupby("task").size()
    assert per_task.min() >= 3 and per_task.max() <= 7
