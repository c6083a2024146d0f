"""Evaluation metrics for label aggregation.

- :func:`error_rate`: share of tasks with a truth label whose predicted label differs.
- :func:`majority_vote_expected_error`: error of majority voting under a uniform random
  tie-break, in expectation (no randomness involved).
- :func:`confusion_error`: mean absolute error between estimated and true confusion matrices.

Labels are compared as they are: predictions and truth must use the same label values and
types (e.g. both ``"1"`` or both ``1``), and the same task IDs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .exceptions import InputError

__all__ = ["confusion_error", "error_rate", "majority_vote_expected_error"]


def _truth_series(truth: Any, task_col: str = "task", label_col: str = "label") -> pd.Series:
    """Truth as a Series indexed by task, without tasks whose truth is missing."""
    if isinstance(truth, pd.DataFrame):
        absent = [c for c in (task_col, label_col) if c not in truth.columns]
        if absent:
            raise InputError(
                f"truth DataFrame lacks column(s) {absent}; pass a Series indexed by task or a "
                f"DataFrame with columns {task_col!r} and {label_col!r}"
            )
        truth = pd.Series(truth[label_col].to_numpy(), index=pd.Index(truth[task_col]))
    elif not isinstance(truth, pd.Series):
        raise InputError(
            f"truth must be a pandas Series indexed by task (or a DataFrame with columns "
            f"{task_col!r}, {label_col!r}), got {type(truth).__name__}"
        )
    truth = truth[truth.notna().to_numpy()]
    if truth.index.has_duplicates:
        dup = truth.index[truth.index.duplicated()]
        raise InputError(
            f"truth has {len(dup)} duplicated task(s) (e.g. {dup[0]!r}); give one label per task"
        )
    if len(truth) == 0:
        raise InputError("truth holds no task with a label; nothing to score")
    return truth


def _missing_message(n_missing: int, n_truth: int, example: Any, what: str) -> str:
    return (
        f"{n_missing} of {n_truth} task(s) with a truth label have {what} (e.g. {example!r}); "
        f"check that task IDs match and have the same type in both (e.g. str '1' vs int 1)"
    )


def error_rate(predicted: pd.Series, truth: pd.Series) -> float:
    """Share of the tasks with a truth label whose predicted label differs from it.

    Parameters
    ----------
    predicted : pandas.Series
        Predicted label indexed by task. Tasks without a truth label are ignored. A missing
        (NaN) prediction for a scored task counts as an error.
    truth : pandas.Series
        True label indexed by task. Tasks whose truth is missing (NaN) are not scored.

    Returns
    -------
    float
        Error rate in [0, 1].

    Raises
    ------
    crowdmix.exceptions.InputError
        (a :class:`ValueError`) if some tasks with a truth label are absent from ``predicted``
        (the message says how many), if either index has duplicated tasks, or if no task has
        a truth label.

    Examples
    --------
    >>> import pandas as pd
    >>> truth = pd.Series({"t1": "a", "t2": "b", "t3": "a"})
    >>> error_rate(pd.Series({"t1": "a", "t2": "a", "t3": "a", "t4": "b"}), truth)
    0.3333333333333333
    """
    truth = _truth_series(truth)
    if not isinstance(predicted, pd.Series):
        raise InputError(
            f"predicted must be a pandas Series indexed by task, got {type(predicted).__name__}"
        )
    absent = ~truth.index.isin(predicted.index)
    if absent.any():
        raise InputError(
            _missing_message(int(absent.sum()), len(truth), truth.index[absent][0], "no prediction")
        )
    if predicted.index.has_duplicates:
        dup = predicted.index[predicted.index.duplicated()]
        raise InputError(
            f"predicted has {len(dup)} duplicated task(s) (e.g. {dup[0]!r}); "
            f"give one label per task"
        )
    pred = predicted.reindex(truth.index).to_numpy(dtype=object)
    true = truth.to_numpy(dtype=object)
    wrong = pd.isna(pred).astype(bool)
    wrong[~wrong] = (pred[~wrong] != true[~wrong]).astype(bool)
    return float(np.mean(wrong))


def majority_vote_expected_error(
    answers_df: pd.DataFrame,
    truth: pd.Series,
    task_col: str = "task",
    worker_col: str = "worker",
    label_col: str = "label",
) -> float:
    """Expected error rate of majority voting with a uniform random tie-break.

    For every task with a truth label, the labels with the most votes are the majority; a
    single majority label counts as an error if it differs from the truth, and a tie among
    ``t`` labels counts ``1 - 1/t`` if the truth is among them and ``1`` otherwise. The result
    is the mean over the tasks with a truth label (tasks without one are ignored). Every row
    of ``answers_df`` counts as one vote.

    Parameters
    ----------
    answers_df : pandas.DataFrame
        Crowd answers in long format, one row per answer.
    truth : pandas.Series
        True label indexed by task (a DataFrame with columns ``task_col`` and ``label_col`` is
        accepted too). Tasks whose truth is missing (NaN) are not scored.
    task_col, worker_col, label_col : str
        Column names in ``answers_df``.

    Returns
    -------
    float
        Expected error rate in [0, 1].

    Raises
    ------
    crowdmix.exceptions.InputError
        (a :class:`ValueError`) if a column is missing, or if some tasks with a truth label
        have no answer (the message says how many).

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": ["a", "a", "b", "b"], "worker": ["x", "y", "x", "y"],
    ...                         "label": [1, 1, 0, 1]})
    >>> majority_vote_expected_error(answers, pd.Series({"a": 1, "b": 1}))
    0.25
    """
    if not isinstance(answers_df, pd.DataFrame):
        raise InputError(f"answers_df must be a pandas DataFrame, got {type(answers_df).__name__}")
    absent = [c for c in (task_col, worker_col, label_col) if c not in answers_df.columns]
    if absent:
        raise InputError(
            f"answers_df lacks column(s) {absent}; it has {list(answers_df.columns)} "
            f"(set task_col/worker_col/label_col)"
        )
    truth = _truth_series(truth, task_col, label_col)
    answered = truth.index.isin(answers_df[task_col])
    if not answered.all():
        n_missing = int((~answered).sum())
        raise InputError(
            _missing_message(n_missing, len(truth), truth.index[~answered][0], "no answer")
        )

    votes = (
        answers_df.groupby([task_col, label_col], sort=False, observed=True)
        .size()
        .rename("votes")
        .reset_index()
    )
    top = votes[votes["votes"] == votes.groupby(task_col)["votes"].transform("max")]
    n_tied = top.groupby(task_col).size()

    truth_df = pd.DataFrame({task_col: truth.index.to_numpy(), "_truth": truth.to_numpy()})
    # Scored tasks whose truth label is among their top-voted labels.
    hit = top.merge(truth_df, on=task_col, how="inner")
    hit = hit[hit[label_col].to_numpy(dtype=object) == hit["_truth"].to_numpy(dtype=object)]
    error = np.ones(len(truth))
    pos = pd.Index(truth.index).get_indexer(hit[task_col])
    error[pos] = 1.0 - 1.0 / n_tied.reindex(hit[task_col]).to_numpy(dtype=float)
    return float(error.mean())


def confusion_error(estimated: Any, true: Any) -> float:
    """Mean absolute difference between two stacks of confusion matrices.

    Parameters
    ----------
    estimated, true : array-like
        Confusion matrices of the same shape, typically ``(n_workers, K, K)`` (a single
        ``(K, K)`` matrix works too). They must be aligned: same worker order and same class
        order (resolve any label permutation first).

    Returns
    -------
    float
        ``mean(|estimated - true|)`` over all entries.

    Raises
    ------
    crowdmix.exceptions.InputError
        (a :class:`ValueError`) if the shapes differ or the arrays are empty.
    """
    est = np.asarray(estimated, dtype=float)
    ref = np.asarray(true, dtype=float)
    if est.shape != ref.shape:
        raise InputError(
            f"confusion matrices differ in shape: estimated {est.shape} vs true {ref.shape}"
        )
    if est.size == 0:
        raise InputError("confusion matrices are empty")
    return float(np.mean(np.abs(est - ref)))
