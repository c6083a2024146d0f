"""Tests for crowdmix.metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crowdmix.datasets import load_crowd_benchmark, make_crowd
from crowdmix.metrics import confusion_error, error_rate, majority_vote_expected_error

# Majority vote with a uniform random tie-break, expected error in % (data/crowd/README.md).
MV_REFERENCE = {"bird": 24.07, "rte": 10.31, "dog": 17.78, "web": 26.93, "trec": 34.86}


# ------------------------------------------------------------------------------ error_rate


def test_error_rate_basic():
    truth = pd.Series({"t1": "a", "t2": "b", "t3": "a"})
    predicted = pd.Series({"t1": "a", "t2": "a", "t3": "a", "t4": "b"})  # t4 not scored
    assert error_rate(predicted, truth) == pytest.approx(1 / 3)
    assert error_rate(truth, truth) == 0.0
    assert isinstance(error_rate(truth, truth), float)


def test_error_rate_ignores_missing_truth_and_counts_missing_prediction():
    truth = pd.Series({"t1": 1.0, "t2": np.nan, "t3": 0.0})
    predicted = pd.Series({"t1": 1.0, "t2": 0.0, "t3": np.nan})
    assert error_rate(predicted, truth) == pytest.approx(0.5)


def test_error_rate_missing_tasks_raise():
    truth = pd.Series({"t1": 1, "t2": 0, "t3": 1})
    with pytest.raises(ValueError, match="2 of 3 task"):
        error_rate(pd.Series({"t1": 1}), truth)
    # Task IDs of another type are all missing: the message hints at the type mismatch.
    with pytest.raises(ValueError, match="same type"):
        error_rate(pd.Series([1, 0, 1]), truth)
    with pytest.raises(ValueError, match="duplicated"):
        error_rate(pd.Series([1, 0, 1, 1], index=["t1", "t2", "t3", "t3"]), truth)
    with pytest.raises(ValueError, match="no task"):
        error_rate(truth, pd.Series([np.nan], index=["t1"]))


def test_error_rate_compares_labels_as_they_are():
    truth = pd.Series({"t1": "1", "t2": "2"})
    assert error_rate(pd.Series({"t1": 1, "t2": 2}), truth) == 1.0  # int vs str never match
    assert error_rate(pd.Series({"t1": "1", "t2": "1"}), truth) == 0.5


# ------------------------------------------------------------------------------ majority vote


def test_majority_vote_expected_error_ties():
    answers = pd.DataFrame(
        {
            "task": ["a", "a", "a", "b", "b", "c", "c", "c", "d", "d"],
            "worker": ["x", "y", "z", "x", "y", "x", "y", "z", "x", "y"],
            "label": [1, 1, 0, 0, 1, 0, 1, 2, 0, 0],
        }
    )
    truth = pd.Series({"a": 1, "b": 1, "c": 1, "d": 1, "e": np.nan})
    # a: clear win (0); b: 2-way tie with truth (1/2); c: 3-way tie with truth (2/3);
    # d: clear wrong (1); e: no truth, not scored.
    expected = (0 + 0.5 + 2 / 3 + 1) / 4
    assert majority_vote_expected_error(answers, truth) == pytest.approx(expected)
    truth_df = truth.dropna().rename_axis("task").reset_index(name="label")
    assert majority_vote_expected_error(answers, truth_df) == pytest.approx(expected)


def test_majority_vote_tie_without_truth_counts_one():
    answers = pd.DataFrame({"q": ["a", "a"], "w": ["x", "y"], "l": ["u", "v"]})
    truth = pd.Series({"a": "z"})
    err = majority_vote_expected_error(answers, truth, task_col="q", worker_col="w", label_col="l")
    assert err == 1.0


def test_majority_vote_errors():
    answers = pd.DataFrame({"task": ["a"], "worker": ["x"], "label": [1]})
    with pytest.raises(ValueError, match="1 of 2 task"):
        majority_vote_expected_error(answers, pd.Series({"a": 1, "b": 0}))
    with pytest.raises(ValueError, match="lacks column"):
        majority_vote_expected_error(answers.rename(columns={"label": "y"}), pd.Series({"a": 1}))


def test_majority_vote_on_synthetic_crowd_beats_a_single_worker():
    crowd = make_crowd(
        n_tasks=500, n_workers=20, worker_types={"expert": 1.0}, answers_per_task=5, random_state=0
    )
    mv = majority_vote_expected_error(crowd.answers, crowd.truth)
    assert 0.0 <= mv < 0.03


def _benchmark(name: str):
    try:
        return load_crowd_benchmark(name)
    except FileNotFoundError as exc:
        pytest.skip(f"shared crowd benchmark data not available ({name}): {exc}")


@pytest.mark.parametrize("name", list(MV_REFERENCE))
def test_majority_vote_reference_values(name):
    bench = _benchmark(name)
    err = majority_vote_expected_error(bench.answers, bench.truth)
    assert round(100 * err, 2) == pytest.approx(MV_REFERENCE[name], abs=1e-9)


# ------------------------------------------------------------------------------ confusion_error


def test_confusion_error():
    a = np.array([[[0.9, 0.2], [0.1, 0.8]]])
    b = np.array([[[0.7, 0.2], [0.3, 0.8]]])
    assert confusion_error(a, b) == pytest.approx(0.1)
    assert confusion_error(a, a) == 0.0
    assert confusion_error(a[0], b[0]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="shape"):
        confusion_error(a, a[0])
