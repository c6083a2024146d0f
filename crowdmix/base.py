"""The common API of crowdmix's label aggregators.

Every aggregator is a scikit-learn estimator (parameters stored unchanged by ``__init__``,
learned attributes with a trailing underscore, ``fit`` returns ``self``, ``get_params``,
``set_params`` and ``clone`` work) that accepts anything :func:`crowdmix.as_answers` accepts and
returns results keyed by the user's own task, worker and class values.

After ``fit`` every aggregator has:

- ``classes_`` : pandas.Index of class labels (column order of ``proba_``).
- ``labels_`` : pandas.Series of the aggregated label, indexed by task.
- ``proba_`` : pandas.DataFrame of class probabilities, tasks x classes (rows sum to one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .answers import CrowdAnswers, as_answers
from .exceptions import InputError

__all__ = ["BaseAggregator", "labels_series", "proba_frame", "clamp_codes"]


def labels_series(tasks: pd.Index, classes: pd.Index, codes: np.ndarray) -> pd.Series:
    """Class codes as a Series of the user's labels indexed by the user's task IDs."""
    return pd.Series(classes.take(codes), index=pd.Index(tasks, name="task"), name="label")


def proba_frame(tasks: pd.Index, classes: pd.Index, resp: np.ndarray) -> pd.DataFrame:
    """Posterior matrix as a tasks x classes DataFrame keyed by the user's values."""
    return pd.DataFrame(
        resp, index=pd.Index(tasks, name="task"), columns=pd.Index(classes, name="label")
    )


def clamp_codes(answers: CrowdAnswers, true_labels: Any) -> np.ndarray:
    """Known labels (a mapping or Series task -> label) as class codes per task, -1 if unknown."""
    clamp = np.full(answers.n_tasks, -1, dtype=np.int64)
    if true_labels is None:
        return clamp
    known = true_labels if isinstance(true_labels, pd.Series) else pd.Series(dict(true_labels))
    if known.index.has_duplicates:
        raise InputError("true_labels has duplicated tasks; give each task one known label")
    known = known.dropna()
    t = answers.tasks.get_indexer(known.index)
    if (t < 0).any():
        missing = list(known.index[t < 0][:5])
        raise InputError(f"true_labels names {int((t < 0).sum())} task(s) with no answers, e.g. {missing}")
    y = answers.classes.get_indexer(pd.Index(known.to_numpy()))
    if (y < 0).any():
        bad = list(pd.unique(known.to_numpy()[y < 0])[:5])
        raise InputError(
            f"true_labels holds label(s) {bad} that are not classes {list(answers.classes)!r}"
        )
    clamp[t] = y
    return clamp


class BaseAggregator(BaseEstimator):
    """Base class of the label aggregators (not used directly)."""

    def _encode(self, answers: Any) -> CrowdAnswers:
        return as_answers(answers)

    def fit(self, answers: Any, true_labels: Any = None) -> BaseAggregator:  # pragma: no cover
        raise NotImplementedError

    def fit_predict(self, answers: Any, true_labels: Any = None) -> pd.Series:
        """Fit and return the aggregated label of every task (Series indexed by task)."""
        return self.fit(answers, true_labels).labels_

    def fit_predict_proba(self, answers: Any, true_labels: Any = None) -> pd.DataFrame:
        """Fit and return the class probabilities of every task (DataFrame task x class)."""
        return self.fit(answers, true_labels).proba_

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _store(self, answers: CrowdAnswers, resp: np.ndarray, label_codes: np.ndarray) -> None:
        self.classes_ = pd.Index(answers.classes, name="label")
        self.n_tasks_ = answers.n_tasks
        self.n_workers_ = answers.n_workers
        self.labels_ = labels_series(answers.tasks, answers.classes, label_codes)
        self.proba_ = proba_frame(answers.tasks, answers.classes, resp)

    def __sklearn_tags__(self):  # crowd answers are not a feature matrix
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
